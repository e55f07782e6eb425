"""GSM8K and CommonsenseQA behind the Task interface: loading the real files (read by path from
../shared/datasets, never copied into the project), prompt formats, hints, answer extraction,
malformed files, selection/hash, path resolution and import_dataset."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import pytest

from starlab.tasks import DataError, data_files, get_task
from starlab.tasks import commonsenseqa as cqa_mod
from starlab.tasks import gsm8k as gsm_mod
from starlab.tasks.commonsenseqa import CommonsenseQATask, CQAQuestion, parse_prompt_block
from starlab.tasks.data_files import import_dataset, split_exemplars
from starlab.tasks.gsm8k import GSM8KTask, normalize_number

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"
GSM_DIR = SHARED / "gsm8k"
CQA_DIR = SHARED / "commonsenseqa"
STAR_PROMPTS = SHARED / "star-prompts"

# Tests that read the real files carry needs_datasets (conftest.py skips and counts them where
# ../shared/datasets is absent); the rest need only a temporary folder and always run.
needs_datasets = pytest.mark.needs_datasets


def cfg(path="", train_limit=0, eval_limit=0, examples=0, hinted_fraction=0.0, seed=0):
    return {
        "seed": seed,
        "task": {"path": str(path), "train_limit": train_limit, "eval_limit": eval_limit, "few_shot": False},
        "warmup": {"examples": examples, "hinted_fraction": hinted_fraction, "steps": 0, "lr": 1e-3, "batch_size": 4},
    }


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No dataset place of the developer's machine (or the hub) leaks into a test."""
    for var in ("STARLAB_DATASETS_DIR", "STARLAB_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def gsm():
    t = GSM8KTask()
    return t, t.load(cfg(GSM_DIR), 0)


@pytest.fixture(scope="module")
def cqa():
    t = CommonsenseQATask()
    return t, t.load(cfg(CQA_DIR), 0)


def by_qid(qs):
    return {q.qid: q for q in qs}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def paper_blocks(name: str) -> list[tuple[str, str]]:
    return split_exemplars((STAR_PROMPTS / name).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------- loading real rows
def test_get_task_names_and_versions():
    g, c = get_task("gsm8k"), get_task("commonsenseqa")
    assert isinstance(g, GSM8KTask) and isinstance(c, CommonsenseQATask)
    assert (g.format_version, g.extractor_version) == ("gsm8k-star-v1", "gsm8k-extract-v1")
    assert (c.format_version, c.extractor_version) == ("commonsenseqa-star-v1", "commonsenseqa-extract-v1")
    for t in (g, c):
        assert t.stop_strings == ("\n\n", "\nQ:")
        assert t.alphabet == "".join(chr(i) for i in range(32, 127)) + "\n"


@needs_datasets
def test_gsm8k_real_rows(gsm):
    t, s = gsm
    assert (len(s.train), len(s.eval)) == (7473, 1319)
    q = by_qid(s.train)["train-00000"]
    assert q.gold == "72" and t.difficulty(q) == 2
    assert t.prompt(q) == (
        "Q: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
        "in May. How many clips did Natalia sell altogether in April and May?\nA:"
    )
    assert t.prompt(q, hint=True) == t.prompt(q)[:-3] + " (72)\nA:"
    assert t.reference(q) == (" Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n#### 72")
    # the eval split is test.jsonl; curly quotes folded to ASCII, annotations stripped
    e = by_qid(s.eval)["test-00000"]
    assert t.prompt(e).startswith("Q: Janet's ducks lay 16 eggs per day.") and t.prompt(e).endswith("farmers' market?\nA:")
    assert t.reference(e) == (
        " Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at the farmer's market.\n#### 18"
    )
    # a thousands comma in the gold: normalised; a unicode minus in a solution: ASCII
    assert by_qid(s.train)["train-02583"].gold == "1200"
    assert t.reference(by_qid(s.train)["train-00020"]).splitlines()[1] == "The number of rose stamps is 20 - 13 = 7."
    refs = [t.reference(q) for q in s.train + s.eval]
    assert not any("<<" in r or ">>" in r or "\n\n" in r for r in refs)
    assert all(t.extract_answer(t.reference(q)) == q.gold for q in s.train + s.eval)
    assert all(t.difficulty(q) >= 1 for q in s.train)
    rec = t.question_record(q)
    assert rec["qid"] == "train-00000" and rec["gold"] == "72" and rec["difficulty"] == 2 and "Natalia" in rec["question"]
    json.dumps(rec)


@needs_datasets
def test_commonsenseqa_real_rows(cqa):
    t, s = cqa
    assert (len(s.train), len(s.eval)) == (9741, 1221)
    e = by_qid(s.eval)["1afa02df02c908a558b4036e80242fac"]
    assert t.prompt(e) == (
        "Q: A revolving door is convenient for two direction travel, but it also serves as a security "
        "measure at a what?\nAnswer Choices:\n(a) bank\n(b) library\n(c) department store\n(d) mall\n"
        "(e) new york\nA:"
    )
    assert t.prompt(e, hint=True) == t.prompt(e).replace("(a) bank\n", "(a) bank (CORRECT)\n")
    assert e.gold == "a" and t.difficulty(e) is None
    assert t.reference(e) == " Therefore, the answer is bank (a)."
    assert all(t.extract_answer(t.reference(q), q) == q.gold for q in s.train + s.eval)
    rec = t.question_record(e)
    assert rec["choices"][0] == {"label": "a", "text": "bank"} and rec["gold"] == "a" and rec["difficulty"] is None
    json.dumps(rec)
    # the stem's double space and a tab in the data become one space
    assert by_qid(s.train)["61fe6e879ff18686d7552425a36344c8"].stem == "Sammy wanted to go to where the people were. Where might he go?"
    assert not any("\t" in q.stem or "  " in q.stem for q in s.train + s.eval)


@needs_datasets
def test_prompts_match_the_papers_format(gsm, cqa):
    """Rows the STaR repository's prompt files also show render exactly as there (CQA choices
    in the same order in the data: fountain pen, Google Maps, divorce)."""
    gt, gs = gsm
    blocks, hinted = paper_blocks("gsm8k_prompts.txt"), paper_blocks("gsm8k_prompts_answer_key.txt")
    q = by_qid(gs.train)["train-00000"]
    assert gt.prompt(q) == blocks[0][0] and gt.prompt(q, hint=True) == hinted[0][0]
    ct, cs = cqa
    ours = {q.stem: q for q in cs.train}
    blocks, hinted = paper_blocks("commonsenseqa_prompts.txt"), paper_blocks("commonsenseqa_prompts_answer_key.txt")
    matched = 0
    for (p, _), (ph, _) in zip(blocks, hinted):
        q = ours.get(p.split("\n")[0][3:])
        if q is not None and ct.prompt(q) == p:
            assert ct.prompt(q, hint=True) == ph
            matched += 1
    assert matched >= 3


@needs_datasets
def test_hints_only_with_hint_true(gsm, cqa):
    gt, gs = gsm
    for q in gs.train[:300]:
        plain, hinted = gt.prompt(q), gt.prompt(q, hint=True)
        assert hinted == plain[: -len("\nA:")] + f" ({q.gold})\nA:"
        assert "####" not in hinted and q.solution[0] not in hinted  # the number only, never the solution
        text = gt.training_text(q, gt.reference(q))
        assert text.startswith(plain) and f"? ({q.gold})" not in text and not text.startswith(hinted)
        assert gt.question_text(q) == plain
    ct, cs = cqa
    for q in cs.train[:300]:
        plain, hinted = ct.prompt(q), ct.prompt(q, hint=True)
        assert "(CORRECT)" not in plain and hinted.count(" (CORRECT)") == 1
        assert f"({q.gold}) {q.choice_text(q.gold)} (CORRECT)\n" in hinted
        assert "(CORRECT)" not in ct.training_text(q, ct.reference(q))
    # a cleaned completion (leading space stripped) is trained as "A: …"
    q = cs.eval[0]
    assert ct.training_text(q, ct.clean_completion(ct.reference(q))) == ct.prompt(q) + ct.reference(q)
    q = gs.eval[0]
    assert gt.training_text(q, gt.clean_completion(gt.reference(q))) == gt.prompt(q) + gt.reference(q)


# ------------------------------------------------------------------------------- extraction
@pytest.mark.parametrize(
    "text,want",
    [
        (" She pays 3 * 6 = 18 dollars.\n#### 18", "18"),
        (" #### 1,234", "1234"),
        ("#### $1,234.00.", "1234"),
        ("#### 18.00", "18"),
        ("#### 0.50", "0.5"),
        ("#### -5", "-5"),
        ("#### \u22125", "-5"),
        ("#### 18 dollars", "18"),
        ("####18", "18"),
        (" The total is 6 + 12 = 18.\nThe answer is 18.", "18"),
        ("So the answer is: $42 apples", "42"),
        ("Answer: 1,000,000", "1000000"),
        ("the final answer is \\boxed{250}", "250"),
        ("She has 3 left. \\boxed{1,500}", "1500"),
        ("#### 18\n\nQ: Tom has 5 apples.\nA: #### 99", "18"),  # cut at the blank line
        ("#### 24\nQ: next question", "24"),  # cut at a new question
        ("#### 5\n#### 7", "5"),  # the first #### line, as the paper's extractor
        (" The total is 18.", None),  # a number without a marker is no answer
        ("", None),
        ("#### ", None),
        ("The answer is unknown.", None),
    ],
)
def test_gsm8k_extraction(text, want):
    assert GSM8KTask().extract_answer(text) == want


def test_number_normalisation():
    assert [normalize_number(s) for s in ["72", "1,200", "$5", "-3", "0.25", "007", "-0", ".5", "3.10", "x"]] == [
        "72",
        "1200",
        "5",
        "-3",
        "0.25",
        "7",
        "0",
        "0.5",
        "3.1",
        None,
    ]
    t = GSM8KTask()
    assert t.is_correct("18", "18") and not t.is_correct(None, "18") and not t.is_correct("18.5", "18")


FOUNTAIN = CQAQuestion(
    "x",
    "What do people use to absorb extra ink from a fountain pen?",
    (("a", "shirt pocket"), ("b", "calligrapher's hand"), ("c", "inkwell"), ("d", "desk drawer"), ("e", "blotter")),
    "e",
)
JEWELRY = CQAQuestion(
    "y", "Where would you go?", (("a", "jewelry store"), ("b", "neck"), ("c", "jewelry box"), ("d", "the desert"), ("e", "boutique")), "a"
)


@pytest.mark.parametrize(
    "text,q,want",
    [
        (" The answer must absorb ink. Blotters absorb liquids. Therefore, the answer is blotter (e).", None, "e"),
        (" Therefore, the answer is blotter (E).", None, "e"),
        ("the answer is (B)", None, "b"),
        ("the answer is b", None, "b"),
        ("The answer is B.", None, "b"),
        ("The answer is B, populated areas.", None, "b"),
        ("Answer: C", None, "c"),
        ("The answer is option (d).", None, "d"),
        ("(d).", None, "d"),
        ("D", None, "d"),
        (" blotter (e).", None, "e"),
        (" Therefore, the answer is a bank (c).", None, "c"),
        (" Choice (a) is wrong because pockets hold pens. Therefore, the answer is blotter (e).", None, "e"),
        (" Therefore, the answer is blotter (e).\n\nQ: What is red?\nA: Therefore, the answer is inkwell (c).", None, "e"),
        (" Therefore, the answer is blotter.", FOUNTAIN, "e"),
        (" Therefore, the answer is blotter.", None, None),  # text needs the question's choices
        (" Therefore, the answer is Blotter (f).", FOUNTAIN, "e"),  # (f) is no label; the text decides
        (" Therefore, the answer is blotter (f).", None, None),
        ("The answer is a place with many people.", None, None),  # "a" is an article here
        ("The answer is a place with many people.", FOUNTAIN, None),
        (" blotter", FOUNTAIN, "e"),
        (" The answer must be something that absorbs ink.", FOUNTAIN, None),
        ("Therefore, the answer is jewelry.", JEWELRY, None),  # two choices say "jewelry": ambiguous
        ("Therefore, the answer is the jewelry store.", JEWELRY, "a"),
        ("Therefore, the answer is desert.", JEWELRY, "d"),
        ("Therefore, the answer is jewelry store or jewelry box.", JEWELRY, None),
        ("", None, None),
    ],
)
def test_commonsenseqa_extraction(text, q, want):
    assert CommonsenseQATask().extract_answer(text, q) == want


@needs_datasets
def test_extraction_on_the_papers_prompt_files():
    """Every exemplar completion in the STaR repository's prompt files extracts to the answer it
    states. (The repository's ``gsm8k_prompts_direct_answer_key.txt`` holds CommonsenseQA
    direct-answer exemplars, in the order of ``commonsenseqa_prompts.txt``.)"""
    gt, ct = GSM8KTask(), CommonsenseQATask()
    files = sorted(p.name for p in STAR_PROMPTS.glob("*_prompts.txt"))
    assert files == ["commonsenseqa_prompts.txt", "gsm8k_prompts.txt"]
    g = paper_blocks("gsm8k_prompts.txt")
    gh = paper_blocks("gsm8k_prompts_answer_key.txt")
    assert len(g) == len(gh) == 6
    for (_p, c), (ph, _) in zip(g, gh):
        stated = re.search(r"#### (\S+)\s*$", c).group(1)
        assert gt.extract_answer(c) == normalize_number(stated)
        assert gt.extract_answer(c) == re.search(r" \(([^()]*)\)\nA:$", ph).group(1)  # the hint shows the same number
    c_blocks = paper_blocks("commonsenseqa_prompts.txt")
    keyed = paper_blocks("commonsenseqa_prompts_answer_key.txt")
    direct = paper_blocks("commonsenseqa_prompts_direct.txt")
    direct_key = paper_blocks("commonsenseqa_prompts_direct_answer_key.txt")
    direct_text = paper_blocks("gsm8k_prompts_direct_answer_key.txt")
    assert len(c_blocks) == len(keyed) == len(direct) == len(direct_key) == len(direct_text) == 7
    for i, (p, c) in enumerate(c_blocks):
        stated = re.search(r"\(([a-e])\)\.$", c).group(1)
        gold = parse_prompt_block(keyed[i][0]).gold  # the (CORRECT) mark
        q = parse_prompt_block(p, gold=gold)
        assert ct.extract_answer(c) == stated == gold
        assert ct.extract_answer(c, q) == gold
        assert ct.extract_answer(direct[i][1]) == gold and ct.extract_answer(direct_key[i][1]) == gold
        assert ct.extract_answer(direct_text[i][1], q) == gold  # "Therefore, the answer is blotter."
        assert ct.prompt(q) == p and ct.prompt(q, hint=True) == keyed[i][0]


# ------------------------------------------------------------------------------- our prompt files
@needs_datasets
def test_shipped_prompt_files(gsm, cqa):
    paper_questions = {p.split("\n")[0] for name in ("gsm8k_prompts.txt", "commonsenseqa_prompts.txt") for p, _ in paper_blocks(name)}
    for (t, s), n_range in ((gsm, (4, 6)), (cqa, (5, 7))):
        mod = gsm_mod if isinstance(t, GSM8KTask) else cqa_mod
        text = mod.PROMPT_FILE.read_text(encoding="utf-8")
        assert t.few_shot_prefix(0) == t.few_shot_prefix(7) == text
        assert text.endswith("\n\n") and not text.endswith("\n\n\n")
        blocks = split_exemplars(text)
        assert n_range[0] <= len(blocks) <= n_range[1]
        exs = mod.exemplars()
        train_texts = {t.prompt(q) for q in s.train}
        eval_texts = {t.prompt(q) for q in s.eval}
        hinted = t.few_shot_prefix(0, hint=True)
        for (p, c), (q, c2) in zip(blocks, exs):
            assert c == c2 and t.prompt(q) == p and t.extract_answer(c, q) == q.gold
            assert t.prompt(q, hint=True) in hinted
            assert p in train_texts and p not in eval_texts  # questions from the training split
            assert p.split("\n")[0] not in paper_questions  # our own exemplars
            assert "<<" not in c and "\n\n" not in c and c.startswith(" ")
        assert t.clean_completion(text.split("\nA:", 1)[1]) == blocks[0][1].strip()  # stop strings end an exemplar
        ex = t.example_question()
        assert t.prompt_spec(ex)["format"] == t.format_version
        assert t.prompt_spec_hash(ex, text) != t.prompt_spec_hash(ex, "")


# ------------------------------------------------------------------------------- malformed files
GOOD_GSM = json.dumps({"question": "Tom has 2 apples and buys 3. How many?", "answer": "2+3=<<2+3=5>>5\n#### 5"})
GOOD_CQA = json.dumps(
    {
        "answerKey": "B",
        "id": "q1",
        "question": {
            "question_concept": "c",
            "stem": "Pick b?",
            "choices": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}, {"label": "C", "text": "z"}],
        },
    }
)


