"""A small wandb-like SDK: any script can report into STaR Lab through the same event file.

    import starlab
    run = starlab.init(config={"lr": 3e-4})        # events to $STARLAB_EVENTS (or events_path)
    for step in range(100):
        run.log({"loss": loss}, step=step)          # iteration defaults to 0
    run.finish()                                    # run_end "completed"

``finish`` is called at interpreter exit if the script did not call it; an uncaught
exception ends the run as "failed" with its message. Used as a context manager, an
exception inside the block does the same.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from .events import ENV_EVENTS, EventWriter, collect_env

_active: list[Run] = []
_hook_lock = threading.Lock()
_hook_installed = False


def _default_events_path() -> str:
    env = os.environ.get(ENV_EVENTS)
    if env:
        return env
    run_dir = os.environ.get("STARLAB_RUN_DIR")
    if run_dir:
        return os.path.join(run_dir, "events.jsonl")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return os.path.join(os.getcwd(), "starlab-runs", f"{stamp}-{os.getpid()}", "events.jsonl")


def _install_excepthook() -> None:
    global _hook_installed
    with _hook_lock:
        if _hook_installed:
            return
        _hook_installed = True
        previous = sys.excepthook

        def hook(exc_type: Any, exc: BaseException, tb: Any) -> None:
            for run in list(_active):
                try:
                    status = "stopped" if issubclass(exc_type, KeyboardInterrupt) else "failed"
                    run.finish(status, error=f"{exc_type.__name__}: {exc}")
                except Exception:
                    pass
            previous(exc_type, exc, tb)

        sys.excepthook = hook


class Run:
    """One run's event stream. Create it with :func:`init`."""

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        events_path: str | None = None,
        *,
        heartbeat: bool = True,
        hashes: Mapping[str, str] | None = None,
        env: Mapping[str, Any] | None = None,
    ):
        self.events_path = events_path or _default_events_path()
        self.events = EventWriter(self.events_path, heartbeat_s=5.0 if heartbeat else None)
        self.config = dict(config or {})
        self._step = 0
        self._finished = False
        self.events.run_start(self.config, env if env is not None else collect_env(), hashes or {})

    # -------------------------------------------------------------------- logging
    def log(self, values: Mapping[str, Any], step: int | None = None, iteration: int = 0) -> None:
        """Scalar metrics at ``step`` (default: one past the last step logged)."""
        if step is None:
            step = self._step
        self._step = max(self._step, int(step) + 1)
        self.events.metrics(iteration, int(step), values)

    def log_samples(self, items: Iterable[Mapping[str, Any]], iteration: int = 0) -> None:
        """Samples, any number: written as as many events as the protocol's line limits need."""
        self.events.samples_batches(iteration, items)

    def log_artifact(self, path: str, name: str | None = None, kind: str = "file", iteration: int | None = None) -> None:
        size = os.path.getsize(path) if os.path.isfile(path) else None
        run_dir = os.path.dirname(os.path.abspath(self.events_path))
        rel = os.path.relpath(os.path.abspath(path), run_dir)
        self.events.artifact(name or os.path.basename(path), kind, rel, size=size, iteration=iteration)

    def alert(self, message: str, level: str = "info") -> None:
        self.events.log(level, message)

    def progress(self, done: int, total: int, phase: str = "train", iteration: int = 0) -> None:
        self.events.progress(iteration, phase, done, total)

    def phase(self, phase: str, iteration: int = 0):
        return self.events.phase(iteration, phase)

    # -------------------------------------------------------------------- end
    @property
    def finished(self) -> bool:
        return self._finished

    def finish(self, status: str = "completed", error: str | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            self.events.run_end(status, error)
        finally:
            self.events.close()
            if self in _active:
                _active.remove(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.finish("completed")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("stopped", error="KeyboardInterrupt")
        else:
            self.finish("failed", error="".join(traceback.format_exception_only(exc_type, exc)).strip())


def init(config: Mapping[str, Any] | None = None, events_path: str | None = None, **kwargs: Any) -> Run:
    """Start a run: writes ``run_start`` (config + environment) to ``events_path``, else
    ``$STARLAB_EVENTS``, else ``$STARLAB_RUN_DIR/events.jsonl``, else
    ``./starlab-runs/<time>-<pid>/events.jsonl``."""
    run = Run(config, events_path, **kwargs)
    _active.append(run)
    _install_excepthook()
    return run


@atexit.register
def _finish_all() -> None:
    for run in list(_active):
        try:
            run.finish("completed")
        except Exception:
            pass
