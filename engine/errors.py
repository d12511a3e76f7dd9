"""User-facing errors: facts the engine knows, worded by each front end.

An error names the file and the fix. When the fix is an option (a band number, the device,
the tile size...), the error says so with placeholders the front end fills in with its own
names: ``{device}`` is the option, ``{device=cpu}`` the option set to a value. The command
line writes ``--device`` and ``--device cpu``; QGIS writes its parameter's label. ``str()``
of an error uses plain words, for logs and for callers of the Python API.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Union

_PLACEHOLDER = re.compile(r"\{(\w+)(?:=([^{}]*))?\}")


@dataclass(frozen=True)
class Wording:
    """How a front end names the engine's options: ``names`` by option (e.g. 'vv_band' -> '--vv-band')
    and how it writes an option set to a value (``setting``, with ``{name}`` and ``{value}``), unless
    ``names`` has words for that very setting (e.g. 'method=otsu' -> 'the Otsu threshold method')."""

    names: Mapping[str, str] = field(default_factory=dict)
    setting: str = "{name} {value}"

    def fill(self, template: str) -> str:
        """``template`` with every ``{option}`` and ``{option=value}`` in this front end's words."""
        def word(match: re.Match) -> str:
            if match[2] is not None and f"{match[1]}={match[2]}" in self.names:
                return self.names[f"{match[1]}={match[2]}"]
            name = self.names.get(match[1], match[1].replace("_", " "))
            return name if match[2] is None else self.setting.format(name=name, value=match[2])

        return _PLACEHOLDER.sub(word, template)


#: Plain words (``str()`` of an error, logs, the Python API): 'VV band 3', 'device cpu'.
PLAIN = Wording(names={"vv_band": "VV band", "vh_band": "VH band", "min_area_m2": "minimum area",
                       "vh_file": "a second file (VH)",
                       "trust_model": "trust this model file"})


class FloodSarError(Exception):
    """A problem the user can fix (bad input, bad model, unwritable output).

    The command line prints it on one line and exits non-zero; the QGIS plugin shows it in
    its message bar. Never used for programming bugs. :meth:`worded` gives the sentence in a
    front end's own words.
    """

    def worded(self, wording: Wording = PLAIN) -> str:
        """The message for a front end (plain words by default)."""
        return " ".join(str(self).split())


class OptionError(FloodSarError):
    """An option whose value cannot be used: which option, the value, the file, what is wrong and the fix.

    ``problem`` and ``fix`` may name options as ``{option}`` or ``{option=value}`` (see the module).
    """

    def __init__(self, option: str, value: object, problem: str, fix: str = "",
                 path: Optional[Union[str, Path]] = None) -> None:
        self.option, self.value, self.problem, self.fix, self.path = option, value, problem, fix, path
        super().__init__(self.worded())

    def worded(self, wording: Wording = PLAIN) -> str:
        text = wording.fill(self.problem) + (f"; {wording.fill(self.fix)}" if self.fix else "")
        return f"{self.path}: {text}." if self.path is not None else f"{text}."


class CancelledError(FloodSarError):
    """The user cancelled the run; nothing was written."""

    def __init__(self, message: str = "Cancelled by the user; no output was written.") -> None:
        super().__init__(message)
