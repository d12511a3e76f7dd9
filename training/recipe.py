"""The real-data recipe: an S1 student trained on generated chips, teacher labels AND real ETCI tiles.

    python -m floodsar.training.recipe --pack .gpu/pack.npz --out runs/real [--encoder xception_lite]
        [--normalisation scene] [--sources gen pseudo etci] [--valid etci] [--steps 600] [--onnx model.onnx]

Reads only the pack (:mod:`floodsar.training.pack`), so it runs on a machine without rasterio. Each step
draws one batch from every source: ``gen`` (generated hand labels), ``pseudo`` (generated chips labelled
by the S1+S2 teacher: the paper's distillation; ETCI has no Sentinel-2, so its hand labels go to the
student directly) and ``etci`` (real ETCI Bangladesh training tiles). Augmentations model what differs
between real scenes: a calibration offset of up to +-3 dB per band, contrast x0.8-1.25 per band, extra
speckle, 20 m resolution (2x2 averaging), and, for per-scene normalisation, jitter of the scene statistics.

Selection never looks at reported data: the checkpoint (best validation water IoU), a Platt calibration of
the water probability (``p = sigmoid(a * logit + b)``, folded into the classifier's weights, so the
exported model outputs calibrated probabilities) and the threshold (best IoU of the calibrated
probability) all come from ``--valid``: the ETCI validation block (``etci``) or the generated validation
split (``generated``, for a model trained without ETCI). Writes ``<out>/best.pt`` (with engine metadata:
normalisation, threshold, provenance), ``log.jsonl`` and ``metrics.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..engine.metadata import ModelMetadata
from ..engine.scene_statistics import SceneStatistics
from . import etci
from .pack import dequantise_db

SOURCES = ("gen", "pseudo", "etci")
IGNORE = -1


@dataclass(frozen=True)
class Recipe:
    encoder: str = "xception_lite"
    normalisation: str = "scene"
    sources: tuple[str, ...] = SOURCES
    valid: str = "etci"
    steps: int = 600
    batch: int = 4  # per source and step
    crop: int = 192
    lr: float = 1e-3
    seed: int = 0
    eval_every: int = 100
    edge_width: int = 3
    edge_factor: float = 2.0
    workers: int = 0
    device: str = "auto"
    minutes: float = 0.0  # stop after this much training time (0: run all steps); the learning rate decays with
    #                        whichever of steps and time runs out first
    init: str = ""  # start from these weights: a .pt2 model file (e.g. the previous bundled model) or a .pt checkpoint


def metadata_for(recipe: Recipe) -> ModelMetadata:
    return ModelMetadata(name="floodsar-s1", architecture=f"deeplabv3plus-{recipe.encoder}",
                         normalisation=recipe.normalisation)


class PackSet:
    """One set of a pack: images in dB (dequantised or ETCI DN mapped to nominal dB), labels, statistics."""

    def __init__(self, pack: dict, name: str) -> None:
        x, y = pack[f"{name}_x"], pack[f"{name}_y"]
        self.is_dn = name.startswith("etci")
        self.x, self.y = x, y
        stats = pack.get(f"{name}_stats")
        self.stats = None if stats is None else SceneStatistics(tuple(map(float, stats[:, 0])),
                                                                tuple(map(float, stats[:, 1])))

    def __len__(self) -> int:
        return len(self.x)

    def item(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(float32 [2, H, W] dB with NaN at no data, bool valid, int64 label 1/0/-1)."""
        if self.is_dn:
            dn = self.x[index]
            valid = (dn > 0).all(axis=0)
            db = etci.to_db(dn, valid)
        else:
            db, valid = dequantise_db(self.x[index])
        label = self.y[index].astype(np.int64)
        label[(label == 255) | ~valid] = IGNORE
        return db, valid, label

    def statistics(self, db: np.ndarray, valid: np.ndarray) -> SceneStatistics:
        """The scene statistics the engine would see: the block's mosaic for ETCI, the chip itself otherwise."""
        return self.stats if self.stats is not None else SceneStatistics.of_array(db, valid)


