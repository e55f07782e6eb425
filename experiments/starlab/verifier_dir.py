"""A trained V-STaR verifier as a directory you can deploy apart from its run: the paper's point
is that the verifier, trained once, reranks candidates from any generator.

    verifier.json          the manifest: task, β, the score, the prompt format, which files hold what
    config.json            the model's architecture (a transformers config: data, never code)
    model.safetensors      V's weights (full fine-tuning)  | adapter/ (LoRA: adapter_model.safetensors,
                                                             adapter_config.json)
    reference.safetensors  V_SFT's weights, the reward's reference; absent when V_SFT is a hub
                           checkpoint unchanged (no warm-up): the manifest then names it
    tokenizer files        the character tokenizer's JSON, or the transformers tokenizer's files

The score is the DPO implicit reward β·(log V(y|x) − log V_SFT(y|x)), summed over the
completion's tokens and <eos> (verifier.score_candidates), where x is the question as the lab
stores it (the task's question text, no few-shot prefix) and y the candidate as the generator
is trained on it (the task's training_completion), encoded as the generator samples it after x.
Loading reads JSON, safetensors and the tokenizer's own files (a vocabulary, merges, a
SentencePiece model): a folder holding a pickle is refused, a hub reference is loaded from
safetensors only, and transformers is never allowed remote code (its default; the package
never passes trust_remote_code).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from typing import Any

import torch

from . import safe_state
from .checkpoint import ADAPTER, ADAPTER_CONFIG, ADAPTER_WEIGHTS, pickle_files

MANIFEST = "verifier.json"
FORMAT = "starlab-verifier"
VERSION = 1
MODEL = "model.safetensors"
REFERENCE = "reference.safetensors"
#: where a run keeps its verifiers: <run_dir>/verifier/iter_<n>/
RUN_SUBDIR = "verifier"


class VerifierDirError(RuntimeError):
    """A verifier directory that cannot be used, said in one sentence naming what is wrong."""


def iteration_dir(run_dir: str, iteration: int) -> str:
    return os.path.join(run_dir, RUN_SUBDIR, f"iter_{iteration}")


def saved_iterations(run_dir: str) -> list[int]:
    """The iterations whose verifier the run kept, ascending (complete ones only: a manifest)."""
    root = os.path.join(run_dir, RUN_SUBDIR)
    out = []
    for name in os.listdir(root) if os.path.isdir(root) else []:
        if name.startswith("iter_") and name[5:].isdigit() and os.path.isfile(os.path.join(root, name, MANIFEST)):
            out.append(int(name[5:]))
    return sorted(out)


# ------------------------------------------------------------------------------ saving


def save(
    run_dir: str,
    iteration: int,
    *,
    verifier: torch.nn.Module,
    reference_state: dict[str, torch.Tensor] | None,
    tokenizer: Any,
    lora: bool,
    manifest: dict[str, Any],
    keep: str = "last",
) -> str:
    """Write iteration ``iteration``'s verifier under ``run_dir/verifier/iter_<n>``: into a
    temporary folder first, renamed into place when complete; with ``keep`` "last" the earlier
    iterations' folders are removed only after that. ``reference_state`` None: the reference is
    the hub checkpoint the manifest names. Returns the folder."""
    from .lora import base_model

    root = os.path.join(run_dir, RUN_SUBDIR)
    os.makedirs(root, exist_ok=True)
    if os.path.islink(root):
        raise VerifierDirError(f"{root} is a link; the verifier is not written through it")
    for name in os.listdir(root):
        if name.endswith(".old") and name.startswith(".iter_"):
            # a save killed between its renames: the previous folder is the only complete copy
            kept = os.path.join(root, name[1:-4])
            if not os.path.exists(kept):
                os.rename(os.path.join(root, name), kept)
                continue
        if name.startswith(".iter_"):  # a save a killed process left half-written
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix=f".iter_{iteration}.", dir=root)
    try:
        plain = base_model(verifier)
        plain.config.to_json_file(os.path.join(tmp, "config.json"))
        if lora:
            verifier.save_pretrained(os.path.join(tmp, ADAPTER), safe_serialization=True)
        else:
            safe_state.save_weights(verifier.state_dict(), os.path.join(tmp, MODEL))
        if reference_state is not None:
            safe_state.save_weights(reference_state, os.path.join(tmp, REFERENCE))
        tokenizer.save_pretrained(tmp)
        files = {
            "weights": ADAPTER if lora else MODEL,
            "reference": REFERENCE if reference_state is not None else None,
        }
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump({"format": FORMAT, "version": VERSION, **manifest, "finetune": "lora" if lora else "full", **files}, f, indent=2)
        final = iteration_dir(run_dir, iteration)
        old = os.path.join(root, f".iter_{iteration}.old")
        if os.path.isdir(final):  # a resumed run redoing this iteration: moved aside, removed once replaced
            os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep == "last":
        for n in saved_iterations(run_dir):
            if n != iteration:
                shutil.rmtree(iteration_dir(run_dir, n), ignore_errors=True)
    return final


# ------------------------------------------------------------------------------ loading


def _read_manifest(path: str) -> dict[str, Any]:
    file = os.path.join(path, MANIFEST)
    if not os.path.isfile(file):
        raise VerifierDirError(f"{path} is not a verifier directory: it has no {MANIFEST}")
    try:
        with open(file, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        raise VerifierDirError(f"{file} is not readable JSON: {e}") from e
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise VerifierDirError(f"{file} is not a STaR Lab verifier manifest (format {FORMAT!r})")
    if m.get("version") != VERSION:
        raise VerifierDirError(f"{file} has version {m.get('version')!r}; this STaR Lab reads version {VERSION}")
    for key, kind in (("task", str), ("beta", (int, float)), ("finetune", str), ("weights", str), ("tokenizer", str), ("prompt", dict)):
        if not isinstance(m.get(key), kind):
            raise VerifierDirError(f"{file}: {key!r} is missing or of the wrong type")
    if m["finetune"] not in ("full", "lora") or m["weights"] not in (MODEL, ADAPTER) or m["tokenizer"] not in ("char", "hf"):
        raise VerifierDirError(f"{file}: unknown finetune, weights or tokenizer ({m['finetune']!r}, {m['weights']!r}, {m['tokenizer']!r})")
    if m.get("reference") not in (REFERENCE, None) or (m.get("reference") is None and not isinstance(m.get("reference_hub"), str)):
        raise VerifierDirError(f"{file}: the reference must be {REFERENCE} or a hub model named by 'reference_hub'")
    return m


def _check_files(path: str, m: dict[str, Any]) -> None:
    pickles = pickle_files(path)
    if pickles:
        raise VerifierDirError(f"{path} holds pickle files ({', '.join(pickles)}), which can run code when loaded; refused")
    need = ["config.json", m["reference"]] if m["reference"] else ["config.json"]
    need += [os.path.join(ADAPTER, ADAPTER_WEIGHTS), os.path.join(ADAPTER, ADAPTER_CONFIG)] if m["weights"] == ADAPTER else [MODEL]
    for rel in need:
        full = os.path.join(path, rel)
        if os.path.islink(full) or not os.path.isfile(full):
            raise VerifierDirError(f"{path}: {rel} is missing or not a regular file")


def _plain_model(path: str, weights: str, dtype: torch.dtype | None) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path)
    model = AutoModelForCausalLM.from_config(config)
    try:
        state = safe_state.load_weights(os.path.join(path, weights))
    except safe_state.StateFormatError as e:
        raise VerifierDirError(f"{os.path.join(path, weights)} is unreadable: {e}") from e
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise VerifierDirError(f"{weights} does not fit config.json: missing {missing[:3]}, unexpected {unexpected[:3]}")
    # the weights' own precision unless the caller asks for another (from_config builds float32)
    stored = next((t.dtype for t in state.values() if t.is_floating_point()), torch.float32)
    return model.to(dtype or stored).eval()


class Verifier:
    """A saved verifier, loaded for scoring. ``Verifier.load(DIR).score(question, candidates)``
    gives each candidate's scores (``reward`` is the one Best-of-k ranks by)."""

    def __init__(self, manifest: dict[str, Any], model: torch.nn.Module, reference: torch.nn.Module, tokenizer: Any, task: Any):
        self.manifest, self.model, self.reference, self.tok, self.task = manifest, model, reference, tokenizer, task
        self.beta = float(manifest["beta"])
        self.batch_size = int(manifest.get("batch_size", 16))

    @classmethod
    def load(cls, path: str, *, device: str | None = None, dtype: torch.dtype | None = None) -> Verifier:
        from .models import load_hub
        from .tasks import get_task
        from .tokenizer import CharTokenizer, HFTokenizer

        m = _read_manifest(path)
        _check_files(path, m)
        try:
            task = get_task(m["task"])
        except KeyError as e:
            raise VerifierDirError(f"{path}: unknown task {m['task']!r}") from e
        if m["tokenizer"] == "char":
            tok: Any = CharTokenizer.from_pretrained(path)
        else:
            from transformers import AutoTokenizer

            tok = HFTokenizer(AutoTokenizer.from_pretrained(path))
        if m["weights"] == MODEL:
            model = _plain_model(path, MODEL, dtype)
            dtype = dtype or next(p.dtype for p in model.parameters() if p.is_floating_point())
        if m["reference"]:
            reference = _plain_model(path, m["reference"], dtype)
        else:  # the unchanged hub checkpoint, at V's precision; never a pickled one
            reference, _ = load_hub(m["reference_hub"], dtype or torch.float32, safetensors_only=True)
            reference.eval()
        if m["weights"] == ADAPTER:
            import copy

            from peft import PeftModel

            model = PeftModel.from_pretrained(copy.deepcopy(reference), os.path.join(path, ADAPTER), is_trainable=False).eval()
        dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return cls(m, model.to(dev), reference.to(dev), tok, task)

    def examples(self, question: str, candidates: Sequence[str]) -> list[tuple[list[int], list[int]]]:
        """(prompt ids, completion ids) as the generator was trained on them (the run's own
        V-STaR examples): <bos>? + question, then the completion's continuation ids + <eos>."""
        bos = [self.tok.bos_id] if self.tok.bos_id is not None else []
        p = bos + self.tok.encode(question)
        out = []
        for c in candidates:
            if not isinstance(c, str):
                raise TypeError(f"a candidate must be a string, got {type(c).__name__}")
            completion = self.task.training_completion(None, c)
            out.append((p, self.tok.encode_continuation(question, completion) + [self.tok.eos_id]))
        return out

    def score_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[dict[str, float]]]:
        """Scores of every candidate of every (question, candidates), scored together in the
        batches the run used (so a run's own candidates score exactly as the run scored them)."""
        from .verifier import score_candidates

        examples = [e for q, cands in items for e in self.examples(q, cands)]
        device = next(self.model.parameters()).device
        # as the run scored: under bfloat16 autocast when its runtime.dtype was "mixed"
        amp = (
            torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=False)
            if self.manifest.get("precision") == "mixed" and device.type == "cuda"
            else contextlib.nullcontext()
        )
        with amp:
            rows = (
                score_candidates(
                    self.model, examples, pad_id=self.tok.pad_id, batch_size=self.batch_size, beta=self.beta, reference=self.reference
                )
                if examples
                else []
            )
        out, i = [], 0
        for _, cands in items:
            out.append(rows[i : i + len(cands)])
            i += len(cands)
        return out

    def score(self, question: str, candidates: Sequence[str]) -> list[dict[str, float]]:
        """Each candidate's ``reward`` (β·log V/V_SFT), ``logp``, ``ref_logp``, ``logp_norm``, ``n_tokens``."""
        return self.score_many([(question, candidates)])[0]

    def choose(self, question: str, candidates: Sequence[str]) -> int:
        """The index of the candidate with the highest reward (the first of equals)."""
        scores = [s["reward"] for s in self.score(question, candidates)]
        return max(range(len(scores)), key=lambda i: (scores[i], -i)) if scores else -1


