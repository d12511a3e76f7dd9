"""Working ahead of the consumer: the reader thread and model calls run at once, results in order."""
from __future__ import annotations

import contextlib
import itertools
import random
import signal
import threading
import time

import pytest

from floodsar.engine.prefetch import Prefetcher, ordered_map, prefetched


def test_results_come_in_the_order_of_the_items_with_at_most_workers_calls_at_once():
    running, most, lock = [0], [0], threading.Lock()

    def slow_square(value: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02 * (value % 3))  # later items may finish first
        with lock:
            running[0] -= 1
        return value * value

    assert list(ordered_map(slow_square, range(12), workers=3)) == [(i, i * i) for i in range(12)]
    assert most[0] == 3


def test_one_worker_calls_in_the_consumers_thread():
    threads = set()
    list(ordered_map(lambda item: threads.add(threading.current_thread()), range(3), workers=1))
    assert threads == {threading.current_thread()}


def test_an_error_in_a_call_reaches_the_consumer_and_no_call_outlives_it():
    started, finished = [], []

    def fails_on_two(value: int) -> int:
        started.append(value)
        time.sleep(0.05)
        if value == 2:
            raise ValueError("bad batch 2")
        finished.append(value)
        return value

    with pytest.raises(ValueError, match="bad batch 2"):
        for _ in ordered_map(fails_on_two, range(20), workers=2):
            pass
    assert len(started) <= 4 and set(finished) == set(started) - {2}  # nothing left running or started after


def test_the_reader_reraises_its_error_after_the_items_before_it():
    def items():
        yield from (1, 2)
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"), prefetched(items()) as reader:
        seen.extend(reader)
    assert seen == [1, 2]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs POSIX interval timers")
def test_a_consumer_interrupted_at_any_moment_can_still_stop_the_reader():
    """Ctrl-C strikes the consumer anywhere in its wait for the next item (here an alarm raising in the main
    thread at a random moment); closing must still return at once. With ``queue.Queue`` a few runs in a hundred
    left its lock in a broken state, and the command hung after Ctrl-C."""
    class Interrupt(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupt

    moments = random.Random(0)
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        for _ in range(300):
            reader = Prefetcher(itertools.count(), size=2)
            signal.setitimer(signal.ITIMER_REAL, moments.uniform(0.0002, 0.002))
            with contextlib.suppress(Interrupt):
                for _ in reader:
                    pass
            closing = threading.Thread(target=reader.close, daemon=True)
            closing.start()
            closing.join(2.0)
            assert not closing.is_alive(), "the reader could not be stopped after the interrupt"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