@pytest.mark.parametrize(
    "bad,msg",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"question": "Q?"}), "missing field 'answer'"),
        (json.dumps({"question": 3, "answer": "#### 3"}), "'question' must be a string"),
        (json.dumps({"question": "Q?", "answer": "it is 5"}), "no final '#### N'"),
        (json.dumps({"question": "Q?", "answer": "so\n#### five"}), "must end with '#### N'"),
    ],
)
def test_gsm8k_malformed_lines(tmp_path, bad, msg):
    d = tmp_path / "gsm8k"
    write_lines(d / "train.jsonl", [GOOD_GSM, "", bad, GOOD_GSM])
    write_lines(d / "test.jsonl", [GOOD_GSM])
    with pytest.raises(DataError) as e:
        GSM8KTask().load(cfg(d), 0)
    assert f"{d / 'train.jsonl'}:3: " in str(e.value) and msg in str(e.value)


@pytest.mark.parametrize(
    "bad,msg",
    [
        ('{"answerKey": ', "not valid JSON"),
        (
            json.dumps(
                {"answerKey": "F", "question": {"stem": "s", "choices": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}]}}
            ),
            "answerKey 'F' is not among the labels",
        ),
        (
            json.dumps({"id": "t", "question": {"stem": "s", "choices": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}]}}),
            "missing field 'answerKey' (the CommonsenseQA test split has no labels",
        ),
        (json.dumps({"answerKey": "A", "question": {"choices": []}}), "missing field 'question.stem'"),
        (json.dumps({"answerKey": "A", "question": {"stem": "s", "choices": "A x"}}), "'question.choices' must be a list"),
        (
            json.dumps({"answerKey": "A", "question": {"stem": "s", "choices": [{"label": "A"}, {"label": "B", "text": "y"}]}}),
            "missing field 'question.choices[0].text'",
        ),
        (
            json.dumps({"answerKey": "A", "question": {"stem": "s", "choices": [{"label": "A", "text": 1}, {"label": "B", "text": "y"}]}}),
            "must be a string",
        ),
    ],
)
def test_commonsenseqa_malformed_lines(tmp_path, bad, msg):
    d = tmp_path / "cqa"
    write_lines(d / "train_rand_split.jsonl", [GOOD_CQA])
    write_lines(d / "dev_rand_split.jsonl", [GOOD_CQA, GOOD_CQA, bad])
    with pytest.raises(DataError) as e:
        CommonsenseQATask().load(cfg(d), 0)
    assert f"{d / 'dev_rand_split.jsonl'}:3: " in str(e.value) and msg in str(e.value)


