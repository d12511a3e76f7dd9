"""Training configurations: TOML files (read with tomllib) loaded into frozen, typed dataclasses.

A file has the sections ``[run]``, ``[model]`` (:class:`.network.ModelConfig` less ``in_channels``,
which ``data.inputs`` sets), ``[data]``, ``[optim]``, ``[loss]`` and, for the distillation student,
``[distill]``. A file may start from others: ``extends = "s1_hand.toml"`` (or a list, applied in
order) takes their settings and overrides them key by key. Unknown keys and values of the wrong
type are refused, in one line naming the file and the key, so that a typo never silently falls back
to a default. Relative paths: ``run.out`` is relative to the working directory; ``data.root``,
``distill.teacher`` and ``model.encoder_weights`` to the folder of the file that sets them.
"""
from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..engine.errors import FloodSarError
from .devices import DEVICES
from .network import ModelConfig
from .sen1floods11 import S2_BANDS

INPUTS = ("s1", "s1s2")
SOURCES = ("hand", "weak", "additional")
WEAK_LABELS = ("s2index", "s1otsu")
TARGETS = ("hard", "soft")


@dataclass(frozen=True)
class DataConfig:
    """Where the chips are and which of them train the model."""

    root: str = ""  # folder containing v1.1/ (and additional/); --data overrides it
    inputs: str = "s1"  # s1: VV, VH (student, baselines); s1s2: VV, VH + 13 S2 bands (teacher)
    train: tuple[str, ...] = ("hand",)  # hand | weak | additional (concatenated into one source)
    weak_label: str = "s2index"  # label of the weakly labelled set: s2index (NDWI) | s1otsu
    additional: str = "additional"  # paired S1/S2 folder (relative to root) with NDWI weak labels
    valid_split: str = "valid"  # hand-labelled split that picks the best checkpoint
    crop: int = 256  # random training crop side (px, a multiple of 16)
    workers: int = 0  # DataLoader worker processes


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 30
    steps_per_epoch: int = 0  # 0: one pass over the first training source
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)


@dataclass(frozen=True)
class LossConfig:
    edge_width: int = 3  # px on each side of a water/land boundary that get extra weight (0: none)
    edge_factor: float = 2.0  # weight of those pixels (others weigh 1)


@dataclass(frozen=True)
class DistillConfig:
    """Stage 2 of cross-modal distillation: the S1 student learns from hand labels + teacher labels."""

    teacher: str  # the teacher's checkpoint (.pt) or its config (.toml: trained first if needed)
    pseudo: tuple[str, ...] = ("additional",)  # paired S1/S2 folders (relative to root) the teacher labels
    targets: str = "hard"  # hard: teacher's class; soft: teacher's probability
    confidence: float = 0.0  # pixels where the teacher is less sure than this are ignored (0.5-1)
    hand_weight: float = 1.0  # loss weight of the hand-labelled batches
    pseudo_weight: float = 1.0  # loss weight of the teacher-labelled batches


@dataclass(frozen=True)
class RunConfig:
    name: str
    row: str = ""  # the paper's table row this run reproduces (see seeds.PAPER_ROWS)
    out: str = ""  # runs are written to <out>/seed<seed>/ (default runs/<name>)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    model: ModelConfig = ModelConfig()  # in_channels follows data.inputs
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    loss: LossConfig = LossConfig()
    distill: Optional[DistillConfig] = None
    source: str = ""  # the file it was read from

    @property
    def out_dir(self) -> Path:
        return Path(self.out or f"runs/{self.name}") / f"seed{self.seed}"

    def with_overrides(self, **changes: Any) -> "RunConfig":
        """A copy with top-level fields (seed, out, device) or ``data_root`` / ``epochs`` / ``steps`` changed."""
        data, optim = self.data, self.optim
        if changes.get("data_root") is not None:
            data = dataclasses.replace(data, root=str(changes["data_root"]))
        if changes.get("epochs") is not None:
            optim = dataclasses.replace(optim, epochs=int(changes["epochs"]))
        if changes.get("steps") is not None:
            optim = dataclasses.replace(optim, steps_per_epoch=int(changes["steps"]))
        top = {k: v for k, v in changes.items() if k in ("seed", "out", "device") and v is not None}
        return dataclasses.replace(self, data=data, optim=optim, **top)


SECTIONS = ("run", "model", "data", "optim", "loss", "distill")
#: Settings holding a path relative to the file that sets them: (section, key).
FILE_RELATIVE = (("data", "root"), ("distill", "teacher"), ("model", "encoder_weights"))


