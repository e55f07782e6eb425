"""The pair-sum task (tasks/pair_sum.py): questions with exactly one pair summing to the target,
deterministic disjoint splits, answer extraction, sequence lengths, and every STaR-family loop
launching on it."""

from __future__ import annotations

import copy

import pytest

from starlab.config import preset_config, validate_config
from starlab.tasks import get_task
from starlab.tasks import pair_sum as P

TINY = {"min_numbers": 5, "max_numbers": 7, "digits": 1, "train_per_length": 30, "eval_per_length": 10, "few_shot": False}


def splits(seed=0, digits=1, **kw):
    args = (
        dict(
            seed=seed,
            min_numbers=5,
            max_numbers=7,
            train_per_length=30,
            eval_per_length=10,
            digits=digits,
            warmup_examples=40,
            hinted_fraction=0.25,
        )
        | kw
    )
    return P.make_splits(**args)


@pytest.mark.parametrize("digits", [1, 2])
def test_every_question_has_exactly_one_pair_and_distinct_numbers(digits):
    s = splits(digits=digits, min_numbers=6, max_numbers=8) if digits == 2 else splits()
    lo, hi = P.value_range(digits)
    qs = s.train + s.eval + [q for q, _ in s.warmup]
    for q in qs:
        assert len(set(q.numbers)) == len(q.numbers)
        assert all(lo <= x <= hi for x in q.numbers)
        assert P.pair_sums(q.numbers, q.target) == [(q.i, q.j)]
        a, b = q.pair
        assert a + b == q.target and q.gold == f"{min(a, b)}+{max(a, b)}"
    lengths = range(6, 9) if digits == 2 else range(5, 8)
    assert sorted({len(q.numbers) for q in s.eval}) == list(lengths)
    assert all(sum(len(q.numbers) == n for q in s.eval) == 10 for n in lengths)


def test_splits_are_deterministic_disjoint_and_hinted_as_asked():
    a, b, c = splits(seed=3), splits(seed=3), splits(seed=4)
    assert a.hash == b.hash and [q.numbers for q in a.train] == [q.numbers for q in b.train]
    assert a.hash != c.hash and [q.numbers for q in a.eval] != [q.numbers for q in c.eval]
    key = lambda q: (q.numbers, q.target)  # noqa: E731
    held = {key(q) for q in a.eval}
    assert not held & {key(q) for q in a.train}
    assert not held & {
        key(
            q,
        )
        for q, _ in a.warmup
    }
    assert len({key(q) for q in a.train}) == len(a.train)
    assert sum(h for _, h in a.warmup) == 10 and len(a.warmup) == 40
    assert splits(seed=3, digits=2, min_numbers=6, max_numbers=8).hash != a.hash


def test_prompts_completions_and_answers():
    t = get_task("pair-sum")
    q = t.example_question()
    assert t.prompt(q) == "41 27 63 15 58 32|78:"
    assert t.prompt(q, hint=True) == "41 27 63 15 58 32|78(63+15):"
    assert t.reference(q) == "63+15=78" and q.gold == "15+63"
    assert t.training_text(q, t.reference(q)) == "41 27 63 15 58 32|78:63+15=78"
    # the answer is the pair, in either order; the written sum is rationale
    for text, ok in [
        ("63+15=78", True),
        ("15+63=78\nmore", True),
        (" 15+63=79 ", True),
        ("41+27=78", False),
        ("63+15", None),
        ("63+15=", None),
        ("x63+15=78", None),
        ("63+15=78(", None),
    ]:
        ans = t.extract_answer(t.clean_completion(text), q)
        if ok is None:
            assert ans is None, text
        else:
            assert t.is_correct(ans, q.gold) is ok, text
    assert t.extract_answer("07+3=10") == "3+7"
    assert t.leaks_hint(q, "(63+15)") and not t.leaks_hint(q, "63+15=78")
    assert set(t.prompt(q, hint=True) + t.reference(q)) <= set(t.alphabet)
    assert t.difficulty(q) == 6 and t.difficulty_name == "numbers"
    rec = t.question_record(q)
    assert rec["gold"] == "15+63" and rec["numbers"] == [41, 27, 63, 15, 58, 32] and rec["difficulty"] == 6
    assert t.prompt_spec(q)["reference"] == "63+15=78"


