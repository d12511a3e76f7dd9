"""Training test fixtures: one generated dataset shared by every training test."""
from __future__ import annotations

from pathlib import Path

import pytest

from floodsar.training.synthetic.generate import generate

#: 8 hand-labelled chips (every split; the test split has water), 3 weakly labelled, 3 paired S1/S2; 64 px.
GENERATED = {"hand": 8, "weak": 3, "additional": 3, "size": 64, "seed": 1}


@pytest.fixture(scope="session")
def generated_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated chips in the Sen1Floods11 v1.1 layout (plus additional/), made once; tests only read them."""
    root = tmp_path_factory.mktemp("generated")
    generate(root, **GENERATED, progress=False)
    return root
