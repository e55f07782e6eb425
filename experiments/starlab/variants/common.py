"""What every runner writes the same way: throttled progress, samples in batches, JSONL/JSON
artifacts. :class:`RunOutput` is the output half of every runner (runner.Runner), which
provides ``self.ev`` (an EventWriter) and ``self.run_dir``."""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

SAMPLES_PER_EVENT = 200
PROGRESS_MIN_INTERVAL_S = 0.5
LOSS_EVENTS_PER_TRAIN = 20


def _finite(v: Any) -> Any:
    """``v`` with every non-finite float (NaN, ±inf) replaced by None, recursively."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def sample_item(
    task: Any, q: Any, text: str, answer: Any, correct: bool, *, split: str, kind: str, question: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One row of a ``samples`` event (the catalogue's SampleRow): ``q`` answered by ``text``.
    ``question`` is the prompt shown when it is not the plain question (a rationalization's
    hinted prompt); ``extra`` adds ``hint_used``, ``kept`` or ``scores``."""
    item = dict(
        question_id=q.qid,
        split=split,
        kind=kind,
        question=task.question_text(q) if question is None else question,
        text=text,
        answer=answer,
        gold=q.gold,
        correct=correct,
        hint_used=False,
        difficulty=task.difficulty(q),
    )
    item.update(extra)
    return item


class _Throttle:
    def __init__(self, interval: float):
        self.interval, self.last = interval, 0.0

    def ready(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self.last >= self.interval:
            self.last = now
            return True
        return False


class RunOutput:
    ev: Any
    run_dir: str
    #: False on every rank but 0 of a torchrun run: those write no files (their events go nowhere)
    is_main: bool = True

    def _progress(self, throttle: _Throttle, iteration: int, phase: str, done: int, total: int) -> None:
        if throttle.ready(force=done >= total):
            self.ev.progress(iteration, phase, done, total)

    def _emit_samples(self, iteration: int, items: list[dict[str, Any]]) -> None:
        # batches of SAMPLES_PER_EVENT, smaller where long texts would pass the line limit
        self.ev.samples_batches(iteration, items, SAMPLES_PER_EVENT)

    def _artifact(self, rel: str, kind: str, iteration: int | None, rows: list[dict[str, Any]] | dict[str, Any]) -> None:
        if not self.is_main:
            return
        path = os.path.join(self.run_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # NaN/Infinity are not JSON: written as null, or a reader would drop the whole line
        with open(path, "w", encoding="utf-8") as f:
            if isinstance(rows, list):
                for r in rows:
                    f.write(json.dumps(_finite(r), ensure_ascii=False, allow_nan=False) + "\n")
            else:
                json.dump(_finite(rows), f, ensure_ascii=False, indent=1, allow_nan=False)
        self.ev.artifact(os.path.basename(rel), kind, rel, size=os.path.getsize(path), iteration=iteration)
