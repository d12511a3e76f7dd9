"""Fixtures shared by every test area: the real chips and the repository."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers.real_data import FIXTURES, large_real_data_dir, skip_without
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The small real chips committed under tests/fixtures/real (always there)."""
    return FIXTURES


@pytest.fixture(scope="session")
def large_real_data() -> Path:
    """The large shared real-data set; tests that take it are skipped, saying why, when it is not there."""
    return skip_without(large_real_data_dir() / "sen1floods11").parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def http_folder(tmp_path):
    """A real HTTP server with Range support on 127.0.0.1 (its own process) serving tmp_path; yields its URL."""
    server = subprocess.Popen([sys.executable, str(REPO_ROOT / "tests" / "helpers" / "range_server.py"),
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(server.stdout.readline())}"
    finally:
        server.terminate()
        server.wait(timeout=10)
