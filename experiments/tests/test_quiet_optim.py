"""Quiet-STaR's optimisation as the reference code: thought embeddings at embedding_scale × the
learning rate, REINFORCE log-probs at their own temperature, gradient accumulation, gradient
checkpointing (same loss and gradients) and LoRA (base weights frozen; resume exact)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from test_quiet_star import MICRO, _docs, _model

from conftest import MICRO_CONFIG, read_events
from starlab import models, quiet
from starlab.config import validate_config
from starlab.events import EventWriter
from starlab.tasks.addition import AdditionTask
from starlab.tokenizer import CharTokenizer
from starlab.variants import quiet_star


def _batch(tok, n=6, seq_len=40):
    return quiet.pack_documents(_docs(tok, n), seq_len, tok.pad_id)


def _loss_grads(qm, ids, doc, **kw):
    qm.zero_grad(set_to_none=True)
    args = dict(n_thoughts=2, thought_len=3, n_ahead=3, generator=torch.Generator().manual_seed(3))
    args.update(kw)
    out = quiet.quiet_loss(qm, ids, doc, **args)
    out.loss.backward()
    return out, {n: p.grad.clone() for n, p in qm.named_parameters() if p.grad is not None}


# --------------------------------------------------------------------------- thought embeddings
def test_thought_embeddings_are_scaled_parameters_that_move_scale_times_faster():
    tok = CharTokenizer(AdditionTask.alphabet)
    moved = {}
    for scale in (1.0, 100.0):
        lm = models.build_tiny(MICRO, tok, 0)
        qm = quiet.QuietModel(lm, tok, embedding_scale=scale)
        torch.manual_seed(1)  # a non-zero mixing head: the thoughts (so their embeddings) get gradients
        torch.nn.init.normal_(qm.head.out.weight, std=0.5)
        rows = qm.lm.get_input_embeddings().weight
        # used × scale: at initialisation the model reads the "---"/"-" vector, whatever the scale
        assert torch.allclose(qm.thought_vectors(), rows[[qm.start_id, qm.end_id]], atol=1e-6)
        ids = torch.tensor([[tok.bos_id, qm.start_id, 5, qm.end_id]])
        assert torch.allclose(qm.embed(ids)[0, 1], qm.thought_vectors()[0]) and torch.equal(qm.embed(ids)[0, 2], rows[5])
        ids, doc = _batch(tok)
        qm.train()
        before = qm.thought_vectors().detach().clone()
        opt = torch.optim.AdamW(qm.parameters(), lr=1e-4, weight_decay=0.0)
        out, _ = _loss_grads(qm, ids, doc)
        opt.step()
        moved[scale] = (qm.thought_vectors().detach() - before).abs()
        assert "thought_embeddings" in dict(qm.named_parameters())
    # Adam's first step moves a parameter by ≈ lr per entry: × scale where the model reads it
    big = moved[1.0] > 0.5e-4
    assert big.any()
    ratio = moved[100.0][big] / moved[1.0][big]
    assert torch.allclose(ratio, torch.full_like(ratio, 100.0), rtol=0.02)


# --------------------------------------------------------------------------- REINFORCE temperature
def test_reinforce_log_probs_at_their_own_temperature():
    qm, tok = _model(head=True)
    ids, doc = _batch(tok)
    with torch.no_grad():
        plain = quiet.quiet_loss(qm, ids, doc, n_thoughts=1, thought_len=2, n_ahead=2, generator=torch.Generator().manual_seed(1))
        same = quiet.quiet_loss(
            qm, ids, doc, n_thoughts=1, thought_len=2, n_ahead=2, reinforce_temperature=1.0, generator=torch.Generator().manual_seed(1)
        )
        hot = quiet.quiet_loss(
            qm, ids, doc, n_thoughts=1, thought_len=2, n_ahead=2, reinforce_temperature=3.0, generator=torch.Generator().manual_seed(1)
        )
    # None = the sampling temperature (1 here): bit-identical; the thoughts are sampled the same either way
    assert torch.equal(plain.loss, same.loss)
    assert torch.equal(plain.details["thoughts"], hot.details["thoughts"])
    assert plain.stats["base_loss"] == hot.stats["base_loss"] and plain.stats["mixed_loss"] == hot.stats["mixed_loss"]
    # by hand at one position: the first thought token's log π is log softmax(logits / 3) (reference line 1972)
    t = 5
    s = int((doc[0] == doc[0, t]).nonzero()[0])
    seq = ids[0, s : t + 1].tolist() + [qm.start_id]
    with torch.no_grad():
        h = qm.base(inputs_embeds=qm.embed(torch.tensor([seq])), position_ids=torch.arange(len(seq))[None]).last_hidden_state[0, -1]
        z = qm.lm_head(h).float() + qm.thought_logit_mask()
    tk = int(hot.details["thoughts"][0, t, 0])
    assert float(hot.details["thought_logp"][0, t, 0]) == pytest.approx(float(torch.log_softmax(z / 3, -1)[tk]), abs=1e-5)
    assert float(plain.details["thought_logp"][0, t, 0]) == pytest.approx(float(torch.log_softmax(z, -1)[tk]), abs=1e-5)


# --------------------------------------------------------------------------- gradient checkpointing
def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    def run(ck: bool):
        qm, tok = _model(head=True, cfg={**MICRO, "n_layer": 2})
        qm.train()
        qm.grad_checkpoint = ck
        ids, doc = _batch(tok)
        assert isinstance(qm.new_cache(), quiet.BlockCache) == ck
        return _loss_grads(qm, ids, doc)

    (a, ga), (b, gb) = run(False), run(True)
    assert float(a.loss.detach()) == pytest.approx(float(b.loss.detach()), abs=1e-6)
    assert torch.equal(a.details["thoughts"], b.details["thoughts"])
    assert set(ga) == set(gb) and "thought_embeddings" in ga and any(k.startswith("head.") for k in ga)
    for k in ga:
        assert torch.allclose(ga[k], gb[k], atol=1e-6), k
    # no gradients: the plain cache, whatever the flag (evaluation and decoding)
    qm, _ = _model()
    qm.grad_checkpoint = True
    with torch.no_grad():
        assert not isinstance(qm.new_cache(), quiet.BlockCache)


# --------------------------------------------------------------------------- the runner
def _cfg(**quiet_keys):
    cfg = copy.deepcopy(MICRO_CONFIG)
    cfg.pop("loop")
    cfg["variant"] = "quiet-star"
    cfg["quiet"] = {
        "steps": 4,
        "lr": 0.003,
        "batch_size": 2,
        "seq_len": 32,
        "n_thoughts": 2,
        "thought_len": 2,
        "n_ahead": 2,
        "thought_temperature": 1.0,
        "policy_weight": 1.0,
        "eval_every": 2,
        "max_new_tokens": 16,
        **quiet_keys,
    }
    cfg["warmup"]["steps"] = 4
    out, errors = validate_config(cfg)
    assert not errors, errors
    return out


def _setup(tmp_path, cfg):
    run = quiet_star.QuietRun(cfg, EventWriter(tmp_path / "events.jsonl", heartbeat_s=None), run_dir=str(tmp_path))
    run.setup_data()
    run.setup_model()
    run.setup_quiet()
    return run


def test_gradient_accumulation_averages_the_micro_batches(tmp_path):
    run = _setup(tmp_path, _cfg(grad_accum=2))
    gen, perm, pos = run.batches.state()
    state = (gen, perm.clone(), pos, run.thought_gen.get_state())
    seen = {}

    def capture():
        seen.update({n: p.grad.clone() for n, p in run.qm.named_parameters() if p.grad is not None})

    run.opt.step = capture  # type: ignore[method-assign]  # (the scheduler warns that step was replaced)
    stats = run.train_step()
    assert run.quiet_steps == 1 and run.batches.pos == 4  # two micro-batches of 2 rows
    # by hand: the two micro-batches' gradients, averaged, then clipped to norm 1
    run.batches.load_state(*state[:3])
    run.thought_gen.set_state(state[3])
    grads, parts = {}, []
    for _ in range(2):
        ids, doc = run._batch()
        run.qm.zero_grad(set_to_none=True)
        out = quiet.quiet_loss(
            run.qm, ids, doc, n_thoughts=2, thought_len=2, n_ahead=2, temperature=1.0, policy_weight=1.0, generator=run.thought_gen
        )
        out.loss.backward()
        parts.append(out.stats)
        for n, p in run.qm.named_parameters():
            if p.grad is not None:
                grads[n] = grads.get(n, 0) + p.grad / 2
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads.values()]))
    coef = min(1.0, 1.0 / (float(norm) + 1e-6))
    assert set(grads) == set(seen)
    for n in grads:
        assert torch.allclose(grads[n] * coef, seen[n], atol=1e-6), n
    assert stats["loss"] == pytest.approx((parts[0]["loss"] + parts[1]["loss"]) / 2)
    assert stats["tokens_trained"] == parts[0]["tokens_trained"] + parts[1]["tokens_trained"]
    assert stats["mix_weight_min"] == min(p["mix_weight_min"] for p in parts)


def test_lora_freezes_the_model_and_trains_adapters_head_and_thought_embeddings(tmp_path):
    run = _setup(
        tmp_path,
        _cfg(finetune="lora", lora_r=4, lora_alpha=8, lora_lr=0.01, grad_checkpoint=True, embedding_scale=100.0, reinforce_temperature=3.0),
    )
    named = dict(run.qm.named_parameters())
    train = {n for n, p in named.items() if p.requires_grad}
    assert train and all("lora_" in n or n.startswith("head.") or n == "thought_embeddings" for n in train)
    assert any("lora_" in n for n in train) and "thought_embeddings" in train
    assert run.qm.grad_checkpoint and run.qm.embedding_scale == 100.0
    assert [g["initial_lr"] for g in run.opt.param_groups] == [0.01, 0.003]  # adapters at lora_lr, head + embeddings at lr
    frozen = {n: p.detach().clone() for n, p in named.items() if not p.requires_grad}
    trained = {n: p.detach().clone() for n, p in named.items() if p.requires_grad}
    run.train_step()
    run.train_step()
    assert all(torch.equal(frozen[n], named[n]) for n in frozen)
    changed = {n for n in trained if not torch.equal(trained[n], named[n])}
    assert "thought_embeddings" in changed and any("lora_B" in n for n in changed)


def test_lora_checkpointed_accumulated_run_resumes_exactly(tmp_path, monkeypatch):
    from starlab.stopping import StopFlag, StopRequested

    cfg = _cfg(
        finetune="lora",
        lora_r=4,
        lora_alpha=8,
        lora_lr=0.01,
        grad_checkpoint=True,
        grad_accum=2,
        embedding_scale=100.0,
        reinforce_temperature=3.0,
    )

    def evals(events):
        return {
            e["iteration"]: (e["values"]["eval/accuracy"], e["values"]["eval/answer_logprob"])
            for e in events
            if e["type"] == "metrics" and "eval/accuracy" in e["values"]
        }

    w = EventWriter(tmp_path / "a" / "events.jsonl", heartbeat_s=None)
    monkeypatch.setenv("STARLAB_SAVE_MODEL", "1")
    quiet_star.run(cfg, w, run_dir=str(tmp_path / "a"), emit_run_start=False)
    w.close()
    monkeypatch.delenv("STARLAB_SAVE_MODEL")
    straight = read_events(tmp_path / "a" / "events.jsonl")
    saved = tmp_path / "a" / "artifacts" / "final_model"
    from safetensors import safe_open

    with safe_open(str(saved / "model.safetensors"), "pt") as f:
        assert not any("lora" in k for k in f.keys())  # the adapters were merged
    assert json.loads((saved / "quiet_head.json").read_text())["start_id"] > 0

    stop = StopFlag()
    hooks = quiet_star.Hooks(on_eval_end=lambda i, res: stop.request() if i == 1 else None)
    w = EventWriter(tmp_path / "b" / "events.jsonl", heartbeat_s=None)
    with pytest.raises(StopRequested):
        quiet_star.run(cfg, w, run_dir=str(tmp_path / "b"), emit_run_start=False, stop=stop, hooks=hooks)
    w.close()
    n_first = len(read_events(tmp_path / "b" / "events.jsonl"))
    w = EventWriter(tmp_path / "b" / "events.jsonl", heartbeat_s=None)
    quiet_star.run(cfg, w, run_dir=str(tmp_path / "b"), emit_run_start=False, resume=True)
    w.close()
    rest = read_events(tmp_path / "b" / "events.jsonl")[n_first:]
    assert evals(rest) == {k: v for k, v in evals(straight).items() if k == 2}