@needs_datasets
def test_missing_and_partial_files(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nowhere")) + ".*does not exist.*train.jsonl"):
        GSM8KTask().load(cfg(tmp_path / "nowhere"), 0)
    d = tmp_path / "gsm8k"
    write_lines(d / "train.jsonl", [GOOD_GSM])
    with pytest.raises(DataError, match=r"holds train\.jsonl but not the eval split \(eval: test\.jsonl\)"):
        GSM8KTask().load(cfg(d), 0)
    write_lines(d / "test.jsonl", [])
    with pytest.raises(DataError, match=re.escape(str(d / "test.jsonl")) + ": no rows"):
        GSM8KTask().load(cfg(d), 0)
    (d / "test.jsonl").write_bytes(b'{"question": "caf\xe9", "answer": "#### 1"}\n')
    with pytest.raises(DataError, match=re.escape(str(d / "test.jsonl")) + ":1: not UTF-8"):
        GSM8KTask().load(cfg(d), 0)
    # the CommonsenseQA test file (no labels) is not accepted as the eval split
    e = tmp_path / "cqa"
    write_lines(e / "train_rand_split.jsonl", [GOOD_CQA])
    write_lines(e / "dev_rand_split.jsonl", (CQA_DIR / "test_rand_split_no_answers.jsonl").read_text().splitlines()[:2])
    with pytest.raises(DataError, match=r"dev_rand_split\.jsonl:1: missing field 'answerKey' \(the CommonsenseQA test split"):
        CommonsenseQATask().load(cfg(e), 0)


# ------------------------------------------------------------------------------- selection and hash
@needs_datasets
def test_limits_determinism_and_hash(gsm):
    t = GSM8KTask()
    a = t.load(cfg(GSM_DIR, train_limit=50, eval_limit=20, examples=30, hinted_fraction=0.5), 0)
    b = t.load(cfg(GSM_DIR, train_limit=50, eval_limit=20, examples=30, hinted_fraction=0.5), 0)
    c = t.load(cfg(GSM_DIR, train_limit=50, eval_limit=20, examples=30, hinted_fraction=0.5), 1)
    assert (len(a.train), len(a.eval), len(a.warmup)) == (50, 20, 30)
    ids = lambda qs: [q.qid for q in qs]  # noqa: E731
    assert ids(a.train) == ids(b.train) and ids(a.eval) == ids(b.eval) and a.hash == b.hash
    assert [(q.qid, h) for q, h in a.warmup] == [(q.qid, h) for q, h in b.warmup]
    assert ids(a.train) != ids(c.train) and a.hash != c.hash
    assert ids(a.eval) == ids(c.eval)  # the held-out subset is the same for every seed
    assert sum(h for _, h in a.warmup) == 15
    # warm-up: training file only, not the selected train questions, never eval
    warm = {q.qid for q, _ in a.warmup}
    assert not warm & set(ids(a.train)) and all(q.split == "train" for q, _ in a.warmup)
    assert len(warm) == 30
    # limits: a smaller eval limit is a subset; every change of selection changes the hash
    d = t.load(cfg(GSM_DIR, train_limit=50, eval_limit=10, examples=30, hinted_fraction=0.5), 0)
    assert set(ids(d.eval)) < set(ids(a.eval)) and d.hash != a.hash
    assert t.load(cfg(GSM_DIR, train_limit=51, eval_limit=20, examples=30, hinted_fraction=0.5), 0).hash != a.hash
    assert t.load(cfg(GSM_DIR, train_limit=50, eval_limit=20, examples=30, hinted_fraction=0.4), 0).hash != a.hash
    assert t.load(cfg(GSM_DIR, train_limit=50, eval_limit=20, examples=0), 0).warmup == []
    # train_limit 0 = all; the warm-up then overlaps train where it must
    _, full = gsm
    assert len(full.train) == 7473 and len({q.qid for q in full.train}) == 7473
    e = t.load(cfg(GSM_DIR, train_limit=7470, examples=5), 0)
    assert len({q.qid for q, _ in e.warmup} & {q.qid for q in e.train}) == 2
    huge = t.load(cfg(GSM_DIR, train_limit=10, eval_limit=5, examples=10**6), 0)
    assert len(huge.warmup) == 7473  # at most once per training row


def test_hash_follows_file_contents(tmp_path):
    d = tmp_path / "gsm8k"
    rows = [json.dumps({"question": f"What is {i} + 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"}) for i in range(20)]
    write_lines(d / "train.jsonl", rows)
    write_lines(d / "test.jsonl", rows[:5])
    t = GSM8KTask()
    h1 = t.load(cfg(d, train_limit=5), 0).hash
    assert t.load(cfg(d, train_limit=5), 0).hash == h1
    rows[19] = json.dumps({"question": "What is 19 + 1?", "answer": "19 + 1 = 20\n#### 20 "})
    write_lines(d / "train.jsonl", rows)
    os.utime(d / "train.jsonl", ns=(1, 1))  # a new mtime, so no cached parse is reused
    s2 = t.load(cfg(d, train_limit=5), 0)
    assert s2.hash != h1 and s2.data_hash() == s2.hash
    # the format version is part of the hash
    assert data_files.splits_hash(name="gsm8k", format_version="v1", digests={}, train=[], eval=[], warmup=[]) != data_files.splits_hash(
        name="gsm8k", format_version="v2", digests={}, train=[], eval=[], warmup=[]
    )


# ------------------------------------------------------------------------------- where data is found
@needs_datasets
def test_search_order(tmp_path, monkeypatch):
    one = tmp_path / "one" / "gsm8k"
    write_lines(one / "train.jsonl", [GOOD_GSM])
    write_lines(one / "test.jsonl", [GOOD_GSM])
    two = tmp_path / "two" / "datasets" / "gsm8k"
    two.mkdir(parents=True)
    for n in ("train.jsonl", "test.jsonl"):
        (two / n).symlink_to(GSM_DIR / n)
    monkeypatch.setenv("STARLAB_DATA_DIR", str(tmp_path / "two"))
    assert len(GSM8KTask().load(cfg(), 0).train) == 7473  # $STARLAB_DATA_DIR/datasets/<name>
    monkeypatch.setenv("STARLAB_DATASETS_DIR", str(tmp_path / "one"))
    assert len(GSM8KTask().load(cfg(), 0).train) == 1  # $STARLAB_DATASETS_DIR/<name> first
    # task.path may name the dataset folder or its parent
    assert len(GSM8KTask().load(cfg(tmp_path / "two" / "datasets"), 0).train) == 7473


def test_nothing_found_names_the_places(tmp_path, monkeypatch):
    monkeypatch.setenv("STARLAB_DATASETS_DIR", str(tmp_path / "ds"))
    monkeypatch.setenv("STARLAB_DATA_DIR", str(tmp_path / "app"))
    with pytest.raises(DataError) as e:
        CommonsenseQATask().load(cfg(), 0)
    msg = str(e.value)
    for place in (
        tmp_path / "ds" / "commonsenseqa",
        tmp_path / "app" / "datasets" / "commonsenseqa",
        tmp_path / "xdg-cache" / "starlab" / "datasets" / "commonsenseqa",
    ):
        assert str(place) in msg
    assert "tau/commonsense_qa" in msg and "HF_HUB_OFFLINE" in msg
    assert "train_rand_split.jsonl" in msg and "starlab import-data" in msg
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        monkeypatch.delenv("HF_HUB_OFFLINE")
        with pytest.raises(DataError, match=r"needs pyarrow, which is not installed \(pip install pyarrow\)"):
            GSM8KTask().load(cfg(), 0)


# ------------------------------------------------------------------------------- import
@needs_datasets
def test_import_dataset(tmp_path):
    dest = tmp_path / "app" / "datasets"
    out = import_dataset(
        "commonsenseqa", {"train": CQA_DIR / "train_rand_split.jsonl", "validation": CQA_DIR / "dev_rand_split.jsonl"}, dest
    )
    assert out["dir"] == str(dest / "commonsenseqa")
    assert out["splits"]["train"]["rows"] == 9741 and out["splits"]["eval"]["rows"] == 1221
    assert out["splits"]["eval"]["sha256"] == data_files.file_sha256(CQA_DIR / "dev_rand_split.jsonl")
    assert (dest / "commonsenseqa" / "dev_rand_split.jsonl").read_bytes() == (CQA_DIR / "dev_rand_split.jsonl").read_bytes()
    a = CommonsenseQATask().load(cfg(dest, train_limit=20, eval_limit=10), 3)
    b = CommonsenseQATask().load(cfg(CQA_DIR, train_limit=20, eval_limit=10), 3)
    assert a.hash == b.hash  # the same data and selection, wherever it lives
    # a bad file: DataError with file and line, nothing copied
    bad = write_lines(tmp_path / "bad.jsonl", [GOOD_GSM, json.dumps({"question": "q", "answer": "five"})])
    with pytest.raises(DataError, match=re.escape(f"{bad}:2: ")):
        import_dataset("gsm8k", {"train": GSM_DIR / "train.jsonl", "test": bad}, dest)
    assert not (dest / "gsm8k" / "train.jsonl").exists()
    with pytest.raises(DataError, match="unknown split"):
        import_dataset("gsm8k", {"extra": GSM_DIR / "train.jsonl"}, dest)
    with pytest.raises(DataError, match="unknown dataset"):
        import_dataset("mmlu", {"train": GSM_DIR / "train.jsonl"}, dest)
    out = import_dataset("gsm8k", {"test": GSM_DIR / "test.jsonl"}, dest)
    assert out["splits"] == {
        "eval": {
            "file": str(dest / "gsm8k" / "test.jsonl"),
            "source": str(GSM_DIR / "test.jsonl"),
            "rows": 1319,
            "sha256": data_files.file_sha256(GSM_DIR / "test.jsonl"),
        }
    }


@needs_datasets
def test_huggingface_style_commonsenseqa(tmp_path):
    """The Hugging Face names (train.jsonl, validation.jsonl) and row shape are read too."""
    rows = [json.loads(line) for line in (CQA_DIR / "dev_rand_split.jsonl").read_text().splitlines()[:12]]
    hf = [
        {
            "id": r["id"],
            "question": r["question"]["stem"],
            "question_concept": r["question"]["question_concept"],
            "choices": {"label": [c["label"] for c in r["question"]["choices"]], "text": [c["text"] for c in r["question"]["choices"]]},
            "answerKey": r["answerKey"],
        }
        for r in rows
    ]
    d = tmp_path / "hf"
    write_lines(d / "train.jsonl", [json.dumps(r) for r in hf])
    write_lines(d / "validation.jsonl", [json.dumps(r) for r in hf[:4]])
    t = CommonsenseQATask()
    s = t.load(cfg(d), 0)
    orig = t.load(cfg(CQA_DIR), 0)
    want = by_qid(orig.eval)
    assert len(s.train) == 12 and len(s.eval) == 4
    for q in s.train:
        assert t.prompt(q) == t.prompt(want[q.qid]) and q.gold == want[q.qid].gold
    hf[2]["choices"]["text"].pop()
    write_lines(d / "validation.jsonl", [json.dumps(r) for r in hf[:4]])
    with pytest.raises(DataError, match=re.escape(str(d / "validation.jsonl")) + ":3: 'choices.label' and 'choices.text' differ"):
        t.load(cfg(d), 0)
    out = import_dataset("commonsenseqa", {"train": d / "train.jsonl"}, tmp_path / "dest")
    assert out["splits"]["train"]["file"].endswith("commonsenseqa/train_rand_split.jsonl")


# ------------------------------------------------------------------------------- CSV import
def write_csv(
    path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",", bom: bool = False, terminator: str = "\r\n"
) -> Path:
    """A file as Python's csv writer (and so pandas and most spreadsheets) writes it."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator=terminator)
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
    return path


def jsonl_rows(path: Path) -> list[dict]:
    # split("\n"), not splitlines(): a raw U+2028 inside a JSON string is not a line end
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


@needs_datasets
def test_gsm8k_csv_import_gives_the_jsonl_rows(tmp_path):
    train, test = jsonl_rows(GSM_DIR / "train.jsonl"), jsonl_rows(GSM_DIR / "test.jsonl")
    # Excel-style (BOM, CRLF, comma) for train; TSV with LF and the columns swapped for test
    train_csv = write_csv(tmp_path / "my-train.csv", ["question", "answer"], [[r["question"], r["answer"]] for r in train], bom=True)
    test_tsv = write_csv(
        tmp_path / "my-test.tsv", ["answer", "question"], [[r["answer"], r["question"]] for r in test], delimiter="\t", terminator="\n"
    )
    dest = tmp_path / "app" / "datasets"
    out = import_dataset("gsm8k", {"train": train_csv, "test": test_tsv}, dest)
    tr, ev = out["splits"]["train"], out["splits"]["eval"]
    assert (tr["rows"], ev["rows"]) == (7473, 1319)
    assert (tr["converted_from"], ev["converted_from"]) == ("CSV", "TSV")
    assert tr["file"] == str(dest / "gsm8k" / "train.jsonl") and ev["file"] == str(dest / "gsm8k" / "test.jsonl")
    assert tr["source_sha256"] == data_files.file_sha256(train_csv)
    assert tr["sha256"] == data_files.file_sha256(dest / "gsm8k" / "train.jsonl")
    assert jsonl_rows(dest / "gsm8k" / "train.jsonl") == [{"question": r["question"], "answer": r["answer"]} for r in train]
    for split, name in (("train", "train.jsonl"), ("eval", "test.jsonl")):
        got, _ = data_files.read_jsonl(dest / "gsm8k" / name, gsm_mod.parse_row, split)
        want, _ = data_files.read_jsonl(GSM_DIR / name, gsm_mod.parse_row, split)
        assert got == want  # ids, questions, solutions, golds
    a, b = GSM8KTask().load(cfg(dest, train_limit=50, eval_limit=20), 1), GSM8KTask().load(cfg(GSM_DIR, train_limit=50, eval_limit=20), 1)
    assert [q.qid for q in a.train] == [q.qid for q in b.train] and [q.gold for q in a.eval] == [q.gold for q in b.eval]


@needs_datasets
def test_commonsenseqa_csv_import_gives_the_jsonl_rows(tmp_path):
    dev, train = jsonl_rows(CQA_DIR / "dev_rand_split.jsonl"), jsonl_rows(CQA_DIR / "train_rand_split.jsonl")
    assert all([c["label"] for c in r["question"]["choices"]] == list("ABCDE") for r in dev + train)
    # the flat export: a column per choice
    flat = write_csv(
        tmp_path / "dev.csv",
        ["id", "question", "question_concept", "answerKey", *"ABCDE"],
        [
            [
                r["id"],
                r["question"]["stem"],
                r["question"]["question_concept"],
                r["answerKey"],
                *(c["text"] for c in r["question"]["choices"]),
            ]
            for r in dev
        ],
    )
    # the Hugging Face export: one 'choices' column holding the JSON object
    hf = write_csv(
        tmp_path / "train.csv",
        ["id", "question", "question_concept", "choices", "answerKey"],
        [
            [
                r["id"],
                r["question"]["stem"],
                r["question"]["question_concept"],
                json.dumps(
                    {"label": [c["label"] for c in r["question"]["choices"]], "text": [c["text"] for c in r["question"]["choices"]]}
                ),
                r["answerKey"],
            ]
            for r in train
        ],
    )
    dest = tmp_path / "datasets"
    out = import_dataset("commonsenseqa", {"train": hf, "dev": flat}, dest)
    assert out["splits"]["train"]["rows"] == 9741 and out["splits"]["eval"]["rows"] == 1221
    for split, name in (("train", "train_rand_split.jsonl"), ("eval", "dev_rand_split.jsonl")):
        got, _ = data_files.read_jsonl(dest / "commonsenseqa" / name, cqa_mod.parse_row, split)
        want, _ = data_files.read_jsonl(CQA_DIR / name, cqa_mod.parse_row, split)
        assert got == want  # ids, stems, choices, golds, concepts
    # the flat shape is written as the original row shape, byte for byte where the fields agree
    assert jsonl_rows(dest / "commonsenseqa" / "dev_rand_split.jsonl")[0] == {
        "id": dev[0]["id"],
        "answerKey": dev[0]["answerKey"],
        "question": dev[0]["question"],
    }


GSM_HEAD = "question,answer\n"


@pytest.mark.parametrize(
    "name,text,msg",
    [
        ("t.csv", "question,solution\nq,1\n", "{p}:1: column 'answer' missing in header: found question, solution"),
        (
            "t.csv",
            "question,Answer\nq,1\n",
            "{p}:1: column 'answer' missing in header: found question, Answer (column "
            "names are case-sensitive: rename 'Answer' to 'answer')",
        ),
        ("t.csv", "question,answer,question\nq,1,q\n", "{p}:1: column 'question' appears twice in the header (columns 1 and 3)"),
        ("t.csv", GSM_HEAD + 'q,1\n\n"two\nlines",\n', "{p}:4: column 'answer' is empty"),
        ("t.csv", GSM_HEAD + "q,1\nq\n", "{p}:3: column 'answer' is empty (the row has 1 of the header's 2 cells)"),
        (
            "t.csv",
            GSM_HEAD + "q, with a comma,1\n",
            "{p}:2: cell 3 is beyond the header's 2 columns (it holds '1'; an unquoted comma inside a cell?)",
        ),
        (
            "t.tsv",
            "question\tanswer\nq\t1\tx\n",
            "{p}:2: cell 3 is beyond the header's 2 columns (it holds 'x'; an unquoted tab inside a cell?)",
        ),
        (
            "t.csv",
            GSM_HEAD + 'q,"1\n',
            "{p}:2: not valid CSV (unexpected end of data: a quoted cell starting in this record is never closed)",
        ),
        (
            "t.csv",
            GSM_HEAD + '"q"x,1\n',
            "{p}:2: not valid CSV (',' expected after '\"': a quote inside a quoted cell must be doubled (\"\"))",
        ),
        ("t.csv", GSM_HEAD + "q,five\n", "{p}:2: field 'answer' has no final '#### N' line and is not a bare number"),
        ("t.csv", GSM_HEAD, "{p}: no rows (only a header, on line 1)"),
        ("t.csv", "\r\n", "{p}: no rows (the file is empty)"),
    ],
)
def test_gsm8k_csv_errors_name_file_line_and_column(tmp_path, name, text, msg):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(DataError) as e:
        import_dataset("gsm8k", {"train": p}, tmp_path / "dest")
    assert str(e.value) == msg.format(p=p)
    assert not (tmp_path / "dest" / "gsm8k" / "train.jsonl").exists()


def test_csv_encoding_bom_and_crlf(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(b'\xef\xbb\xbfquestion,answer\r\nok,1\r\n"caf\xe9",1\r\n')
    with pytest.raises(DataError, match=re.escape(f"{p}:3: not UTF-8 text: byte 0xe9 at byte offset 30 (column 5)")):  # 3 + 17 + 6 + 4
        import_dataset("gsm8k", {"train": p}, tmp_path / "dest")
    p.write_bytes(b'\xef\xbb\xbfquestion,answer\r\n"How many,\r\nreally?","1+1=2\r\n#### 2"\r\nBare?,7,,\r\n')  # empty trailing cells: fine
    out = import_dataset("gsm8k", {"train": p}, tmp_path / "dest")
    assert out["splits"]["train"]["rows"] == 2
    assert jsonl_rows(tmp_path / "dest" / "gsm8k" / "train.jsonl") == [
        {"question": "How many,\r\nreally?", "answer": "1+1=2\r\n#### 2"},
        {"question": "Bare?", "answer": "7"},
    ]
    rows, _ = data_files.read_jsonl(tmp_path / "dest" / "gsm8k" / "train.jsonl", gsm_mod.parse_row, "train")
    assert [(q.question, q.solution, q.gold) for q in rows] == [("How many, really?", ("1+1=2",), "2"), ("Bare?", (), "7")]


CQA_HEAD = "id,question,answerKey,A,B,C\n"


@pytest.mark.parametrize(
    "text,msg",
    [
        (
            "id,question,answerKey\nq,s,A\n",
            "{p}:1: no answer choices in header: expected columns A, B, C, D, E (one per "
            'choice) or one \'choices\' column (JSON {{"label": [...], "text": [...]}}): found '
            "id, question, answerKey",
        ),
        (
            "id,question,answerKey,A,C\nq,s,A,x,y\n",
            "{p}:1: choice columns must be A, B, C, … without a gap: found A, C, column 'B' missing",
        ),
        ("id,question,answerKey,A,a\nq,s,A,x,y\n", "{p}:1: choice column 'A' appears twice in the header (as 'A' and 'a')"),
        (
            "id,question,answerKey,A,B,choices\nq,s,A,x,y,z\n",
            "{p}:1: the header has both a 'choices' column and choice columns (A, B): keep one",
        ),
        (CQA_HEAD + "q1,s,A,x,y,z\nq2,s,F,x,y,z\n", "{p}:3: answerKey 'F' is not among the labels ['A', 'B', 'C']"),
        (CQA_HEAD + "q1,s,A,x,,z\n", "{p}:2: column 'B' is empty"),
        (CQA_HEAD + ",s,A,x,y,z\n", "{p}:2: column 'id' is empty"),
        (
            'id,question,answerKey,choices\nq,s,A,"{label: 1}"\n',
            "{p}:2: column 'choices' is not JSON (Expecting property name "
            "enclosed in double quotes); expected an object like "
            '{{"label": ["A", "B"], "text": ["bank", "park"]}}',
        ),
        (
            'id,question,answerKey,choices\nq,s,A,"{""label"": [""A""]}"\n',
            "{p}:2: field 'choices' must be an object with lists 'label' and 'text'",
        ),
    ],
)
def test_commonsenseqa_csv_errors_name_file_line_and_column(tmp_path, text, msg):
    p = tmp_path / "dev.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as e:
        import_dataset("commonsenseqa", {"eval": p}, tmp_path / "dest")
    assert str(e.value) == msg.format(p=p)


def test_csv_import_writes_nothing_unless_every_file_is_valid(tmp_path):
    good = write_csv(tmp_path / "train.csv", ["question", "answer"], [["q", "#### 1"]])
    bad = write_csv(tmp_path / "test.csv", ["question", "answer"], [["q", "1"], ["q", "one"]])
    with pytest.raises(DataError, match=re.escape(f"{bad}:3: ")):
        import_dataset("gsm8k", {"train": good, "eval": bad}, tmp_path / "dest")
    assert not (tmp_path / "dest" / "gsm8k").exists() or not any((tmp_path / "dest" / "gsm8k").iterdir())


def test_runs_read_jsonl_only_and_point_csv_folders_to_import(tmp_path):
    d = tmp_path / "mine"
    write_csv(d.mkdir() or d / "train.csv", ["question", "answer"], [["q", "1"]])
    write_csv(d / "test.csv", ["question", "answer"], [["q", "1"]])
    with pytest.raises(
        DataError,
        match=re.escape(
            "It holds test.csv, train.csv: runs read JSONL only; `starlab import-data --dataset gsm8k --train FILE --eval FILE` converts"
        ),
    ):
        GSM8KTask().load(cfg(d), 0)
    import_dataset("gsm8k", {"train": d / "train.csv", "eval": d / "test.csv"}, d)
    s = GSM8KTask().load(cfg(d), 0)  # d/gsm8k/ now holds the JSONL files
    assert [(q.qid, q.gold) for q in s.train] == [("train-00000", "1")]


def test_gsm8k_bare_number_answer_is_the_gold(tmp_path):
    """One rule for JSONL and CSV: 'answer' is a solution ending '#### N' or a bare number."""
    q = gsm_mod.parse_row({"question": "q", "answer": " $1,234.50 "}, "eval", 3)
    assert (q.qid, q.gold, q.solution) == ("test-00003", "1234.5", ())
    assert GSM8KTask().reference(q) == " #### 1234.5"
    with pytest.raises(ValueError, match="no final '#### N' line and is not a bare number"):
        gsm_mod.parse_row({"question": "q", "answer": "5 apples"}, "eval", 0)
