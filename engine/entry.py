"""The console scripts' entry points. Loading a command's libraries (numpy, GDAL, ONNX Runtime, torch) takes up to
seconds; Ctrl-C then ends the command as it does later, with one line and exit code 130, never a traceback."""
from __future__ import annotations

import contextlib
import importlib
import signal
import sys
from typing import Iterator

#: What an interrupted command says it left behind (its outputs are written whole or not at all).
NOTHING_WRITTEN = "no output was written."


@contextlib.contextmanager
def _ctrl_c_held_back() -> Iterator[None]:
    """Ctrl-C is held back while inside and raised on leaving: C extensions stopped while they load (ONNX Runtime)
    raise ImportError instead of KeyboardInterrupt."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _run(module: str, program: str) -> int:
    """``module``'s ``main()``, once ``module`` has loaded."""
    try:
        with _ctrl_c_held_back():
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
