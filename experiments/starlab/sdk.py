"""A small wandb-like SDK: any script can report into STaR Lab through the same event file.

    import starlab
    run = starlab.init(project="probe", name="lr 3e-4", config={"lr": 3e-4})
    for step in range(100):
        run.log({"loss": loss}, step=step)          # iteration defaults to 0
    run.finish()                                    # run_end "completed"

Where the events go: inside a run the lab launched, to that run (``$STARLAB_EVENTS``);
else to ``events_path`` when given; else into a new run directory in the lab's data
directory (``$STARLAB_DATA_DIR``, else the platform folder), announced so the running app
and ``starlab list`` show it live (:mod:`starlab.lab_dir`). ``mode="offline"`` (or
``$STARLAB_MODE=offline``) writes that run directory under ``./starlab-runs/`` instead, for
``starlab sync`` to bring in later (a cluster node without the lab's disk).

``finish`` is called at interpreter exit if the script did not call it; an uncaught
exception ends the run as "failed" with its message. Used as a context manager, an
exception inside the block does the same.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from . import lab_dir
from .events import ENV_EVENTS, EventWriter, collect_env

_active: list[Run] = []
_hook_lock = threading.Lock()
_hook_installed = False


def _launched_events_path() -> str | None:
    """The events file of the lab-launched run this process belongs to, if any."""
    env = os.environ.get(ENV_EVENTS)
    if env:
        return env
    run_dir = os.environ.get("STARLAB_RUN_DIR")
    return os.path.join(run_dir, "events.jsonl") if run_dir else None


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
        self.events_path = events_path or _launched_events_path()
        if self.events_path is None:
            raise ValueError(f"no events path: give events_path, or set ${ENV_EVENTS} (starlab.init registers a run itself)")
        #: the run's id and name where init registered it (None for an events file alone)
        self.id: str | None = None
        self.name: str | None = None
        self.dir = os.path.dirname(os.path.abspath(self.events_path))
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


def init(
    project: str | Mapping[str, Any] | None = None,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    events_path: str | None = None,
    *,
    mode: str | None = None,
    data_dir: str | None = None,
    **kwargs: Any,
) -> Run:
    """Start a run: writes ``run_start`` (config + environment).

    Inside a lab-launched run (``$STARLAB_EVENTS`` / ``$STARLAB_RUN_DIR``) or with
    ``events_path``, the events go there. Otherwise the run is registered: a new run directory
    in the lab's data directory (``data_dir``, else ``$STARLAB_DATA_DIR``, else the platform
    folder), which the app shows live; with ``mode="offline"`` (or ``$STARLAB_MODE=offline``)
    under ``./starlab-runs/`` for ``starlab sync``.
    """
    if isinstance(project, Mapping):
        # the earlier signature, init(config, events_path): a positional config still means one
        config, events_path, project, name = project, (name if events_path is None else events_path), None, None
    for arg, value in (("project", project), ("name", name)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{arg} must be a string, not {type(value).__name__}")
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping (a dict), not {type(config).__name__}")
    config = lab_dir.json_safe(dict(config or {}))
    registered: tuple[str, str] | None = None  # (run id, data dir to announce it in, or "")
    if events_path is None and _launched_events_path() is None:
        mode = mode or os.environ.get("STARLAB_MODE") or "online"
        if mode not in ("online", "offline"):
            raise ValueError(f'mode must be "online" or "offline", not {mode!r}')
        if mode == "online":
            base = lab_dir.resolve_data_dir(data_dir)
            runs = os.path.join(base, "runs")
        else:
            base, runs = "", os.path.join(os.getcwd(), "starlab-runs")
        run_id, run_dir = lab_dir.create_run_dir(runs, project=project, name=name, config=config)
        events_path = os.path.join(run_dir, "events.jsonl")
        registered = (run_id, base)
    run = Run(config, events_path, **kwargs)
    if registered is not None:
        run.id, run.name = registered[0], name
        if registered[1]:
            lab_dir.announce(registered[1], registered[0])
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
