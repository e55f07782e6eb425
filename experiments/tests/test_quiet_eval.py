"""Quiet-STaR's evaluation as the paper measures it (reference: eval_helpers.compute_metrics):
zero-shot, the gold answer teacher-forced after the question, each scored token's probability
renormalised over the valid answer tokens and multiplied — base and with thoughts (the mixed
prediction after a greedy thought) — against hand computations; the direct-answer formats and
the zero-shot prompt; and a run of the tiny preset emitting the metric names."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from test_quiet_star import MICRO, _model

from conftest import MICRO_CONFIG, read_events
from starlab import models, quiet
from starlab.config import preset_config, validate_config
from starlab.events import EventWriter
from starlab.tasks import get_task
from starlab.tasks.addition import prompt
from starlab.tasks.commonsenseqa import CQAQuestion
from starlab.tasks.gsm8k import GSM8KQuestion
from starlab.tokenizer import CharTokenizer
from starlab.variants import quiet_star


# --------------------------------------------------------------------------- the score itself
def _softmax(row: list[float]) -> list[float]:
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def test_score_answer_by_hand():
    logits = [[0.0, 1.0, 2.0, 3.0], [2.0, 0.0, 0.5, -1.0]]
    valid = [0, 2, 3]
    p = [_softmax(r) for r in logits]
    s = quiet.score_answer(torch.tensor(logits), [2, 0], valid)
    # the reference: p(gold) / Σ_{v∈V} p(v) at each position, multiplied
    want = p[0][2] / (p[0][0] + p[0][2] + p[0][3]) * p[1][0] / (p[1][0] + p[1][2] + p[1][3])
    assert s.prob == pytest.approx(want, rel=1e-6)
    assert s.logprob == pytest.approx(math.log(p[0][2]) + math.log(p[1][0]), rel=1e-6)
    assert s.argmax is False and s.n_tokens == 2  # at position 0 the most likely valid token is 3, not 2
    assert quiet.score_answer(torch.tensor(logits), [3, 0], valid).argmax is True
    # no valid set: the plain probabilities (the reference's filter_numbers=False)
    s = quiet.score_answer(torch.tensor(logits), [2, 0], None)
    assert s.prob == pytest.approx(p[0][2] * p[1][0], rel=1e-6)
    # the text mask (thought tokens) leaves the renormalised probability alone, not the log-probability
    mask = torch.tensor([0.0, -math.inf, 0.0, 0.0])
    s = quiet.score_answer(torch.tensor(logits), [2, 0], valid, mask)
    assert s.prob == pytest.approx(want, rel=1e-6)
    pm = [_softmax([r[0], -1e30, r[2], r[3]]) for r in logits]
    assert s.logprob == pytest.approx(math.log(pm[0][2]) + math.log(pm[1][0]), rel=1e-6)
    assert s.logprob <= 0


# --------------------------------------------------------------------------- a model whose logits are known
C = 0.25  # the mixing weight of the hand-built head


def _identity_model():
    """A micro QuietModel whose transformer adds nothing (o_proj and down_proj zero, so the final
    hidden state is RMSNorm(input embedding)), with an untied LM head W·h + b and a mixing head
    that always outputs w = C: base and mixed logits are closed-form functions of the embeddings."""
    qm, tok = _model(seed=2)
    d, V = qm.lm.config.hidden_size, qm.vocab
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for layer in qm.lm.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        head = torch.nn.Linear(d, V, bias=True)
        head.weight.copy_(torch.randn(V, d, generator=g) * 0.4)
        head.bias.copy_(torch.randn(V, generator=g) * 0.5)
        qm.lm.lm_head = head
        qm.head.net[2].weight.zero_()
        qm.head.net[2].bias.fill_(1.0)
        qm.head.out.weight.fill_(C / qm.head.out.weight.shape[1])
        qm.thought_embeddings.copy_(torch.randn(2, d, generator=g))  # <end> differs from every token
    qm.eval()
    return qm, tok


def _rms(v: torch.Tensor, qm) -> torch.Tensor:
    eps = qm.lm.config.rms_norm_eps
    return v / torch.sqrt((v * v).mean() + eps) * qm.lm.model.norm.weight


def _micro_run(tmp_path, dataset: str = "addition"):
    cfg = copy.deepcopy(MICRO_CONFIG)
    cfg.pop("loop")
    cfg["variant"] = "quiet-star"
    cfg["quiet"] = {
        "steps": 2,
        "lr": 0.003,
        "batch_size": 2,
        "seq_len": 32,
        "n_thoughts": 1,
        "thought_len": 2,
        "n_ahead": 2,
        "thought_temperature": 1.0,
        "policy_weight": 1.0,
        "eval_every": 1,
        "max_new_tokens": 16,
    }
    cfg, errors = validate_config(cfg)
    assert not errors, errors
    run = quiet_star.QuietRun(cfg, EventWriter(tmp_path / "events.jsonl", heartbeat_s=None), run_dir=str(tmp_path))
    run.setup_data()
    run.setup_model()
    if dataset != "addition":
        run.task = get_task(dataset)
        run.prefix = ""
    return run


def test_teacher_forced_metric_by_hand_base_and_with_thoughts(tmp_path):
    run = _micro_run(tmp_path)
    qm, tok = _identity_model()
    run.qm, run.tok = qm, tok
    qs = run.splits.eval[:10]
    items = [run.tf_item(x) for x in qs]
    got = run._teacher_forced(items)
    E = qm.lm.get_input_embeddings().weight.detach()
    W, b = qm.lm.lm_head.weight.detach(), qm.lm.lm_head.bias.detach()
    h_end = _rms(qm.thought_vectors()[1].detach(), qm)  # the thought stream's state after <end>
    digits = [tok.encode(c)[0] for c in "0123456789"]
    valid = digits + [tok.eos_id]
    text_ok = [i for i in range(qm.vocab) if i < qm.text_vocab]
    for x, it, r in zip(qs, items, got):
        # zero-shot: <bos>, the question, then the gold answer in the task's format, then <eos>
        rev = str(x.a + x.b)[::-1]
        assert it.ids == [tok.bos_id] + tok.encode(prompt(x) + "=" + rev) + [tok.eos_id]
        assert it.n_prompt == 1 + len(prompt(x))
        # scored: the answer's digits and the end ("=" is skipped, as the reference skips "▁")
        assert it.targets == tok.encode(rev) + [tok.eos_id]
        assert sorted(it.valid) == sorted(valid)
        want = {}
        for kind in ("base", "mixed"):
            prob, logprob, argmax = 1.0, 0.0, True
            for t, gold in zip(it.query, it.targets):
                h_b = _rms(E[it.ids[t]], qm)
                h = h_b if kind == "base" else h_b + C * (h_end - h_b)
                z = (W @ h + b).tolist()
                p = _softmax([z[i] for i in text_ok])  # the text vocabulary: thought ids excluded
                pv = {i: p[text_ok.index(i)] for i in valid}
                prob *= pv[gold] / sum(pv.values())
                logprob += math.log(p[text_ok.index(gold)])
                argmax = argmax and max(valid, key=lambda i: z[i]) == gold
            want[kind] = (prob, logprob, argmax)
        assert r["base_answer_prob"] == pytest.approx(want["base"][0], rel=1e-4)
        assert r["answer_prob"] == pytest.approx(want["mixed"][0], rel=1e-4)
        assert r["base_answer_logprob"] == pytest.approx(want["base"][1], rel=1e-4)
        assert r["answer_logprob"] == pytest.approx(want["mixed"][1], rel=1e-4)
        assert (r["base_argmax"], r["argmax"]) == (float(want["base"][2]), float(want["mixed"][2]))
        assert r["answer_mix_weight"] == pytest.approx(C, rel=1e-5)
    assert any(abs(r["answer_prob"] - r["base_answer_prob"]) > 1e-3 for r in got)  # the thoughts matter here


def test_answer_logits_equal_the_training_forward_at_the_same_thoughts():
    """The evaluation thinks only at the query positions; a thought never sees another
    position's, so its mixed prediction equals quiet_loss's (talk step 0) given the same thoughts."""
    qm, tok = _model(head=True, cfg={**MICRO, "n_layer": 2})
    seq = [tok.bos_id] + tok.encode("74+38:=211") + [tok.eos_id]
    T, L = len(seq), 3
    query = [7, 8, 9, 10]
    out = quiet.answer_logits(qm, torch.tensor([seq]), torch.tensor([T]), torch.tensor([query]), thought_len=L)
    th = torch.full((1, T, L), tok.encode("5")[0], dtype=torch.long)
    th[0, query] = out["thoughts"][0]
    with torch.no_grad():
        d = quiet.quiet_loss(
            qm, torch.tensor([seq]), torch.zeros(1, T, dtype=torch.long), n_thoughts=1, thought_len=L, n_ahead=1, thoughts=th
        ).details
    for s, t in enumerate(query):
        gold = seq[t + 1]
        mixed = torch.log_softmax(out["mixed"][0, s], -1)[gold]
        base = torch.log_softmax(out["base"][0, s], -1)[gold]
        assert float(mixed) == pytest.approx(float(d["mixed_logp"][0, 0, t]), abs=1e-5)
        assert float(base) == pytest.approx(float(d["base_logp"][0, 0, t]), abs=1e-5)
        assert float(out["w"][0, s]) == pytest.approx(float(d["w"][0, 0, t]), abs=1e-5)
    # the greedy thought is the one the decoder thinks before writing token t + 1
    g = quiet.generate(qm, tok, [seq[: query[0] + 1]], max_new_tokens=1, thought_len=L)[0]
    assert g.thoughts[0] == out["thoughts"][0, 0].tolist()
    # padding rows and unused query slots change nothing
    two = torch.full((2, T + 3), tok.pad_id, dtype=torch.long)
    two[0, :T] = torch.tensor(seq)
    two[1, :5] = torch.tensor(seq[:5])
    qp = torch.tensor([query, [2, 3, 0, 0]])
    both = quiet.answer_logits(qm, two, torch.tensor([T, 5]), qp, thought_len=L)
    assert torch.allclose(both["mixed"][0], out["mixed"][0], atol=1e-5)
    assert torch.allclose(both["base"][0], out["base"][0], atol=1e-5)


def test_mixed_equals_base_when_the_mixing_weight_is_zero():
    qm, tok = _model()  # the zero-initialised head: w = 0
    seq = [tok.bos_id] + tok.encode("12+34:=64") + [tok.eos_id]
    out = quiet.answer_logits(qm, torch.tensor([seq]), torch.tensor([len(seq)]), torch.tensor([[6, 7, 8, 9]]), thought_len=2)
    assert torch.equal(out["mixed"], out["base"]) and torch.count_nonzero(out["w"]) == 0


# --------------------------------------------------------------------------- formats and the prompt
def test_direct_answer_formats_and_zero_shot_prompts(tmp_path):
    run = _micro_run(tmp_path, "gsm8k")
    tok = CharTokenizer(run.task.alphabet)
    run.tok = tok
    run.qm = quiet.QuietModel(models.build_tiny(MICRO, tok, 0), tok)
    q = GSM8KQuestion("test-00000", "How many apples?", ("2+5=7",), "72")
    it = run.tf_item(q)
    text = "Q: How many apples?\nA:"
    # zero-shot: nothing before the question; the reference's " 72\n" after "A:"
    assert it.ids == [tok.bos_id] + tok.encode(text + " 72\n") and it.n_prompt == 1 + len(text)
    assert it.targets == tok.encode("72\n")  # the space is not a valid token: skipped, as "▁" in the reference
    assert sorted(it.valid) == sorted(tok.encode("0123456789\n"))
    # each target is predicted from the token before it (the space's position predicts "7")
    assert it.query == [it.n_prompt, it.n_prompt + 1, it.n_prompt + 2]
    assert [it.ids[t + 1] for t in it.query] == it.targets
    neg = run.tf_item(GSM8KQuestion("test-00001", "Q?", (), "-3.5"))
    assert neg.targets == tok.encode("35\n")  # "-" and "." are skipped (not valid tokens), as in the reference
    # with task.few_shot the prefix comes first (only then)
    run.prefix = run.task.few_shot_prefix(0)
    assert run.prefix and run.tf_item(q).ids == [tok.bos_id] + tok.encode(run.prefix + text + " 72\n")

    run = _micro_run(tmp_path / "cqa", "commonsenseqa")
    tok = CharTokenizer(run.task.alphabet)
    run.tok = tok
    run.qm = quiet.QuietModel(models.build_tiny(MICRO, tok, 0), tok)
    q = CQAQuestion("x", "Where is it?", (("a", "home"), ("b", "work"), ("c", "park")), "b")
    it = run.tf_item(q)
    p = run.task.prompt(q)
    assert p.endswith("\nA:") and it.ids == [tok.bos_id] + tok.encode(p + " b\n")
    assert it.targets == tok.encode("b\n") and sorted(it.valid) == sorted(tok.encode("abc\n"))


def test_paper_presets_evaluate_zero_shot():
    for dataset in ("addition", "gsm8k", "commonsenseqa"):
        for preset in ("tiny", "paper"):
            cfg = preset_config("quiet-star", dataset, preset)
            assert cfg["task"]["few_shot"] is False, (dataset, preset)
            assert not validate_config(cfg)[1]
        q = preset_config("quiet-star", dataset, "paper")["quiet"]
        assert q["batch_size"] * q["grad_accum"] == 8  # the reference's full batch
        assert (q["embedding_scale"], q["reinforce_temperature"]) == (100, 3)


# --------------------------------------------------------------------------- a run of the tiny preset
def test_tiny_preset_run_emits_the_paper_metric(tmp_path):
    cfg = preset_config("quiet-star", "addition", "tiny")
    cfg["task"].update(train_per_digit=16, eval_per_digit=4)
    cfg["warmup"].update(examples=32, steps=30)
    cfg["quiet"].update(steps=2, eval_every=1, batch_size=2, max_new_tokens=21)
    cfg["runtime"]["threads"] = 0
    cfg, errors = validate_config(cfg)
    assert not errors, errors
    w = EventWriter(tmp_path / "events.jsonl", heartbeat_s=None)
    results = quiet_star.run(cfg, w, run_dir=str(tmp_path), emit_run_start=False)
    w.close()
    events = read_events(tmp_path / "events.jsonl")
    evals = [e["values"] for e in events if e["type"] == "metrics" and "eval/accuracy" in e["values"]]
    assert len(evals) == 3 and len(results) == 3
    for v in evals:
        for k in ("accuracy", "base_accuracy", "argmax_accuracy", "base_argmax_accuracy", "exact_match", "base_exact_match"):
            assert 0 <= v[f"eval/{k}"] <= 1, k
        assert v["eval/answer_logprob"] <= 0 and v["eval/base_answer_logprob"] <= 0
        for d in (1, 2, 3):
            for k in ("accuracy", "base_accuracy", "exact_match", "base_exact_match"):
                assert 0 <= v[f"eval/{k}/digits_{d}"] <= 1
        assert v["eval/accuracy"] == pytest.approx(sum(v[f"eval/accuracy/digits_{d}"] for d in (1, 2, 3)) / 3)
    assert evals[0]["eval/accuracy"] == evals[0]["eval/base_accuracy"]  # w = 0 before training
    items = [it for e in events if e["type"] == "samples" for it in e["items"]]
    assert items and all({"answer_prob", "base_answer_prob", "answer_logprob", "base_correct"} <= set(it["scores"]) for it in items)
    # the per-question scores average to the metric
    last = [it for e in events if e["type"] == "samples" and e["iteration"] == 2 for it in e["items"]]
    assert sum(it["scores"]["answer_prob"] for it in last) / len(last) == pytest.approx(evals[2]["eval/accuracy"])
    summary = json.loads((tmp_path / "artifacts/summary.json").read_text())
    assert summary["accuracy"] == [r.accuracy for r in results] and summary["few_shot"] is False
    assert "teacher-forced" in summary["accuracy_metric"]
    assert len(summary["exact_match"]) == 3 and all(x <= 0 for x in summary["answer_logprob"])


def test_exact_match_on_an_evenly_spaced_subset(tmp_path):
    assert quiet_star.em_subset(12, None) == list(range(12)) and quiet_star.em_subset(5, 9) == [0, 1, 2, 3, 4]
    assert quiet_star.em_subset(12, 4) == [0, 3, 6, 9] and quiet_star.em_subset(10, 3) == [0, 3, 6]
    cfg = copy.deepcopy(MICRO_CONFIG)  # 12 eval questions, 6 of 1 digit then 6 of 2
    cfg.pop("loop")
    cfg["variant"] = "quiet-star"
    cfg["quiet"] = {
        "steps": 1,
        "lr": 0.003,
        "batch_size": 2,
        "seq_len": 32,
        "n_thoughts": 1,
        "thought_len": 2,
        "n_ahead": 2,
        "thought_temperature": 1.0,
        "policy_weight": 1.0,
        "eval_every": 1,
        "max_new_tokens": 16,
        "exact_match_limit": 4,
    }
    cfg["warmup"]["steps"] = 2
    cfg, errors = validate_config(cfg)
    assert not errors, errors
    w = EventWriter(tmp_path / "events.jsonl", heartbeat_s=None)
    results = quiet_star.run(cfg, w, run_dir=str(tmp_path), emit_run_start=False)
    w.close()
    events = read_events(tmp_path / "events.jsonl")
    items = [it for e in events if e["type"] == "samples" and e["iteration"] == 1 for it in e["items"]]
    # decoded: questions 0, 3, 6, 9 (both difficulties); the teacher-forced metric: all 12
    assert [it["difficulty"] for it in items] == [1, 1, 2, 2]
    assert results[1].exact_match == sum(it["correct"] for it in items) / 4
    assert set(results[1].by_difficulty) == {1, 2} and set(results[1].em_by_difficulty) == {1, 2}
