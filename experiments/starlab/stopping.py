"""Cooperative stop: SIGTERM/SIGINT set a flag that long loops poll between steps; a
second signal raises at once."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopRequested(Exception):
    """Raised inside the experiment when a stop was requested (SIGTERM/SIGINT)."""


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None

    def request(self, signum: int | None = None) -> None:
        self.signum = signum
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise StopRequested(f"stop requested (signal {self.signum})" if self.signum else "stop requested")

    def install(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT), *, escalate: bool = True) -> None:
        """Install handlers (main thread only): first signal sets the flag, a second raises
        (``escalate``). Under torchrun the signal comes twice (the process group's, then the
        agent's), and raising inside a collective would leave the other ranks waiting: there
        repeats only set the flag."""

        def handler(signum: int, frame: Any) -> None:
            if self._event.is_set() and escalate:
                raise StopRequested(f"stop requested again (signal {signum})")
            self.request(signum)

        for s in signals:
            signal.signal(s, handler)


NEVER = StopFlag()  # a flag nobody sets, for library use without signals
