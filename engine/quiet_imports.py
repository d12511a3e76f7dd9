"""Third-party imports that show the user no warning of their own."""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator


@contextlib.contextmanager
def pyproj_data_warning_hidden() -> Iterator[None]:
    """While inside, pyproj's "Valid PROJ data directory not found" is not shown. Libraries import pyproj where it
    is installed (pyogrio, sarsen), and Debian's pyproj (beside QGIS) in a virtualenv misses its data; FloodSAR
    never uses pyproj."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Valid PROJ data directory not found")
        yield
