"""V-STaR verifiers (Hosseini et al. 2024, §3 of the research notes): a DPO-trained verifier
whose reference is the SFT model, and the ORM baseline (same base + a scalar head trained with
BCE on correctness, optionally plus the LM loss on correct solutions, after Cobbe et al.).

Conventions follow ``train.finetune``: examples are (prompt ids, completion ids) with the
completion including its <eos>; sequences are right-padded with ``pack`` and the attention mask
is built from the lengths (never from ``ids == pad_id``: hub tokenizers often pad with <eos>);
AdamW (betas 0.9/0.99), linear warm-up then cosine decay (``lr_lambda``), gradient clipping,
``stop.check()`` before every step, ``on_step(step, metrics)`` after it (1-based). Works for any
HF causal LM called as ``model(input_ids=..., attention_mask=...)``.

Dropout is switched off while training (as TRL's DPOTrainer does by default): with dropout
the policy would differ from the reference at step 0 and the implicit rewards would be noisy.

Under torchrun (``dist``, starlab/dist.py) as in ``train.finetune``: every rank draws the same
batch; rank r computes rows r, r + W, … of it under DistributedDataParallel, weighted so that
the averaged gradient is the one-process gradient of the whole batch, and the step's metrics are
summed over the ranks; log-probs and scores are computed on each rank's share of the examples
and gathered in order, so every rank holds the same values.
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from . import optim
from .batches import EpochBatches
from .dist import SINGLE, Dist
from .stopping import NEVER, StopFlag
from .train import IGNORE, lr_lambda, pack

Ids = Sequence[int]
Example = tuple[Ids, Ids]  # (prompt ids, completion ids)
Pair = tuple[Any, Ids, Ids]  # (prompt ids, chosen completion, rejected completion)


# ---------------------------------------------------------------------------- helpers


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _check_examples(examples: Sequence[Example]) -> None:
    for i, (p, _) in enumerate(examples):
        if len(p) == 0:
            raise ValueError(
                f"example {i} has an empty prompt: the first completion token needs a preceding token (start prompts with <bos>)"
            )


def _attention_mask(lengths: torch.Tensor, L: int) -> torch.Tensor:
    return (torch.arange(L, device=lengths.device)[None, :] < lengths[:, None]).long()


def _completion_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probs of the labelled tokens (labels shifted: position j predicts j+1) and
    their count, per row. Computed in float32."""
    logits = logits[:, :-1].float()
    tgt = labels[:, 1:]
    mask = tgt != IGNORE
    tok = logits.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    return (tok * mask).sum(-1), mask.sum(-1)


