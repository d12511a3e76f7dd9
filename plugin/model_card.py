"""A model's card for the panel: what it was trained on, its licence and its known failure modes.

Read from the model file's own metadata (``floodsar info --model`` prints the same). Does not import qgis.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.choices import Backend, Device
from ..engine.models import load_model


@dataclass(frozen=True)
class ModelCard:
    """The parts of a model's metadata an analyst needs before trusting its map."""

    name: str
    training_data: str = ""
    licence: str = ""
    failure_modes: list[str] = field(default_factory=list)

    @property
    def short_limits(self) -> str:
        """The failure modes by their names (each one's first phrase), for one line in the panel."""
        return "; ".join(re.split(r":|;|,| \(|\. ", mode, maxsplit=1)[0].rstrip(".") for mode in self.failure_modes)

    def as_html(self) -> str:
        """The whole card as HTML for a message box."""
        parts = [f"<h3>{html.escape(self.name)}</h3>"]
        if self.training_data:
            parts.append(f"<p><b>Trained on:</b> {html.escape(self.training_data)}</p>")
        if self.licence:
            parts.append(f"<p><b>Licence:</b> {html.escape(self.licence)}</p>")
        if self.failure_modes:
            items = "".join(f"<li>{html.escape(mode)}</li>" for mode in self.failure_modes)
            parts.append(f"<p><b>Known failure modes</b> (check the map there):</p><ul>{items}</ul>")
        else:
            parts.append("<p>This model's file lists no known failure modes.</p>")
        return "".join(parts)


def read_card(model: str | Path | None, trusted_by_user: bool = False) -> ModelCard:
    """The card of ``model`` (None: the bundled model; a .pt2 is opened with PyTorch, only when it is the
    bundled one or ``trusted_by_user``); FloodSarError or ImportError if it cannot be read."""
    backend = Backend.TORCH if str(model or "").lower().endswith(".pt2") else Backend.ONNX
    metadata = load_model(model or None, backend, Device.CPU, trusted_by_user=trusted_by_user).metadata
    return ModelCard(metadata.name, metadata.training_data, metadata.licence,
                     list(metadata.provenance.get("failure_modes", [])))