def augment_texture(db: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """20 m pixels (2x2 mean of linear power, repeated back to 10 m; 25%) and extra speckle (4-12 looks; 30%)."""
    db = db.copy()
    if rng.random() < 0.25:
        h, w = (s - s % 2 for s in db.shape[1:])
        power = 10 ** (np.nan_to_num(db[:, :h, :w], nan=-30.0) / 10)
        coarse = power.reshape(2, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
        db[:, :h, :w] = 10 * np.log10(np.repeat(np.repeat(coarse, 2, axis=1), 2, axis=2))
    if rng.random() < 0.3:
        looks = rng.uniform(4, 12)
        db += 10 * np.log10(rng.gamma(looks, 1 / looks, size=db.shape)).astype(np.float32)
    return db


def augment_calibration(db: np.ndarray, valid: np.ndarray, stats: Optional[SceneStatistics],
                        rng: np.random.Generator) -> tuple[np.ndarray, Optional[SceneStatistics]]:
    """Per band: contrast x0.8-1.25 around the chip's median and an offset of up to +-3 dB; known scene
    statistics (an ETCI block's) move with the pixels."""
    offset = rng.uniform(-3, 3, size=2).astype(np.float32)
    gain = np.exp(rng.uniform(np.log(0.8), np.log(1.25), size=2)).astype(np.float32)
    centre = np.array([np.median(band[valid]) if valid.any() else 0.0 for band in db], np.float32)
    db = (db - centre[:, None, None]) * gain[:, None, None] + centre[:, None, None] + offset[:, None, None]
    db[:, ~valid] = np.nan
    if stats is not None:
        stats = SceneStatistics(tuple(float((l - c) * g + c + o) for l, c, g, o in
                                      zip(stats.location, centre, gain, offset)),
                                tuple(float(s * g) for s, g in zip(stats.scale, gain)))
    return db, stats


def jitter(stats: SceneStatistics, rng: np.random.Generator) -> SceneStatistics:
    """Statistics as another composition of the same scene would give them (location +-0.15 sd, scale x~1.1)."""
    return SceneStatistics(tuple(l + 0.15 * s * rng.standard_normal() for l, s in zip(stats.location, stats.scale)),
                           tuple(s * math.exp(0.1 * rng.standard_normal()) for s in stats.scale))


def model_input(metadata: ModelMetadata, db: np.ndarray, valid: np.ndarray, stats: Optional[SceneStatistics]
                ) -> np.ndarray:
    """The engine's input: normalised as the metadata says, no-data pixels at 0."""
    image = metadata.normalise(np.where(valid, db, 0.0), stats)
    image[:, ~valid] = 0.0
    return image


class Training(Dataset):
    """Augmented random crops of one pack set; item ``i`` depends only on (seed, i)."""

    def __init__(self, data: PackSet, metadata: ModelMetadata, crop: int, seed: int, length: int) -> None:
        self.data, self.metadata, self.crop, self.seed, self.length = data, metadata, crop, seed, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng((self.seed, index))
        db, valid, label = self.data.item(int(rng.integers(len(self.data))))
        stats = self.data.stats
        db, stats = augment_calibration(augment_texture(db, rng), valid, stats, rng)
        if self.metadata.normalisation == "scene":
            stats = jitter(stats if stats is not None else SceneStatistics.of_array(db, valid), rng)
        h, w = label.shape
        size = min(self.crop, h, w)
        top, left = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        window = (slice(top, top + size), slice(left, left + size))
        image = model_input(self.metadata, db[:, window[0], window[1]], valid[window], stats)
        mask = label[window]
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        image, mask = np.rot90(image, k, (1, 2)), np.rot90(mask, k)
        if flip:
            image, mask = image[:, :, ::-1], mask[:, ::-1]
        return {"image": torch.from_numpy(image.copy()), "mask": torch.from_numpy(mask.copy())}


def validation_inputs(data: PackSet, metadata: ModelMetadata) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [N, 2, H, W] inputs, int64 [N, H, W] labels) of a validation set, as the engine sees it."""
    images, labels = [], []
    for index in range(len(data)):
        db, valid, label = data.item(index)
        images.append(model_input(metadata, db, valid, data.statistics(db, valid)))
        labels.append(label)
    return np.stack(images), np.stack(labels)


@torch.no_grad()
def logits_of(model: torch.nn.Module, images: np.ndarray, device: torch.device, batch: int = 16) -> np.ndarray:
    """Water logit (class 1 minus class 0) per pixel, float32 [N, H, W]."""
    model.eval()
    out = []
    for start in range(0, len(images), batch):
        logits = model(torch.from_numpy(images[start:start + batch]).to(device)).float()
        out.append((logits[:, 1] - logits[:, 0]).cpu().numpy())
    return np.concatenate(out)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def iou(water: np.ndarray, label: np.ndarray) -> float:
    counted = label != IGNORE
    truth, water = label[counted] == 1, water[counted]
    union = np.count_nonzero(truth | water)
    return float(np.count_nonzero(truth & water) / union) if union else float("nan")


def fit_platt(logit: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(a, b) minimising the cross entropy of sigmoid(a * logit + b) against ``truth`` (bool)."""
    z, t = torch.from_numpy(logit.astype(np.float64)), torch.from_numpy(truth.astype(np.float64))
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([params], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(params[0] * z + params[1], t)
        loss.backward()
        return loss

    optimiser.step(closure)
    a, b = (float(v) for v in params.detach())
    sane = truth.any() and not truth.all() and 0.01 < a < 100 and abs(b) < 100
    return (a, b) if sane else (1.0, 0.0)


def expected_calibration_error(probability: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """Mean |observed water share - mean probability| over equal-width probability bins, pixel-weighted."""
    index = np.minimum((probability * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            total += chosen.sum() * abs(truth[chosen].mean() - probability[chosen].mean())
    return float(total / probability.size)


def calibrate(model: torch.nn.Module, logit: np.ndarray, label: np.ndarray, seed: int
              ) -> dict:
    """Platt scaling and the IoU-best threshold on validation pixels; folds (a, b) into the classifier."""
    counted = label != IGNORE
    z, truth = logit[counted], label[counted] == 1
    rng = np.random.default_rng(seed)
    pick = rng.choice(z.size, min(z.size, 2_000_000), replace=False)
    a, b = fit_platt(z[pick], truth[pick])
    raw, calibrated = sigmoid(z[pick]), sigmoid(a * z[pick] + b)
    thresholds = np.round(np.arange(0.05, 0.96, 0.05), 2)
    scores = [iou(calibrated >= t, truth[pick].astype(np.int64)) for t in thresholds]
    best = int(np.nanargmax(scores))
    classifier = model.classifier  # logits' = [a * l0, a * l1 + b]: their difference is a * logit + b
    with torch.no_grad():
        classifier.weight.mul_(a)
        classifier.bias.mul_(a)
        classifier.bias[1] += b
    return {"platt_a": a, "platt_b": b, "threshold": float(thresholds[best]),
            "valid_iou_at_threshold": scores[best],
            "ece_before": expected_calibration_error(raw, truth[pick]),
            "ece_after": expected_calibration_error(calibrated, truth[pick])}


def report(model: torch.nn.Module, pack: dict, metadata: ModelMetadata, threshold: float,
           device: torch.device) -> dict:
    """Water IoU on the pack's report chips (direct PyTorch run with the engine's normalisation; reported only)."""
    if "report_x" not in pack:
        return {}
    data = PackSet(pack, "report")
    images, labels = validation_inputs(data, metadata)
    water = sigmoid(logits_of(model, images, device, batch=4)) >= threshold
    chips = {str(name): iou(w, l) for name, w, l in zip(pack["report_names"], water, labels)}
    return {"total_water_iou": iou(water, labels), "chips": chips}


@torch.no_grad()
def speed(model: torch.nn.Module, device: torch.device, batch: int = 8, rounds: int = 5) -> float:
    """Inference throughput (512 px tiles per second, fp32) of ``model`` on ``device``."""
    model.eval()
    x = torch.zeros(batch, 2, 512, 512, device=device)
    model(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.time()
    for _ in range(rounds):
        model(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return round(batch * rounds / (time.time() - started), 2)


def initial_weights(path: Path) -> dict:
    """The state dict of a FloodSAR .pt2 model file or training checkpoint."""
    if path.suffix == ".pt2":
        state = torch.export.load(str(path)).state_dict
        return {key[len("model."):]: value for key, value in state.items()}
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def train(recipe: Recipe, pack_path: Path, out: Path, onnx: Optional[Path] = None) -> dict:
    from .losses import edge_weighted_cross_entropy
    from .checkpoint import save_checkpoint
    from .network import ModelConfig, build_model

    torch.manual_seed(recipe.seed)
    device = torch.device("cuda" if recipe.device != "cpu" and torch.cuda.is_available() else "cpu")
    with np.load(pack_path) as archive:
        pack = {key: archive[key] for key in archive.files}
    metadata = metadata_for(recipe)
    loaders = []
    for number, name in enumerate(recipe.sources):
        dataset = Training(PackSet(pack, name), metadata, recipe.crop, recipe.seed * 1000 + number,
                           recipe.steps * recipe.batch)
        loaders.append(iter(DataLoader(dataset, batch_size=recipe.batch, num_workers=recipe.workers,
                                       pin_memory=device.type == "cuda")))
    valid_set = PackSet(pack, "etcival" if recipe.valid == "etci" else "genval")
    valid_images, valid_labels = validation_inputs(valid_set, metadata)

    model_config = ModelConfig(encoder=recipe.encoder, in_channels=2)
    model = build_model(model_config)
    if recipe.init:
        model.load_state_dict(initial_weights(Path(recipe.init)))
    model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=1e-4)
    budget, started = recipe.minutes * 60 or math.inf, time.time()

    def progress(step: int) -> float:
        return min(max(step / recipe.steps, (time.time() - started) / budget), 1.0)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: max(1 - progress(step), 1e-3) ** 0.9)
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "log.jsonl").open("w", encoding="utf-8")
    best_iou, best_state, best_step = -1.0, None, 0
    for step in range(1, recipe.steps + 1):
        last = progress(step) >= 1.0
        model.train()
        loss = 0.0
        for loader in loaders:
            batch = next(loader)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(batch["image"].to(device, non_blocking=True))
            loss = loss + edge_weighted_cross_entropy(logits.float(), batch["mask"].to(device), recipe.edge_width,
                                                      recipe.edge_factor)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % recipe.eval_every == 0 or last:
            valid_iou = iou(logits_of(model, valid_images, device) >= 0, valid_labels)
            record = {"step": step, "loss": float(loss.detach()), "valid_iou": valid_iou,
                      "seconds": round(time.time() - started, 1)}
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(json.dumps(record), file=sys.stderr)
            if valid_iou > best_iou:
                best_iou, best_step = valid_iou, step
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if last:
            break
    log.close()
    trained_seconds = round(time.time() - started, 1)
    model.load_state_dict(best_state)
    calibration = calibrate(model, logits_of(model, valid_images, device), valid_labels, recipe.seed)
    metrics = {"recipe": dataclasses.asdict(recipe), "best_step": best_step, "valid_iou_at_0.5": best_iou,
               **calibration, "train_seconds": trained_seconds, "steps_done": step, "device": str(device),
               "tiles_per_second_512": speed(model, device) if device.type == "cuda" else None,
               "train_sets": {name: len(pack[f"{name}_x"]) for name in recipe.sources},
               "valid_set": recipe.valid, "valid_tiles": len(valid_set)}
    metadata = dataclasses.replace(
        metadata, threshold=calibration["threshold"],
        provenance={"recipe": "floodsar.training.recipe", "best_step": best_step, "init": recipe.init,
                    "valid": recipe.valid, "valid_iou": calibration["valid_iou_at_threshold"],
                    "calibration": {k: calibration[k] for k in ("platt_a", "platt_b", "ece_before", "ece_after")}})
    metrics["report"] = report(model, pack, metadata, metadata.threshold, device)
    save_checkpoint(out / "best.pt", model.cpu(), model_config, metadata, recipe=dataclasses.asdict(recipe),
                    metrics=metrics)
    if onnx is not None:
        from .export import export_onnx

        export_onnx(model, metadata, onnx)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics


def main(argv: Optional[Sequence[str]] = None) -> int:
    defaults = Recipe()
    parser = argparse.ArgumentParser(prog="python -m floodsar.training.recipe", description=__doc__.split("\n")[0])
    parser.add_argument("--pack", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--onnx", type=Path, help="also export the calibrated model to this ONNX file")
    parser.add_argument("--encoder", default=defaults.encoder)
    parser.add_argument("--normalisation", choices=("scene", "fixed"), default=defaults.normalisation)
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(defaults.sources))
    parser.add_argument("--valid", choices=("etci", "generated"), default=defaults.valid)
    for name in ("steps", "batch", "crop", "seed", "eval_every", "workers"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--minutes", type=float, default=defaults.minutes, help="training time budget (0: none)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=defaults.device)
    parser.add_argument("--init", default="", help="start from a .pt2 model file or .pt checkpoint of the same encoder")
    args = parser.parse_args(argv)
    recipe = Recipe(encoder=args.encoder, normalisation=args.normalisation, sources=tuple(args.sources),
                    valid=args.valid, steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr,
                    seed=args.seed, eval_every=args.eval_every, workers=args.workers, device=args.device,
                    init=args.init, minutes=args.minutes)
    metrics = train(recipe, args.pack, args.out, args.onnx)
    print(json.dumps({k: metrics[k] for k in ("best_step", "valid_iou_at_0.5", "threshold",
                                              "valid_iou_at_threshold", "ece_before", "ece_after")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
