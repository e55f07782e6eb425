"""Unbiased k-subset estimators over a pool of N sampled candidates per question
(V-STaR §3.2; Chen et al. 2021 for pass@k). Pure Python + numpy, no torch.

Every estimator here is the *exact* expectation, over a uniformly random k-subset of the
N candidates (without replacement), of a quantity computed on the subset:

- ``pass_at_k``     — P(at least one correct candidate in the subset).
- ``best_of_k``     — correctness of the subset's highest-scored candidate; ties in score are
                      broken uniformly at random among the tied candidates *in the subset*.
- ``majority_at_k`` — correctness of the subset's most frequent final answer; ``None`` answers
                      (unparseable) abstain; ties between answers are broken uniformly at random;
                      a subset of only ``None`` answers counts as incorrect.

Correctness values may be 0/1 (bool) or fractional in [0, 1] (e.g. the fraction of unit tests
passed); every formula is linear in them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

# majority_at_k works in float64 with unnormalised subset counts (≤ C(N, k)); C(1020, 510)
# is ~1e306, so beyond this the counts would overflow.
MAJORITY_MAX_N = 1000


def _check_k(n: int, k: int) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if n < 1:
        raise ValueError("no candidates")
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..N (N = {n}), got {k}")


# ---------------------------------------------------------------------------- pass@k


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 − C(n−c, k)/C(n, k), with n samples of which c
    are correct. Exact integer binomials, so it is correct for any n."""
    _check_k(n, k)
    if not 0 <= c <= n:
        raise ValueError(f"c must be in 0..n, got c={c}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_at_k_curve(n: int, c: int, ks: Iterable[int]) -> dict[int, float]:
    return {int(k): pass_at_k(n, c, int(k)) for k in ks}


# ---------------------------------------------------------------------------- Best-of-k


def _score_key(s: Any) -> float:
    """None / NaN scores rank below every real score (and tie among themselves)."""
    if s is None:
        return -math.inf
    f = float(s)
    return -math.inf if math.isnan(f) else f


def _tie_groups(scores: Sequence[Any], correct: Sequence[Any]) -> list[tuple[int, float]]:
    """(group size, summed correctness) for each group of equal score, best score first."""
    if len(scores) != len(correct):
        raise ValueError(f"scores ({len(scores)}) and correct ({len(correct)}) differ in length")
    keyed = sorted(((_score_key(s), float(a)) for s, a in zip(scores, correct)), key=lambda t: -t[0])
    groups: list[tuple[int, float]] = []
    prev = None
    for key, a in keyed:
        if groups and key == prev:
            g, c = groups[-1]
            groups[-1] = (g + 1, c + a)
        else:
            groups.append((1, a))
        prev = key
    return groups


def _best_of_k_groups(groups: list[tuple[int, float]], n: int, k: int) -> float:
    # Group j (size g_j, summed correctness c_j, A_j candidates in better groups) supplies the
    # pick iff the subset has no candidate from a better group and ≥ 1 from group j:
    #     P_j = [C(N − A_j, k) − C(N − A_j − g_j, k)] / C(N, k).
    # Given that, and given how many of group j are in the subset, those members are a uniform
    # random subset of group j, and the pick is uniform among them, so the pick is a uniform
    # random member of group j: E[correct | j] = c_j / g_j.  Without ties (g_j = 1, A_j = i)
    # P_j = C(N − i − 1, k − 1)/C(N, k), the usual formula.
    total = math.comb(n, k)
    above = 0
    acc = 0.0
    for g, c in groups:
        rest = n - above
        ways = math.comb(rest, k) - math.comb(rest - g, k)  # math.comb(m, k) = 0 for m < k
        if ways == 0:  # rest < k: this and every worse group can never supply the pick
            break
        if c:
            acc += float(Fraction(ways, total) * Fraction(c) / g)
        above += g
    return acc


def best_of_k(scores: Sequence[Any], correct: Sequence[Any], k: int) -> float:
    """Expected correctness of the highest-scoring candidate of a uniformly random k-subset
    of the N candidates; ties in score broken uniformly at random (exactly, not by sampling).
    Higher score = better; None/NaN scores rank last. O(N log N)."""
    n = len(scores)
    _check_k(n, k)
    return _best_of_k_groups(_tie_groups(scores, correct), n, int(k))


def best_of_k_curve(scores: Sequence[Any], correct: Sequence[Any], ks: Iterable[int]) -> dict[int, float]:
    n = len(scores)
    groups = _tie_groups(scores, correct)
    out = {}
    for k in ks:
        _check_k(n, k)
        out[int(k)] = _best_of_k_groups(groups, n, int(k))
    return out


# ---------------------------------------------------------------------------- majority vote


def _answer_groups(answers: Sequence[Hashable | None], correct: Sequence[Any]) -> tuple[list[int], list[float], int]:
    """(sizes, mean correctness, number of None answers) of the answer groups."""
    if len(answers) != len(correct):
        raise ValueError(f"answers ({len(answers)}) and correct ({len(correct)}) differ in length")
    size: dict[Hashable, int] = {}
    csum: dict[Hashable, float] = {}
    n_none = 0
    for a, c in zip(answers, correct):
        if a is None:
            n_none += 1
            continue
        size[a] = size.get(a, 0) + 1
        csum[a] = csum.get(a, 0.0) + float(c)
    keys = list(size)
    return [size[a] for a in keys], [csum[a] / size[a] for a in keys], n_none


def _majority_sums(sizes: list[int], values: list[float], n: int, kmax: int) -> np.ndarray:
    """S[k] for k = 0..kmax: the sum, over all k-subsets, of the expected correctness of the
    majority vote (uniform tie-break). Divide by C(N, k) for the expectation.

    Algorithm: split by the winning count t = max over answer groups of the group's count in
    the subset (t = 1..min(kmax, largest group)). For fixed t, only the groups of size ≥ t (at
    most N/t of them) can reach t; the others and the None answers form a "free pool" of size
    F whose members may be chosen freely: C(F, j) ways for j of them. A DP over the active
    groups tracks (x = items chosen so far, r = number of groups with exactly t) with two
    tables: P = number of ways, Q = Σ over those ways of the summed value of the groups at t.
    Each active group contributes C(g, s) ways for s < t (P, Q shifted by s in x) or C(g, t)
    ways at s = t (x += t, r += 1, Q gains v·P). A subset whose maximum count is t with r
    tied groups contributes (Σ v of the tied groups)/r, i.e. Σ_{r≥1} Q[x, r]/r, convolved with
    the pool's binomial row to reach x = k. Every subset with a non-None answer is counted at
    exactly one t; all-None subsets contribute 0.

    Complexity: for each t, (#groups with size ≥ t)·(t+1) ≤ N + N/t vectorised updates of
    (kmax+1)×(kmax/t+1) arrays: O(N·kmax) numpy ops and O(N·kmax²·log kmax) flops overall —
    a few ms to tens of ms for N = 64 with up to 64 distinct answers. Memory O(kmax²).
    Floats: the counts are ≤ C(N, k), exact enough in float64 for N ≤ MAJORITY_MAX_N.
    """
    S = np.zeros(kmax + 1)
    if not sizes:
        return S
    gmax = max(sizes)
    for t in range(1, min(kmax, gmax) + 1):
        active = [(g, v) for g, v in zip(sizes, values) if g >= t]
        free = n - sum(g for g, _ in active)
        R = kmax // t
        P = np.zeros((kmax + 1, R + 1))
        Q = np.zeros((kmax + 1, R + 1))
        P[0, 0] = 1.0
        for g, v in active:
            nP = np.zeros_like(P)
            nQ = np.zeros_like(Q)
            for s in range(0, min(t - 1, kmax) + 1):
                c = float(math.comb(g, s))
                nP[s:] += c * P[: kmax + 1 - s]
                nQ[s:] += c * Q[: kmax + 1 - s]
            if t <= kmax:
                c = float(math.comb(g, t))
                nP[t:, 1:] += c * P[: kmax + 1 - t, :-1]
                nQ[t:, 1:] += c * (Q[: kmax + 1 - t, :-1] + v * P[: kmax + 1 - t, :-1])
            P, Q = nP, nQ
        W = (Q[:, 1:] / np.arange(1, R + 1)).sum(axis=1)  # length kmax+1
        pool = np.array([float(math.comb(free, j)) for j in range(kmax + 1)])
        S += np.convolve(W, pool)[: kmax + 1]
    return S


def majority_curve(answers: Sequence[Hashable | None], correct: Sequence[Any], ks: Iterable[int]) -> dict[int, float]:
    """majority_at_k for several k at the cost of one (the DP is shared across k)."""
    ks = [int(k) for k in ks]
    n = len(answers)
    for k in ks:
        _check_k(n, k)
    if n > MAJORITY_MAX_N:
        raise ValueError(f"majority_at_k supports N ≤ {MAJORITY_MAX_N} candidates (float64 counts), got {n}")
    if not ks:
        return {}
    sizes, values, _ = _answer_groups(answers, correct)
    S = _majority_sums(sizes, values, n, max(ks))
    return {k: float(S[k] / math.comb(n, k)) for k in ks}


def majority_at_k(answers: Sequence[Hashable | None], correct: Sequence[Any], k: int) -> float:
    """Expected correctness of the majority vote over a uniformly random k-subset, exactly.

    ``answers[i]`` is candidate i's final answer (any hashable; ``None`` = unparseable:
    abstains, never wins; an all-None subset is incorrect). Ties between answers are broken
    uniformly at random. ``correct[i]`` is candidate i's correctness; normally equal within an
    answer group. If not, the vote is taken to return a uniformly random member of the winning
    group among those in the subset, whose expected correctness is the group mean.
    """
    return majority_curve(answers, correct, [k])[int(k)]


# ---------------------------------------------------------------------------- over questions

Candidate = Mapping[str, Any]
ScoreKey = str | Callable[[Candidate], Any]


def _get(c: Candidate, key: ScoreKey) -> Any:
    return key(c) if callable(key) else c[key]


def question_curve(
    candidates: Sequence[Candidate],
    ks: Sequence[int],
    *,
    method: str = "best_of_k",
    score_key: ScoreKey = "score",
    answer_key: str = "answer",
    correct_key: str = "correct",
) -> dict[int, float]:
    """One question's curve. ``method``: "best_of_k" (by ``score_key``, a key or a function of
    the candidate dict), "majority" (by ``answer_key``) or "pass@k"."""
    corr = [float(c[correct_key]) for c in candidates]
    if method == "best_of_k":
        return best_of_k_curve([_get(c, score_key) for c in candidates], corr, ks)
    if method == "majority":
        return majority_curve([c[answer_key] for c in candidates], corr, ks)
    if method in ("pass@k", "pass_at_k"):
        if any(x not in (0.0, 1.0) for x in corr):
            raise ValueError("pass@k needs 0/1 correctness")
        n, c = len(corr), int(sum(corr))
        return {int(k): pass_at_k(n, c, int(k)) for k in ks}
    raise ValueError(f"unknown method {method!r} (best_of_k, majority, pass@k)")


def curves_over_questions(
    per_question_candidates: Iterable[Sequence[Candidate]],
    ks: Iterable[int],
    *,
    method: str = "best_of_k",
    score_key: ScoreKey = "score",
    answer_key: str = "answer",
    correct_key: str = "correct",
) -> dict[int, float]:
    """{k: mean over questions of the per-question estimate}. Each question is a sequence of
    candidate dicts (e.g. {"answer": "42", "correct": True, "logp": -3.1, "reward": 0.4}).
    Every question must have at least max(ks) candidates (ValueError otherwise): dropping the
    short ones would bias the mean."""
    ks = sorted({int(k) for k in ks})
    sums = {k: 0.0 for k in ks}
    nq = 0
    for i, cands in enumerate(per_question_candidates):
        if ks and len(cands) < ks[-1]:
            raise ValueError(f"question {i} has {len(cands)} candidates, fewer than k = {ks[-1]}")
        curve = question_curve(cands, ks, method=method, score_key=score_key, answer_key=answer_key, correct_key=correct_key)
        for k in ks:
            sums[k] += curve[k]
        nq += 1
    if nq == 0:
        raise ValueError("no questions")
    return {k: sums[k] / nq for k in ks}


def all_curves(
    per_question_candidates: Sequence[Sequence[Candidate]],
    ks: Iterable[int],
    *,
    score_keys: Sequence[str] = (),
    majority: bool = True,
    answer_key: str = "answer",
    correct_key: str = "correct",
) -> dict[str, dict[int, float]]:
    """pass@k, majority@k and Best-of-k for each score key, as
    {"pass@k": {k: v}, "majority": {...}, "best_of_k:<key>": {...}}."""
    qs = list(per_question_candidates)
    ks = list(ks)
    out = {"pass@k": curves_over_questions(qs, ks, method="pass@k", correct_key=correct_key)}
    if majority:
        out["majority"] = curves_over_questions(qs, ks, method="majority", answer_key=answer_key, correct_key=correct_key)
    for key in score_keys:
        out[f"best_of_k:{key}"] = curves_over_questions(qs, ks, method="best_of_k", score_key=key, correct_key=correct_key)
    return out
