"""Batched decoding with a KV cache (greedy, or temperature sampling).

Prompts are sorted by length and batched, so batches of equal-length prompts (the usual
case for a synthetic task) need no padding at all; mixed lengths are left-padded with an
attention mask and explicit position ids. A row that finishes leaves the batch (its KV cache
rows are dropped), so a batch costs what its unfinished rows cost. The random draws are those
of decoding every row to the end (see ``_pick``), so on the CPU the samples are identical
(tests/test_generate.py); on a GPU a smaller batch may change the logits in the last bits
(matrix products are not batch-invariant there), so a rare sample may differ.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import torch

from .models import cache_kwarg, output_cache
from .stopping import NEVER, StopFlag


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    tok,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
    stop: StopFlag = NEVER,
    on_batch: Callable[[int, int], None] | None = None,
    stop_strings: Sequence[str] | None = None,
    compact: bool = True,
) -> list[list[int]]:
    """Completions (token ids, without the stop token) for each prompt (token ids, with any
    <bos> already in place). ``on_batch(done, total)`` is called after each batch.

    A row finishes at <eos>, at a token whose text contains one of ``stop_strings``, or when
    its decoded tail contains one (a stop string split across tokens, e.g. "\n" + "\n");
    without ``stop_strings`` the tokenizer's own ``stop_ids()`` decide. The caller cuts the
    decoded text at the stop strings. ``compact`` False keeps finished rows in the batch,
    decoding padding, until every row has finished (the samples are the same; it is the
    baseline of scripts/gpu/bench_sampling.py)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ck = cache_kwarg(model)
    get_base = getattr(model, "get_base_model", None)  # peft: inspect the wrapped model
    keep_kw = "logits_to_keep" in inspect.signature((get_base() if callable(get_base) else model).forward).parameters
    stop_set = stop_id_set(tok, stop_strings)
    stop_ids = torch.tensor(sorted(stop_set), device=device)
    multi = [s for s in (stop_strings or ()) if len(s) > 1]
    pad = tok.pad_id if tok.pad_id is not None else 0
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[list[int]] = [[] for _ in prompts]
    done = 0
    try:
        for start in range(0, len(order), batch_size):
            stop.check()
            idx = order[start : start + batch_size]
            lens = [len(prompts[i]) for i in idx]
            L = max(lens)
            B = len(idx)
            ids = torch.full((B, L), pad, dtype=torch.long)
            mask = torch.zeros((B, L), dtype=torch.long)
            for r, i in enumerate(idx):
                p = prompts[i]
                ids[r, L - len(p) :] = torch.tensor(list(p), dtype=torch.long)
                mask[r, L - len(p) :] = 1
            ids, mask = ids.to(device), mask.to(device)
            padded = min(lens) != L
            kwargs = {"use_cache": True}
            if keep_kw:
                kwargs["logits_to_keep"] = 1
            if padded:
                pos = (mask.cumsum(-1) - 1).clamp(min=0)
                out = model(input_ids=ids, attention_mask=mask, position_ids=pos, **kwargs)
                last_pos = pos[:, -1:]
            else:
                out = model(input_ids=ids, **kwargs)
                last_pos = None
            cache = output_cache(out)
            logits = out.logits[:, -1, :]
            compacting = compact and _compactable(cache)
            active = torch.arange(B, device=device)  # the batch rows still generating
            gen = torch.empty((B, 0), dtype=torch.long, device=device)  # their tokens so far
            rows: list[list[int]] = [[] for _ in range(B)]
            ended: torch.Tensor | None = None  # without compaction: the rows that have finished
            for step in range(max_new_tokens):
                nxt = _pick(logits, temperature, generator, active, B)
                if ended is not None:  # without compaction a finished row decodes padding
                    nxt = torch.where(ended, torch.full_like(nxt, pad), nxt)
                gen = torch.cat([gen, nxt[:, None]], dim=1)
                finished = torch.isin(nxt, stop_ids)
                if multi and step % 4 == 3:
                    finished |= _tails_stopped(tok, gen, finished, multi)
                if step == max_new_tokens - 1:
                    break
                # one host sync per step, as the step count must be known to draw the same noise
                if not compacting:
                    ended = finished if ended is None else ended | finished
                    if bool(ended.all()):
                        break
                elif bool(finished.any()):
                    # finished rows leave the batch: their tokens are kept, the cache drops them
                    done_rows = finished.nonzero().flatten()
                    for r, row in zip(active[done_rows].tolist(), gen[done_rows].tolist()):
                        rows[r] = row
                    keep = (~finished).nonzero().flatten()
                    if keep.numel() == 0:
                        break
                    active, gen, nxt = active[keep], gen[keep], nxt[keep]
                    cache.batch_select_indices(keep)
                    if padded:
                        mask, last_pos = mask[keep], last_pos[keep]
                if step % 8 == 7:
                    stop.check()
                step_kwargs = {"use_cache": True, ck: cache}
                if keep_kw:
                    step_kwargs["logits_to_keep"] = 1
                if padded:
                    mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=device)], dim=1)
                    last_pos = last_pos + 1
                    out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last_pos, **step_kwargs)
                else:
                    out = model(input_ids=nxt[:, None], **step_kwargs)
                cache = output_cache(out)
                logits = out.logits[:, -1, :]
            for r, row in zip(active.tolist(), gen.tolist()):
                rows[r] = row
            for r, i in enumerate(idx):
                row = rows[r]
                cut = len(row)
                for j, t in enumerate(row):
                    if t in stop_set:
                        cut = j
                        break
                results[i] = row[:cut]
            done += B
            if on_batch is not None:
                on_batch(done, len(prompts))
    finally:
        if was_training:
            model.train()
    return results