# ------------------------------------------------------------------------------ reranking


def read_candidates(path: str, limit: int = 1_000_000) -> list[dict[str, Any]]:
    """The JSONL a rerank reads: one ``{"question": str, "candidates": [str, ...], "gold"?: str}``
    per line (blank lines skipped). A malformed line is refused naming its number: curves over
    the questions that happened to parse would measure something else."""
    out: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise VerifierDirError(f"{path} line {i}: not JSON ({e})") from e
            if not isinstance(row, dict) or not isinstance(row.get("question"), str):
                raise VerifierDirError(f'{path} line {i}: needs {{"question": string, "candidates": [string, ...]}}')
            cands = row.get("candidates")
            if not isinstance(cands, list) or not cands or not all(isinstance(c, str) for c in cands):
                raise VerifierDirError(f"{path} line {i}: 'candidates' must be a non-empty list of strings")
            if "gold" in row and not isinstance(row["gold"], str):
                raise VerifierDirError(f"{path} line {i}: 'gold' must be a string")
            out.append(row)
            if len(out) > limit:
                raise VerifierDirError(f"{path}: more than {limit} questions")
    if not out:
        raise VerifierDirError(f"{path} holds no questions")
    return out


def rerank(verifier: Verifier, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each question's chosen candidate (highest reward, the first of equals) and, when every
    row has a gold answer, Pass@k, majority@k and Best-of-k for k = 1 … the fewest candidates
    of a question (estimators.all_curves, as the run computes its curves)."""
    from . import estimators

    scores = verifier.score_many([(r["question"], r["candidates"]) for r in rows])
    task, chosen, per_question = verifier.task, [], []
    graded = all("gold" in r for r in rows)
    for r, sc in zip(rows, scores):
        best = max(range(len(sc)), key=lambda j: (sc[j]["reward"], -j))
        group = []
        for text, s in zip(r["candidates"], sc):
            ans = task.extract_answer(text)
            group.append({"answer": ans, "reward": s["reward"], **({"correct": task.is_correct(ans, r["gold"])} if graded else {})})
        per_question.append(group)
        pick = {"index": best, "text": r["candidates"][best], "reward": sc[best]["reward"], "answer": group[best]["answer"]}
        if graded:
            pick["correct"] = group[best]["correct"]
        chosen.append(pick)
    out: dict[str, Any] = {"questions": len(rows), "chosen": chosen, "scores": [[s["reward"] for s in sc] for sc in scores]}
    if not graded and any("gold" in r for r in rows):
        out["note"] = "no curves: only some lines have a gold answer (curves need it on every line)"
    if graded:
        kmax = min(len(r["candidates"]) for r in rows)
        curves = estimators.all_curves(per_question, range(1, kmax + 1), score_keys=["reward"])
        out["curves"] = {"pass": curves["pass@k"], "majority": curves["majority"], "best_of_k": curves["best_of_k:reward"]}
    return out


# ------------------------------------------------------------------------------ export


def export(src: str, dest: str) -> list[str]:
    """Copy the verifier folder ``src`` to ``dest``, which must not exist or be an empty folder:
    regular files only (a link inside ``src`` is refused, never followed), into a temporary
    folder beside ``dest`` renamed into place when complete. Returns the files copied."""
    if os.path.islink(src):
        raise VerifierDirError(f"{src} is a link; refused")
    m = _read_manifest(src)
    _check_files(src, m)
    dest = os.path.abspath(dest)
    if os.path.lexists(dest) and not (os.path.isdir(dest) and not os.path.islink(dest) and not os.listdir(dest)):
        raise VerifierDirError(f"{dest} already exists; name a new folder (or an empty one)")
    real_src = os.path.realpath(src)
    if os.path.commonpath([real_src, os.path.realpath(dest)]) == real_src:
        raise VerifierDirError(f"{dest} is inside the verifier folder {src}; name a folder outside it")
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 is for its own privacy, not the user's folder
    copied = []
    try:
        for root, dirs, files in os.walk(src):
            rel_root = os.path.relpath(root, src)
            for d in dirs:
                if os.path.islink(os.path.join(root, d)):
                    raise VerifierDirError(f"{os.path.join(root, d)} is a link; refused")
                os.makedirs(os.path.join(tmp, rel_root, d), exist_ok=True)
            for name in files:
                rel = os.path.normpath(os.path.join(rel_root, name))
                # no link followed, and a FIFO planted there cannot block the open
                fd = os.open(os.path.join(src, rel), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
                with os.fdopen(fd, "rb") as fin:
                    if not stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
                        raise VerifierDirError(f"{os.path.join(src, rel)} is not a regular file; refused")
                    with open(os.path.join(tmp, rel), "xb") as fout:
                        shutil.copyfileobj(fin, fout, 1 << 20)
                copied.append(rel.replace(os.sep, "/"))
        if os.path.isdir(dest) and not os.path.islink(dest):
            os.rmdir(dest)  # empty (checked above); rename cannot replace a folder on every platform
        os.rename(tmp, dest)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno == errno.ELOOP:
            raise VerifierDirError(f"{src} holds a link where a file should be; refused") from e
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(copied)
