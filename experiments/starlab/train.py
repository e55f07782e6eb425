"""Supervised fine-tuning with the loss masked to the completion (rationale + answer + <eos>),
as STaR's device_train.py computes its mask (loss only after the question). AdamW, gradient
clipping, and one of two learning-rate schedules:

- ``cosine``: linear warm-up over 5% of the steps, then cosine decay to 0 (the default);
- ``constant``: the STaR reference's schedule, ``mesh_transformer/util.py`` ``gpt3_schedule``
  with ``lr = end_lr`` as its configs set it: linear warm-up from 0 over ``warmup_steps``
  optimizer steps, then constant.

Batches are either unpacked examples, right-padded to the batch's longest (the default), or
packed sequences (``pack_len`` > 0): whole examples concatenated into rows of at most
``pack_len`` tokens, as the reference trains on 1,536-token sequences of about ten examples
each. Position ids restart at 0 for every example and no attention mask is passed, which is
transformers' packed-sequence format (``masking_utils.find_packed_sequence_indices``): the
causal mask becomes block-diagonal, so an example never attends to another and a packed row
computes what each of its examples computes alone. ``assert_packing_isolated`` checks that
for the model at hand before a packed fine-tune starts."""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import optim
from .batches import EpochBatches
from .dist import SINGLE, Dist
from .stopping import NEVER, StopFlag

IGNORE = -100
LR_SCHEDULES = ("cosine", "constant")

Example = tuple[Sequence[int], Sequence[int]]


@dataclass
class TrainStats:
    """What one ``finetune`` call really trained, summed over its steps (examples repeat
    across epochs). ``tokens`` are real tokens (prompt + completion, no padding);
    ``padded_tokens`` is what the forwards computed (rows × their padded length)."""

    steps: int = 0
    examples: int = 0
    sequences: int = 0
    tokens: int = 0
    completion_tokens: int = 0
    padded_tokens: int = 0


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
        labels[i, len(p) : len(seq)] = torch.tensor(list(c), dtype=torch.long)
    return ids, labels, lengths


def lr_lambda(steps: int, warmup_frac: float = 0.05, min_ratio: float = 0.0) -> Callable[[int], float]:
    warm = max(1, int(round(warmup_frac * steps)))

    def f(step: int) -> float:  # step = number of optimizer steps taken so far
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, steps - warm)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def gpt3_lr_lambda(warmup_steps: int, anneal_steps: int = 1, end_ratio: float = 1.0) -> Callable[[int], float]:
    """The STaR reference's ``gpt3_schedule(warmup_steps, anneal_steps, peak_lr, end_lr)``
    (``mesh_transformer/util.py``) as a multiplier of the peak lr, ``end_ratio = end_lr /
    peak_lr``: at k optimizer steps taken,

        min(k, W)/W − (1 − end_ratio) · (1 − cos(π · clip(k − W, 0, A)/A)) / 2.

    optax counts the updates before the current one, as ``LambdaLR`` does, so the first
    update runs at 0. The reference's configs set end_lr = lr: a linear warm-up, then
    constant. ``warmup_steps`` 0 starts at the peak (the reference divides by zero)."""
    if warmup_steps < 0 or anneal_steps <= 0:
        raise ValueError("warmup_steps must be ≥ 0 and anneal_steps > 0")

    def f(step: int) -> float:
        warm = 1.0 if warmup_steps == 0 else min(max(step, 0), warmup_steps) / warmup_steps
        anneal = min(max(step - warmup_steps, 0), anneal_steps) / anneal_steps
        return warm - (1.0 - end_ratio) * (1.0 - math.cos(math.pi * anneal)) / 2.0

    return f


def schedule_lambda(schedule: str, steps: int, *, warmup_steps: int = 0, warmup_frac: float = 0.05) -> Callable[[int], float]:
    """``cosine``: ``lr_lambda(steps, warmup_frac)``; ``constant``: the reference's schedule
    (``gpt3_lr_lambda`` with end_lr = lr) warming up over ``warmup_steps``."""
    if schedule == "cosine":
        return lr_lambda(steps, warmup_frac)
    if schedule == "constant":
        return gpt3_lr_lambda(warmup_steps)
    raise ValueError(f"unknown lr schedule {schedule!r} (known: {', '.join(LR_SCHEDULES)})")