def _forward_logps(model: torch.nn.Module, examples: Sequence[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids, labels, lengths = pack(examples, pad_id)
    dev = _device(model)
    ids, labels, lengths = ids.to(dev), labels.to(dev), lengths.to(dev)
    out = model(input_ids=ids, attention_mask=_attention_mask(lengths, ids.shape[1]))
    return _completion_logps(out.logits, labels)


@contextlib.contextmanager
def _dropout_off(model: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """Set every dropout probability in ``model`` to 0 (nn.Dropout modules and float
    attributes named like ``attention_dropout``, which HF attention reads in train mode);
    restore them on exit."""
    saved: list[tuple[Any, str, float]] = []
    if enabled:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.dropout._DropoutNd):
                saved.append((m, "p", m.p))
                m.p = 0.0
            for name, val in list(vars(m).items()):
                if "dropout" in name and isinstance(val, float) and not isinstance(val, bool):
                    saved.append((m, name, val))
                    setattr(m, name, 0.0)
    try:
        yield
    finally:
        for m, name, val in saved:
            setattr(m, name, val)


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was)


def _batches_by_length(examples: Sequence[Example], batch_size: int) -> Iterator[list[int]]:
    """Index batches of similar total length (less padding); callers restore the order."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]) + len(examples[i][1]))
    bs = max(1, int(batch_size))
    for s in range(0, len(order), bs):
        yield order[s : s + bs]


def _ddp(model: torch.nn.Module, dist: Dist, *, find_unused: bool = False) -> torch.nn.Module:
    """``model`` under DistributedDataParallel when running under torchrun, else itself."""
    if not dist.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    dev = _device(model)
    return DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=find_unused)


def _my_rows(idx: torch.Tensor, dist: Dist) -> tuple[torch.Tensor, float]:
    """This rank's rows of a step's batch (the same batch on every rank) and the weight that makes
    DDP's average of the ranks' gradients the whole batch's: W, or 0 for a rank left without a
    row, which backpropagates one row at weight 0 so that it still joins the all-reduce."""
    if not dist.enabled:
        return idx, 1.0
    mine = idx[dist.rank :: dist.world]
    return (mine, float(dist.world)) if len(mine) else (idx[:1], 0.0)


def _chunks(idx: torch.Tensor, size: int | None) -> list[torch.Tensor]:
    if not size or size >= len(idx):
        return [idx]
    return list(idx.split(int(size)))


# ---------------------------------------------------------------------------- log-probs


def sequence_logprobs(
    model: torch.nn.Module, examples: Sequence[Example], pad_id: int, batch_size: int = 16, dist: Dist = SINGLE
) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed log p(completion | prompt), completion token count) per example, as float32 /
    int64 CPU tensors in the order of ``examples``. No gradients; eval mode (restored after).
    Length-normalised = sums / counts.clamp(min=1). Under torchrun each rank computes its share."""
    _check_examples(examples)
    n = len(examples)
    if dist.enabled:
        mine = dist.shard(n)
        s, c = sequence_logprobs(model, [examples[i] for i in mine], pad_id, batch_size)
        rows = dist.gather(list(zip(s.tolist(), c.tolist())), n)  # float32 → Python float → float32: exact
        return torch.tensor([r[0] for r in rows], dtype=torch.float32), torch.tensor([r[1] for r in rows], dtype=torch.long)
    sums = torch.zeros(n, dtype=torch.float32)
    counts = torch.zeros(n, dtype=torch.long)
    with _eval_mode(model):
        for idx in _batches_by_length(examples, batch_size):
            s, c = _forward_logps(model, [examples[i] for i in idx], pad_id)
            sums[idx] = s.float().cpu()
            counts[idx] = c.cpu()
    return sums, counts


def reference_logprobs(
    model: torch.nn.Module, pairs: Sequence[Pair], pad_id: int, batch_size: int = 16, dist: Dist = SINGLE
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log V_ref(chosen | x), log V_ref(rejected | x)) for DPO; call with the SFT model
    before DPO training (the verifier starts as, and is regularised towards, V_SFT)."""
    chosen, _ = sequence_logprobs(model, [(p, c) for p, c, _ in pairs], pad_id, batch_size, dist)
    rejected, _ = sequence_logprobs(model, [(p, r) for p, _, r in pairs], pad_id, batch_size, dist)
    return chosen, rejected


# ---------------------------------------------------------------------------- DPO


def dpo_loss(
    policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L = −mean log σ(β·(log π(y⁺)/π_ref(y⁺)) − β·(log π(y⁻)/π_ref(y⁻))). Returns (loss,
    chosen_rewards, rejected_rewards) with rewards = β·(log π − log π_ref), detached."""
    chosen = beta * (policy_chosen - ref_chosen)
    rejected = beta * (policy_rejected - ref_rejected)
    loss = -F.logsigmoid(chosen - rejected).mean()
    return loss, chosen.detach(), rejected.detach()


def make_pairs(candidates_by_question: Any, pairs_per_question: int | None = None, rng: random.Random | int | None = None) -> list[Pair]:
    """Preference pairs (prompt, chosen, rejected): per question the Cartesian product of its
    correct × incorrect candidates (V-STaR's D_pref), subsampled without replacement to
    ``pairs_per_question`` (None or ≤ 0: no cap) with ``rng`` — a random.Random or a seed
    (None = seed 0) — so the result is deterministic. Pairs whose two completions are
    identical are skipped. Order: by question, then by (correct index, incorrect index).

    ``candidates_by_question``: a sequence of (prompt, candidates), or a mapping prompt →
    candidates (prompt hashable, e.g. a tuple of ids); candidates are (completion ids, correct)
    pairs or dicts with "completion" and "correct".
    """
    if rng is None or isinstance(rng, int):
        rng = random.Random(0 if rng is None else rng)
    items = candidates_by_question.items() if isinstance(candidates_by_question, Mapping) else candidates_by_question
    out: list[Pair] = []
    for prompt, cands in items:
        pos, neg = [], []
        for cand in cands:
            comp, ok = (cand["completion"], cand["correct"]) if isinstance(cand, Mapping) else cand
            (pos if bool(ok) else neg).append(comp)
        valid = [(i, j) for i in range(len(pos)) for j in range(len(neg)) if list(pos[i]) != list(neg[j])]
        if pairs_per_question is not None and 0 < pairs_per_question < len(valid):
            keep = sorted(rng.sample(range(len(valid)), int(pairs_per_question)))
            valid = [valid[t] for t in keep]
        out.extend((prompt, pos[i], neg[j]) for i, j in valid)
    return out


def _ref_tensors(ref_logps: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    rc, rr = ref_logps
    rc = torch.as_tensor(rc, dtype=torch.float32).reshape(-1)
    rr = torch.as_tensor(rr, dtype=torch.float32).reshape(-1)
    if len(rc) != n or len(rr) != n:
        raise ValueError(f"ref_logps has {len(rc)}/{len(rr)} entries for {n} pairs")
    return rc, rr


def pair_accuracy(chosen: Any, rejected: Any, tie: float = 0.0) -> float:
    """The share of pairs whose chosen score is above the rejected one; a tie counts ``tie``.
    ``tie`` 0 is TRL's ``rewards/accuracies`` (chosen > rejected); 0.5 is how the app recounts
    pair accuracy from stored candidate scores (db/verifier.ts ``pairAccuracy``), so that a
    verifier that scores everything alike (V_SFT: every reward 0) reads as chance."""
    c = torch.as_tensor(chosen, dtype=torch.float32).reshape(-1)
    r = torch.as_tensor(rejected, dtype=torch.float32).reshape(-1)
    if len(c) != len(r) or len(c) == 0:
        raise ValueError(f"pair_accuracy needs as many chosen as rejected scores (and some): {len(c)} vs {len(r)}")
    return float(((c > r).double() + tie * (c == r).double()).mean())  # float64: wins / pairs as counted


def _pair_metrics(loss: float, cr: torch.Tensor, rr: torch.Tensor, tie: float = 0.0) -> dict[str, float]:
    return {
        "loss": loss,
        "reward_margin": float((cr - rr).mean()),
        "chosen_reward": float(cr.mean()),
        "rejected_reward": float(rr.mean()),
        "accuracy": pair_accuracy(cr, rr, tie),
    }


def train_dpo(
    model: torch.nn.Module,
    pairs: Sequence[Pair],
    *,
    ref_logps: Any = None,
    beta: float = 0.1,
    steps: int,
    lr: float,
    batch_size: int,
    pad_id: int,
    seed: int,
    stop: StopFlag = NEVER,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    weight_decay: float = 0.0,
    clip: float = 1.0,
    warmup_frac: float = 0.05,
    micro_batch_size: int | None = None,
    ref_batch_size: int | None = None,
    dropout: bool = False,
    dist: Dist = SINGLE,
) -> list[dict[str, float]]:
    """DPO-train ``model`` in place on (prompt, chosen, rejected) ``pairs`` for ``steps``
    optimizer steps, batches drawn by shuffled epochs. ``ref_logps`` = (ref_chosen,
    ref_rejected) per pair from the reference (V_SFT); None computes them with ``model``
    before training, which is right when ``model`` is V_SFT at the start (V-STaR).

    Per-step metrics (of the batch, computed in the forward before the update, so step 1 with
    policy = reference has rewards 0 and loss log 2): loss, reward_margin (mean chosen −
    rejected reward), chosen_reward, rejected_reward, accuracy (fraction with chosen reward >
    rejected reward), lr. ``micro_batch_size`` splits a batch for gradient accumulation (2×
    micro_batch_size sequences per forward). Returns the list of metrics."""
    if steps <= 0 or not pairs:
        return []
    _check_examples([(p, c) for p, c, _ in pairs])
    if ref_logps is None:
        ref_logps = reference_logprobs(model, pairs, pad_id, ref_batch_size or batch_size, dist)
    ref_c, ref_r = _ref_tensors(ref_logps, len(pairs))
    dev = _device(model)
    opt, sched = optim.adamw(model.parameters(), lr=lr, weight_decay=weight_decay, schedule=lr_lambda(steps, warmup_frac))
    batches = EpochBatches(len(pairs), batch_size, seed)
    history: list[dict[str, float]] = []
    net = _ddp(model, dist)
    model.train()
    try:
        with _dropout_off(model, enabled=not dropout):
            for step in range(1, steps + 1):
                stop.check()
                idx = batches.next()
                bs = len(idx)
                mine, weight = _my_rows(idx, dist)
                opt.zero_grad(set_to_none=True)
                # sums over this rank's pairs: loss, chosen and rejected rewards, wins
                sums = [0.0, 0.0, 0.0, 0.0]
                chunks = _chunks(mine, micro_batch_size)
                for j, chunk in enumerate(chunks):
                    m = len(chunk)
                    sel = [pairs[i] for i in chunk.tolist()]
                    # DDP all-reduces on the step's last backward only
                    with net.no_sync() if dist.enabled and j < len(chunks) - 1 else contextlib.nullcontext():
                        logps, _ = _forward_logps(net, [(p, c) for p, c, _ in sel] + [(p, r) for p, _, r in sel], pad_id)
                        loss, cr, rr = dpo_loss(logps[:m], logps[m:], ref_c[chunk].to(dev), ref_r[chunk].to(dev), beta)
                        (loss * (m / bs) * weight).backward()
                    if weight:
                        cr, rr = cr.double().cpu(), rr.double().cpu()
                        sums[0] += float(loss.detach()) * m
                        sums[1] += float(cr.sum())
                        sums[2] += float(rr.sum())
                        sums[3] += float((cr > rr).sum())
                if clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                lr_now = opt.param_groups[0]["lr"]
                opt.step()
                sched.step()
                loss_sum, c_sum, r_sum, wins = dist.sums(sums)
                metrics = {
                    "loss": loss_sum / bs,
                    "reward_margin": (c_sum - r_sum) / bs,
                    "chosen_reward": c_sum / bs,
                    "rejected_reward": r_sum / bs,
                    "accuracy": wins / bs,  # TRL's rewards/accuracies: chosen > rejected
                    "lr": lr_now,
                }
                history.append(metrics)
                if on_step is not None:
                    on_step(step, metrics)
    finally:
        model.eval()
    return history


def evaluate_pairs(
    model: torch.nn.Module, pairs: Sequence[Pair], ref_logps: Any, *, beta: float, pad_id: int, batch_size: int = 16, tie: float = 0.0
) -> dict[str, float]:
    """DPO loss, pair accuracy (a tie counts ``tie``, see ``pair_accuracy``) and rewards of
    ``model`` over all ``pairs`` (no gradients); ``ref_logps`` = (log V_ref(chosen), log
    V_ref(rejected)) per pair. ``pair_metrics`` is the same without the forward passes."""
    if not pairs:
        raise ValueError("no pairs")
    ref_c, ref_r = _ref_tensors(ref_logps, len(pairs))
    pc, pr = reference_logprobs(model, pairs, pad_id, batch_size)
    return pair_metrics(pc, pr, ref_c, ref_r, beta=beta, tie=tie)


def pair_metrics(
    policy_chosen: Any, policy_rejected: Any, ref_chosen: Any, ref_rejected: Any, *, beta: float, tie: float = 0.0
) -> dict[str, float]:
    """``evaluate_pairs`` from log-probs already computed (summed over each completion):
    log V and log V_ref of every pair's chosen and rejected completion. V-STaR uses it on the
    test candidates, whose log V and log V_SFT ``score_candidates`` has already computed, so
    the held-out pair accuracy costs no forward pass and uses exactly the stored scores."""
    as_t = lambda x: torch.as_tensor(x, dtype=torch.float32).reshape(-1)  # noqa: E731
    pc, pr = as_t(policy_chosen), as_t(policy_rejected)
    if len(pc) == 0 or len(pr) != len(pc):
        raise ValueError(f"pair_metrics needs as many chosen as rejected log-probs (and some): {len(pc)} vs {len(pr)}")
    ref_c, ref_r = _ref_tensors((ref_chosen, ref_rejected), len(pc))
    loss, cr, rr = dpo_loss(pc, pr, ref_c, ref_r, beta)
    return _pair_metrics(float(loss), cr, rr, tie)


def pair_indices(correct_by_group: Iterable[Sequence[Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(right index, wrong index) of every (right, wrong) pair within each group, as int64
    tensors of flat indices into the groups laid end to end (group 0's items first). Every
    item counts, duplicates included: the pairs db/verifier.ts recounts from stored candidates."""
    chosen, rejected = [], []
    start = 0
    for group in correct_by_group:
        flags = torch.tensor([bool(z) for z in group], dtype=torch.bool)
        idx = torch.arange(start, start + len(flags))
        right, wrong = idx[flags], idx[~flags]
        if len(right) and len(wrong):
            chosen.append(right.repeat_interleave(len(wrong)))
            rejected.append(wrong.repeat(len(right)))
        start += len(flags)
    if not chosen:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(chosen), torch.cat(rejected)


# ---------------------------------------------------------------------------- ORM baseline


def _hidden_size(model: torch.nn.Module) -> int:
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    w = getattr(out, "weight", None)
    if w is not None and w.dim() == 2:
        return int(w.shape[1])
    cfg = getattr(model, "config", None)
    for c in (cfg, getattr(cfg, "text_config", None)):
        h = getattr(c, "hidden_size", None)
        if h:
            return int(h)
    raise ValueError("cannot determine the hidden size of the model")


class OutcomeRewardModel(torch.nn.Module):
    """ORM baseline: a causal LM (by default a deep copy of ``base``, so the generator / SFT
    model is untouched) plus a scalar head, a linear layer on the final hidden state of the
    last non-pad token. ``forward`` returns (scores = logits of P(correct), LM logits)."""

    def __init__(self, base: torch.nn.Module, *, copy_base: bool = True, seed: int = 0, init_std: float = 0.02):
        super().__init__()
        self.base = copy.deepcopy(base) if copy_base else base
        hidden = _hidden_size(self.base)
        self.head = torch.nn.Linear(hidden, 1)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(1, hidden, generator=g) * init_std)
            self.head.bias.zero_()
        self.head.to(_device(self.base))  # float32 head, whatever the base's dtype

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.base(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        h = out.hidden_states[-1]
        L = attention_mask.shape[1]
        last = (attention_mask * torch.arange(1, L + 1, device=attention_mask.device)).argmax(dim=1)
        hl = h[torch.arange(h.shape[0], device=h.device), last].float()
        return self.head(hl).squeeze(-1), out.logits


def _orm_forward(orm: OutcomeRewardModel, examples: Sequence[Example], pad_id: int):
    ids, labels, lengths = pack(examples, pad_id)
    dev = _device(orm)
    ids, labels, lengths = ids.to(dev), labels.to(dev), lengths.to(dev)
    scores, logits = orm(ids, _attention_mask(lengths, ids.shape[1]))
    return scores, logits, labels


def train_orm(
    orm: OutcomeRewardModel,
    examples: Sequence[Example],
    labels: Sequence[Any],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    pad_id: int,
    seed: int,
    lm_weight: float = 0.0,
    pos_weight: float | None = None,
    stop: StopFlag = NEVER,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    weight_decay: float = 0.0,
    clip: float = 1.0,
    warmup_frac: float = 0.05,
    dropout: bool = False,
    dist: Dist = SINGLE,
) -> list[dict[str, float]]:
    """Train the ORM in place: BCE of the head's score against the correctness ``labels``
    (0/1 per (prompt, completion) example), plus ``lm_weight`` × the completion-masked LM loss
    on the correct examples (Cobbe et al.'s joint objective; 0 = classifier only).
    ``pos_weight`` is BCEWithLogits' weight of the positives (class imbalance). Per-step
    metrics: loss, bce, lm, accuracy (score > 0 ⇔ correct), lr."""
    if len(examples) != len(labels):
        raise ValueError(f"{len(examples)} examples but {len(labels)} labels")
    if steps <= 0 or not examples:
        return []
    _check_examples(examples)
    y_all = torch.tensor([float(z) for z in labels], dtype=torch.float32)
    dev = _device(orm)
    pw = torch.tensor(float(pos_weight), device=dev) if pos_weight is not None else None
    opt, sched = optim.adamw(orm.parameters(), lr=lr, weight_decay=weight_decay, schedule=lr_lambda(steps, warmup_frac))
    batches = EpochBatches(len(examples), batch_size, seed)
    history: list[dict[str, float]] = []
    # the LM head may get no gradient (lm_weight 0, or a rank without a correct row)
    net = _ddp(orm, dist, find_unused=True)
    orm.train()
    try:
        with _dropout_off(orm, enabled=not dropout):
            for step in range(1, steps + 1):
                stop.check()
                idx = batches.next()
                bs = len(idx)
                mine, weight = _my_rows(idx, dist)
                y = y_all[mine].to(dev)
                ids, lab, lengths = pack([examples[i] for i in mine.tolist()], pad_id)
                ids, lab, lengths = ids.to(dev), lab.to(dev), lengths.to(dev)
                scores, logits = net(ids, _attention_mask(lengths, ids.shape[1]))
                # BCE is a mean over the batch's rows, the LM loss over its correct rows' completion tokens
                bce_sum = F.binary_cross_entropy_with_logits(scores, y, pos_weight=pw, reduction="sum") * (weight > 0)
                lm_sum, lm_tokens = torch.zeros((), device=dev), 0.0
                if lm_weight and bool((y > 0.5).any()) and weight:
                    lab = lab.masked_fill((y <= 0.5)[:, None], IGNORE)  # LM loss on correct ones only
                    shift_logits = logits[:, :-1].float()
                    tgt = lab[:, 1:].reshape(-1)
                    lm_sum = F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), tgt, ignore_index=IGNORE, reduction="sum")
                    lm_tokens = float((tgt != IGNORE).sum())
                (all_tokens,) = dist.sums([lm_tokens]) if lm_weight else (0.0,)
                lm = lm_sum / max(1.0, all_tokens)
                loss = bce_sum / bs + lm_weight * lm
                opt.zero_grad(set_to_none=True)
                (loss * weight).backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(orm.parameters(), clip)
                lr_now = opt.param_groups[0]["lr"]
                opt.step()
                sched.step()
                right = float(((scores.detach() > 0) == (y > 0.5)).sum()) if weight else 0.0
                bce_all, lm_all, right_all = dist.sums([float(bce_sum.detach()), float(lm.detach()), right])
                metrics = {
                    "loss": bce_all / bs + lm_weight * lm_all,
                    "bce": bce_all / bs,
                    "lm": lm_all,
                    "accuracy": right_all / bs,
                    "lr": lr_now,
                }
                history.append(metrics)
                if on_step is not None:
                    on_step(step, metrics)
    finally:
        orm.eval()
    return history


def orm_scores(
    orm: OutcomeRewardModel, examples: Sequence[Example], pad_id: int, batch_size: int = 16, dist: Dist = SINGLE
) -> torch.Tensor:
    """The ORM's score (logit of P(correct)) per example, float32 CPU tensor, in order (under
    torchrun each rank scores its share)."""
    _check_examples(examples)
    if dist.enabled:
        mine = dist.shard(len(examples))
        local = orm_scores(orm, [examples[i] for i in mine], pad_id, batch_size)
        return torch.tensor(dist.gather(local.tolist(), len(examples)), dtype=torch.float32)
    out = torch.zeros(len(examples), dtype=torch.float32)
    with _eval_mode(orm):
        for idx in _batches_by_length(examples, batch_size):
            s, _, _ = _orm_forward(orm, [examples[i] for i in idx], pad_id)
            out[idx] = s.float().cpu()
    return out


# ---------------------------------------------------------------------------- test-time scoring


def score_candidates(
    verifier: torch.nn.Module | None,
    examples: Sequence[Example],
    *,
    pad_id: int,
    batch_size: int = 16,
    beta: float = 0.1,
    reference: torch.nn.Module | None = None,
    ref_logps: Any = None,
    orm: OutcomeRewardModel | None = None,
    dist: Dist = SINGLE,
) -> list[dict[str, float]]:
    """Scores of each candidate (prompt, completion), as one dict per candidate:

    - ``logp``: log V(ŷ|x) (summed over the completion, <eos> included), ``n_tokens``,
      ``logp_norm`` = logp / n_tokens;
    - with ``reference`` (V_SFT) or precomputed ``ref_logps`` (log V_SFT(ŷ|x) per candidate):
      ``ref_logp`` and ``reward`` = β·(log V − log V_SFT), the DPO implicit reward;
    - with ``orm``: ``orm`` = the ORM's logit.

    Higher is better for every score; feed them to ``estimators.best_of_k`` as score keys."""
    _check_examples(examples)
    n = len(examples)
    rows: list[dict[str, float]] = [{} for _ in range(n)]
    if verifier is not None:
        lp, cnt = sequence_logprobs(verifier, examples, pad_id, batch_size, dist)
        ref = None
        if ref_logps is not None:
            ref = torch.as_tensor(ref_logps, dtype=torch.float32).reshape(-1)
            if len(ref) != n:
                raise ValueError(f"ref_logps has {len(ref)} entries for {n} candidates")
        elif reference is not None:
            ref, _ = sequence_logprobs(reference, examples, pad_id, batch_size, dist)
        for i in range(n):
            c = int(cnt[i])
            rows[i].update(logp=float(lp[i]), n_tokens=c, logp_norm=float(lp[i]) / max(1, c))
            if ref is not None:
                rows[i].update(ref_logp=float(ref[i]), reward=float(beta * (lp[i] - ref[i])))
    if orm is not None:
        s = orm_scores(orm, examples, pad_id, batch_size, dist)
        for i in range(n):
            rows[i]["orm"] = float(s[i])
    return rows
