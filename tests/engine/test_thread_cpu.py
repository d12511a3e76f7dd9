"""CPU seconds per thread role: the benchmark's way to tell which thread limits a run."""
from __future__ import annotations

import sys
import threading
import time

import pytest

from floodsar.engine.benchmark.thread_cpu import NATIVE, ThreadCpu

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_busy_threads_are_counted_by_role_and_idle_ones_are_not():
    spun, finished = threading.Event(), threading.Event()

    def read() -> None:
        _spin(0.6)
        spun.set()
        finished.wait()  # alive until the last sample: a thread ending between samples loses up to one interval

    sleeper = threading.Thread(target=finished.wait, name="floodsar-model_0")
    reader = threading.Thread(target=read, name="floodsar-reader")
    sleeper.start()
    with ThreadCpu() as cpu:
        reader.start()
        _spin(0.3)  # the main thread
        spun.wait()
    finished.set()
    sleeper.join()
    reader.join()
    roles = cpu.by_role()
    assert roles["reader"] == pytest.approx(0.6, abs=0.1)
    assert roles["main"] == pytest.approx(0.3, abs=0.1)
    assert roles["model calls"] < 0.05  # an idle thread costs nothing (the libraries' own threads may be busy)
    assert set(roles) <= {"main", "reader", "model calls", NATIVE}