def pack_sequences(lengths: Sequence[int], order: Sequence[int], pack_len: int) -> list[list[int]]:
    """Example indices grouped into packed rows: next-fit in ``order`` (a row takes the next
    example while its tokens stay ≤ ``pack_len``, else a new row starts), as the reference
    concatenates its shuffled examples. Examples are never split; one longer than
    ``pack_len`` gets a row of its own."""
    rows: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for i in order:
        n = int(lengths[i])
        if cur and used + n > pack_len:
            rows.append(cur)
            cur, used = [], 0
        cur.append(int(i))
        used += n
    if cur:
        rows.append(cur)
    return rows


def packed_batch(
    examples: Sequence[Example], rows: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, labels, position_ids) of packed rows (each a list of example indices),
    right-padded to the longest row. Labels are the completion tokens and IGNORE elsewhere —
    on prompts, padding, and the first token of every example, which nothing inside its
    example predicts. Position ids restart at 0 for every example and for the padding."""
    seqs = [[tok for i in row for tok in list(examples[i][0]) + list(examples[i][1])] for row in rows]
    L = max((len(s) for s in seqs), default=0)
    ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), L), IGNORE, dtype=torch.long)
    pos = torch.zeros((len(rows), L), dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            p, c = examples[i]
            n = len(p) + len(c)
            ids[r, at : at + n] = torch.tensor(list(p) + list(c), dtype=torch.long)
            if c:
                labels[r, at + len(p) : at + n] = torch.tensor(list(c), dtype=torch.long)
            labels[r, at] = IGNORE
            pos[r, at : at + n] = torch.arange(n)
            at += n
        pos[r, at:] = torch.arange(L - at)
    return ids, labels, pos


def labelled_tokens(examples: Sequence[Example], rows: Sequence[Sequence[int]]) -> int:
    """The tokens ``packed_batch`` labels in ``rows``: every completion token but an example's
    first token, which nothing inside its example predicts (a completion without a prompt)."""
    total = 0
    for row in rows:
        for i in row:
            p, c = examples[i]
            total += len(c) - (1 if c and not p else 0)
    return total


def packed_loss_sum(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy over the labelled tokens of packed rows (float32)."""
    logits = model(input_ids=ids, position_ids=pos, use_cache=False).logits
    return F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE, reduction="sum"
    )


def assert_packing_isolated(model: torch.nn.Module, a: Sequence[int], b: Sequence[int]) -> None:
    """Raise unless the model keeps two packed examples apart: the gradient of b's outputs
    with respect to a's input embeddings, in the row a ⊕ b with restarted position ids, must
    be exactly zero (masked attention weights are exact zeros in every dtype). It fails for a
    model or attention implementation that ignores transformers' packed-sequence format.
    Runs in eval mode (no dropout draws) and leaves the parameters' gradients alone."""
    a, b = list(a)[:16], list(b)[:16]
    if not a or not b:
        return
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        ids = torch.tensor([a + b], dtype=torch.long, device=device)
        pos = torch.tensor([list(range(len(a))) + list(range(len(b)))], dtype=torch.long, device=device)
        x = model.get_input_embeddings()(ids).detach().requires_grad_(True)
        out = model(inputs_embeds=x, position_ids=pos, use_cache=False).logits
        (grad,) = torch.autograd.grad(out[0, len(a) :].float().sum(), x)
    finally:
        model.train(was_training)
    leak = float(grad[0, : len(a)].abs().max())
    if leak != 0.0:
        raise RuntimeError(
            f"packed training needs a model whose attention keeps packed examples apart "
            f"(transformers' packed-sequence format: restarted position ids, no attention mask); "
            f"this one ({type(model).__name__}, attention "
            f"{getattr(getattr(model, 'config', None), '_attn_implementation', '?')}) lets one "
            f"example see another (gradient {leak:.3g}). Set loop.pack false."
        )


