"""python -m floodsar.training.synthetic --out DIR --hand N --weak N --additional N [--size 512] [--seed S]"""
from __future__ import annotations

import argparse
import sys

from ...engine.errors import FloodSarError
from .generate import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floodsar.training.synthetic",
                                     description="Generate realistic paired Sentinel-1/Sentinel-2 training chips "
                                                 "in the Sen1Floods11 v1.1 layout (deterministic for a seed).")
    parser.add_argument("--out", required=True, help="dataset root to write (v1.1/... and additional/...)")
    parser.add_argument("--hand", type=int, default=16, help="hand-labelled chips (split over train/valid/test/bolivia)")
    parser.add_argument("--weak", type=int, default=0, help="weakly labelled chips (S1Weak + NDWI and Otsu labels)")
    parser.add_argument("--additional", type=int, default=0, help="unlabelled paired S1/S2 chips")
    parser.add_argument("--size", type=int, default=512, help="chip side in pixels (512 as Sen1Floods11)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if min(args.hand, args.weak, args.additional) < 0 or args.size < 16:
        parser.error("counts must be >= 0 and --size >= 16")
    try:
        splits = generate(args.out, args.hand, args.weak, args.additional, args.size, args.seed, not args.quiet)
    except FloodSarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    print(f"wrote {args.hand} hand ({counts}), {args.weak} weak, {args.additional} additional chips to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
