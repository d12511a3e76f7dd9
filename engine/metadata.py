"""FloodSAR model metadata: the one module that writes and reads it.

A model file is self-describing: everything the engine needs to feed it and to
interpret its output travels inside the file as ONE JSON document stored under
the key :data:`METADATA_KEY` (ONNX ``metadata_props``; the ``metadata`` entry
of a PyTorch checkpoint). Because writer and reader share this module and this
dataclass, a field can never be written under one name and read under another.

Model I/O contract (both backends):
  input  ``input``: float32 [N, len(bands), H, W], normalised with
         :func:`floodsar.engine.metadata.ModelMetadata.normalise` (H, W multiples of ``stride``)
         as ``normalisation`` says: ``fixed`` (clip to ``clip_db``, minus ``mean``, over ``std``) or
         ``scene`` (clip to ``clip_db``, minus the scene's median, over its robust spread; see
         :mod:`floodsar.engine.scene_statistics`)
  output ``water_probability``: float32 [N, 1, H, W] in [0, 1]
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import FloodSarError
from .scene_statistics import SceneStatistics

#: Version 2 added ``normalisation``; version 1 records are read as ``normalisation = "fixed"``.
SCHEMA_VERSION = 2
NORMALISATIONS = ("fixed", "scene")
METADATA_KEY = "floodsar"
INPUT_NAME = "input"
#: Largest tile a model may declare (the engine's own limit on --tile is the same).
MAX_TILE_SIZE = 2048
OUTPUT_NAME = "water_probability"


@dataclass(frozen=True)
class ModelMetadata:
    """Everything the engine must know about a segmentation model."""

    name: str
    architecture: str
    bands: tuple[str, ...] = ("VV", "VH")
    units: str = "db"
    mean: tuple[float, ...] = (-10.5, -17.5)
    std: tuple[float, ...] = (4.5, 5.0)
    clip_db: tuple[float, float] = (-40.0, 10.0)
    normalisation: str = "fixed"
    resolution_m: float = 10.0
    stride: int = 16
    tile_size: int = 1024  # the tile inference runs on (models train on smaller chips)
    overlap: int = 32
    classes: tuple[str, ...] = ("dry", "water")
    threshold: float = 0.5
    training_data: str = ""
    licence: str = ""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"unsupported FloodSAR metadata schema version {self.schema_version} "
                             f"(this FloodSAR reads version {SCHEMA_VERSION})")
        if not self.bands or len(self.mean) != len(self.bands) or len(self.std) != len(self.bands):
            raise ValueError("bands, mean and std must be non-empty and of equal length")
        if any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}, not {self.normalisation!r}")
        if self.units not in ("db", "linear"):
            raise ValueError(f"units must be 'db' or 'linear', not {self.units!r}")
        if self.stride < 1 or self.tile_size % self.stride or not 0 <= self.overlap < self.tile_size // 2:
            raise ValueError("tile_size must be a multiple of stride and overlap less than half a tile")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("threshold must lie strictly between 0 and 1")
        if self.tile_size > MAX_TILE_SIZE:
            raise ValueError(f"tile_size {self.tile_size} is over {MAX_TILE_SIZE} pixels (memory grows with its square)")
        for name in ("name", "architecture", "units", "training_data", "licence"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be text")
        modes = self.provenance.get("failure_modes", []) if isinstance(self.provenance, Mapping) else None
        if not isinstance(modes, list) or not all(isinstance(mode, str) for mode in modes):
            raise ValueError("provenance must be a JSON object whose failure_modes, if any, is a list of text")

    def normalise(self, db: np.ndarray, scene: SceneStatistics | None = None,
                  out: np.ndarray | None = None) -> np.ndarray:
        """Clip and standardise a [..., bands, H, W] dB stack to the model's input scale (float32).

        ``scene`` (the statistics of the whole raster, bands in the model's order) is required when
        the model's ``normalisation`` is ``scene`` and ignored otherwise. ``out``: a float32 array of
        ``db``'s shape to write into (the same values, no temporary arrays).
        """
        if self.normalisation == "scene":
            if scene is None:
                raise ValueError("this model standardises per scene: pass the scene statistics")
            centre, spread = scene.location, scene.scale
        else:
            centre, spread = self.mean, self.std
        lo, hi = self.clip_db
        mean = np.asarray(centre, dtype=np.float32)[:, None, None]
        std = np.asarray(spread, dtype=np.float32)[:, None, None]
        out = np.maximum(db, np.float32(lo), out=out, dtype=np.float32)  # clipped (faster than np.clip)
        np.minimum(out, np.float32(hi), out=out)
        np.subtract(out, mean, out=out)
        return np.divide(out, std, out=out)

    def to_json(self) -> str:
        """Serialise to the JSON document stored in model files."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelMetadata":
        """Parse and validate; raises ValueError on anything malformed."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("metadata is not a JSON object")
        version = data.get("schema_version", 1)
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise ValueError(f"metadata schema version {version} is newer than this FloodSAR reads "
                             f"({SCHEMA_VERSION}); update FloodSAR")
        if version == 1:  # before normalisation was recorded every model was standardised with fixed constants
            data = {**data, "schema_version": SCHEMA_VERSION, "normalisation": "fixed"}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown metadata fields: {sorted(unknown)}")
        for key in ("bands", "mean", "std", "clip_db", "classes"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


def metadata_from_map(props: Mapping[str, str], source: str | Path) -> ModelMetadata:
    """Read metadata from a key/value map (ONNX custom metadata); clear error naming ``source``."""
    if METADATA_KEY not in props:
        raise FloodSarError(
            f"{source}: this model has no FloodSAR metadata. Export it with "
            "'python -m floodsar.training.export' (or floodsar.engine.metadata.write_onnx_metadata).")
    try:
        return ModelMetadata.from_json(props[METADATA_KEY])
    except (ValueError, TypeError) as exc:
        raise FloodSarError(f"{source}: invalid FloodSAR model metadata ({exc}). "
                            "Re-export the model with this version of FloodSAR.") from exc


def write_onnx_metadata(model: Any, metadata: ModelMetadata) -> None:
    """Store ``metadata`` in an ``onnx.ModelProto`` (replacing any previous FloodSAR entry)."""
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