def finetune(
    model: torch.nn.Module,
    examples: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    pad_id: int,
    seed: int,
    stop: StopFlag = NEVER,
    on_step: Callable[[int, float], None] | None = None,
    weight_decay: float = 0.0,
    clip: float = 1.0,
    warmup_frac: float = 0.05,
    pack_len: int = 0,
    lr_schedule: str = "cosine",
    warmup_steps: int = 0,
    micro_batch_size: int = 0,
    stats: TrainStats | None = None,
    dist: Dist = SINGLE,
    shard: bool = False,
) -> list[float]:
    """Train ``model`` in place for ``steps`` optimizer steps on ``examples`` (prompt ids,
    completion ids), sampling batches by shuffled epochs. Returns the loss of every step.
    ``on_step(step, loss)`` is called after each step (1-based).

    A step is ``batch_size`` rows: unpacked examples, or with ``pack_len`` > 0 packed rows of
    whole examples (``pack_sequences``, re-shuffled and re-packed every epoch). An epoch's
    remainder smaller than a batch is dropped; a data set that packs into fewer rows than
    ``batch_size`` trains on all of its rows every step. ``micro_batch_size`` > 0 runs a step
    in forwards of that many rows, accumulating gradients; the loss is the mean over the
    step's completion tokens either way. ``lr_schedule``: see ``schedule_lambda``. ``stats``,
    when given, is filled with what was trained. ``dist`` (under torchrun): every rank draws the
    same batch and trains its rows of it under DistributedDataParallel (``_finetune_rows``); the
    losses and stats are the whole batch's, as one process would log them. With ``shard``
    (runtime.fsdp) the ranks train a copy of the model sharded with FSDP (``_sharded_copy``):
    parameters, gradients and optimizer state split over the ranks, so a model whose training
    state does not fit one device trains; its weights are gathered back into ``model`` after the
    last step."""
    if steps <= 0 or not examples:
        return []
    if pack_len < 0 or micro_batch_size < 0:
        raise ValueError("pack_len and micro_batch_size must be ≥ 0")
    if shard and dist.enabled:
        if pack_len > 0:
            _check_packing(model, examples)
        sharded = _sharded_copy(model)
        losses = finetune(
            sharded,
            examples,
            steps=steps,
            lr=lr,
            batch_size=batch_size,
            pad_id=pad_id,
            seed=seed,
            stop=stop,
            on_step=on_step,
            weight_decay=weight_decay,
            clip=clip,
            warmup_frac=warmup_frac,
            pack_len=pack_len,
            lr_schedule=lr_schedule,
            warmup_steps=warmup_steps,
            micro_batch_size=micro_batch_size,
            stats=stats,
            dist=dist,
        )
        _load_gathered(model, sharded)
        return losses
    opt, sched = optim.adamw(
        model.parameters(),
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule_lambda(lr_schedule, steps, warmup_steps=warmup_steps, warmup_frac=warmup_frac),
    )
    if pack_len > 0 or (0 < micro_batch_size < min(batch_size, len(examples))) or dist.enabled:
        return _finetune_rows(
            model,
            examples,
            opt,
            sched,
            steps=steps,
            batch_size=batch_size,
            pad_id=pad_id,
            seed=seed,
            stop=stop,
            on_step=on_step,
            clip=clip,
            pack_len=pack_len,
            micro_batch_size=micro_batch_size,
            stats=stats,
            dist=dist,
        )
    device = next(model.parameters()).device
    ids, labels, lengths = pack(examples, pad_id)
    comp = torch.tensor([len(c) for _, c in examples], dtype=torch.long)
    batches = EpochBatches(len(examples), batch_size, seed)
    losses: list[float] = []
    model.train()
    for step in range(1, steps + 1):
        stop.check()
        idx = batches.next()
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
        if stats is not None:
            stats.steps += 1
            stats.examples += len(idx)
            stats.sequences += len(idx)
            stats.tokens += int(lengths[idx].sum())
            stats.completion_tokens += int(comp[idx].sum())
            stats.padded_tokens += len(idx) * L
        if on_step is not None:
            on_step(step, lv)
    model.eval()
    return losses


def _check_packing(model: torch.nn.Module, examples: Sequence[Example]) -> None:
    a, b = examples[0], examples[1 % len(examples)]
    assert_packing_isolated(model, list(a[0]) + list(a[1]), list(b[0]) + list(b[1]))


