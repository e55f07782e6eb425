"""Supervised fine-tuning with the loss masked to the completion (rationale + answer + <eos>),
as in STaR's device_train.py (loss only after the question). AdamW, linear warm-up then
cosine decay, gradient clipping."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from .stopping import NEVER, StopFlag

IGNORE = -100


def pack(examples: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, labels, lengths): right-padded; labels are IGNORE on the prompt and padding."""
    n = len(examples)
    lengths = torch.tensor([len(p) + len(c) for p, c in examples], dtype=torch.long)
    L = int(lengths.max()) if n else 0
    ids = torch.full((n, L), pad_id, dtype=torch.long)
    labels = torch.full((n, L), IGNORE, dtype=torch.long)
    for i, (p, c) in enumerate(examples):
        seq = list(p) + list(c)
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        labels[i, len(p): len(seq)] = torch.tensor(list(c), dtype=torch.long)
    return ids, labels, lengths


def lr_lambda(steps: int, warmup_frac: float = 0.05, min_ratio: float = 0.0) -> Callable[[int], float]:
    warm = max(1, int(round(warmup_frac * steps)))

    def f(step: int) -> float:  # step = number of optimizer steps taken so far
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, steps - warm)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def finetune(model: torch.nn.Module, examples: Sequence[tuple[Sequence[int], Sequence[int]]], *, steps: int,
             lr: float, batch_size: int, pad_id: int, seed: int, stop: StopFlag = NEVER,
             on_step: Callable[[int, float], None] | None = None, weight_decay: float = 0.0,
             clip: float = 1.0, warmup_frac: float = 0.05) -> list[float]:
    """Train ``model`` in place for ``steps`` optimizer steps on ``examples`` (prompt ids,
    completion ids), sampling batches by shuffled epochs. Returns the loss of every step.
    ``on_step(step, loss)`` is called after each step (1-based)."""
    if steps <= 0 or not examples:
        return []
    device = next(model.parameters()).device
    ids, labels, lengths = pack(examples, pad_id)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                            betas=(0.9, 0.99), weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(steps, warmup_frac))
    g = torch.Generator().manual_seed(seed)
    n = len(examples)
    bs = min(batch_size, n)
    perm = torch.randperm(n, generator=g)
    pos = 0
    losses: list[float] = []
    model.train()
    for step in range(1, steps + 1):
        stop.check()
        if pos + bs > n:
            perm = torch.randperm(n, generator=g)
            pos = 0
        idx = perm[pos: pos + bs]
        pos += bs
        L = int(lengths[idx].max())
        x = ids[idx, :L].to(device)
        y = labels[idx, :L].to(device)
        out = model(input_ids=x, labels=y)
        loss = out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        lv = float(loss.detach())
        losses.append(lv)
        if on_step is not None:
            on_step(step, lv)
    model.eval()
    return losses
