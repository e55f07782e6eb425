"""Quiet-STaR machinery (starlab/quiet.py) and runner (variants/quiet_star.py) on micro models:
the mixed prediction equals the base one at initialisation, no position sees another
position's thought, parallel thoughts equal sequential ones, the REINFORCE baseline, the
decoder, and a short end-to-end run."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from conftest import MICRO_CONFIG, assert_valid_stream, read_events
from starlab import models, quiet
from starlab.config import validate_config
from starlab.events import EventWriter
from starlab.tasks.addition import AdditionTask, Question, prompt, rationale
from starlab.tokenizer import CharTokenizer
from starlab.variants import quiet_star

MICRO = {"n_layer": 1, "n_embd": 16, "n_head": 2, "max_len": 64}


def _model(seed: int = 0, head: bool = False, cfg=MICRO):
    tok = CharTokenizer(AdditionTask.alphabet)
    lm = models.build_tiny(cfg, tok, seed)
    qm = quiet.QuietModel(lm, tok)
    if head:  # a non-zero mixing head, so that thoughts matter
        torch.manual_seed(seed + 1)
        torch.nn.init.normal_(qm.head.out.weight, std=0.5)
    qm.eval()
    return qm, tok


def _docs(tok, n: int = 6, seed: int = 0):
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        d = rng.randint(1, 2)
        lo, hi = (0, 9) if d == 1 else (10, 99)
        q = Question("x", rng.randint(lo, hi), rng.randint(lo, hi), d)
        out.append([tok.bos_id] + tok.encode(prompt(q) + rationale(q)) + [tok.eos_id])
    return out


def _loss(qm, ids, doc, **kw):
    args = dict(n_thoughts=2, thought_len=3, n_ahead=3, generator=torch.Generator().manual_seed(0))
    args.update(kw)
    return quiet.quiet_loss(qm, ids, doc, **args)


# --------------------------------------------------------------------------- init
def test_thought_tokens_are_new_ids_and_the_tokenizer_still_works():
    qm, tok = _model()
    assert (qm.start_id, qm.end_id) == (tok.vocab_size, tok.vocab_size + 1)
    assert qm.lm.get_input_embeddings().weight.shape[0] == tok.vocab_size + 2
    assert qm.lm.config.vocab_size == tok.vocab_size + 2
    assert tok.decode(tok.encode("12+3:")) == "12+3:"
    assert tok.decode(tok.encode("7+") + [qm.start_id, qm.end_id]) == "7+"  # ids past the alphabet are skipped
    assert quiet.decode_thought(tok, qm, [qm.start_id, tok.encode("4")[0], qm.end_id]) == "<|startthought|>4<|endthought|>"


def test_mixed_prediction_equals_base_at_initialisation():
    qm, tok = _model()
    ids, doc = quiet.pack_documents(_docs(tok), 40, tok.pad_id)
    with torch.no_grad():
        out = _loss(qm, ids, doc)
    d = out.details
    assert torch.count_nonzero(d["w"]) == 0
    v = d["valid"]
    assert v.any()
    assert torch.allclose(d["mixed_logp"][v], d["base_logp"][v], atol=1e-6)
    assert torch.allclose(d["reward"], torch.zeros_like(d["reward"]), atol=1e-5)
    assert out.stats["policy_loss"] == pytest.approx(0.0, abs=1e-6)
    assert out.stats["mix_weight_max"] == out.stats["mix_weight_min"] == 0.0
    # and the thought-mixed decoder writes exactly what the base decoder writes
    prompts = [[tok.bos_id] + tok.encode(p) for p in ("3+4:", "12+34:", "95+7:")]
    a = quiet.generate(qm, tok, prompts, max_new_tokens=8, thought_len=3, use_thoughts=True)
    b = quiet.generate(qm, tok, prompts, max_new_tokens=8, thought_len=3, use_thoughts=False)
    assert [g.ids for g in a] == [g.ids for g in b]
    assert all(len(g.thoughts) == len(g.ids) and all(len(t) == 3 for t in g.thoughts) for g in a)


# --------------------------------------------------------------------------- attention
def test_mask_structure():
    doc = torch.tensor([[0, 0, 0, 1, 1, -1]])
    T = 6
    allowed = quiet.block_allowed(doc, (0, 4), 4)[0]  # (4T, 4T)
    assert allowed.shape == (4 * T, 4 * T)
    blk = lambda qj, kj: allowed[qj * T : (qj + 1) * T, kj * T : (kj + 1) * T]  # noqa: E731
    same = doc[0][:, None] == doc[0][None, :]
    real = same & torch.ones(T, T, dtype=torch.bool).tril()
    eye = torch.eye(T, dtype=torch.bool)
    assert torch.equal(blk(0, 0), real)  # causal, within a document
    for kj in (1, 2, 3):
        assert not blk(0, kj).any()  # real tokens never see a thought
    for qj in (1, 2, 3):
        assert torch.equal(blk(qj, 0), real)  # a thought sees its real prefix ≤ t
        for kj in (1, 2, 3):
            # its own earlier thought tokens (same position) only; never another position's
            assert torch.equal(blk(qj, kj), eye if kj <= qj else torch.zeros(T, T, dtype=torch.bool))
    assert not blk(1, 0)[3, :3].any()  # position 3 starts document 1: nothing of document 0
    # the query-block slice used by one forward is the same rows
    part = quiet.block_allowed(doc, (2, 4), 4)[0]
    assert torch.equal(part, allowed[2 * T :, :])
    fm = quiet.float_mask(quiet.block_allowed(doc, (0, 2), 2), torch.float32)
    assert fm.shape == (1, 1, 2 * T, 2 * T)
    assert set(fm.unique().tolist()) == {0.0, torch.finfo(torch.float32).min}


def test_no_position_sees_another_positions_thought():
    qm, tok = _model(head=True)
    ids, doc = quiet.pack_documents(_docs(tok, 3), 32, tok.pad_id)
    B, T, L = 2 * ids.shape[0], ids.shape[1], 3
    g = torch.Generator().manual_seed(1)
    th = torch.randint(4, tok.vocab_size, (B, T, L), generator=g)
    with torch.no_grad():
        a = _loss(qm, ids, doc, thoughts=th).details
        j = 9
        th2 = th.clone()
        th2[:, j] = (th2[:, j] + 3 - 4) % (tok.vocab_size - 4) + 4  # other thought tokens at position j only
        b = _loss(qm, ids, doc, thoughts=th2).details
    others = [i for i in range(T) if i != j]
    assert torch.equal(a["h_base"], b["h_base"])  # the real stream never sees thoughts
    assert torch.allclose(a["h_thought"][:, :, others], b["h_thought"][:, :, others], atol=1e-6)
    assert torch.allclose(a["mixed_logp"][:, :, others], b["mixed_logp"][:, :, others], atol=1e-6)
    assert not torch.allclose(a["h_thought"][:, :, j], b["h_thought"][:, :, j], atol=1e-4)


def test_parallel_thoughts_equal_sequential_forward():
    """The thought stream at t equals a plain causal forward over x_≤t, <start>, thought,
    <end>, x_{t+1}, … (positions continuing), for positions in two packed documents."""
    qm, tok = _model(head=True, cfg={**MICRO, "n_layer": 2})
    ids, doc = quiet.pack_documents(_docs(tok, 2, seed=3), 40, tok.pad_id)
    L, A = 3, 3
    with torch.no_grad():
        d = _loss(qm, ids, doc, n_thoughts=1, thought_len=L, n_ahead=A).details
        th, hth = d["thoughts"], d["h_thought"]
        for t in range(ids.shape[1]):
            if doc[0, t] < 0:
                continue
            s = int((doc[0] == doc[0, t]).nonzero()[0])
            e = int((doc[0] == doc[0, t]).nonzero()[-1])
            seq = ids[0, s : t + 1].tolist() + [qm.start_id] + th[0, t].tolist() + [qm.end_id] + ids[0, t + 1 : min(t + A, e + 1)].tolist()
            x = torch.tensor([seq])
            h = qm.base(inputs_embeds=qm.embed(x), position_ids=torch.arange(len(seq))[None]).last_hidden_state[0]
            k = (t - s + 1) + 1 + L  # index of <end>
            for m in range(A):
                if k + m < len(seq):
                    assert torch.allclose(h[k + m], hth[0, m, t], atol=1e-5), (t, m)


# --------------------------------------------------------------------------- loss
def test_reinforce_baseline_centres_rewards_per_position():
    qm, tok = _model(head=True)
    ids, doc = quiet.pack_documents(_docs(tok, 4), 32, tok.pad_id)
    R, T, n = ids.shape[0], ids.shape[1], 3
    with torch.no_grad():
        raw = _loss(qm, ids, doc, n_thoughts=n, remove_negative_rewards=False).details
        clamped = _loss(qm, ids, doc, n_thoughts=n, remove_negative_rewards=True).details
    r = raw["reward"].view(R, n, T)
    adv = raw["advantage"].view(R, n, T)
    assert r.abs().max() > 0  # thoughts do change the predictions
    assert torch.allclose(adv.sum(1), torch.zeros(R, T), atol=1e-5)  # centred per position
    assert torch.allclose(adv, r - r.mean(1, keepdim=True), atol=1e-6)
    # same sampled thoughts (same generator seed): the clamped advantage is max(centred, 0)
    assert torch.equal(raw["thoughts"], clamped["thoughts"])
    assert torch.allclose(clamped["advantage"], raw["advantage"].clamp(min=0), atol=1e-6)
    assert (clamped["advantage"] >= 0).all()


def test_loss_decreases_on_the_tiny_model():
    torch.manual_seed(0)
    qm, tok = _model(cfg={**MICRO, "n_embd": 32, "n_head": 4})
    ids, doc = quiet.pack_documents(_docs(tok, 24, seed=5), 32, tok.pad_id)
    opt = torch.optim.AdamW(qm.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    losses, stats = [], None
    qm.train()
    for _ in range(25):
        out = quiet.quiet_loss(qm, ids, doc, n_thoughts=2, thought_len=2, n_ahead=2, generator=g)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.stats["loss"])
        stats = out.stats
    assert sum(losses[-3:]) / 3 < 0.75 * sum(losses[:3]) / 3
    assert set(stats) >= {
        "base_loss",
        "mixed_loss",
        "policy_loss",
        "reward_mean",
        "reward_std",
        "mix_weight_mean",
        "mix_weight_std",
        "mix_weight_min",
        "mix_weight_max",
    }
    assert stats["mix_weight_max"] != 0.0  # the mixing head learns
    assert all(v == v for v in stats.values())  # no NaN


# --------------------------------------------------------------------------- decoding
def test_decoder_batched_equals_single_and_never_writes_thought_tokens():
    qm, tok = _model(head=True)
    with torch.no_grad():  # make the thought tokens the most likely next tokens everywhere
        qm.lm.get_input_embeddings().weight[qm.start_id] *= 50
        qm.lm.get_input_embeddings().weight[qm.end_id] *= 50
    prompts = [[tok.bos_id] + tok.encode(p) for p in ("3+4:", "12+34:", "95+7:", "1+1:")]
    batched = quiet.generate(qm, tok, prompts, max_new_tokens=6, thought_len=2)
    single = [quiet.generate(qm, tok, [p], max_new_tokens=6, thought_len=2)[0] for p in prompts]
    assert [g.ids for g in batched] == [g.ids for g in single]
    assert [g.thoughts for g in batched] == [g.thoughts for g in single]
    for g in batched:
        assert all(t < tok.vocab_size for t in g.ids)
        assert all(t < tok.vocab_size and t != tok.pad_id for th in g.thoughts for t in th)
    # the first token by hand: base hidden of the prompt, greedy thought, <end>, mixed head
    p = prompts[1]
    with torch.no_grad():
        seq = list(p) + [qm.start_id]
        for _ in range(2):  # the thought tokens' input embeddings are qm.thought_embeddings (qm.embed)
            h = qm.base(inputs_embeds=qm.embed(torch.tensor([seq]))).last_hidden_state[0, -1]
            logits = qm.lm_head(h) + qm.thought_logit_mask()
            seq.append(int(logits.argmax()))
        seq.append(qm.end_id)
        hs = qm.base(inputs_embeds=qm.embed(torch.tensor([seq]))).last_hidden_state[0]
        hm, _ = qm.mix(hs[len(p) - 1], hs[-1])
        first = int((qm.lm_head(hm) + qm.text_logit_mask()).argmax())
    assert batched[1].ids[0] == first
    assert batched[1].thoughts[0] == seq[len(p) + 1 : len(p) + 3]


# --------------------------------------------------------------------------- runner
def _quiet_micro():
    cfg = copy.deepcopy(MICRO_CONFIG)
    cfg.pop("loop")
    cfg["variant"] = "quiet-star"
    cfg["quiet"] = {
        "steps": 4,
        "lr": 0.003,
        "batch_size": 4,
        "seq_len": 32,
        "n_thoughts": 2,
        "thought_len": 2,
        "n_ahead": 2,
        "thought_temperature": 1.0,
        "policy_weight": 1.0,
        "eval_every": 3,
        "max_new_tokens": 16,
    }
    cfg["warmup"]["steps"] = 4
    out, errors = validate_config(cfg)
    assert not errors, errors
    return out


def test_runner_end_to_end(tmp_path, event_validator):
    cfg = _quiet_micro()
    path = tmp_path / "events.jsonl"
    w = EventWriter(path, heartbeat_s=None)
    seen = []
    results = quiet_star.run(cfg, w, run_dir=str(tmp_path), run_id="r1", hooks=quiet_star.Hooks(on_step=lambda s, st: seen.append(s)))
    w.run_end("completed")
    w.close()
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    assert events[0]["type"] == "run_start" and events[-1]["type"] == "run_end"
    assert set(events[0]["hashes"]) == {"config", "data", "prompt"}
    assert events[0]["env"]["task_versions"] == {
        "dataset": "addition",
        "format": "addition-rev-scratch-v1",
        "extractor": "addition-extract-v1",
    }
    assert seen == [1, 2, 3, 4]
    # evaluations at quiet steps 0, 3 (eval_every) and 4 (the last)
    assert [r.step for r in results] == [0, 3, 4] and [r.iteration for r in results] == [0, 1, 2]
    phases = [(e["iteration"], e["phase"]) for e in events if e["type"] == "phase_start"]
    assert phases == [(0, "warmup"), (0, "evaluate"), (1, "train"), (1, "evaluate"), (2, "train"), (2, "evaluate")]
    metrics = [e for e in events if e["type"] == "metrics"]
    evals = [e for e in metrics if "eval/accuracy" in e["values"]]
    assert [e["iteration"] for e in evals] == [0, 1, 2]
    assert [e["step"] for e in evals] == [4, 7, 8]  # optimizer steps so far, warm-up (4) included
    for e in evals:
        v = e["values"]
        assert {
            "eval/accuracy/digits_1",
            "eval/accuracy/digits_2",
            "eval/base_accuracy",
            "time/evaluate_s",
            "eval/exact_match",
            "eval/exact_match/digits_1",
            "eval/base_exact_match",
            "eval/answer_logprob",
            "compute/tokens_generated",
            "compute/tokens_trained",
        } <= set(v)
        assert 0 <= v["eval/accuracy"] <= 1 and 0 <= v["eval/exact_match"] <= 1
    for k in ("accuracy", "exact_match", "answer_logprob"):  # w = 0 at eval 0: the mixed prediction is the base one
        assert evals[0]["values"][f"eval/{k}"] == evals[0]["values"][f"eval/base_{k}"]
    steps = [e for e in metrics if "quiet/base_loss" in e["values"]]
    assert steps and all(
        {
            "train/loss",
            "quiet/mixed_loss",
            "quiet/policy_loss",
            "quiet/reward_mean",
            "quiet/reward_std",
            "quiet/mix_weight_mean",
            "quiet/mix_weight_std",
        }
        <= set(e["values"])
        for e in steps
    )
    # the counters ride on every train row but the last of a phase, whose step is the evaluation's
    eval_steps = {e["step"] for e in evals}
    counted = [e for e in steps if e["step"] not in eval_steps]
    assert counted and all({"compute/tokens_trained", "compute/tokens_generated", "quiet/step"} <= set(e["values"]) for e in counted)
    assert not any("compute/tokens_generated" in e["values"] for e in steps if e["step"] in eval_steps)
    gen = [e["values"]["compute/tokens_generated"] for e in metrics if "compute/tokens_generated" in e["values"]]
    assert gen == sorted(gen) and gen[0] > 0
    items = [it for e in events if e["type"] == "samples" for it in e["items"]]
    assert len(items) == 3 * 12 and all(it["kind"] == "eval" and it["split"] == "eval" for it in items)
    assert all(isinstance(v, float) for it in items for v in it.get("scores", {}).values())
    assert any(e["type"] == "progress" and e["phase"] == "train" for e in events)
    summary = json.loads((tmp_path / "artifacts/summary.json").read_text())
    assert summary["steps"] == [0, 3, 4] and len(summary["accuracy"]) == 3
    rows = [json.loads(x) for x in (tmp_path / "artifacts/eval_2/thoughts.jsonl").read_text().splitlines()]
    assert rows and all(t["thought"].startswith("<|startthought|>") for r in rows for t in r["tokens"])


def test_resume_after_a_stop_continues_exactly(tmp_path):
    """Stopped after evaluation 1, resumed: the rest of the run equals an uninterrupted one
    (model, optimizer, data order and thought RNG all come back from the checkpoint)."""
    from starlab.stopping import StopFlag, StopRequested

    cfg = _quiet_micro()
    cfg["quiet"].update({"steps": 6, "eval_every": 2})

    def accuracies(events):
        return {
            e["iteration"]: (e["values"]["eval/accuracy"], e["values"]["eval/mix_weight_mean"])
            for e in events
            if e["type"] == "metrics" and "eval/mix_weight_mean" in e["values"]
        }

    def losses(events):
        return [e["values"]["quiet/policy_loss"] for e in events if e["type"] == "metrics" and "quiet/policy_loss" in e["values"]]

    w = EventWriter(tmp_path / "a" / "events.jsonl", heartbeat_s=None)
    quiet_star.run(cfg, w, run_dir=str(tmp_path / "a"), emit_run_start=False)
    w.close()
    straight = read_events(tmp_path / "a" / "events.jsonl")

    stop = StopFlag()
    hooks = quiet_star.Hooks(on_eval_end=lambda i, res: stop.request() if i == 1 else None)
    w = EventWriter(tmp_path / "b" / "events.jsonl", heartbeat_s=None)
    with pytest.raises(StopRequested):
        quiet_star.run(cfg, w, run_dir=str(tmp_path / "b"), emit_run_start=False, stop=stop, hooks=hooks)
    w.close()
    first = read_events(tmp_path / "b" / "events.jsonl")
    assert json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())["iteration"] == 1
    w = EventWriter(tmp_path / "b" / "events.jsonl", heartbeat_s=None)
    quiet_star.run(cfg, w, run_dir=str(tmp_path / "b"), emit_run_start=False, resume=True)
    w.close()
    events = read_events(tmp_path / "b" / "events.jsonl")
    rest = events[len(first) :]
    assert not any(e["type"] == "phase_start" and e["phase"] == "warmup" for e in rest)
    assert set(accuracies(rest)) == {2, 3}
    assert accuracies(rest) == {k: v for k, v in accuracies(straight).items() if k in (2, 3)}
    assert losses(first) + losses(rest) == pytest.approx(losses(straight))
    with pytest.raises(RuntimeError, match="nothing to resume"):
        w = EventWriter(tmp_path / "c" / "events.jsonl", heartbeat_s=None)
        quiet_star.run(cfg, w, run_dir=str(tmp_path / "c"), emit_run_start=False, resume=True)


def test_eval_schedule():
    assert quiet_star.eval_schedule(200, 50) == [50, 100, 150, 200]
    assert quiet_star.eval_schedule(4, 3) == [3, 4]
    assert quiet_star.eval_schedule(5, 10) == [5]