def _compactable(cache) -> bool:
    """Whether finished rows can be dropped from this KV cache: plain (and sliding-window)
    attention layers only. Linear-attention or convolution layers keep recurrent states that
    batch_select_indices does not trim (or has no method for): those decode the full batch."""
    layers = getattr(cache, "layers", None)
    return (
        hasattr(cache, "batch_select_indices")
        and layers is not None
        and all(type(layer).__name__ in ("DynamicLayer", "DynamicSlidingWindowLayer") for layer in layers)
    )


def stop_id_set(tok, stop_strings: Sequence[str] | None) -> set[int]:
    """The token ids that end a completion: ``stop_token_ids`` of the stop strings, else the
    tokenizer's own ``stop_ids()`` (what ``generate`` stops at)."""
    return set(tok.stop_ids()) if stop_strings is None else stop_token_ids(tok, tuple(stop_strings))


def stop_token_ids(tok, stop_strings: tuple[str, ...]) -> set[int]:
    """<eos> plus every token whose text contains a stop string (cached per tokenizer)."""
    cache = tok.__dict__.setdefault("_starlab_stop_cache", {})
    if stop_strings not in cache:
        ids = {tok.eos_id} if tok.eos_id is not None else set()
        for tid in range(tok.vocab_size):
            try:
                text = tok.decode([tid], skip_special=False)
            except Exception:
                continue
            if any(s in text for s in stop_strings):
                ids.add(tid)
        cache[stop_strings] = ids
    return cache[stop_strings]


def _tails_stopped(tok, gen: torch.Tensor, finished: torch.Tensor, stops: list[str], tail: int = 12) -> torch.Tensor:
    """Rows whose last ``tail`` generated tokens decode to text containing a stop string."""
    out = torch.zeros_like(finished)
    for r in range(gen.shape[0]):
        if not bool(finished[r]) and any(s in tok.decode(gen[r, -tail:].tolist()) for s in stops):
            out[r] = True
    return out


def _pick(logits: torch.Tensor, temperature: float, generator: torch.Generator | None, rows: torch.Tensor, batch: int) -> torch.Tensor:
    """The next token of each active row (``logits``: one row per entry of ``rows``, the
    active rows' positions in a batch of ``batch``). Sampling is torch.multinomial's own
    single-draw rule, argmax(p / E) with E ~ Exp(1) drawn for the whole (batch, vocab) as
    multinomial draws it for a full batch: a row's token and the generator's state after the
    step do not depend on which other rows have already finished."""
    if temperature <= 1e-5:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if not bool(torch.isfinite(probs).all()):  # torch.multinomial refuses these too
        raise RuntimeError("probability tensor contains either inf or nan (the model's logits are not finite)")
    noise = torch.empty((batch, probs.shape[-1]), dtype=probs.dtype, device=probs.device).exponential_(generator=generator)
    return (probs / noise[rows]).argmax(dim=-1)
