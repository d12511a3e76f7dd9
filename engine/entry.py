"""The console scripts' entry points. Loading a command's libraries (numpy, GDAL, ONNX Runtime, torch) takes up to
seconds; Ctrl-C then ends the command as it does later, with one line and exit code 130, never a traceback."""
from __future__ import annotations

import importlib
import signal
import sys

#: What an interrupted command says it left behind (its outputs are written whole or not at all).
NOTHING_WRITTEN = "no output was written."


def _run(module: str, program: str) -> int:
    """``module``'s ``main()``, once ``module`` has loaded."""
    try:
        main = importlib.import_module(module).main
    except KeyboardInterrupt:
        print(f"{program}: interrupted; {NOTHING_WRITTEN}", file=sys.stderr)
        return 128 + signal.SIGINT
    return main()


def floodsar() -> int:
    """The ``floodsar`` command (:mod:`floodsar.engine.cli`)."""
    return _run("floodsar.engine.cli", "floodsar")


def floodsar_train() -> int:
    """The ``floodsar-train`` command (:mod:`floodsar.training.cli`)."""
    return _run("floodsar.training.cli", "floodsar-train")
