"""A wandb-compatible face on :mod:`starlab.sdk`: an existing script reports into STaR Lab with
one changed line,

    import starlab.compat.wandb as wandb

What it covers: ``init`` (project, name, config, mode), ``log`` (step, commit), ``config``
(item and attribute access, ``update``), ``summary``, ``define_metric`` with a custom step
(``step_metric``, ``*`` globs), ``finish`` (exit_code), ``run``, and the context manager.

How it maps:
- The run starts at the first ``log`` (or ``finish``), so config set between ``init`` and then
  (``wandb.config.update(args)``) is the run's config; a change after that is warned about and
  not recorded (the run's config was written with its start).
- ``log`` without ``step`` writes at wandb's own counter and advances it; ``commit=False``
  holds the values until the next committed call; an explicit ``step`` lower than the counter
  is dropped with a warning, as wandb does. Nested dicts become ``a.b`` names.
- A metric with ``define_metric(name, step_metric=x)`` is written at the step given by ``x``'s
  value in the same call (else the last value logged for ``x``), so its curve has that x axis.
- ``summary`` values set by the script are written once at ``finish``, as metrics named
  ``summary/<key>`` at the last step. wandb's automatic summary (last value of each metric) is
  what the lab shows anyway.
- Values that are not finite numbers (images, tables, histograms) are dropped with a warning
  in the run's log. ``watch``, ``save``, ``alert`` and ``define_metric``'s ``summary``/``goal``
  are accepted and do nothing beyond a warning where it matters: STaR Lab has no model-graph,
  file-sync or alerting service.
"""

from __future__ import annotations

import fnmatch
import math
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from .. import sdk

__all__ = ["init", "log", "finish", "define_metric", "watch", "save", "alert", "Run", "Config", "Summary"]


class Config(MutableMapping[str, Any]):
    """wandb.config: a dict with attribute access; frozen once the run has started."""

    def __init__(self, owner: Run, values: Mapping[str, Any] | None = None):
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_values", dict(values or {}))

    def _changed(self) -> None:
        if self._owner._started:
            self._owner._warn_once(
                "config", "wandb.config changed after the run's first log: the change is not recorded (set config before logging)"
            )

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value
        self._changed()

    def __delitem__(self, key: str) -> None:
        del self._values[key]
        self._changed()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def update(self, other: Any = (), /, allow_val_change: bool = False, **kw: Any) -> None:  # noqa: ARG002 - wandb's signature
        values = vars(other) if hasattr(other, "__dict__") and not isinstance(other, Mapping) else dict(other)
        self._values.update(values, **kw)
        self._changed()

    def setdefaults(self, d: Mapping[str, Any]) -> None:
        for k, v in d.items():
            self._values.setdefault(k, v)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


class Summary(dict):
    """wandb.summary: what the script sets is written at finish (``summary/<key>``)."""


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


def _as_step(v: Any) -> int | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(round(f)) if math.isfinite(f) and f >= 0 else None