@pytest.mark.parametrize("digits,n", [(1, 7), (2, 8), (3, 5)])
def test_max_lengths_are_the_longest_sequences(digits, n):
    top = 10**digits - 1
    q = P.Question("x", tuple([top] * n), 2 * top, 0, 1)
    longest = 1 + len(P.prompt(q, hint=True)) + len(P.reference(q)) + 1
    assert P.max_sequence_length(n, digits) == longest == n * (digits + 1) + 6 * digits + 10  # the zod rule's formula
    assert P.max_completion_length(digits) == len(P.reference(q)) + 1 == 3 * digits + 4
    # and no real question is longer
    s = splits(digits=digits, min_numbers=n, max_numbers=n, train_per_length=5, eval_per_length=5) if digits < 3 else None
    for qq in s.train + s.eval if s else []:
        assert 1 + len(P.prompt(qq, hint=True)) + len(P.reference(qq)) + 1 <= longest


def test_presets_validate_and_the_sequence_rules_refuse_short_models():
    for variant in ("star", "star-norat", "v-star", "quiet-star"):
        for preset in ("tiny", "paper"):
            cfg = preset_config(variant, "pair-sum", preset)
            assert validate_config(cfg)[1] == [], (variant, preset)
    cfg = preset_config("v-star", "pair-sum", "tiny")
    short = copy.deepcopy(cfg)
    short["model"]["max_len"] = P.max_sequence_length(cfg["task"]["max_numbers"], cfg["task"]["digits"]) - 1
    assert [e["field"] for e in validate_config(short)[1]] == ["model.max_len"]
    few = copy.deepcopy(cfg)
    few["loop"]["max_new_tokens"] = P.max_completion_length(cfg["task"]["digits"]) - 1
    assert [e["field"] for e in validate_config(few)[1]] == ["loop.max_new_tokens"]
    bad = copy.deepcopy(cfg)
    bad["task"]["min_numbers"] = 8
    assert [e["field"] for e in validate_config(bad)[1]] == ["task.max_numbers"]


def test_few_shot_prefix_follows_the_run():
    t = get_task("pair-sum")
    cfg = preset_config("star", "pair-sum", "tiny")
    t.load(cfg, 0)
    lines = t.few_shot_prefix(0).strip().split("\n")
    assert len(lines) == 4
    for line in lines:
        nums = line.split("|")[0].split()
        assert 5 <= len(nums) <= 7 and all(len(x) == 1 for x in nums)
    assert "(" in t.few_shot_prefix(0, hint=True) and "(" not in t.few_shot_prefix(0)


def _micro(variant):
    cfg = preset_config(variant, "pair-sum", "tiny")
    cfg["model"].update({"n_layer": 1, "n_embd": 16, "n_head": 2})
    cfg["task"].update({"train_per_length": 4, "eval_per_length": 2})
    cfg["warmup"].update({"examples": 12, "steps": 4, "batch_size": 4})
    cfg["runtime"]["threads"] = 1
    if "loop" in cfg:
        cfg["loop"].update(
            {"iterations": 1, "base_steps": 2, "batch_size": 4, "max_new_tokens": 8, "epochs": 0.5}
            if variant == "v-star"
            else {"iterations": 1, "base_steps": 2, "batch_size": 4, "max_new_tokens": 8}
        )
    if "verifier" in cfg:
        cfg["verifier"].update({"steps": 2, "orm_steps": 2, "batch_size": 4, "candidates": 3})
    if "quiet" in cfg:
        cfg["quiet"].update({"steps": 2, "batch_size": 2, "eval_every": 2, "max_new_tokens": 8})
    assert validate_config(cfg)[1] == [], variant
    return cfg


@pytest.mark.parametrize("variant", ["star", "star-norat", "v-star"])
def test_the_star_loops_run_on_pair_sum(tmp_path, variant):
    from starlab.events import EventWriter
    from starlab.variants import star, vstar

    cfg = _micro(variant)
    w = EventWriter(tmp_path / "events.jsonl", heartbeat_s=None)
    try:
        run = vstar.run if variant == "v-star" else star.run
        results = run(cfg, w, run_dir=str(tmp_path), emit_run_start=False)
    finally:
        w.close()
    assert [r.iteration for r in results][-1] == 1
    assert set(results[-1].by_difficulty) <= {5, 6, 7}
