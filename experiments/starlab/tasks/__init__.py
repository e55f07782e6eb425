"""Tasks (datasets) behind one interface (tasks/base.py); ``get_task(name)`` returns one."""

from __future__ import annotations

from .base import DataError, Splits, Task


def get_task(name: str) -> Task:
    if name == "addition":
        from .addition import AdditionTask

        return AdditionTask()
    if name == "pair-sum":
        from .pair_sum import PairSumTask

        return PairSumTask()
    if name == "gsm8k":
        from .gsm8k import GSM8KTask

        return GSM8KTask()
    if name == "commonsenseqa":
        from .commonsenseqa import CommonsenseQATask

        return CommonsenseQATask()
    raise KeyError(f"unknown task {name!r}")


__all__ = ["DataError", "Splits", "Task", "get_task"]