def _sharded_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` sharded over the ranks with FSDP (``fully_shard``): each decoder layer
    (the classes transformers lists in ``_no_split_modules``) as a unit, then the rest. The copy
    trains while ``model`` keeps its whole weights for sampling, whose ranks take different
    numbers of forwards (a sharded forward is collective)."""
    from torch.distributed.fsdp import fully_shard

    copy_ = copy.deepcopy(model)
    units = set(getattr(model, "_no_split_modules", None) or ())
    for sub in copy_.modules():
        if type(sub).__name__ in units:
            fully_shard(sub)
    fully_shard(copy_)
    return copy_


def _load_gathered(model: torch.nn.Module, sharded: torch.nn.Module) -> None:
    """The sharded copy's trained weights, gathered whole on every rank, into ``model``: one
    tensor at a time (the gradients dropped first), so the peak is the model and one tensor."""
    for p in sharded.parameters():
        p.grad = None
    target = model.state_dict()
    with torch.no_grad():
        for name, value in sharded.state_dict().items():  # the same order on every rank: collectives match
            full = value.full_tensor() if hasattr(value, "full_tensor") else value
            target[name].copy_(full)
            del full


def _finetune_rows(
    model: torch.nn.Module,
    examples: Sequence[Example],
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    *,
    steps: int,
    batch_size: int,
    pad_id: int,
    seed: int,
    stop: StopFlag,
    on_step: Callable[[int, float], None] | None,
    clip: float,
    pack_len: int,
    micro_batch_size: int,
    stats: TrainStats | None,
    dist: Dist = SINGLE,
) -> list[float]:
    """``finetune``'s loop over rows (packed, or unpacked in micro-batches): the loss of a step
    is its summed completion-token cross-entropy over its completion-token count, each
    micro-batch's share backpropagated as it goes.

    Under torchrun, rank r computes rows r, r + W, … of the step's batch (the same on every
    rank), each divided by the whole batch's completion-token count and multiplied by W, so the
    gradient DistributedDataParallel averages is the one-process gradient; a rank without a row
    (a batch of fewer rows than ranks) backpropagates a zero-weighted row so that every rank
    joins the all-reduce."""
    device = next(model.parameters()).device
    n = len(examples)
    lengths = [len(p) + len(c) for p, c in examples]
    fsdp = hasattr(model, "set_requires_gradient_sync")  # a _sharded_copy: FSDP reduces the gradients itself
    if pack_len > 0 and not fsdp:  # (finetune checked the plain model before sharding it)
        _check_packing(model, examples)

    def rows_of(order: list[int]) -> list[list[int]]:  # an epoch's rows, each a list of example indices
        return pack_sequences(lengths, order, pack_len) if pack_len > 0 else [[i] for i in order]

    batches = EpochBatches(n, batch_size, seed, arrange=rows_of)
    losses: list[float] = []
    params = [p for p in model.parameters() if p.requires_grad]
    net: torch.nn.Module = model
    if dist.enabled and not fsdp:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    for step in range(1, steps + 1):
        stop.check()
        batch = batches.next()
        n_tok = labelled_tokens(examples, batch)
        mine, weight = batch, 1.0
        if dist.enabled:
            mine = batch[dist.rank :: dist.world] or batch[:1]
            weight = dist.world if len(batch) > dist.rank else 0.0
        mb = micro_batch_size or len(mine)
        parts = [(packed_batch(examples, mine[k : k + mb], pad_id), weight) for k in range(0, len(mine), mb)]
        if fsdp:
            # a sharded forward is collective: every rank runs as many as the rank with the most
            # rows, the extra ones a row at weight 0
            most = math.ceil(math.ceil(len(batch) / dist.world) / mb) if micro_batch_size else 1
            parts += [(packed_batch(examples, batch[:1], pad_id), 0.0)] * (most - len(parts))
        opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=device)
        padded = 0
        for j, ((ids, labels, pids), w) in enumerate(parts):
            # DDP and FSDP reduce on the step's last backward only
            last = j == len(parts) - 1
            if fsdp:
                model.set_requires_gradient_sync(last)
            sync = contextlib.nullcontext() if not dist.enabled or last or fsdp else net.no_sync()
            with sync:
                part = packed_loss_sum(net, ids.to(device), labels.to(device), pids.to(device)) / max(1, n_tok)
                (part * w).backward()
            total += part.detach() * (w / dist.world)
            padded += ids.numel() if w else 0
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        sched.step()
        lv, padded = dist.sums([float(total), float(padded)])
        losses.append(lv)
        if stats is not None:
            stats.padded_tokens += int(padded)
            stats.steps += 1
            stats.sequences += len(batch)
            stats.examples += sum(len(row) for row in batch)
            stats.tokens += sum(lengths[i] for row in batch for i in row)
            stats.completion_tokens += n_tok
        if on_step is not None:
            on_step(step, lv)
    model.eval()
    return losses
