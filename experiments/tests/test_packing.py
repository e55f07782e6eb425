"""Packed fine-tuning (train.py): packed rows never attend across examples, the loss covers
only completion tokens, a packed step trains about examples_per_sequence × batch examples
and counts them, micro-batches give the same step, and the learning-rate schedules follow
their formulas (the reference's gpt3_schedule among them)."""

from __future__ import annotations

import math
import random

import pytest
import torch

from conftest import MICRO_CONFIG, micro_config
from starlab import train as T
from starlab.config import preset_config, validate_config


def _llama(attn: str = "sdpa", seed: int = 0, vocab: int = 40):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        attn_implementation=attn,
    )
    return LlamaForCausalLM(cfg).eval()


def _gptj(attn: str = "sdpa", seed: int = 0, vocab: int = 40):
    """The paper preset's architecture (GPT-J: rotary on part of each head, parallel blocks), tiny."""
    from transformers import GPTJConfig, GPTJForCausalLM

    torch.manual_seed(seed)
    cfg = GPTJConfig(
        vocab_size=vocab,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        rotary_dim=4,
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation=attn,
    )
    return GPTJForCausalLM(cfg).eval()


def _examples(n: int, seed: int = 0, vocab: int = 40, lo: int = 3, hi: int = 12) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = [1] + [rng.randrange(3, vocab) for _ in range(rng.randint(lo, hi))]
        c = [rng.randrange(3, vocab) for _ in range(rng.randint(lo, hi))] + [2]
        out.append((p, c))
    return out


