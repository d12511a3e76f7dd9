"""Real chips for tests: the small committed fixtures, and the large shared set when it is there.

``tests/fixtures/real`` (see its README) has the layout of the large set, so a test written against one
runs on the other. Tests that need files only the large set has skip, saying where it was looked for.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from floodsar.training.real_data import ENVIRONMENT_VARIABLE, real_data_dir

#: The committed real chips (a few MB of Sen1Floods11, CC BY 4.0).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real"


def large_real_data_dir() -> Path:
    """Where the large real-data set would be ($FLOODSAR_REAL_DATA, else ../shared/data/real)."""
    return real_data_dir()


def skip_without(path: Path) -> Path:
    """``path`` when it exists; otherwise skip the test, saying that it needs the large real-data set."""
    if not path.exists():
        pytest.skip(f"needs {path.name} of the large real-data set, not found under {large_real_data_dir()} "
                    f"(put the set at ../shared/data/real beside the checkout or set ${ENVIRONMENT_VARIABLE})")
    return path


class RealFiles(dict):
    """Real files by name; asking for one that is not there (a file of the large set) skips the test."""

    def __getitem__(self, name: str) -> Path:
        return skip_without(super().__getitem__(name))
