"""The deployable verifier (issue 16 §4): a V-STaR run keeps its verifier as a folder; exported
and loaded apart from the run, it scores the run's own test candidates exactly as the run did,
so reranking them gives back the Best-of-k, majority and Pass@k curves the run logged."""

from __future__ import annotations

import json
import os

import pytest
from test_vstar_loop import N, _run, _scripted, vstar_config

import starlab
from starlab import cli
from starlab import verifier_dir as VD


def _candidates(events, n):
    """The run's stored test candidates of iteration n, as a rerank's input rows."""
    by_q: dict[str, dict] = {}
    for e in events:
        if e["type"] == "samples" and e["iteration"] == n:
            for it in e["items"]:
                if it["kind"] == "candidate":
                    row = by_q.setdefault(
                        it["question_id"], {"question": it["question"], "candidates": [], "gold": it["gold"], "stored": []}
                    )
                    row["candidates"].append(it["text"])
                    row["stored"].append(it["scores"]["reward"])
    return list(by_q.values())


def _logged(events, n):
    return next(e["values"] for e in events if e["type"] == "metrics" and e["iteration"] == n and "vstar/pass@1" in e["values"])


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_exported_verifier_reranks_the_runs_candidates_as_logged(tmp_path, monkeypatch, capsys, finetune):
    _scripted(monkeypatch, verify=True)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _, events = _run(run_dir, vstar_config(finetune=finetune))
    assert VD.saved_iterations(str(run_dir)) == [2]  # the default keeps the last iteration's only

    out = tmp_path / "deployed"
    assert cli.main(["export-verifier", "--run-dir", str(run_dir), "--out", str(out)]) == 0
    manifest = json.loads((out / VD.MANIFEST).read_text())
    assert manifest["finetune"] == finetune and manifest["iteration"] == 2 and manifest["task"] == "addition"
    assert (out / ("adapter" if finetune == "lora" else "model.safetensors")).exists() and (out / "reference.safetensors").exists()

    rows = _candidates(events, 2)
    assert rows and all(len(r["candidates"]) == N for r in rows)
    verifier = starlab.Verifier.load(str(out), device="cpu")
    got = verifier.score_many([(r["question"], r["candidates"]) for r in rows])
    for r, scores in zip(rows, got):
        assert [s["reward"] for s in scores] == r["stored"]  # bit for bit: the same batches as the run

    result = VD.rerank(verifier, rows)
    vals = _logged(events, 2)
    for k in range(1, N + 1):
        assert result["curves"]["best_of_k"][k] == pytest.approx(vals[f"vstar/best_of_k/dpo@{k}"], abs=1e-9)
        assert result["curves"]["majority"][k] == pytest.approx(vals[f"vstar/majority@{k}"], abs=1e-9)
        assert result["curves"]["pass"][k] == pytest.approx(vals[f"vstar/pass@{k}"], abs=1e-9)
    for r, c in zip(rows, result["chosen"]):
        assert c["reward"] == max(r["stored"]) and c["index"] == r["stored"].index(max(r["stored"]))

    # the same through the command line, from a candidates file any generator could write
    cand_file = tmp_path / "candidates.jsonl"
    cand_file.write_text("".join(json.dumps({k: r[k] for k in ("question", "candidates", "gold")}) + "\n" for r in rows))
    capsys.readouterr()
    assert cli.main(["rerank", "--verifier", str(out), "--candidates", str(cand_file), "--json", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] and printed["questions"] == len(rows)
    assert printed["curves"]["best_of_k"] == {str(k): v for k, v in result["curves"]["best_of_k"].items()}
    assert [c["index"] for c in printed["chosen"]] == [c["index"] for c in result["chosen"]]


def test_verifier_save_every_and_none(tmp_path, monkeypatch):
    _scripted(monkeypatch, verify=True)
    for mode, kept in (("every", [1, 2]), ("none", [])):
        run_dir = tmp_path / mode
        run_dir.mkdir()
        cfg = vstar_config()
        cfg["verifier"]["save"] = mode
        _run(run_dir, cfg)
        assert VD.saved_iterations(str(run_dir)) == kept


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A run's saved verifier folder (built once for the refusal tests)."""
    mp = pytest.MonkeyPatch()
    try:
        _scripted(mp, verify=True)
        run_dir = tmp_path_factory.mktemp("run")
        cfg = vstar_config()
        cfg["loop"]["iterations"] = 1
        _run(run_dir, cfg)
    finally:
        mp.undo()
    return run_dir


def test_export_refuses_a_taken_folder_and_unknown_iteration(saved, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    assert cli.main(["export-verifier", "--run-dir", str(saved), "--out", str(taken)]) == 2
    assert "already exists" in json.loads(capsys.readouterr().err)["error"]
    assert (taken / "notes.txt").read_text() == "mine"
    assert cli.main(["export-verifier", "--run-dir", str(saved), "--iteration", "7", "--out", str(tmp_path / "x")]) == 2
    assert "no verifier of iteration 7" in json.loads(capsys.readouterr().err)["error"]
    assert not (tmp_path / "x").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["export-verifier", "--run-dir", str(empty), "--out", str(tmp_path / "y")]) == 2
    assert "has no saved verifier" in json.loads(capsys.readouterr().err)["error"]


def test_links_and_pickles_are_refused(saved, tmp_path):
    src = VD.iteration_dir(str(saved), 1)
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    link = os.path.join(src, "extra.txt")
    os.symlink(secret, link)
    try:
        with pytest.raises(VD.VerifierDirError, match="link"):
            VD.export(src, str(tmp_path / "out"))
        assert not (tmp_path / "out").exists()
    finally:
        os.unlink(link)
    planted = os.path.join(src, "model.bin")
    with open(planted, "wb") as f:
        f.write(b"\x80\x04K\x01.")  # a pickle: never loaded
    try:
        with pytest.raises(VD.VerifierDirError, match="pickle"):
            VD.Verifier.load(src, device="cpu")
    finally:
        os.unlink(planted)


def test_a_malformed_candidates_line_is_refused_by_number(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"question": "12+34:", "candidates": ["a"]}\n\n{"question": "1+2:", "candidates": []}\n')
    with pytest.raises(VD.VerifierDirError, match="line 3: 'candidates' must be a non-empty list"):
        VD.read_candidates(str(f))
    f.write_text("not json\n")
    with pytest.raises(VD.VerifierDirError, match="line 1: not JSON"):
        VD.read_candidates(str(f))


def test_a_manifest_that_is_not_ours_is_refused(tmp_path):
    (tmp_path / VD.MANIFEST).write_text(json.dumps({"format": "other"}))
    with pytest.raises(VD.VerifierDirError, match="not a STaR Lab verifier manifest"):
        VD.Verifier.load(str(tmp_path), device="cpu")
    with pytest.raises(VD.VerifierDirError, match="has no verifier.json"):
        VD.Verifier.load(str(tmp_path / "missing"), device="cpu")


def test_a_failed_save_costs_the_folder_not_the_run(tmp_path, monkeypatch):
    _scripted(monkeypatch, verify=True)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / VD.RUN_SUBDIR).write_text("a file where the folder goes")  # makedirs fails (an OSError, as a full disk)
    cfg = vstar_config()
    cfg["loop"]["iterations"] = 1
    _, events = _run(run_dir, cfg)
    assert any(e["type"] == "metrics" and "vstar/pass@1" in e["values"] for e in events)
    assert any(e["type"] == "log" and "the verifier was not saved" in e["message"] for e in events)


def test_a_save_killed_between_its_renames_keeps_the_previous_folder(saved):
    kept = VD.iteration_dir(str(saved), 1)
    aside = os.path.join(str(saved), VD.RUN_SUBDIR, ".iter_1.old")
    os.rename(kept, aside)  # as left by a crash after moving it aside, before the new one was in place
    try:
        VD.save(str(saved), 2, verifier=None, reference_state=None, tokenizer=None, lora=False, manifest={}, keep="every")
    except AttributeError:
        pass  # the stand-in verifier fails the new save; the recovery ran first
    assert VD.saved_iterations(str(saved)) == [1] and not os.path.exists(aside)


def test_export_refuses_a_folder_inside_the_source(saved, tmp_path):
    src = VD.iteration_dir(str(saved), 1)
    with pytest.raises(VD.VerifierDirError, match="inside the verifier folder"):
        VD.export(src, os.path.join(src, "copy"))
    assert not os.path.exists(os.path.join(src, "copy"))
