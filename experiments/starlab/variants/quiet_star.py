"""Quiet-STaR (Zelikman et al. 2024) on any task: thoughts after every token, a mixing head,
REINFORCE on the gain in log-likelihood of the next n_ahead true tokens (see starlab/quiet.py).

warm-up:     as STaR's — a tiny model is fine-tuned on the warm-up questions' reference
             completions (a hub model with warmup.steps = 0 starts as it is, with the task's
             few-shot prefix in its eval prompts when task.few_shot).
eval 0:      the model with the start/end-of-thought tokens and a zero-initialised mixing
             head (so it predicts exactly as the base model), on the held-out questions.
training:    quiet.steps optimizer steps on a corpus of the TRAIN questions' reference texts
             (prompt + reference completion, <bos> … <eos>, packed into rows of seq_len,
             attention never crossing a document), each step on batch_size rows × n_thoughts
             thoughts of thought_len tokens at every position; evaluation every eval_every
             steps (and after the last one) — evaluation i is "iteration" i of the events.
evaluation:  greedy decoding where every token comes from the mixed head after a greedy
             thought (eval/accuracy, per difficulty as STaR names it), and the same model
             without thoughts for comparison (eval/base_accuracy).

Events: phases warmup (iteration 0), evaluate (iteration i), train (iteration i ≥ 1: the steps
leading to evaluation i); per-step metrics throttled to about 20 per train phase (window
means); eval metrics at (iteration i, step = optimizer steps so far, warm-up included).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .. import models, quiet
from ..events import EventWriter
from .common import LOSS_EVENTS_PER_TRAIN, PROGRESS_MIN_INTERVAL_S, RunOutput, _Throttle
from ..stopping import NEVER, StopFlag
from ..tasks import Task, get_task
from ..train import finetune, lr_lambda

THOUGHT_EXAMPLES = 20  # eval questions whose per-token thoughts are written to an artifact
# Training thoughts with their rewards (artifacts/train_<i>/thoughts.jsonl): at most this many
# steps of each train phase, evenly spaced and ending at its last step, each the first batch
# row's first thought at up to TRAIN_THOUGHT_POSITIONS positions — a few KB per phase.
TRAIN_THOUGHT_ROWS = 8
TRAIN_THOUGHT_POSITIONS = 64
STEP_METRICS = ("loss", "base_loss", "mixed_loss", "policy_loss", "reward_mean", "reward_std",
                "mix_weight_mean", "mix_weight_std", "mix_weight_min", "mix_weight_max")


@dataclass
class Hooks:
    """Optional callbacks (tests and embedders)."""
    on_warmup_end: Callable[[torch.nn.Module], None] | None = None
    on_step: Callable[[int, dict[str, float]], None] | None = None        # (quiet step, stats)
    on_eval_end: Callable[[int, "EvalResult"], None] | None = None        # (evaluation index, result)


@dataclass
class EvalResult:
    iteration: int          # evaluation index 0, 1, 2, …
    step: int               # Quiet-STaR optimizer steps so far (warm-up not included)
    accuracy: float         # thought-mixed model
    by_difficulty: dict[int, float]
    base_accuracy: float    # the same model decoding without thoughts
    base_by_difficulty: dict[int, float]
    extra: dict[str, Any] = field(default_factory=dict)


def record_steps(n: int, rows: int = TRAIN_THOUGHT_ROWS) -> set[int]:
    """Steps 1..n of a train phase whose thoughts are recorded: ≤ rows, evenly spaced, ending at n."""
    if n <= 0 or rows <= 0:
        return set()
    every = max(1, -(-n // rows))
    return {n - k * every for k in range(rows) if n - k * every >= 1}


def eval_schedule(steps: int, eval_every: int) -> list[int]:
    """Quiet steps after which an evaluation runs (besides step 0): every eval_every, and the last."""
    pts = list(range(eval_every, steps + 1, eval_every))
    if not pts or pts[-1] != steps:
        pts.append(steps)
    return pts


class QuietRun(RunOutput):
    def __init__(self, cfg: dict[str, Any], events: EventWriter, *, run_dir: str | None = None,
                 stop: StopFlag = NEVER, hooks: Hooks | None = None):
        self.cfg = cfg
        self.q = cfg["quiet"]
        self.ev = events
        self.run_dir = os.path.abspath(run_dir or os.environ.get("STARLAB_RUN_DIR") or os.getcwd())
        self.stop = stop
        self.hooks = hooks or Hooks()
        self.seed = int(cfg["seed"])
        self.task: Task = get_task(cfg["dataset"])
        self.total_steps = 0          # optimizer steps, warm-up included (the metrics' step)
        self.quiet_steps = 0          # Quiet-STaR optimizer steps
        self.tokens_generated = 0     # thought tokens in training + text and thought tokens at eval
        self.tokens_trained = 0       # real tokens of the training batches (warm-up included)
        self.examples_trained = 0     # warm-up examples + documents in the Quiet-STaR batches
        self.results: list[EvalResult] = []
        self.last_sample: dict[str, list] | None = None  # the last recorded step's thoughts (train_step)
        self.start_eval = 1  # > 1 when resumed from a checkpoint

    # ------------------------------------------------------------------ helpers
    def _prompt_ids(self, text: str) -> list[int]:
        ids = self.tok.encode(self.prefix + text)
        return ([self.tok.bos_id] if self.tok.bos_id is not None else []) + ids

    def _train_prompt_ids(self, text: str) -> list[int]:
        """A training prompt: the question alone, never the few-shot prefix (as STaR's warm-up)."""
        return ([self.tok.bos_id] if self.tok.bos_id is not None else []) + self.tok.encode(text)

    def _doc_ids(self, text: str) -> list[int]:
        bos = [self.tok.bos_id] if self.tok.bos_id is not None else []
        eos = [self.tok.eos_id] if self.tok.eos_id is not None else []
        return bos + self.tok.encode(text) + eos

    def _by_difficulty(self, questions: list[Any], correct: list[bool]) -> dict[int, float]:
        by: dict[int, list[bool]] = {}
        for q, ok in zip(questions, correct):
            d = self.task.difficulty(q)
            if d is not None:
                by.setdefault(int(d), []).append(ok)
        return {d: sum(v) / len(v) for d, v in sorted(by.items())}

    def _eval_metrics(self, res: EvalResult) -> dict[str, float]:
        name = getattr(self.task, "difficulty_name", "difficulty")
        vals = {"eval/accuracy": res.accuracy, "eval/base_accuracy": res.base_accuracy}
        for d, acc in res.by_difficulty.items():
            vals[f"eval/accuracy/{name}_{d}"] = acc
        return vals

    def _compute_metrics(self) -> dict[str, float]:
        return {"compute/tokens_generated": self.tokens_generated, "compute/tokens_trained": self.tokens_trained,
                "compute/tokens": self.tokens_generated + self.tokens_trained,
                "compute/examples_trained": self.examples_trained}

    # ------------------------------------------------------------------ setup
    def setup_data(self) -> None:
        cfg = self.cfg
        models.seed_everything(self.seed)
        self.splits = self.task.load(cfg, self.seed)
        self.prefix = self.task.few_shot_prefix(self.seed) if cfg["task"].get("few_shot") else ""
        self.hub = cfg["model"]["source"] == "hub"
        self.gen_batch = cfg["runtime"]["gen_batch_size"] or (32 if self.hub else 512)

    def hashes(self) -> dict[str, str]:
        from ..config import config_hash

        example = self.splits.eval[0] if self.splits.eval else self.splits.train[0]
        return {"config": config_hash(self.cfg), "data": self.splits.data_hash(),
                "prompt": self.task.prompt_spec_hash(example, self.prefix)}

    def setup_model(self) -> None:
        cfg = self.cfg
        models.set_threads(cfg["runtime"]["threads"])
        self.device = models.pick_device(cfg["runtime"]["device"])
        self.precision = models.resolve_precision(cfg["runtime"]["dtype"], source=cfg["model"]["source"],
                                                  device=self.device, finetune="full")
        self.model, self.tok = models.build(cfg["model"], self.seed, alphabet=self.task.alphabet or None,
                                            dtype=self.precision.weights)
        self.model.to(self.device)
        self.model.eval()

    # ------------------------------------------------------------------ warm-up (as STaR's)
    def warmup(self) -> None:
        w = self.cfg["warmup"]
        with self.ev.phase(0, "warmup") as ph:
            examples, rows = [], []
            for q, hinted in self.splits.warmup:
                ref = self.task.reference(q)
                if ref is None:
                    continue
                p = self.task.prompt(q, hint=hinted)
                examples.append((self._train_prompt_ids(p), self.tok.encode(self.task.training_completion(q, ref))
                                 + [self.tok.eos_id]))
                rows.append({"question_id": q.qid, "prompt": p, "completion": ref, "hinted": hinted})
            if rows:
                self._artifact("artifacts/warmup.jsonl", "jsonl", 0, rows)
            steps = w["steps"] if examples else 0
            throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
            every = max(1, steps // LOSS_EVENTS_PER_TRAIN)
            window: list[float] = []
            if steps:
                self.ev.progress(0, "warmup", 0, steps)

            def on_step(step: int, loss: float) -> None:
                window.append(loss)
                if step % every == 0 or step == steps:
                    self.ev.metrics(0, step, {"train/loss": sum(window) / len(window)})
                    window.clear()
                self._progress(throttle, 0, "warmup", step, steps)

            with self.precision.context(self.device):
                losses = finetune(self.model, examples, steps=steps, lr=w["lr"], batch_size=w["batch_size"],
                                  pad_id=self.tok.pad_id, seed=self.seed * 1009, stop=self.stop, on_step=on_step)
        self.total_steps += len(losses)
        if losses:
            mean_len = sum(len(p) + len(c) for p, c in examples) / len(examples)
            n_seen = len(losses) * min(w["batch_size"], len(examples))
            self.examples_trained += n_seen
            self.tokens_trained += int(round(n_seen * mean_len))
        vals = {"time/warmup_s": ph.duration_s, "warmup/examples": len(examples), "train/steps": len(losses)}
        if losses:
            vals["warmup/final_loss"] = sum(losses[-10:]) / len(losses[-10:])
        self.ev.metrics(0, self.total_steps, vals)
        if self.hooks.on_warmup_end:
            self.hooks.on_warmup_end(self.model)

    # ------------------------------------------------------------------ Quiet-STaR
    def setup_quiet(self) -> None:
        """Thought tokens + mixing head, the training corpus and the optimizer."""
        self.qm = quiet.QuietModel(self.model, self.tok)
        self.qm.to(self.device)
        docs = []
        for q in self.splits.train:
            ref = self.task.reference(q)
            if ref is not None:
                docs.append(self._doc_ids(self.task.training_text(q, ref)))
        if not docs:
            raise RuntimeError("quiet-star needs reference completions of the train questions; the task has none")
        order = torch.randperm(len(docs), generator=torch.Generator().manual_seed(self.seed * 7919 + 1)).tolist()
        self.rows, self.row_docs = quiet.pack_documents([docs[i] for i in order], self.q["seq_len"], self.qm.pad_id)
        self.n_docs = len(docs)
        self.opt = torch.optim.AdamW([p for p in self.qm.parameters() if p.requires_grad], lr=self.q["lr"],
                                     betas=(0.9, 0.99), weight_decay=0.001)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda(self.q["steps"]))
        self.data_gen = torch.Generator().manual_seed(self.seed * 1009 + 17)
        self.thought_gen = torch.Generator(device=self.device).manual_seed(self.seed * 100003 + 5)
        self._perm = torch.randperm(len(self.rows), generator=self.data_gen)
        self._pos = 0
        self.ev.log("info", f"quiet-star corpus: {len(docs)} documents packed into {len(self.rows)} rows of "
                            f"{self.q['seq_len']} tokens; thought tokens {self.qm.start_id}/{self.qm.end_id}")

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.rows)
        bs = min(self.q["batch_size"], n)
        if self._pos + bs > n:
            self._perm = torch.randperm(n, generator=self.data_gen)
            self._pos = 0
        idx = self._perm[self._pos: self._pos + bs]
        self._pos += bs
        return self.rows[idx], self.row_docs[idx]

    def train_step(self, record: bool = False) -> dict[str, float]:
        """One optimizer step; with ``record``, the first row's thoughts are kept in ``last_sample``
        (from tensors the loss computes anyway: no extra forward, the same RNG stream)."""
        q = self.q
        self.qm.train()
        ids, doc = self._batch()
        with self.precision.context(self.device, cache=True):
            out = quiet.quiet_loss(self.qm, ids, doc, n_thoughts=q["n_thoughts"], thought_len=q["thought_len"],
                                   n_ahead=q["n_ahead"], temperature=q["thought_temperature"],
                                   policy_weight=q["policy_weight"], generator=self.thought_gen, record=record)
        self.last_sample = out.sample
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.qm.parameters(), 1.0)
        self.opt.step()
        self.sched.step()
        self.total_steps += 1
        self.quiet_steps += 1
        self.tokens_trained += out.stats["tokens_trained"]
        self.tokens_generated += out.stats["tokens_generated"]
        self.examples_trained += int(sum(len(torch.unique(d[d >= 0])) for d in doc))
        return out.stats

    def _thought_row(self, sample: dict[str, list]) -> dict[str, Any]:
        """A recorded sample as an artifact row: the window's text and, per token, the thought
        sampled after it, its reward (null where the position has no target) and mixing weight."""
        n = min(TRAIN_THOUGHT_POSITIONS, sum(1 for d in sample["doc"] if d >= 0))
        ids = sample["ids"][:n]
        tokens = []
        for t in range(n):
            ok = bool(sample["valid"][t])
            tokens.append({"token": self.tok.decode([ids[t]], skip_special=False),
                           "thought": quiet.decode_thought(self.tok, self.qm, sample["thoughts"][t]),
                           "reward": round(float(sample["reward"][t]), 5) if ok else None,
                           "w": round(float(sample["w"][t]), 5)})
        # "step" is the metrics' step (warm-up included) so a row lines up with the training curves
        return {"step": self.total_steps, "quiet_step": self.quiet_steps, "text": self.tok.decode(ids), "tokens": tokens}

    def train_until(self, iteration: int, target: int) -> None:
        """Quiet-STaR steps up to quiet step ``target`` (the train phase of evaluation ``iteration``)."""
        n = target - self.quiet_steps
        throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
        every = max(1, n // LOSS_EVENTS_PER_TRAIN)
        window: dict[str, list[float]] = {k: [] for k in STEP_METRICS}
        # The whole phase reruns after a resume (checkpoints follow evaluations), and so do its rows.
        recorded, thought_rows = record_steps(n), []
        with self.ev.phase(iteration, "train") as ph:
            self.ev.progress(iteration, "train", 0, n)
            for i in range(1, n + 1):
                self.stop.check()
                stats = self.train_step(record=i in recorded)
                if i in recorded and self.last_sample is not None:
                    thought_rows.append(self._thought_row(self.last_sample))
                for k in STEP_METRICS:
                    window[k].append(stats[k])
                if self.hooks.on_step:
                    self.hooks.on_step(self.quiet_steps, stats)
                if i % every == 0 or i == n:
                    mean = {k: sum(v) / len(v) for k, v in window.items() if v}
                    vals = {"train/loss": mean["loss"], "quiet/step": self.quiet_steps,
                            "tokens/trained": self.tokens_trained, "tokens/generated": self.tokens_generated,
                            "train/lr": self.sched.get_last_lr()[0]}
                    vals.update({f"quiet/{k}": v for k, v in mean.items() if k != "loss"})
                    vals["quiet/mix_weight_min"] = min(window["mix_weight_min"])
                    vals["quiet/mix_weight_max"] = max(window["mix_weight_max"])
                    self.ev.metrics(iteration, self.total_steps, vals)
                    for v in window.values():
                        v.clear()
                self._progress(throttle, iteration, "train", i, n)
            if thought_rows:
                self._artifact(f"artifacts/train_{iteration}/thoughts.jsonl", "jsonl", iteration, thought_rows)
        self.last_train_s = ph.duration_s

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, iteration: int) -> EvalResult:
        q = self.q
        qs = self.splits.eval
        with self.ev.phase(iteration, "evaluate") as ph:
            prompts = [self._prompt_ids(self.task.prompt(x)) for x in qs]
            throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
            total = 2 * len(prompts)
            self.ev.progress(iteration, "evaluate", 0, total)
            common = dict(max_new_tokens=q["max_new_tokens"], thought_len=q["thought_len"],
                          stop_strings=self.task.stop_strings, batch_size=self.gen_batch, stop=self.stop)
            t0 = time.perf_counter()
            with self.precision.context(self.device, cache=True):
                gens = quiet.generate(self.qm, self.tok, prompts, use_thoughts=True, thought_temperature=0.0,
                                      on_batch=lambda d, t: self._progress(throttle, iteration, "evaluate", d, total),
                                      **common)
            t_think = time.perf_counter() - t0
            t0 = time.perf_counter()
            with self.precision.context(self.device, cache=True):
                base = quiet.generate(self.qm, self.tok, prompts, use_thoughts=False,
                                      on_batch=lambda d, t: self._progress(throttle, iteration, "evaluate",
                                                                           len(prompts) + d, total), **common)
            t_base = time.perf_counter() - t0
            items, correct, base_correct, thought_rows, all_w = [], [], [], [], []
            for i, (x, g, b) in enumerate(zip(qs, gens, base)):
                text = self.task.clean_completion(self.tok.decode(g.ids))
                ans = self.task.extract_answer(text, x)
                ok = self.task.is_correct(ans, x.gold)
                btext = self.task.clean_completion(self.tok.decode(b.ids))
                bok = self.task.is_correct(self.task.extract_answer(btext, x), x.gold)
                correct.append(ok)
                base_correct.append(bok)
                all_w.extend(g.weights)
                scores = {"base_correct": float(bok)}
                if g.weights:
                    scores["mix_weight_mean"] = sum(g.weights) / len(g.weights)
                items.append(dict(question_id=x.qid, split="eval", kind="eval", question=self.task.question_text(x),
                                  text=text, answer=ans, gold=x.gold, correct=ok, hint_used=False,
                                  difficulty=self.task.difficulty(x), scores=scores))
                if i < THOUGHT_EXAMPLES:
                    thought_rows.append({
                        "question_id": x.qid, "question": self.task.question_text(x), "gold": x.gold,
                        "completion": text, "correct": ok, "base_completion": btext, "base_correct": bok,
                        "tokens": [{"token": self.tok.decode([t]), "thought": quiet.decode_thought(self.tok, self.qm, th),
                                    "w": round(w, 5)} for t, th, w in zip(g.ids, g.thoughts, g.weights)]})
            self._emit_samples(iteration, items)
            self._artifact(f"artifacts/eval_{iteration}/thoughts.jsonl", "jsonl", iteration, thought_rows)
        n_text = sum(len(g.ids) for g in gens) + sum(len(b.ids) for b in base)
        n_thought = sum(len(g.ids) * (q["thought_len"] + 2) for g in gens)
        self.tokens_generated += n_text + n_thought
        res = EvalResult(iteration, self.quiet_steps, sum(correct) / max(1, len(correct)),
                         self._by_difficulty(qs, correct), sum(base_correct) / max(1, len(base_correct)),
                         self._by_difficulty(qs, base_correct))
        res.extra = {"time/evaluate_s": ph.duration_s,
                     "eval/tokens_per_s": sum(len(g.ids) for g in gens) / max(t_think, 1e-9),
                     "eval/base_tokens_per_s": sum(len(b.ids) for b in base) / max(t_base, 1e-9)}
        if all_w:
            res.extra["eval/mix_weight_mean"] = sum(all_w) / len(all_w)
        return res

    def _record_eval(self, res: EvalResult) -> None:
        self.results.append(res)
        vals = {**self._eval_metrics(res), **res.extra, "quiet/step": res.step, **self._compute_metrics()}
        if res.iteration > 0:
            vals["time/train_s"] = self.last_train_s
        self.ev.metrics(res.iteration, self.total_steps, vals)
        by = ", ".join(f"{d}: {a:.2f}" for d, a in res.by_difficulty.items())
        self.ev.log("info", f"evaluation {res.iteration} (quiet step {res.step}): accuracy {res.accuracy:.3f}"
                            + (f" ({by})" if by else "") + f", without thoughts {res.base_accuracy:.3f}")
        if self.hooks.on_eval_end:
            self.hooks.on_eval_end(res.iteration, res)

    # ------------------------------------------------------------------ resume
    def save_checkpoint(self, iteration: int) -> None:
        """Everything the next training step depends on: the model with its thought embeddings and
        mixing head, the optimizer and schedule, the data order and both RNG streams — tensors
        and plain values only (checkpoint.save_tensors writes them without pickle; the tensors
        are stored detached, on the CPU, tied weights once)."""
        from .. import checkpoint

        tensors = {"qm": self.qm.state_dict(),
                   "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                   "data_gen": self.data_gen.get_state(), "thought_gen": self.thought_gen.get_state(),
                   "perm": self._perm, "pos": self._pos}
        state = {"results": [dataclasses.asdict(r) for r in self.results], "total_steps": self.total_steps,
                 "quiet_steps": self.quiet_steps, "tokens_generated": self.tokens_generated,
                 "tokens_trained": self.tokens_trained, "examples_trained": self.examples_trained}
        checkpoint.save_tensors(self.run_dir, iteration, self.cfg, tensors, state, identity=self.identity())

    def identity(self) -> dict[str, str]:
        from .star import task_versions

        h = self.hashes()
        return {"data": h["data"], "prompt": h["prompt"], **task_versions(self.task)}

    def resume(self) -> int | None:
        from .. import checkpoint

        ck = checkpoint.load_tensors(self.run_dir, self.cfg, identity=self.identity())
        if ck is None:
            return None
        n, tensors, state = ck
        self.setup_quiet()  # the same thought tokens, corpus and optimizer shapes as the first process
        self.qm.load_state_dict(tensors["qm"])
        self.opt.load_state_dict(tensors["opt"])
        self.sched.load_state_dict(tensors["sched"])
        self.data_gen.set_state(tensors["data_gen"])
        self.thought_gen.set_state(tensors["thought_gen"])
        self._perm, self._pos = tensors["perm"], tensors["pos"]
        for k in ("total_steps", "quiet_steps", "tokens_generated", "tokens_trained", "examples_trained"):
            setattr(self, k, state[k])
        self.results = [EvalResult(r["iteration"], r["step"], r["accuracy"], {int(d): a for d, a in r["by_difficulty"].items()},
                                   r["base_accuracy"], {int(d): a for d, a in r["base_by_difficulty"].items()},
                                   r.get("extra", {})) for r in state["results"]]
        self.start_eval = n + 1
        return n

    # ------------------------------------------------------------------ main
    def run(self) -> list[EvalResult]:
        t0 = time.perf_counter()
        if self.start_eval == 1:
            self.warmup()
            self.setup_quiet()
            self._record_eval(self.evaluate(0))
            self._artifact("artifacts/data/eval.jsonl", "jsonl", None, [self.task.question_record(x) for x in self.splits.eval])
            self._artifact("artifacts/data/train.jsonl", "jsonl", None, [self.task.question_record(x) for x in self.splits.train])
        for i, target in enumerate(eval_schedule(self.q["steps"], self.q["eval_every"]), start=1):
            if i < self.start_eval:
                continue
            self.stop.check()
            self.train_until(i, target)
            self._record_eval(self.evaluate(i))
            self.save_checkpoint(i)
        summary = {
            "accuracy": [r.accuracy for r in self.results],
            "base_accuracy": [r.base_accuracy for r in self.results],
            "by_difficulty": [{str(d): a for d, a in r.by_difficulty.items()} for r in self.results],
            "steps": [r.step for r in self.results],
            "thought_tokens": [self.qm.start_id, self.qm.end_id],
            "corpus": {"documents": self.n_docs, "rows": len(self.rows), "seq_len": self.q["seq_len"]},
            "elapsed_s": time.perf_counter() - t0,
        }
        self._artifact("artifacts/summary.json", "json", None, summary)
        if os.environ.get("STARLAB_SAVE_MODEL") == "1":
            rel = "artifacts/final_model"
            path = os.path.join(self.run_dir, rel)
            self.qm.lm.save_pretrained(path)
            self.tok.save_pretrained(path)
            # safetensors + JSON, like the checkpoints: nothing in a run directory is a pickle
            from ..safe_state import save_weights

            save_weights(dict(self.qm.head.state_dict()), os.path.join(path, "quiet_head.safetensors"))
            with open(os.path.join(path, "quiet_head.json"), "w", encoding="utf-8") as f:
                json.dump({"start_id": self.qm.start_id, "end_id": self.qm.end_id}, f)
            self.ev.artifact("final_model", "model", rel, iteration=len(self.results) - 1)
        return self.results


def run(cfg: dict[str, Any], events: EventWriter, *, run_dir: str | None = None, stop: StopFlag = NEVER,
        hooks: Hooks | None = None, emit_run_start: bool = True, run_id: str | None = None,
        resume: bool = False) -> list[EvalResult]:
    """Run Quiet-STaR: run_start (config, environment, hashes), warm-up, evaluation 0, then
    training with an evaluation every eval_every steps, checkpointed after each evaluation;
    with ``resume``, continue after the run directory's last checkpoint."""
    from .star import drive

    r = QuietRun(cfg, events, run_dir=run_dir, stop=stop, hooks=hooks)
    return drive(r, cfg, events, emit_run_start=emit_run_start, run_id=run_id, resume=resume, unit="evaluation")
