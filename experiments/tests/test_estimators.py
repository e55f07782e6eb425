"""The k-subset estimators equal brute-force enumeration over all k-subsets."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections import Counter

import numpy as np
import pytest

from starlab.estimators import (
    all_curves,
    best_of_k,
    best_of_k_curve,
    curves_over_questions,
    majority_at_k,
    majority_curve,
    pass_at_k,
    pass_at_k_curve,
)

# --------------------------------------------------------------------------- brute force


def _key(s):
    return -math.inf if s is None or (isinstance(s, float) and math.isnan(s)) else float(s)


def brute_best_of_k(scores, correct, k):
    n = len(scores)
    tot = 0.0
    subsets = list(itertools.combinations(range(n), k))
    for sub in subsets:
        top = max(_key(scores[i]) for i in sub)
        tied = [i for i in sub if _key(scores[i]) == top]
        tot += sum(float(correct[i]) for i in tied) / len(tied)
    return tot / len(subsets)


def brute_majority(answers, correct, k):
    n = len(answers)
    tot = 0.0
    subsets = list(itertools.combinations(range(n), k))
    for sub in subsets:
        counts = Counter(answers[i] for i in sub if answers[i] is not None)
        if not counts:
            continue  # all abstain: incorrect
        m = max(counts.values())
        winners = [a for a, c in counts.items() if c == m]
        val = 0.0
        for a in winners:  # a uniformly random winner, then a uniformly random present member
            members = [i for i in sub if answers[i] == a]
            val += sum(float(correct[i]) for i in members) / len(members)
        tot += val / len(winners)
    return tot / len(subsets)


def brute_pass(n, c, k):
    corr = [1] * c + [0] * (n - c)
    subs = list(itertools.combinations(range(n), k))
    return sum(any(corr[i] for i in s) for s in subs) / len(subs)


def random_case(rng: random.Random, n: int, consistent: bool = True):
    """Scores with many ties (and some None/NaN); answers from a small alphabet with Nones."""
    n_levels = rng.randint(1, n)
    scores = [rng.randint(0, n_levels) / 2 for _ in range(n)]
    for i in range(n):
        r = rng.random()
        if r < 0.08:
            scores[i] = None
        elif r < 0.12:
            scores[i] = float("nan")
    n_answers = rng.randint(1, n)
    gold = 0
    answers = [rng.randint(0, n_answers - 1) if rng.random() > 0.2 else None for _ in range(n)]
    if consistent:
        correct = [a == gold for a in answers]
    else:
        correct = [rng.random() < 0.5 for _ in range(n)]
    return scores, answers, correct


# --------------------------------------------------------------------------- pass@k


def test_pass_at_k_matches_enumeration():
    for n in range(1, 9):
        for c in range(0, n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(brute_pass(n, c, k), abs=1e-12)


def test_pass_at_k_sanity():
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 8) == 1.0  # n − c < k
    assert pass_at_k(200, 1, 200) == 1.0
    # large n: exact integers, no overflow
    assert 0.0 < pass_at_k(2000, 3, 10) < 1.0
    curve = pass_at_k_curve(20, 4, range(1, 21))
    vals = [curve[k] for k in range(1, 21)]
    assert all(a <= b + 1e-15 for a, b in zip(vals, vals[1:]))  # nondecreasing in k
    with pytest.raises(ValueError):
        pass_at_k(5, 2, 6)
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 2, 0)


# --------------------------------------------------------------------------- Best-of-k


def test_best_of_k_no_ties_is_the_paper_formula():
    rng = random.Random(1)
    for _ in range(30):
        n = rng.randint(1, 12)
        scores = rng.sample(range(100), n)
        correct = [rng.random() < 0.4 for _ in range(n)]
        order = sorted(range(n), key=lambda i: -scores[i])
        alpha = [correct[i] for i in order]
        for k in range(1, n + 1):
            paper = sum(math.comb(n - i - 1, k - 1) / math.comb(n, k) * alpha[i] for i in range(n - k + 1))
            assert best_of_k(scores, correct, k) == pytest.approx(paper, abs=1e-12)


def test_best_of_k_equals_brute_force_with_ties():
    rng = random.Random(0)
    for trial in range(250):
        n = rng.randint(1, 9)
        scores, _, correct = random_case(rng, n, consistent=bool(trial % 2))
        curve = best_of_k_curve(scores, correct, range(1, n + 1))
        for k in range(1, n + 1):
            want = brute_best_of_k(scores, correct, k)
            assert best_of_k(scores, correct, k) == pytest.approx(want, abs=1e-12), (scores, correct, k)
            assert curve[k] == pytest.approx(want, abs=1e-12)


def test_best_of_k_fractional_correctness_and_numpy_inputs():
    rng = random.Random(5)
    for _ in range(40):
        n = rng.randint(1, 8)
        scores = np.array([rng.randint(0, 3) for _ in range(n)], dtype=np.float32)
        correct = np.array([rng.random() for _ in range(n)])
        for k in range(1, n + 1):
            assert best_of_k(scores, correct, k) == pytest.approx(brute_best_of_k(list(scores), list(correct), k), abs=1e-12)


def test_best_of_k_edge_cases():
    correct = [1, 0, 0, 1, 0, 1, 0]
    scores = [0.3, 0.9, 0.1, 0.5, 0.9, 0.2, -1.0]
    n = len(scores)
    # k = 1: mean correctness, whatever the scores
    assert best_of_k(scores, correct, 1) == pytest.approx(sum(correct) / n)
    # k = N: the top-scored candidate, uniform among a tie at the top (two wrong at 0.9)
    assert best_of_k(scores, correct, n) == 0.0
    assert best_of_k([1, 1, 0], [1, 0, 1], 3) == pytest.approx(0.5)
    # constant scores: every k gives the mean correctness (pure tie-breaking)
    for k in range(1, n + 1):
        assert best_of_k([0.0] * n, correct, k) == pytest.approx(sum(correct) / n)
    # a perfect verifier gives pass@k; a score that ties all correct ones at the top too
    perfect = [10 + i if c else i for i, c in enumerate(correct)]
    for k in range(1, n + 1):
        assert best_of_k(perfect, correct, k) == pytest.approx(pass_at_k(n, sum(correct), k))
        assert best_of_k([float(c) for c in correct], correct, k) == pytest.approx(pass_at_k(n, sum(correct), k))
    # an anti-verifier (correct ones ranked last) gives 1 − pass@k of the wrong ones
    anti = [-s for s in perfect]
    for k in range(1, n + 1):
        assert best_of_k(anti, correct, k) == pytest.approx(1 - pass_at_k(n, n - sum(correct), k))
    # None / NaN scores rank last and tie together
    assert best_of_k([None, float("nan"), 0.0], [1, 1, 0], 3) == 0.0
    assert best_of_k([None, float("nan")], [1, 0], 2) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        best_of_k(scores, correct, n + 1)
    with pytest.raises(ValueError):
        best_of_k(scores, correct[:-1], 1)


def test_best_of_k_never_exceeds_pass_at_k():
    rng = random.Random(3)
    for _ in range(100):
        n = rng.randint(1, 20)
        scores = [rng.randint(0, 4) for _ in range(n)]
        correct = [rng.random() < 0.3 for _ in range(n)]
        for k in range(1, n + 1):
            assert best_of_k(scores, correct, k) <= pass_at_k(n, sum(correct), k) + 1e-12


# --------------------------------------------------------------------------- majority vote


def test_majority_equals_brute_force():
    rng = random.Random(0)
    for trial in range(250):
        n = rng.randint(1, 9)
        _, answers, correct = random_case(rng, n, consistent=trial % 3 != 0)
        curve = majority_curve(answers, correct, range(1, n + 1))
        for k in range(1, n + 1):
            want = brute_majority(answers, correct, k)
            assert majority_at_k(answers, correct, k) == pytest.approx(want, abs=1e-12), (answers, correct, k)
            assert curve[k] == pytest.approx(want, abs=1e-12)


def test_majority_string_answers_and_all_none():
    answers = ["42", "41", "42", None, "7", "41", None, "42"]
    correct = [a == "42" for a in answers]
    for k in range(1, len(answers) + 1):
        assert majority_at_k(answers, correct, k) == pytest.approx(brute_majority(answers, correct, k), abs=1e-12)
    assert majority_at_k([None, None, None], [False] * 3, 2) == 0.0
    # an all-None subset is incorrect even if the candidates were (oddly) marked correct
    assert majority_at_k([None, None], [True, True], 1) == 0.0


def test_majority_edge_cases():
    answers = ["a", "b", "a", None, "c", "a", "b"]
    correct = [a == "a" for a in answers]
    n = len(answers)
    # k = 1: the single candidate's correctness (None abstains → incorrect) = mean correctness
    assert majority_at_k(answers, correct, 1) == pytest.approx(sum(correct) / n)
    # k = N: the full-pool majority ("a" has 3 of 6 votes)
    assert majority_at_k(answers, correct, n) == 1.0
    # a tie at k = N is broken uniformly: a, b two each → 1/2
    assert majority_at_k(["a", "b", "a", "b"], [1, 0, 1, 0], 4) == pytest.approx(0.5)
    # k = 2 with two different answers: a coin flip between them
    assert majority_at_k(["x", "y"], [1, 0], 2) == pytest.approx(0.5)
    # all the same answer: every k gives its correctness
    for k in range(1, 6):
        assert majority_at_k(["z"] * 5, [1] * 5, k) == 1.0
    with pytest.raises(ValueError):
        majority_at_k(answers, correct, 0)
    with pytest.raises(ValueError):
        majority_at_k(answers, correct, n + 1)


def test_majority_bounded_by_pass_at_k_and_converges():
    rng = random.Random(7)
    for _ in range(40):
        n = rng.randint(2, 30)
        answers = [rng.choice("abcd") if rng.random() > 0.1 else None for _ in range(n)]
        correct = [a == "a" for a in answers]
        curve = majority_curve(answers, correct, range(1, n + 1))
        for k in range(1, n + 1):
            assert -1e-12 <= curve[k] <= pass_at_k(n, sum(correct), k) + 1e-12
    # when the correct answer is a strict plurality of the pool, majority@k → 1 at k = N and
    # grows with k (for this clear-majority pool)
    answers = ["a"] * 10 + ["b"] * 4 + ["c"] * 3 + [None] * 3
    correct = [a == "a" for a in answers]
    curve = majority_curve(answers, correct, range(1, 21))
    vals = list(curve.values())
    assert all(a < b for a, b in zip(vals[:14], vals[1:15]))
    assert curve[1] == 0.5 and curve[15] == curve[20] == 1.0  # 15 picks always include ≥ 5 "a"


def test_majority_is_fast_for_n64():
    rng = random.Random(11)
    cases = [
        [f"x{i}" for i in range(64)],  # 64 distinct answers
        [rng.choice(["1", "2", "3", None]) for _ in range(64)],  # few answers
        [f"{rng.randint(0, 20)}" if rng.random() > 0.1 else None for _ in range(64)],
        ["a"] * 64,
    ]
    for answers in cases:
        correct = [a == "1" or a == "x0" or a == "a" for a in answers]
        t0 = time.perf_counter()
        curve = majority_curve(answers, correct, range(1, 65))
        assert time.perf_counter() - t0 < 3.0
        assert all(0.0 <= v <= 1.0 + 1e-12 for v in curve.values())
    # 64 distinct answers: every vote is a uniform tie → always mean correctness
    curve = majority_curve([f"x{i}" for i in range(64)], [i == 0 for i in range(64)], range(1, 65))
    for _k, v in curve.items():
        assert v == pytest.approx(1 / 64, abs=1e-12)


# --------------------------------------------------------------------------- over questions


def test_curves_over_questions():
    rng = random.Random(2)
    questions = []
    for _ in range(5):
        n = 6
        _, answers, correct = random_case(rng, n)
        questions.append([{"answer": a, "correct": c, "logp": rng.random(), "reward": rng.randint(0, 2)} for a, c in zip(answers, correct)])
    ks = [1, 2, 4, 6]
    bok = curves_over_questions(questions, ks, score_key="reward")
    maj = curves_over_questions(questions, ks, method="majority")
    pas = curves_over_questions(questions, ks, method="pass@k")
    fn = curves_over_questions(questions, ks, score_key=lambda c: c["reward"])
    for k in ks:
        assert bok[k] == pytest.approx(
            np.mean([brute_best_of_k([c["reward"] for c in q], [c["correct"] for c in q], k) for q in questions]), abs=1e-12
        )
        assert maj[k] == pytest.approx(
            np.mean([brute_majority([c["answer"] for c in q], [c["correct"] for c in q], k) for q in questions]), abs=1e-12
        )
        assert pas[k] == pytest.approx(np.mean([pass_at_k(6, sum(c["correct"] for c in q), k) for q in questions]))
        assert fn[k] == bok[k]
    allc = all_curves(questions, ks, score_keys=["logp", "reward"])
    assert set(allc) == {"pass@k", "majority", "best_of_k:logp", "best_of_k:reward"}
    assert allc["majority"] == maj and allc["best_of_k:reward"] == bok
    with pytest.raises(ValueError):
        curves_over_questions(questions, [7])
    with pytest.raises(ValueError):
        curves_over_questions([], [1])
    with pytest.raises(ValueError):
        curves_over_questions(questions, [1], method="nope")
