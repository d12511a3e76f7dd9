"""Training configurations: TOML files (read with tomllib) loaded into frozen dataclasses.

A file has the sections ``[run]``, ``[model]``, ``[data]``, ``[optim]``, ``[loss]`` and, for the
distillation student, ``[distill]``. Unknown keys are refused so that a typo never silently falls
back to a default. Relative paths: ``run.out`` is relative to the working directory, ``data.root``
(when given in the file) and ``distill.teacher`` to the config file's folder.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..engine.errors import FloodSarError

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
    model: dict[str, Any] = field(default_factory=dict)  # keyword arguments of model.ModelConfig
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    loss: LossConfig = LossConfig()
    distill: Optional[DistillConfig] = None
    source: str = ""  # the file it was read from

    @property
    def out_dir(self) -> Path:
        return Path(self.out or f"runs/{self.name}") / f"seed{self.seed}"

    @property
    def in_channels(self) -> int:
        from .datasets import S2_BANDS
        return 2 + (len(S2_BANDS) if self.data.inputs == "s1s2" else 0)

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


def _section(cls: type, values: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, refusing unknown keys and converting lists to tuples."""
    if not isinstance(values, dict):
        raise FloodSarError(f"{where}: must be a table of settings.")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise FloodSarError(f"{where}: unknown setting(s) {', '.join(unknown)}; "
                            f"allowed: {', '.join(known)}.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise FloodSarError(f"{where}: {exc}; fix the section.") from exc


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
    if config.device not in ("auto", "cpu", "cuda"):
        raise bad(f"run.device must be auto, cpu or cuda, not {config.device!r}.")
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


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a training config; FloodSarError naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise FloodSarError(f"{path}: config file not found; pass one of training/configs/*.toml.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FloodSarError(f"{path}: not valid TOML ({exc}); fix the syntax.") from exc
    unknown = sorted(set(raw) - {"run", "model", "data", "optim", "loss", "distill"})
    if unknown:
        raise FloodSarError(f"{path}: unknown section(s) {', '.join(unknown)}; "
                            "allowed: run, model, data, optim, loss, distill.")
    run = dict(raw.get("run", {}))
    if "name" not in run:
        raise FloodSarError(f"{path}: [run] needs a name.")
    model = raw.get("model", {})
    if not isinstance(model, dict) or "in_channels" in model:
        raise FloodSarError(f"{path}: [model] must be a table without in_channels (set by data.inputs).")
    data = _section(DataConfig, raw.get("data", {}), f"{path} [data]")
    if data.root and not Path(data.root).is_absolute():
        data = dataclasses.replace(data, root=str(path.parent / data.root))
    distill = None
    if "distill" in raw:
        distill = _section(DistillConfig, raw["distill"], f"{path} [distill]")
        if not Path(distill.teacher).is_absolute():
            distill = dataclasses.replace(distill, teacher=str(path.parent / distill.teacher))
    config = _section(RunConfig, {**run, "model": dict(model), "data": data,
                                  "optim": _section(OptimConfig, raw.get("optim", {}), f"{path} [optim]"),
                                  "loss": _section(LossConfig, raw.get("loss", {}), f"{path} [loss]"),
                                  "distill": distill, "source": str(path)}, f"{path} [run]")
    _check(config, path)
    return config
