"""Working ahead of the consumer, a bounded number of items: an iterator run in a reader thread, and a
function run on several items at once in worker threads, results kept in order."""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import queue
import threading
from typing import Any, Callable, Deque, Iterable, Iterator, Tuple

#: Batches (or windows) the reader thread may read ahead of the model.
PREFETCH = 2


class Prefetcher:
    """Runs an iterator in a reader thread, at most ``size`` items ahead; re-raises its errors.

    Items and free places travel through ``queue.SimpleQueue`` (implemented in C): a Ctrl-C that interrupts the
    consumer while it waits leaves no lock held. A ``queue.Queue`` could be left with its mutex locked by the
    interrupted thread, and the reader then waited for it forever (a Ctrl-C hang seen about once in a hundred)."""

    _DONE = object()

    def __init__(self, items: Iterable[Any], size: int = PREFETCH) -> None:
        self._items = items
        self._ready: queue.SimpleQueue = queue.SimpleQueue()
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(size):
            self._free.put(None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="floodsar-reader", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._free.get(timeout=0.1)
            except queue.Empty:
                continue
            self._ready.put(item)
            return True
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer thread
            self._put((self._DONE, exc))
            return
        self._put((self._DONE, None))

    def __iter__(self) -> Iterator[Any]:
        while True:
            item, error = self._ready.get()
            self._free.put(None)
            if error is not None:
                raise error
            if item is self._DONE:
                return
            yield item

    def close(self) -> None:
        """Stop the reader and wait for it (it finishes at most one window read)."""
        self._stop.set()
        self._free.put(None)  # wakes a reader waiting for a free place
        self._thread.join()


@contextlib.contextmanager
def prefetched(items: Iterable[Any]) -> Iterator[Prefetcher]:
    reader = Prefetcher(items)
    try:
        yield reader
    finally:
        reader.close()


def ordered_map(function: Callable[[Any], Any], items: Iterable[Any], workers: int) -> Iterator[Tuple[Any, Any]]:
    """(item, function(item)) in the order of ``items``, with up to ``workers`` calls running at once in threads
    (one: called in this thread). Errors are re-raised here; leaving early waits for the running calls."""
    if workers == 1:
        yield from ((item, function(item)) for item in items)
        return
    running: Deque[Tuple[Any, concurrent.futures.Future]] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="floodsar-model") as pool:
        try:
            for item in items:
                running.append((item, pool.submit(function, item)))
                if len(running) == workers:
                    item, future = running.popleft()
                    yield item, future.result()
            while running:
                item, future = running.popleft()
                yield item, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
