"""One progress bar over a whole run: the mapping first, then each post-processing step."""
from __future__ import annotations

from typing import Callable, Optional

#: Percent of the bar each post-processing step (minimum mapping unit, polygons) gets at the end.
STEP_SHARE = 10.0


class Stages:
    """Scales the mapping's 0..100 into its share and moves on by :data:`STEP_SHARE` per finished step,
    so the bar reaches 100 only when the run ends."""

    def __init__(self, progress: Optional[Callable[[float], None]], *steps: bool) -> None:
        self._progress = progress
        self._reached = 100.0 - STEP_SHARE * sum(steps)  # the mapping's share

    def mapping(self, percent: float) -> None:
        if self._progress is not None:
            self._progress(percent * self._reached / 100.0)

    def done(self) -> None:
        """A post-processing step finished."""
        self._reached += STEP_SHARE
        if self._progress is not None:
            self._progress(self._reached)