# --------------------------------------------------------------------------- isolation
@pytest.mark.parametrize("arch", ["llama", "gptj"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_rows_compute_what_each_example_computes_alone(arch, attn):
    model = (_llama if arch == "llama" else _gptj)(attn)
    ex = _examples(7, seed=1)
    rows = [[0, 1, 2], [3, 4], [5, 6]]  # rows of different lengths: padding at the end of two of them
    ids, labels, pos = T.packed_batch(ex, rows, pad_id=0)
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=pos, use_cache=False).logits
        worst = 0.0
        for r, row in enumerate(rows):
            at = 0
            for i in row:
                seq = ex[i][0] + ex[i][1]
                alone = model(input_ids=torch.tensor([seq])).logits[0]
                worst = max(worst, float((packed[r, at : at + len(seq)] - alone).abs().max()))
                at += len(seq)
    assert worst < 1e-5


def test_the_isolation_check_passes_real_models_and_catches_a_leaking_one():
    ex = _examples(2, seed=2)
    a, b = ex[0][0] + ex[0][1], ex[1][0] + ex[1][1]
    for model in (_llama("sdpa"), _llama("eager"), _gptj("sdpa")):
        model.train()
        T.assert_packing_isolated(model, a, b)
        assert model.training and all(p.grad is None for p in model.parameters())

    class DropsPositions(torch.nn.Module):  # restarted position ids never reach the model: plain causal attention
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def get_input_embeddings(self):
            return self.inner.get_input_embeddings()

        def forward(self, position_ids=None, **kw):
            return self.inner(**kw)

    with pytest.raises(RuntimeError, match="loop.pack false"):
        T.assert_packing_isolated(DropsPositions(_llama()), a, b)


@pytest.mark.parametrize("dtype", ["mixed", "bfloat16"])
def test_packed_training_runs_in_reduced_precision(dtype):
    """The isolation check holds exactly under bfloat16 autocast and on bfloat16 weights too."""
    from starlab import models

    cpu = torch.device("cpu")
    precision = models.resolve_precision(dtype, source="tiny", device=cpu)
    for model in (_llama(), _gptj()):
        model.to(precision.weights)
        with precision.context(cpu):
            losses = T.finetune(model, _examples(30), steps=2, lr=1e-3, batch_size=2, pad_id=0, seed=0, pack_len=60, micro_batch_size=1)
        assert len(losses) == 2 and all(math.isfinite(x) for x in losses)


# --------------------------------------------------------------------------- loss mask
def test_labels_are_the_completion_tokens_only():
    ex = _examples(5, seed=3)
    rows = [[0, 1, 2], [3, 4]]
    ids, labels, pos = T.packed_batch(ex, rows, pad_id=0)
    for r, row in enumerate(rows):
        at = 0
        expect = []
        for i in row:
            p, c = ex[i]
            assert ids[r, at : at + len(p) + len(c)].tolist() == p + c
            assert pos[r, at : at + len(p) + len(c)].tolist() == list(range(len(p) + len(c)))
            expect += [T.IGNORE] * len(p) + c
            at += len(p) + len(c)
        expect += [T.IGNORE] * (ids.shape[1] - at)  # padding
        assert labels[r].tolist() == expect
    # the first token of an example is never a label, even with an empty prompt
    _, lab, _ = T.packed_batch([([], [5, 6, 2]), ([1, 4], [7, 2])], [[0, 1]], pad_id=0)
    assert lab[0].tolist() == [T.IGNORE, 6, 2, T.IGNORE, T.IGNORE, 7, 2]


def test_the_packed_loss_is_the_completion_loss_of_the_examples_alone():
    model = _llama()
    ex = _examples(6, seed=4)
    rows = [[0, 1, 2], [3, 4, 5]]
    ids, labels, pos = T.packed_batch(ex, rows, pad_id=0)
    with torch.no_grad():
        packed = float(T.packed_loss_sum(model, ids, labels, pos))
        alone = 0.0
        for p, c in ex:  # HF's own loss, masked to the completion, times its token count
            x = torch.tensor([p + c])
            y = torch.tensor([[T.IGNORE] * len(p) + c])
            alone += float(model(input_ids=x, labels=y).loss) * len(c)
    assert packed == pytest.approx(alone, rel=1e-5)


# --------------------------------------------------------------------------- what a step trains
def test_pack_sequences_is_next_fit_and_never_splits():
    assert T.pack_sequences([4, 4, 4, 9, 1, 3], [0, 1, 2, 3, 4, 5], 8) == [[0, 1], [2], [3], [4, 5]]
    assert T.pack_sequences([5, 5], [1, 0], 4) == [[1], [0]]  # too long: a row of its own


def test_a_packed_step_trains_examples_per_sequence_times_batch(monkeypatch):
    model = _llama()
    ex = [([1] + [5] * 9, [6] * 9 + [2]) for _ in range(200)]  # 20 tokens each: 10 per 200-token row
    fed = []
    real = T.packed_loss_sum

    def spy(model, ids, labels, pos):
        fed.append((int((ids != 0).sum()), int((labels != T.IGNORE).sum()), int((pos == 0).sum()) - (ids == 0).any(1).sum().item()))
        return real(model, ids, labels, pos)

    monkeypatch.setattr(T, "packed_loss_sum", spy)
    stats = T.TrainStats()
    losses = T.finetune(model, ex, steps=3, lr=1e-3, batch_size=4, pad_id=0, seed=0, pack_len=200, stats=stats)
    assert len(losses) == 3 and len(fed) == 3
    assert stats.steps == 3 and stats.sequences == 12 and stats.examples == 3 * 4 * 10
    assert stats.tokens == stats.examples * 20 == sum(f[0] for f in fed)  # what was fed, no padding
    assert stats.completion_tokens == stats.examples * 10 == sum(f[1] for f in fed)
    assert sum(f[2] for f in fed) == stats.examples  # examples (position-0 starts) the forwards saw

    # varied lengths: a step still sees about pack_len / mean length examples per row
    ex = _examples(300, seed=5, lo=5, hi=25)
    mean = sum(len(p) + len(c) for p, c in ex) / len(ex)
    stats = T.TrainStats()
    T.finetune(_llama(), ex, steps=3, lr=1e-3, batch_size=4, pad_id=0, seed=0, pack_len=240, stats=stats)
    per_seq = stats.examples / stats.sequences
    assert 0.85 * 240 / mean < per_seq <= 240 / mean + 1
    assert stats.examples == pytest.approx(4 * 3 * per_seq)


def test_small_data_trains_on_every_row_each_step():
    ex = _examples(12, seed=6)
    stats = T.TrainStats()
    T.finetune(_llama(), ex, steps=3, lr=1e-3, batch_size=8, pad_id=0, seed=0, pack_len=200, stats=stats)
    assert stats.examples == 3 * 12  # fewer rows than the batch: all of them, re-packed each step


def test_micro_batches_make_the_same_step():
    """Same loss and gradient (left in .grad after the step, unclipped) in 1, 2 or 4 forwards: the
    gradient to 1e-4 of its largest component (float32 sums in another order; 1.1e-5 measured with
    torch 2.15, a wrong scaling of a micro-batch would be off by tens of percent)."""
    ex = _examples(60, seed=7)
    runs = []
    for micro in (0, 1, 3):
        model = _llama(seed=1)
        losses = T.finetune(model, ex, steps=2, lr=1e-2, batch_size=4, pad_id=0, seed=0, pack_len=60, micro_batch_size=micro, clip=0.0)
        runs.append((losses, torch.cat([p.grad.flatten() for p in model.parameters()])))
    (l0, g0), *rest = runs
    for losses, grad in rest:
        assert losses == pytest.approx(l0, rel=1e-6)
        assert float((grad - g0).abs().max()) < 1e-4 * float(g0.abs().max())


def test_packed_training_learns():
    ex = [([1, 3 + i % 5], [3 + (i % 5 + 1) % 5, 2]) for i in range(100)]  # x → x+1 mod 5
    losses = T.finetune(_llama(), ex, steps=30, lr=2e-2, batch_size=2, pad_id=0, seed=0, pack_len=40)
    assert sum(losses[-5:]) / 5 < 0.25 * losses[0]


# --------------------------------------------------------------------------- schedules
def _reference_gpt3(step, warmup, total, peak, end):
    """mesh_transformer/util.py gpt3_schedule, transcribed with math for jnp."""
    warmup_pct = min(max(step, 0), warmup) / warmup
    anneal_pct = min(max(step - warmup, 0), total) / total
    return warmup_pct * peak - (peak - end) * (1 - math.cos(math.pi * anneal_pct)) / 2


def test_schedules_follow_their_formulas():
    const = T.schedule_lambda("constant", 40, warmup_steps=100)
    for k in (0, 1, 39, 99, 100, 101, 616, 10**6):
        assert const(k) * 1e-6 == pytest.approx(_reference_gpt3(k, 100, 300000, 1e-6, 1e-6), abs=1e-18)
        assert const(k) == min(k, 100) / 100
    assert T.schedule_lambda("constant", 5, warmup_steps=0)(0) == 1.0
    gen = T.gpt3_lr_lambda(10, 50, end_ratio=0.1)
    for k in (0, 5, 10, 11, 35, 60, 80):
        assert gen(k) * 3e-4 == pytest.approx(_reference_gpt3(k, 10, 50, 3e-4, 3e-5), rel=1e-12, abs=1e-18)
    cos = T.schedule_lambda("cosine", 100)
    assert [cos(k) for k in (0, 4, 5)] == [0.2, 1.0, 1.0] and cos(100) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        T.schedule_lambda("linear", 10)


@pytest.mark.parametrize("pack_len", [0, 40])
def test_the_optimizer_runs_at_the_scheduled_rate(monkeypatch, pack_len):
    seen = []
    real = torch.optim.AdamW.step

    def step(self, *a, **kw):
        seen.append(self.param_groups[0]["lr"])
        return real(self, *a, **kw)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    T.finetune(
        _llama(), _examples(20), steps=6, lr=0.5, batch_size=4, pad_id=0, seed=0, pack_len=pack_len, lr_schedule="constant", warmup_steps=4
    )
    assert seen == pytest.approx([0.0, 0.125, 0.25, 0.375, 0.5, 0.5])  # update k at lr · min(k, 4)/4, the first at 0


# --------------------------------------------------------------------------- config
def test_config_keys():
    paper = preset_config("star", "gsm8k", "paper")["loop"]
    assert paper["finetune"] == "full" and paper["lr"] == 1e-6 and paper["batch_size"] == 8
    assert (paper["pack"], paper["pack_len"], paper["lr_schedule"], paper["warmup_steps"]) == (True, 1536, "constant", 100)
    for v in ("star", "star-norat"):
        for d in ("addition", "gsm8k", "commonsenseqa"):
            tiny = preset_config(v, d, "tiny")["loop"]
            assert (tiny["pack"], tiny["lr_schedule"], tiny["micro_batch_size"]) == (False, "cosine", 0)
            for p in ("tiny", "paper"):
                assert validate_config(preset_config(v, d, p))[1] == []
    # absent keys (configs written before them) stay valid and absent, so their hash is unchanged
    assert "pack" not in MICRO_CONFIG["loop"]
    out, errors = validate_config(MICRO_CONFIG)
    assert errors == [] and "pack" not in out["loop"]

    def fields(cfg):
        return [e["field"] for e in validate_config(cfg)[1]]

    assert fields(micro_config(loop={"pack": True})) == ["loop.pack_len"]
    assert fields(micro_config(loop={"lr_schedule": "linear"})) == ["loop.lr_schedule"]
    assert fields(micro_config(loop={"pack": True, "pack_len": 0})) == ["loop.pack_len"]
    assert (
        fields(micro_config(loop={"pack": True, "pack_len": 64, "micro_batch_size": 2, "lr_schedule": "constant", "warmup_steps": 3})) == []
    )
