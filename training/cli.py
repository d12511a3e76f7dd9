"""One command for everything in training/: ``floodsar-train COMMAND ...`` (or ``python -m floodsar.training``).

Each command is a module with ``add_arguments(parser)`` and ``command(args) -> int``; this module gives
them the shared options (``--device``, ``--quiet``) and the one error handler: a problem the user
can fix (:class:`FloodSarError`) is one line on stderr and exit status 1, Ctrl-C is status 130.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from ..engine.errors import FloodSarError
from .devices import DEVICES

#: command -> (module under floodsar.training, shared options it takes, one-line help)
COMMANDS = {
    "synthetic": ("synthetic.generate", ("quiet",), "generate paired S1/S2 training chips in the Sen1Floods11 layout"),
    "train": ("train", ("device", "quiet"), "train one stage of cross-modal distillation from a config"),
    "pseudo-label": ("pseudo_label", ("device", "quiet"), "label paired S1/S2 chips with the S1+S2 teacher"),
    "evaluate": ("evaluate", ("device", "quiet"), "water IoU of a model or of Otsu on a Sen1Floods11 split"),
    "seeds": ("seeds", ("device", "quiet"), "train configs over several seeds and print the paper's table"),
    "export": ("export", (), "export a checkpoint for the engine (.onnx and .pt2) with parity checks"),
    "quantize": ("quantize", (), "an int8 model (ONNX static quantisation) calibrated on real Sentinel-1"),
    "evaluate-real": ("evaluate_real", ("quiet",), "water IoU of the model and of Otsu on labelled real chips"),
    "compare-real": ("compare_real", (), "compare generated Sentinel-1 chips with real ones"),
    "gamma0-effect": ("gamma0_effect", ("quiet",), "the model's water IoU on real chips as sigma0 and as gamma0"),
}


def _shared_options() -> dict[str, argparse.ArgumentParser]:
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument("--device", choices=DEVICES,
                        help="where PyTorch runs (default: the config's run.device, else auto: CUDA when present)")
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("--quiet", action="store_true", help="no progress bars")
    return {"device": device, "quiet": quiet}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="floodsar-train", description="Reproduce, evaluate and export FloodSAR's "
                                                                        "model (cross-modal distillation).")
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")
    shared = _shared_options()
    for name, (module_name, options, text) in COMMANDS.items():
        module = importlib.import_module(f"{__package__}.{module_name}")
        sub = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                                  parents=[shared[option] for option in options])
        module.add_arguments(sub)
        sub.set_defaults(command=module.command, **{option: None for option in shared if option not in options})
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.command(args)
    except FloodSarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
