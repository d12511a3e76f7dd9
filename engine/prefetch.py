"""Reading ahead: an iterator run in a reader thread, a bounded number of items ahead of its consumer."""
from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any, Iterable, Iterator

#: Batches (or windows) the reader thread may read ahead of the model.
PREFETCH = 2


class Prefetcher:
    """Runs an iterator in a reader thread, at most ``size`` items ahead; re-raises its errors."""

    _DONE = object()

    def __init__(self, items: Iterable[Any], size: int = PREFETCH) -> None:
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="floodsar-reader", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
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
            item, error = self._queue.get()
            if error is not None:
                raise error
            if item is self._DONE:
                return
            yield item

    def close(self) -> None:
        """Stop the reader and wait for it (it finishes at most one window read)."""
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def prefetched(items: Iterable[Any]) -> Iterator[Prefetcher]:
    reader = Prefetcher(items)
    try:
        yield reader
    finally:
        reader.close()
