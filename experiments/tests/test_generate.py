"""The batched sampler (starlab/generate.py): finished rows leave the batch without changing any
sample. Decoding with compaction gives the same completions, and leaves the generator in the
same state, as decoding every row to the end; and its sampling rule is torch.multinomial's."""

from __future__ import annotations

import random

import pytest
import torch

from starlab.generate import _pick, generate
from starlab.models import build_tiny
from starlab.tokenizer import CharTokenizer

TOK = CharTokenizer("0123456789+:;=()\n ")


def _model(seed: int, eos_bias: float) -> torch.nn.Module:
    model = build_tiny({"n_layer": 2, "n_embd": 32, "n_head": 2, "max_len": 96}, TOK, seed)
    with torch.no_grad():
        model.lm_head.weight[TOK.eos_id] += eos_bias  # rows then finish at different steps
    return model


def _prompts(seed: int, padded: bool, n: int = 29) -> list[list[int]]:
    rnd = random.Random(seed)
    return [
        [TOK.bos_id] + TOK.encode("".join(rnd.choice("0123456789") for _ in range(rnd.randint(2, 9) if padded else 5)) + ":")
        for _ in range(n)
    ]


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("temperature", [0.0, 0.8])
@pytest.mark.parametrize("stops", [None, ["\n\n", ";="]])
def test_compaction_changes_no_sample(padded, temperature, stops):
    model = _model(1, eos_bias=3.0)
    prompts = _prompts(2, padded)
    outs, states, lengths = [], [], []
    for compact in (True, False):
        g = torch.Generator().manual_seed(7)
        ids = generate(
            model, TOK, prompts, max_new_tokens=30, temperature=temperature, batch_size=8, generator=g, stop_strings=stops, compact=compact
        )
        outs.append([TOK.decode(x) for x in ids])
        states.append(g.get_state())
        lengths.append(sorted({len(x) for x in ids}))
    assert outs[0] == outs[1]
    assert torch.equal(states[0], states[1])  # the next batch draws the same noise too
    assert len(lengths[0]) > 2  # rows did finish at different steps: compaction was exercised


def test_sampling_rule_is_torch_multinomials():
    probs_logits = torch.randn(6, 50) * 3
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    want = torch.multinomial(torch.softmax(probs_logits / 0.7, dim=-1), 1, generator=g1).squeeze(-1)
    rows = torch.tensor([0, 2, 5])  # three of six rows still active
    got = _pick(probs_logits[rows], 0.7, g2, rows, 6)
    assert got.tolist() == want[rows].tolist()
    assert torch.equal(g1.get_state(), g2.get_state())


def test_caches_with_recurrent_state_are_not_compacted():
    from transformers.cache_utils import DynamicCache

    from starlab.generate import _compactable

    class LinearAttentionLayer:  # a layer type whose recurrent state batch_select_indices would not trim
        pass

    cache = DynamicCache()
    assert _compactable(cache)
    cache.layers.append(LinearAttentionLayer())
    assert not _compactable(cache)
    assert not _compactable(object())


def test_non_finite_logits_are_refused_as_torch_multinomial_refuses_them():
    logits = torch.zeros(2, 5)
    logits[1, 2] = float("nan")
    with pytest.raises(RuntimeError, match="inf or nan"):
        _pick(logits, 0.7, torch.Generator().manual_seed(0), torch.tensor([0, 1]), 2)
