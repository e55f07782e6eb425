"""V-STaR verifier pieces on a tiny random model: sequence log-probs, DPO, pairs, ORM, scoring."""

from __future__ import annotations

import copy
import math
import random

import pytest
import torch

from starlab import models
from starlab import verifier as V
from starlab.stopping import StopFlag, StopRequested

TINY = {"source": "tiny", "name": "t", "n_layer": 1, "n_embd": 32, "n_head": 2, "max_len": 64}


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny(seed: int = 0):
    return models.build(TINY, seed)


def addition_candidates(tok, n_questions: int, seed: int = 0, n_correct: int = 2, n_wrong: int = 2):
    """[(prompt ids, [(completion ids, correct), ...]), ...] for sums 'a+b=' → 'a+b<eos>'."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_questions):
        a, b = rng.randint(0, 49), rng.randint(0, 49)
        prompt = [tok.bos_id] + tok.encode(f"{a}+{b}=")
        cands = [(tok.encode(str(a + b)) + [tok.eos_id], True) for _ in range(n_correct)]
        cands += [(tok.encode(str(a + b + rng.randint(1, 9))) + [tok.eos_id], False) for _ in range(n_wrong)]
        out.append((prompt, cands))
    return out


def manual_logprob(model, prompt, completion):
    ids = torch.tensor([list(prompt) + list(completion)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    return sum(float(logp[len(prompt) + j - 1, t]) for j, t in enumerate(completion))


# ---------------------------------------------------------------------------- log-probs


def test_sequence_logprobs_equals_manual_computation():
    model, tok = tiny()
    model.eval()
    examples = [
        ([tok.bos_id] + tok.encode("1+2="), tok.encode("3") + [tok.eos_id]),
        ([tok.bos_id] + tok.encode("12+34="), tok.encode("46") + [tok.eos_id]),
        ([tok.bos_id], tok.encode("7") + [tok.eos_id]),
        ([tok.bos_id] + tok.encode("5+5="), tok.encode("1 0, 10") + [tok.eos_id]),
        ([tok.bos_id] + tok.encode("9="), []),
    ]
    want = [manual_logprob(model, p, c) for p, c in examples]
    for bs in (1, 2, 16):
        sums, counts = V.sequence_logprobs(model, examples, tok.pad_id, batch_size=bs)
        assert sums.shape == (5,) and counts.tolist() == [len(c) for _, c in examples]
        assert sums.tolist() == pytest.approx(want, abs=1e-4)
    assert sums[4] == 0.0  # empty completion
    assert model.training is False
    with pytest.raises(ValueError):
        V.sequence_logprobs(model, [([], [5, 6])], tok.pad_id)


def test_sequence_logprobs_padding_with_eos_as_pad():
    """Hub tokenizers often pad with <eos>: the mask must come from the lengths, not the ids."""
    model, tok = tiny()
    examples = [
        ([tok.bos_id] + tok.encode("1+2="), tok.encode("3") + [tok.eos_id]),
        ([tok.bos_id] + tok.encode("12+34="), tok.encode("46") + [tok.eos_id]),
    ]
    a, _ = V.sequence_logprobs(model, examples, pad_id=tok.pad_id, batch_size=2)
    b, _ = V.sequence_logprobs(model, examples, pad_id=tok.eos_id, batch_size=2)
    assert a.tolist() == pytest.approx(b.tolist(), abs=1e-5)


# ---------------------------------------------------------------------------- DPO loss, pairs


def test_dpo_loss_formula_and_reference_point():
    pc, pr = torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -2.0])
    loss, cr, rr = V.dpo_loss(pc, pr, pc.clone(), pr.clone(), beta=0.1)
    assert float(loss) == pytest.approx(math.log(2))
    assert cr.tolist() == [0.0, 0.0] and rr.tolist() == [0.0, 0.0]
    rc, rj = torch.tensor([-3.5, -4.0]), torch.tensor([-3.0, -2.5])
    loss, cr, rr = V.dpo_loss(pc, pr, rc, rj, beta=0.5)
    assert cr.tolist() == pytest.approx([0.25, -0.5]) and rr.tolist() == pytest.approx([-0.5, 0.25])
    want = -sum(math.log(1 / (1 + math.exp(-(c - r)))) for c, r in zip(cr.tolist(), rr.tolist())) / 2
    assert float(loss) == pytest.approx(want)


def test_make_pairs_caps_and_labels():
    qs = [
        ("q1", [([1], True), ([2], True), ([3], False), ([4], False), ([5], False)]),
        ("q2", [([6], True), ([7], True)]),  # no incorrect: no pairs
        ("q3", [([8], False)]),  # no correct: no pairs
        ("q4", [([9], True), ([9], False), ([10], False)]),
    ]  # identical completions skipped
    full = V.make_pairs(qs, None)
    assert [(p, c[0], r[0]) for p, c, r in full] == [
        ("q1", 1, 3),
        ("q1", 1, 4),
        ("q1", 1, 5),
        ("q1", 2, 3),
        ("q1", 2, 4),
        ("q1", 2, 5),
        ("q4", 9, 10),
    ]
    capped = V.make_pairs(qs, 4, random.Random(1))
    by_q = {}
    for p, c, r in capped:
        by_q.setdefault(p, []).append((c[0], r[0]))
    assert len(by_q["q1"]) == 4 and len(set(by_q["q1"])) == 4 and len(by_q["q4"]) == 1
    correct = {1, 2, 6, 7, 9}
    for _p, c, r in capped + full:
        assert c[0] in correct and r[0] not in correct
    # deterministic for a given seed / Random state, and a subset of the full product
    assert capped == V.make_pairs(qs, 4, random.Random(1)) == V.make_pairs(qs, 4, 1)
    assert set(map(lambda t: (t[0], t[1][0], t[2][0]), capped)) <= set((p, c[0], r[0]) for p, c, r in full)
    # mapping input and dict candidates
    as_map = {("q", 1): [{"completion": [1], "correct": True}, {"completion": [2], "correct": False}]}
    assert V.make_pairs(as_map, 3) == [(("q", 1), [1], [2])]
    # larger pool: cap respected per question, never two correct / two wrong
    tok = tiny()[1]
    qs = addition_candidates(tok, 5, n_correct=4, n_wrong=5)
    pairs = V.make_pairs(qs, 7, 0)
    assert len(pairs) == 35
    for prompt, cands in qs:
        good = {tuple(c) for c, ok in cands if ok}
        mine = [(c, r) for p, c, r in pairs if p == prompt]
        assert len(mine) == 7
        assert all(tuple(c) in good and tuple(r) not in good for c, r in mine)


# ---------------------------------------------------------------------------- DPO training


def test_train_dpo_learns_the_preferences():
    model, tok = tiny()
    pairs = V.make_pairs(addition_candidates(tok, 8), 3, 0)
    ref = V.reference_logprobs(model, pairs, tok.pad_id)
    before = V.evaluate_pairs(model, pairs, ref, beta=0.1, pad_id=tok.pad_id)
    assert before["loss"] == pytest.approx(math.log(2), abs=1e-6) and before["accuracy"] == 0.0
    seen = []
    hist = V.train_dpo(
        model,
        pairs,
        ref_logps=ref,
        beta=0.1,
        steps=40,
        lr=1e-2,
        batch_size=8,
        pad_id=tok.pad_id,
        seed=0,
        on_step=lambda s, m: seen.append((s, m)),
    )
    assert [s for s, _ in seen] == list(range(1, 41)) and len(hist) == 40
    assert set(hist[0]) >= {"loss", "reward_margin", "chosen_reward", "rejected_reward", "accuracy", "lr"}
    # step 1: the policy is the reference → rewards 0, loss log 2
    assert hist[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert abs(hist[0]["chosen_reward"]) < 1e-4 and abs(hist[0]["rejected_reward"]) < 1e-4
    first = sum(m["loss"] for m in hist[:5]) / 5
    last = sum(m["loss"] for m in hist[-5:]) / 5
    assert last < first - 0.2
    assert sum(m["accuracy"] for m in hist[-5:]) / 5 > 0.9
    after = V.evaluate_pairs(model, pairs, ref, beta=0.1, pad_id=tok.pad_id)
    assert after["loss"] < before["loss"] - 0.2
    assert after["accuracy"] >= 0.9 and after["reward_margin"] > 0
    assert model.training is False


def test_train_dpo_computes_reference_when_not_given_and_stops():
    model, tok = tiny(1)
    pairs = V.make_pairs(addition_candidates(tok, 3), 2, 0)
    hist = V.train_dpo(model, pairs, beta=0.1, steps=2, lr=1e-2, batch_size=4, pad_id=tok.pad_id, seed=0, micro_batch_size=2)
    assert hist[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert V.train_dpo(model, [], steps=3, lr=1e-2, batch_size=4, pad_id=tok.pad_id, seed=0) == []
    flag = StopFlag()
    calls = []

    def on_step(step, m):
        calls.append(step)
        if step == 2:
            flag.request()

    with pytest.raises(StopRequested):
        V.train_dpo(model, pairs, beta=0.1, steps=10, lr=1e-2, batch_size=4, pad_id=tok.pad_id, seed=0, stop=flag, on_step=on_step)
    assert calls == [1, 2] and model.training is False
    with pytest.raises(ValueError):
        V.train_dpo(model, pairs, ref_logps=(torch.zeros(1), torch.zeros(1)), steps=1, lr=1e-2, batch_size=4, pad_id=tok.pad_id, seed=0)


def test_micro_batches_give_the_same_step():
    _, tok = tiny()
    pairs = V.make_pairs(addition_candidates(tok, 3), 2, 0)
    results = []
    for micro in (None, 2):
        model, _ = tiny(3)
        V.train_dpo(
            model, pairs, beta=0.5, steps=1, lr=1e-2, batch_size=6, pad_id=tok.pad_id, seed=0, micro_batch_size=micro, warmup_frac=0.0
        )
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.allclose(results[0], results[1], atol=1e-5)


# ---------------------------------------------------------------------------- ORM


def orm_data(tok, n_questions=4):
    ex, labels = [], []
    for prompt, cands in addition_candidates(tok, n_questions):
        for c, ok in cands:
            ex.append((prompt, c))
            labels.append(ok)
    return ex, labels


def auc(scores, labels):
    y = torch.tensor(labels)
    pos, neg = scores[y], scores[~y]
    return float((pos[:, None] > neg[None, :]).float().mean())


def test_orm_learns_to_rank_correct_above_incorrect():
    model, tok = tiny()
    base_state = copy.deepcopy(models.state_copy(model))
    ex, labels = orm_data(tok)
    orm = V.OutcomeRewardModel(model, seed=0)
    hist = V.train_orm(orm, ex, labels, steps=80, lr=1e-2, batch_size=8, pad_id=tok.pad_id, seed=0)
    assert len(hist) == 80 and set(hist[0]) >= {"loss", "bce", "lm", "accuracy", "lr"}
    first = sum(m["loss"] for m in hist[:10]) / 10
    last = sum(m["loss"] for m in hist[-10:]) / 10
    assert last < first * 0.5
    s = V.orm_scores(orm, ex, tok.pad_id, batch_size=5)
    assert auc(s, labels) >= 0.95
    assert s[torch.tensor(labels)].mean() > s[~torch.tensor(labels)].mean()
    # the base model (generator / SFT) is untouched: the ORM trains a copy
    for k, v in model.state_dict().items():
        assert torch.equal(v, base_state[k]), k
    assert orm.training is False


def test_orm_with_lm_loss_and_last_token_pooling():
    model, tok = tiny(2)
    ex, labels = orm_data(tok)
    orm = V.OutcomeRewardModel(model, seed=1)
    hist = V.train_orm(orm, ex, labels, steps=40, lr=1e-2, batch_size=8, pad_id=tok.pad_id, seed=0, lm_weight=0.5, pos_weight=1.0)
    assert all(m["lm"] > 0 for m in hist)
    assert sum(m["loss"] for m in hist[-5:]) < sum(m["loss"] for m in hist[:5])
    # the score of an example does not depend on its padding (last non-pad token pooling)
    alone = V.orm_scores(orm, ex[:1], tok.pad_id, batch_size=1)
    with_long = V.orm_scores(orm, [ex[0], (ex[1][0], ex[1][1] + [tok.eos_id] * 5)], tok.pad_id, batch_size=2)
    assert float(alone[0]) == pytest.approx(float(with_long[0]), abs=1e-4)
    with pytest.raises(ValueError):
        V.train_orm(orm, ex, labels[:-1], steps=1, lr=1e-2, batch_size=8, pad_id=tok.pad_id, seed=0)


# ---------------------------------------------------------------------------- scoring


def test_score_candidates():
    model, tok = tiny()
    qs = addition_candidates(tok, 4)
    cands = [(p, c) for p, cs in qs for c, _ in cs]
    reference = copy.deepcopy(model)
    rows = V.score_candidates(model, cands, pad_id=tok.pad_id, beta=0.1, reference=reference)
    assert all(r["reward"] == pytest.approx(0.0, abs=1e-6) for r in rows)
    V.train_dpo(model, V.make_pairs(qs, 2, 0), beta=0.1, steps=5, lr=1e-2, batch_size=4, pad_id=tok.pad_id, seed=0)
    ref_lp, _ = V.sequence_logprobs(reference, cands, tok.pad_id)
    orm = V.OutcomeRewardModel(reference, seed=0)
    rows = V.score_candidates(model, cands, pad_id=tok.pad_id, beta=0.1, ref_logps=ref_lp, orm=orm)
    lp, cnt = V.sequence_logprobs(model, cands, tok.pad_id)
    for i, r in enumerate(rows):
        assert set(r) == {"logp", "n_tokens", "logp_norm", "ref_logp", "reward", "orm"}
        assert r["logp"] == pytest.approx(float(lp[i]), abs=1e-5) and r["n_tokens"] == len(cands[i][1])
        assert r["logp_norm"] == pytest.approx(r["logp"] / r["n_tokens"])
        assert r["reward"] == pytest.approx(0.1 * (r["logp"] - r["ref_logp"]), abs=1e-5)
    assert any(abs(r["reward"]) > 1e-3 for r in rows)
    only_orm = V.score_candidates(None, cands, pad_id=tok.pad_id, orm=orm)
    assert [set(r) for r in only_orm] == [{"orm"}] * len(cands)


# ---------------------------------------------------------------------------- held-out pairs


def test_pair_accuracy_ties_and_pair_indices():
    assert V.pair_accuracy([2.0, 1.0, 1.0], [1.0, 1.0, 3.0]) == pytest.approx(1 / 3)  # TRL: strict
    assert V.pair_accuracy([2.0, 1.0, 1.0], [1.0, 1.0, 3.0], tie=0.5) == pytest.approx(1.5 / 3)
    assert V.pair_accuracy([0.0] * 4, [0.0] * 4, tie=0.5) == 0.5  # V_SFT: chance
    with pytest.raises(ValueError):
        V.pair_accuracy([], [])
    # every (right, wrong) pair within a group, duplicates included; one-class groups give none
    ci, ri = V.pair_indices([[True, False, True], [True, True], [False], [False, True, False]])
    assert list(zip(ci.tolist(), ri.tolist())) == [(0, 1), (2, 1), (7, 6), (7, 8)]
    ci, ri = V.pair_indices([[True], []])
    assert ci.tolist() == [] and ri.tolist() == []


def test_pair_metrics_is_evaluate_pairs_without_the_forward_passes():
    model, tok = tiny()
    qs = addition_candidates(tok, 5, n_correct=2, n_wrong=3)
    reference = copy.deepcopy(model)
    V.train_dpo(model, V.make_pairs(qs, 3, 0), beta=0.1, steps=5, lr=1e-2, batch_size=4, pad_id=tok.pad_id, seed=0)
    # the test candidates: scored once (log V, log V_SFT), then every (right, wrong) pair per question
    cands = [(p, c) for p, cs in qs for c, _ in cs]
    rows = V.score_candidates(model, cands, pad_id=tok.pad_id, beta=0.1, reference=reference)
    ci, ri = V.pair_indices([[ok for _, ok in cs] for _, cs in qs])
    assert len(ci) == 5 * 2 * 3
    pairs = [(cands[i][0], cands[i][1], cands[j][1]) for i, j in zip(ci.tolist(), ri.tolist())]
    ref = V.reference_logprobs(reference, pairs, tok.pad_id)
    want = V.evaluate_pairs(model, pairs, ref, beta=0.1, pad_id=tok.pad_id, tie=0.5)
    logp = torch.tensor([r["logp"] for r in rows])
    ref_logp = torch.tensor([r["ref_logp"] for r in rows])
    got = V.pair_metrics(logp[ci], logp[ri], ref_logp[ci], ref_logp[ri], beta=0.1, tie=0.5)
    assert set(got) == set(want) == {"loss", "reward_margin", "chosen_reward", "rejected_reward", "accuracy"}
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-5), k
    # the accuracy is the stored rewards' ordering, ties half (as the app recounts it)
    reward = torch.tensor([r["reward"] for r in rows])
    assert got["accuracy"] == V.pair_accuracy(reward[ci], reward[ri], tie=0.5)
    assert 0.5 < got["accuracy"] <= 1.0 and got["loss"] < math.log(2)  # trained on these preferences
    # before training (policy = reference) every reward is 0: loss log 2, accuracy 0 (TRL) or ½ (ties half)
    at_ref = V.evaluate_pairs(reference, pairs, ref, beta=0.1, pad_id=tok.pad_id)
    assert at_ref["loss"] == pytest.approx(math.log(2)) and at_ref["accuracy"] == 0.0
    assert V.evaluate_pairs(reference, pairs, ref, beta=0.1, pad_id=tok.pad_id, tie=0.5)["accuracy"] == 0.5
    with pytest.raises(ValueError):
        V.pair_metrics([], [], [], [], beta=0.1)


# ---------------------------------------------------------------------------- any HF causal LM


def test_works_with_a_hub_architecture_with_dropout():
    """GPT-2 (learned positions, nn.Dropout everywhere, dropout 0.1): dropout is off while
    training so step 1 still has policy = reference; dropout settings are restored after."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(vocab_size=30, n_positions=64, n_embd=32, n_layer=1, n_head=2, resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
    )
    _, tok = tiny()
    pairs = V.make_pairs(addition_candidates(tok, 4), 2, 0)
    pad = tok.eos_id  # as HFTokenizer does when a tokenizer has no pad token
    hist = V.train_dpo(model, pairs, beta=0.1, steps=3, lr=1e-2, batch_size=4, pad_id=pad, seed=0)
    assert hist[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.1}
    ex = [(p, c) for p, c, _ in pairs]
    orm = V.OutcomeRewardModel(model)
    V.train_orm(orm, ex, [i % 2 == 0 for i in range(len(ex))], steps=2, lr=1e-3, batch_size=4, pad_id=pad, seed=0, lm_weight=0.1)
    assert V.orm_scores(orm, ex, pad).shape == (len(ex),)