class Run:
    """The object ``wandb.init`` returns."""

    def __init__(self, project: str | None, name: str | None, config: Mapping[str, Any] | None, mode: str | None):
        self.project, self.name, self._mode = project, name, mode
        self.config = Config(self, config)
        self.summary = Summary()
        self._run: sdk.Run | None = None
        self._started = False
        self._finished = False
        self._step = 0
        self._pending: dict[str, Any] = {}
        self._step_metrics: list[tuple[str, str]] = []  # (name pattern, step metric)
        self._last: dict[str, Any] = {}
        self._last_step = 0  # the highest step written (summary values go there)
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ wandb's face
    @property
    def id(self) -> str | None:
        return self._run.id if self._run else None

    @property
    def step(self) -> int:
        return self._step

    def define_metric(self, name: str, step_metric: str | None = None, **_ignored: Any) -> None:
        if step_metric:
            self._step_metrics.append((name, step_metric))

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        if self._finished:
            raise RuntimeError("wandb.log after finish: start a new run with wandb.init")
        values = _flatten(data)
        if step is not None:
            step = int(step)
            if step < self._step:
                self._warn_once(f"step{step}", f"wandb.log at step {step}, below the current step {self._step}: dropped (as wandb does)")
                return
            if step > self._step and self._pending:
                self._write(self._pending, self._step)
                self._pending = {}
            self._step = step
            self._pending.update(values)
            if commit is not False:
                self._write(self._pending, self._step)
                self._pending = {}
            return
        self._pending.update(values)
        if commit is not False:
            self._write(self._pending, self._step)
            self._pending = {}
            self._step += 1

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:  # noqa: ARG002
        if self._finished:
            return
        if self._pending:
            self._write(self._pending, self._step)
            self._pending = {}
        run = self._start()
        if self.summary and run is not None:
            run.log({f"summary/{k}": v for k, v in _flatten(self.summary).items()}, step=self._last_step)
        self._finished = True
        if run is not None:
            run.finish("completed" if not exit_code else "failed", error=None if not exit_code else f"exit code {exit_code}")
        if _current is self:
            _set_current(None)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.finish()
        else:
            self._finished = True
            if self._run is not None:
                self._run.__exit__(exc_type, exc, tb)
            if _current is self:
                _set_current(None)

    # ------------------------------------------------------------------ underneath
    def _warn_once(self, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(message, stacklevel=3)
        if self._run is not None:
            self._run.alert(message, "warning")

    def _start(self) -> sdk.Run | None:
        if self._mode == "disabled":
            return None
        if self._run is None:
            self._run = sdk.init(
                project=self.project, name=self.name, config=self.config.as_dict(), mode="offline" if self._mode == "offline" else None
            )
            self._started = True
        return self._run

    def _step_of(self, name: str) -> str | None:
        for pattern, step_metric in self._step_metrics:
            if name != step_metric and fnmatch.fnmatchcase(name, pattern):
                return step_metric
        return None

    def _write(self, values: Mapping[str, Any], step: int) -> None:
        run = self._start()
        self._last.update(values)
        if run is None:
            return
        by_step: dict[int, dict[str, Any]] = {}
        for k, v in values.items():
            step_metric = self._step_of(k)
            x = step
            if step_metric is not None:
                custom = _as_step(values.get(step_metric, self._last.get(step_metric)))
                if custom is None:
                    self._warn_once(
                        f"noaxis:{k}", f"{k} is defined against {step_metric}, which has no value yet: written at the global step"
                    )
                else:
                    x = custom
            by_step.setdefault(x, {})[k] = v
        for x, vals in by_step.items():
            run.log(vals, step=x)
        self._last_step = max(self._last_step, step)


# ---------------------------------------------------------------------- module-level API
_current: Run | None = None


def _set_current(run: Run | None) -> None:
    global _current
    _current = run


def init(
    project: str | None = None,
    entity: str | None = None,  # noqa: ARG001 - a wandb team; the lab has none
    name: str | None = None,
    config: Mapping[str, Any] | Any | None = None,
    mode: str | None = None,
    reinit: bool | None = None,  # noqa: ARG001
    **_ignored: Any,
) -> Run:
    """Start a run (finishing the previous one, as wandb does when ``reinit`` is allowed)."""
    if mode not in (None, "online", "offline", "disabled"):
        raise ValueError(f'mode must be "online", "offline" or "disabled", not {mode!r}')
    if _current is not None:
        _current.finish()
    if config is not None and not isinstance(config, Mapping):
        config = vars(config)  # an argparse.Namespace, as wandb accepts
    run = Run(project, name, config, mode)
    _set_current(run)
    return run


def _need_run(what: str) -> Run:
    if _current is None:
        raise RuntimeError(f"wandb.{what} before wandb.init")
    return _current


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    _need_run("log").log(data, step=step, commit=commit)


def define_metric(name: str, step_metric: str | None = None, **kw: Any) -> None:
    _need_run("define_metric").define_metric(name, step_metric=step_metric, **kw)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    if _current is not None:
        _current.finish(exit_code, quiet)


def watch(*_args: Any, **_kw: Any) -> None:
    warnings.warn("wandb.watch: STaR Lab does not log gradients or the model graph; ignored", stacklevel=2)


def save(*_args: Any, **_kw: Any) -> None:
    warnings.warn("wandb.save: STaR Lab does not upload files; log_artifact on the starlab run records one", stacklevel=2)


def alert(title: str, text: str = "", level: Any = None, **_kw: Any) -> None:
    run = _need_run("alert")
    started = run._start()
    if started is not None:
        started.alert(
            f"{title}: {text}" if text else title,
            str(level or "info").lower() if str(level or "").lower() in ("warning", "error") else "info",
        )


def __getattr__(name: str) -> Any:
    # wandb.run, wandb.config and wandb.summary follow the current run
    if name == "run":
        return _current
    if name in ("config", "summary"):
        return getattr(_need_run(name), name)
    raise AttributeError(f"module 'starlab.compat.wandb' has no attribute {name!r}")
