"""The one optimiser behind every trainer here (``train.finetune``, the verifier's DPO and ORM,
Quiet-STaR): AdamW with betas (0.9, 0.99) and a ``LambdaLR`` learning-rate schedule."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


def adamw(
    params: Iterable[Any], *, lr: float, schedule: Callable[[int], float], weight_decay: float = 0.0
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """(optimizer, scheduler) over ``params``: parameters, of which those that do not require a
    gradient are left out, or parameter groups (dicts with their "params" and their own "lr",
    as Quiet-STaR's LoRA adapters beside its mixing head and thought embeddings). ``schedule``
    maps the optimizer steps taken to a multiplier of each group's lr (``train.lr_lambda``…)."""
    params = list(params)
    if params and isinstance(params[0], dict):
        trainable: list[Any] = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in params]
    else:
        trainable = [p for p in params if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr, betas=(0.9, 0.99), weight_decay=weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)
