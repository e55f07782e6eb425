"""The addition task: formats, hint, answer extraction, data splits."""

from __future__ import annotations

import pytest

from starlab.tasks import addition as A
from starlab.tasks.addition import Question


def q(a, b, d=None):
    return Question("q", a, b, d or max(len(str(a)), len(str(b))))


def test_prompt_rationale_and_hint_format():
    x = q(473, 289)
    assert A.prompt(x) == "374+982:"
    assert A.prompt(x, hint=True) == "374+982(267):"
    assert A.rationale(x) == "3902;7816;4217;=267"
    assert A.rationale(q(5, 7)) == "5702;=21"  # final carry adds a digit
    assert A.rationale(q(0, 0)) == "0000;=0"
    assert A.rationale(q(999, 1, 3)) == "9100;9010;9010;=0001"  # (a, b, carry in, digit out)
    assert x.gold == "762" and q(5, 7).gold == "12"


@pytest.mark.parametrize("a,b", [(0, 0), (9, 9), (10, 90), (473, 289), (999, 999), (12345, 67890)])
def test_reference_rationale_extracts_to_gold(a, b):
    x = q(a, b)
    assert A.extract_answer(A.rationale(x)) == x.gold
    assert A.is_correct(A.extract_answer(A.rationale(x)), x.gold)


@pytest.mark.parametrize(
    "completion,expected",
    [
        ("3902;7816;4217;=267", "762"),
        ("=267", "762"),
        ("=2670", "762"),  # leading zeros of the (reversed) answer are ignored
        ("=0", "0"),
        (" 12;=21 ", "12"),
        ("1;=21\nQ: more text", "12"),  # one line only
        ("3902;=2;=21", "12"),  # the last '=' counts
        ("3902;7816", None),  # no answer
        ("=", None),
        ("=26a", None),  # the answer must end the completion
        ("=267;", None),
        ("", None),
    ],
)
def test_extract_answer(completion, expected):
    assert A.extract_answer(completion) == expected


def test_is_correct():
    assert A.is_correct("762", "762")
    assert not A.is_correct("761", "762")
    assert not A.is_correct(None, "0")


def test_training_text_never_contains_the_hint():
    x = q(473, 289)
    text = A.training_text(x, "3902;7816;4217;=267")
    assert text == "374+982:3902;7816;4217;=267"
    assert "(" not in text and A.question_text(x) == A.prompt(x, hint=False)


def test_lengths_cover_the_longest_sequence():
    for d in (1, 3, 5):
        x = q(10**d - 1, 10**d - 1)
        assert A.max_sequence_length(d) == 1 + len(A.prompt(x, hint=True)) + len(A.rationale(x)) + 1
        assert A.max_completion_length(d) == len(A.rationale(x)) + 1


def test_splits_are_deterministic_disjoint_and_sized():
    kw = dict(
        min_digits=1, max_digits=3, train_per_digit=80, eval_per_digit=40, warmup_examples=90, warmup_max_digits=2, hinted_fraction=0.5
    )
    s1, s2 = A.make_splits(seed=7, **kw), A.make_splits(seed=7, **kw)
    assert s1.data_hash() == s2.data_hash() and s1.train == s2.train
    assert A.make_splits(seed=8, **kw).data_hash() != s1.data_hash()
    eval_pairs = {(x.a, x.b) for x in s1.eval}
    assert len(eval_pairs) == len(s1.eval) == 120
    assert not eval_pairs & {(x.a, x.b) for x in s1.train}
    assert not eval_pairs & {(x.a, x.b) for x, _ in s1.warmup}
    # 1-digit sums: 100 pairs, 40 held out, so the train split gets the other 60
    assert sum(x.digits == 1 for x in s1.train) == 60
    assert sum(x.digits == 3 for x in s1.train) == 80
    for x in s1.train + s1.eval:
        assert len(str(x.a)) == len(str(x.b)) == x.digits
    assert len(s1.warmup) == 90 and sum(h for _, h in s1.warmup) == 45
    assert {x.digits for x, _ in s1.warmup} == {1, 2}
    assert len({x.qid for x in s1.train + s1.eval}) == len(s1.train) + len(s1.eval)
