"""A log line that a flood of bad clients cannot turn into a flood of log lines."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class ThrottledLog:
    """Logs at most one record per ``interval_s`` at ``level``; the next record that gets through says how many
    were suppressed since the last one. Thread-safe (the MQTT bridge logs from paho's and its workers' threads)."""

    def __init__(
        self, logger: logging.Logger, level: int, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger, self.level, self.interval_s, self.clock = logger, level, interval_s, clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._suppressed = 0

    def __call__(self, message: str, *args: object) -> None:
        with self._lock:
            now = self.clock()
            if self._last is not None and now - self._last < self.interval_s:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        if suppressed:
            message += " (and %d more like this since the previous one, not logged)"
            args = (*args, suppressed)
        self.logger.log(self.level, message, *args)
