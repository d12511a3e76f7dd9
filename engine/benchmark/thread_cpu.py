"""CPU seconds spent by each of this process's threads during a run (Linux): the thread whose CPU time nears the
run's wall time is the one that limits it (the reader decoding, the main thread stitching and writing, ...)."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Dict, Optional, Tuple

#: Seconds between samples: a thread that ends between two samples loses at most this much of its time.
INTERVAL_S = 0.2
TASKS = Path("/proc/self/task")
#: Threads FloodSAR starts, by name prefix; every other thread is the libraries' own (GDAL, ONNX Runtime, CUDA).
ROLES = {"MainThread": "main", "floodsar-reader": "reader", "floodsar-model": "model calls"}
NATIVE = "native (GDAL, ONNX Runtime, CUDA)"


def _cpu_seconds(tid: str) -> Optional[float]:
    """User + system CPU seconds of thread ``tid``, or None once it has ended."""
    try:
        fields = (TASKS / tid / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _role(name: Optional[str]) -> str:
    return next((role for prefix, role in ROLES.items() if name and name.startswith(prefix)), NATIVE)


class ThreadCpu:
    """``with ThreadCpu() as cpu: ...`` then ``cpu.by_role()``: CPU seconds per role over the block (empty where
    /proc is absent)."""

    def __init__(self) -> None:
        self._start: Dict[str, float] = {}
        self._last: Dict[str, Tuple[str, float]] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._run, name="thread-cpu-sampler", daemon=True)

    def _sample(self) -> None:
        if not TASKS.is_dir():
            return
        names = {str(thread.native_id): thread.name for thread in threading.enumerate()}
        for tid in os.listdir(TASKS):
            seconds = _cpu_seconds(tid)
            if seconds is not None and names.get(tid) != self._sampler.name:
                self._last[tid] = (_role(names.get(tid)), seconds)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self._sample()

    def __enter__(self) -> "ThreadCpu":
        self._sample()
        self._start = {tid: seconds for tid, (_, seconds) in self._last.items()}
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sampler.join()
        self._sample()

    def by_role(self) -> Dict[str, float]:
        """CPU seconds per role (main, reader, model calls, native) spent inside the block."""
        totals: Dict[str, float] = {}
        for tid, (role, seconds) in self._last.items():
            totals[role] = totals.get(role, 0.0) + seconds - self._start.get(tid, 0.0)
        return totals
