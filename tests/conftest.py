"""Fixtures shared by every test area."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path:
    """The shared real Sentinel-1 data (../shared/data/real beside the checkout, or $FLOODSAR_REAL_DATA)."""
    return Path(os.environ.get("FLOODSAR_REAL_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = real_data_dir()
    if not path.is_dir():
        pytest.fail(f"real test data not found at {path}; set FLOODSAR_REAL_DATA")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