def in_channels(inputs: str) -> int:
    """Model input bands of ``data.inputs``: VV, VH and, for the teacher, the Sentinel-2 bands."""
    return 2 + (len(S2_BANDS) if inputs == "s1s2" else 0)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a field's type (int, float, str, bool, Optional, tuple[str, ...])."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return any(_fits(value, arg) for arg in args)
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(_fits(item, args[0]) for item in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is type(None):
        return value is None
    return isinstance(value, hint) if isinstance(hint, type) else True


def _section(cls: type, values: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, refusing unknown keys and values of the wrong type."""
    if not isinstance(values, dict):
        raise FloodSarError(f"{where}: must be a table of settings.")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise FloodSarError(f"{where}: unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(known)}.")
    for key, value in values.items():
        if not _fits(value, hints[key]):
            raise FloodSarError(f"{where} {key}: {value!r} is not {_type_name(hints[key])}; fix the value.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise FloodSarError(f"{where}: {exc}; fix the section.") from exc


def _type_name(hint: Any) -> str:
    names = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return f"a list of {_type_name(args[0]).replace('a ', '', 1)}s"
    if origin is typing.Union:
        return " or ".join(_type_name(arg) for arg in args if arg is not type(None))
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _check(config: RunConfig, path: Path) -> None:
    def bad(message: str) -> FloodSarError:
        return FloodSarError(f"{path}: {message}")

    data, optim = config.data, config.optim
    if data.inputs not in INPUTS:
        raise bad(f"data.inputs must be one of {', '.join(INPUTS)}, not {data.inputs!r}.")
    if not data.train or any(s not in SOURCES for s in data.train):
        raise bad(f"data.train must list some of {', '.join(SOURCES)}, not {list(data.train)}.")
    if data.weak_label not in WEAK_LABELS:
        raise bad(f"data.weak_label must be one of {', '.join(WEAK_LABELS)}, not {data.weak_label!r}.")
    if data.crop < 16 or data.crop % 16:
        raise bad(f"data.crop must be a multiple of 16 (the model's output stride), not {data.crop}.")
    if optim.epochs < 1 or optim.batch_size < 1 or optim.steps_per_epoch < 0 or optim.lr <= 0:
        raise bad("optim needs epochs >= 1, batch_size >= 1, steps_per_epoch >= 0 and lr > 0.")
    if config.loss.edge_width < 0 or config.loss.edge_factor <= 0:
        raise bad("loss needs edge_width >= 0 and edge_factor > 0.")
    if config.device not in DEVICES:
        raise bad(f"run.device must be one of {', '.join(DEVICES)}, not {config.device!r}.")
    distill = config.distill
    if distill is not None:
        if data.inputs != "s1":
            raise bad("a distillation student takes Sentinel-1 only: set data.inputs = \"s1\".")
        if distill.targets not in TARGETS:
            raise bad(f"distill.targets must be hard or soft, not {distill.targets!r}.")
        if not (distill.confidence == 0 or 0.5 <= distill.confidence <= 1):
            raise bad("distill.confidence must be 0 (keep every pixel) or between 0.5 and 1.")
        if not distill.pseudo:
            raise bad("distill.pseudo must name at least one paired S1/S2 folder for the teacher to label.")


def _merge(base: dict, override: dict) -> dict:
    """``base`` with ``override``'s settings on top, table by table."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def _read(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """The settings of one file with those of the files it extends beneath them; relative paths resolved."""
    if not path.is_file():
        where = f" (extended by {chain[-1]})" if chain else ""
        raise FloodSarError(f"{path}: config file not found{where}; pass one of training/configs/*.toml.")
    if path.resolve() in chain:
        raise FloodSarError(f"{chain[-1]}: extends {path.name}, which extends it back; break the loop.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FloodSarError(f"{path}: not valid TOML ({exc}); fix the syntax.") from exc
    unknown = sorted(set(raw) - {*SECTIONS, "extends"})
    if unknown:
        raise FloodSarError(f"{path}: unknown section(s) {', '.join(unknown)}; allowed: extends, "
                            f"{', '.join(SECTIONS)}.")
    for section in SECTIONS:
        if section in raw and not isinstance(raw[section], dict):
            raise FloodSarError(f"{path} [{section}]: must be a table of settings.")
    for section, key in FILE_RELATIVE:
        value = raw.get(section, {}).get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            raw[section][key] = str(path.parent / value)
    extends = raw.pop("extends", [])
    extends = [extends] if isinstance(extends, str) else extends
    if not isinstance(extends, list) or not all(isinstance(name, str) for name in extends):
        raise FloodSarError(f"{path} extends: must be a file name or a list of them, not {extends!r}.")
    settings: dict = {}
    for name in extends:
        settings = _merge(settings, _read(path.parent / name, (*chain, path.resolve())))
    return _merge(settings, raw)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a training config (and those it extends); FloodSarError naming the file on any problem."""
    path = Path(path)
    raw = _read(path)
    run = dict(raw.get("run", {}))
    if "name" not in run:
        raise FloodSarError(f"{path}: [run] needs a name.")
    if "in_channels" in raw.get("model", {}):
        raise FloodSarError(f"{path} [model]: in_channels is set by data.inputs; remove it.")
    data = _section(DataConfig, raw.get("data", {}), f"{path} [data]")
    model = _section(ModelConfig, {**raw.get("model", {}), "in_channels": in_channels(data.inputs)},
                     f"{path} [model]")
    distill = _section(DistillConfig, raw["distill"], f"{path} [distill]") if "distill" in raw else None
    config = _section(RunConfig, {**run, "model": model, "data": data,
                                  "optim": _section(OptimConfig, raw.get("optim", {}), f"{path} [optim]"),
                                  "loss": _section(LossConfig, raw.get("loss", {}), f"{path} [loss]"),
                                  "distill": distill, "source": str(path)}, f"{path} [run]")
    _check(config, path)
    return config
