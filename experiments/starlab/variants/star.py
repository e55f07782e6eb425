"""STaR with rationalization (Zelikman et al. 2022, Algorithm 1) on the addition task.

iteration 0: the starting model M0 — for a tiny model, a warm-up fine-tune standing in for
             the few-shot prompt (for a hub model with warmup.steps = 0: the pretrained model
             with a few-shot prefix) — evaluated on the held-out split.
n = 1..N:    sample one rationale per training question with M_{n-1} (greedy at temperature 0);
             keep the correct ones; for each wrong one, with probability p_rationalization,
             sample again with the gold answer as a hint and keep it if it reaches the gold —
             saved WITHOUT the hint; fine-tune from the base (warm-up) weights
             (restart_from_base) on the kept set for steps_n = round_half_up(base_steps ·
             step_growth^(n−1)) steps; evaluate M_n on the held-out split.
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .. import models
from ..events import EventWriter
from ..generate import generate
from ..stopping import NEVER, StopFlag
from ..tasks import addition
from ..train import finetune

SAMPLES_PER_EVENT = 200
PROGRESS_MIN_INTERVAL_S = 0.5
LOSS_EVENTS_PER_TRAIN = 20


def steps_for_iteration(base_steps: int, step_growth: float, n: int) -> int:
    """Fine-tuning steps of iteration n ≥ 1: base_steps · step_growth^(n−1), rounded half up,
    at least 1 (150, 180, 216, 259, 311 for 150 × 1.2)."""
    if n < 1:
        raise ValueError("iterations are numbered from 1")
    return max(1, int(math.floor(base_steps * step_growth ** (n - 1) + 0.5)))


@dataclass
class Hooks:
    """Optional callbacks (used by tests and embedders)."""
    on_warmup_end: Callable[[torch.nn.Module], None] | None = None
    on_train_start: Callable[[int, torch.nn.Module, list[dict[str, Any]]], None] | None = None
    on_iteration_end: Callable[[int, dict[str, Any]], None] | None = None


@dataclass
class IterationResult:
    iteration: int
    accuracy: float
    by_digits: dict[int, float]
    kept: int = 0
    steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class _Throttle:
    def __init__(self, interval: float):
        self.interval, self.last = interval, 0.0

    def ready(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self.last >= self.interval:
            self.last = now
            return True
        return False


class StarRun:
    def __init__(self, cfg: dict[str, Any], events: EventWriter, *, run_dir: str | None = None,
                 stop: StopFlag = NEVER, hooks: Hooks | None = None):
        self.cfg = cfg
        self.ev = events
        self.run_dir = os.path.abspath(run_dir or os.environ.get("STARLAB_RUN_DIR") or os.getcwd())
        self.stop = stop
        self.hooks = hooks or Hooks()
        self.seed = int(cfg["seed"])
        self.total_steps = 0  # cumulative optimizer steps (warm-up included): the metrics' step
        self.results: list[IterationResult] = []

    # ------------------------------------------------------------------ helpers
    def _prompt_ids(self, text: str) -> list[int]:
        ids = self.tok.encode(self.prefix + text)
        return ([self.tok.bos_id] if self.tok.bos_id is not None else []) + ids

    def _completion_ids(self, completion: str) -> list[int]:
        return self.tok.encode(completion) + [self.tok.eos_id]

    def _progress(self, throttle: _Throttle, iteration: int, phase: str, done: int, total: int) -> None:
        if throttle.ready(force=done >= total):
            self.ev.progress(iteration, phase, done, total)

    def _emit_samples(self, iteration: int, items: list[dict[str, Any]]) -> None:
        for i in range(0, len(items), SAMPLES_PER_EVENT):
            self.ev.samples(iteration, items[i: i + SAMPLES_PER_EVENT])

    def _artifact(self, rel: str, kind: str, iteration: int | None, rows: list[dict[str, Any]] | dict[str, Any]) -> None:
        path = os.path.join(self.run_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            if isinstance(rows, list):
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
            else:
                json.dump(rows, f, ensure_ascii=False, indent=1)
        self.ev.artifact(os.path.basename(rel), kind, rel, size=os.path.getsize(path), iteration=iteration)

    def _decode(self, questions: list[addition.Question], *, hint: bool, iteration: int, phase: str) -> list[str]:
        loop = self.cfg["loop"]
        prompts = [self._prompt_ids(addition.prompt(q, hint=hint)) for q in questions]
        throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
        if phase in ("sample", "rationalize"):
            self.ev.progress(iteration, phase, 0, len(prompts))
        gen = torch.Generator(device=self.device).manual_seed(self.seed * 100003 + iteration * 7 + (1 if hint else 0))
        outs = generate(self.model, self.tok, prompts, max_new_tokens=loop["max_new_tokens"],
                        temperature=loop["temperature"], batch_size=self.gen_batch, generator=gen, stop=self.stop,
                        on_batch=lambda d, t: self._progress(throttle, iteration, phase, d, t) if phase != "evaluate" else None)
        return [addition.clean_completion(self.tok.decode(o)) for o in outs]

    def _train(self, iteration: int, examples: list[tuple[list[int], list[int]]], steps: int, lr: float,
               batch_size: int, phase: str) -> list[float]:
        start = self.total_steps
        throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
        every = max(1, steps // LOSS_EVENTS_PER_TRAIN)
        window: list[float] = []
        self.ev.progress(iteration, phase, 0, steps)

        def on_step(step: int, loss: float) -> None:
            window.append(loss)
            if step % every == 0 or step == steps:
                self.ev.metrics(iteration, start + step, {"train/loss": sum(window) / len(window)})
                window.clear()
            self._progress(throttle, iteration, phase, step, steps)

        losses = finetune(self.model, examples, steps=steps, lr=lr, batch_size=batch_size,
                          pad_id=self.tok.pad_id, seed=self.seed * 1009 + iteration, stop=self.stop, on_step=on_step)
        self.total_steps += len(losses)
        return losses

    def _evaluate(self, iteration: int) -> IterationResult:
        with self.ev.phase(iteration, "evaluate") as ph:
            outs = self._decode(self.splits.eval, hint=False, iteration=iteration, phase="evaluate")
            items = []
            correct_by: dict[int, list[bool]] = {}
            for q, text in zip(self.splits.eval, outs):
                ans = addition.extract_answer(text)
                ok = addition.is_correct(ans, q.gold)
                correct_by.setdefault(q.digits, []).append(ok)
                items.append(dict(question_id=q.qid, split="eval", kind="eval", question=addition.question_text(q),
                                  text=text, answer=ans, gold=q.gold, correct=ok, hint_used=False, difficulty=q.digits))
            self._emit_samples(iteration, items)
        n_ok = sum(sum(v) for v in correct_by.values())
        n = sum(len(v) for v in correct_by.values())
        by = {d: sum(v) / len(v) for d, v in sorted(correct_by.items())}
        res = IterationResult(iteration, n_ok / max(1, n), by)
        res.extra["time/evaluate_s"] = ph.duration_s
        return res

    def _eval_metrics(self, res: IterationResult) -> dict[str, float]:
        vals = {"eval/accuracy": res.accuracy}
        for d, acc in res.by_digits.items():
            vals[f"eval/accuracy/digits_{d}"] = acc
        return vals

    # ------------------------------------------------------------------ main
    def setup_data(self) -> None:
        """Splits and prompt prefix (no model yet), so run_start can carry the data hash."""
        cfg = self.cfg
        models.seed_everything(self.seed)
        t, w = cfg["task"], cfg["warmup"]
        self.splits = addition.make_splits(
            seed=self.seed, min_digits=t["min_digits"], max_digits=t["max_digits"],
            train_per_digit=t["train_per_digit"], eval_per_digit=t["eval_per_digit"],
            warmup_examples=w["examples"], warmup_max_digits=w["max_digits"], hinted_fraction=w["hinted_fraction"])
        hub = cfg["model"]["source"] == "hub"
        # A pretrained model without a warm-up gets the few-shot prefix (the paper's prompt P).
        self.prefix = addition.few_shot_prefix(self.seed) if hub and w["steps"] == 0 else ""
        self.gen_batch = max(1, cfg["loop"]["batch_size"]) if hub else 512

    def setup_model(self) -> None:
        cfg = self.cfg
        models.set_threads(cfg["runtime"]["threads"])
        self.device = models.pick_device(cfg["runtime"]["device"])
        self.model, self.tok = models.build(cfg["model"], self.seed)
        self.model.to(self.device)
        self.model.eval()

    def hashes(self) -> dict[str, str]:
        from ..config import config_hash

        return {"config": config_hash(self.cfg), "data": self.splits.data_hash(),
                "prompt": addition.prompt_spec_hash(self.prefix)}

    def warmup(self) -> None:
        w = self.cfg["warmup"]
        with self.ev.phase(0, "warmup") as ph:
            examples = []
            rows = []
            for q, hinted in self.splits.warmup:
                p = addition.prompt(q, hint=hinted)
                examples.append((self._prompt_ids(p), self._completion_ids(addition.rationale(q))))
                rows.append({"question_id": q.qid, "prompt": p, "completion": addition.rationale(q), "hinted": hinted})
            if rows:
                self._artifact("artifacts/warmup.jsonl", "jsonl", 0, rows)
            losses = self._train(0, examples, w["steps"], w["lr"], w["batch_size"], "warmup")
        vals = {"time/warmup_s": ph.duration_s, "warmup/examples": len(examples), "train/steps": len(losses)}
        if losses:
            vals["warmup/final_loss"] = sum(losses[-10:]) / len(losses[-10:])
        self.ev.metrics(0, self.total_steps, vals)
        self.base_state = models.state_copy(self.model)
        if self.hooks.on_warmup_end:
            self.hooks.on_warmup_end(self.model)

    def iteration(self, n: int) -> IterationResult:
        loop = self.cfg["loop"]
        t_iter = time.perf_counter()
        train_qs = self.splits.train
        # 1. sample one rationale per training question with M_{n-1}
        with self.ev.phase(n, "sample") as ph_sample:
            outs = self._decode(train_qs, hint=False, iteration=n, phase="sample")
        direct = []
        kept: list[dict[str, Any]] = []
        wrong: list[int] = []
        for i, (q, text) in enumerate(zip(train_qs, outs)):
            ans = addition.extract_answer(text)
            ok = addition.is_correct(ans, q.gold)
            direct.append(dict(question_id=q.qid, split="train", kind="direct", question=addition.question_text(q),
                               text=text, answer=ans, gold=q.gold, correct=ok, hint_used=False, kept=ok,
                               difficulty=q.digits))
            if ok:
                kept.append({"question_id": q.qid, "question": addition.question_text(q), "completion": text,
                             "text": addition.training_text(q, text), "rationalized": False, "digits": q.digits})
            else:
                wrong.append(i)
        self._emit_samples(n, direct)
        solved_direct = len(kept)
        # 2. rationalize the wrong ones: the gold answer as a hint, saved without it
        rat_items = []
        rat_ok = 0
        rat_attempted = 0
        t_rat = 0.0
        if loop["rationalize"]:
            rng = random.Random(f"rationalize:{self.seed}:{n}")
            chosen = [i for i in wrong if rng.random() < loop["p_rationalization"]]
            rat_attempted = len(chosen)
            with self.ev.phase(n, "rationalize") as ph_rat:
                qs = [train_qs[i] for i in chosen]
                outs_h = self._decode(qs, hint=True, iteration=n, phase="rationalize") if qs else []
                for q, text in zip(qs, outs_h):
                    ans = addition.extract_answer(text)
                    ok = addition.is_correct(ans, q.gold)
                    rat_items.append(dict(question_id=q.qid, split="train", kind="rationalized",
                                          question=addition.prompt(q, hint=True), text=text, answer=ans, gold=q.gold,
                                          correct=ok, hint_used=True, kept=ok, difficulty=q.digits))
                    if ok:
                        rat_ok += 1
                        kept.append({"question_id": q.qid, "question": addition.question_text(q), "completion": text,
                                     "text": addition.training_text(q, text), "rationalized": True,
                                     "digits": q.digits})
                self._emit_samples(n, rat_items)
            t_rat = ph_rat.duration_s
        self._artifact(f"artifacts/iter_{n}/kept.jsonl", "jsonl", n, kept)
        # 3. fine-tune (from the base weights) on the kept set
        steps = steps_for_iteration(loop["base_steps"], loop["step_growth"], n)
        with self.ev.phase(n, "train") as ph_train:
            if loop["restart_from_base"]:
                self.model.load_state_dict(self.base_state)
            if self.hooks.on_train_start:
                self.hooks.on_train_start(n, self.model, kept)
            examples = [(self._prompt_ids(k["question"]), self._completion_ids(k["completion"])) for k in kept]
            if not examples:
                self.ev.log("warning", f"iteration {n}: nothing kept, the model is not fine-tuned this iteration")
            losses = self._train(n, examples, steps if examples else 0, loop["lr"], loop["batch_size"], "train")
        # 4. evaluate M_n on the held-out split
        res = self._evaluate(n)
        res.kept, res.steps = len(kept), len(losses)
        attempted = len(train_qs)
        vals = {
            "train/attempted": attempted,
            "train/solved_direct": solved_direct,
            "train/rationalize_attempted": rat_attempted,
            "train/rationalized": rat_ok,
            "train/kept": len(kept),
            "train/kept_fraction": len(kept) / max(1, attempted),
            "train/steps": len(losses),
            "time/sample_s": ph_sample.duration_s,
            "time/rationalize_s": t_rat,
            "time/train_s": ph_train.duration_s,
            "time/evaluate_s": res.extra["time/evaluate_s"],
            "time/iteration_s": time.perf_counter() - t_iter,
            **self._eval_metrics(res),
        }
        if losses:
            vals["train/loss"] = sum(losses[-10:]) / len(losses[-10:])
        for d in addition.digits_of(train_qs):
            qs_d = [i for i, q in enumerate(train_qs) if q.digits == d]
            vals[f"train/solved_direct/digits_{d}"] = sum(direct[i]["correct"] for i in qs_d) / len(qs_d)
        self.ev.metrics(n, self.total_steps, vals)
        if self.hooks.on_iteration_end:
            self.hooks.on_iteration_end(n, vals)
        return res

    def run(self) -> list[IterationResult]:
        t0 = time.perf_counter()
        self.warmup()
        res0 = self._evaluate(0)
        self.results.append(res0)
        self.ev.metrics(0, self.total_steps, {**self._eval_metrics(res0), "time/evaluate_s": res0.extra["time/evaluate_s"]})
        self._artifact("artifacts/data/eval.jsonl", "jsonl", None,
                       [addition.question_record(q) for q in self.splits.eval])
        self._artifact("artifacts/data/train.jsonl", "jsonl", None,
                       [addition.question_record(q) for q in self.splits.train])
        for n in range(1, self.cfg["loop"]["iterations"] + 1):
            self.stop.check()
            res = self.iteration(n)
            self.results.append(res)
            self.ev.log("info", f"iteration {n}: eval accuracy {res.accuracy:.3f} "
                                f"({', '.join(f'{d}d {a:.2f}' for d, a in res.by_digits.items())}), kept {res.kept}")
        summary = {
            "accuracy": [r.accuracy for r in self.results],
            "by_digits": [{str(d): a for d, a in r.by_digits.items()} for r in self.results],
            "kept": [r.kept for r in self.results],
            "steps": [r.steps for r in self.results],
            "elapsed_s": time.perf_counter() - t0,
        }
        self._artifact("artifacts/summary.json", "json", None, summary)
        if os.environ.get("STARLAB_SAVE_MODEL") == "1":
            rel = "artifacts/final_model"
            self.model.save_pretrained(os.path.join(self.run_dir, rel))
            self.tok.save_pretrained(os.path.join(self.run_dir, rel))
            self.ev.artifact("final_model", "model", rel, iteration=len(self.results) - 1)
        return self.results


def run(cfg: dict[str, Any], events: EventWriter, *, run_dir: str | None = None, stop: StopFlag = NEVER,
        hooks: Hooks | None = None, emit_run_start: bool = True, run_id: str | None = None) -> list[IterationResult]:
    """Run the whole loop: run_start (config, environment, hashes), warm-up, iterations."""
    r = StarRun(cfg, events, run_dir=run_dir, stop=stop, hooks=hooks)
    r.setup_data()
    if emit_run_start:
        from ..events import collect_env

        env = collect_env(import_torch=True)
        env["run_id"] = run_id
        env["device"] = cfg["runtime"]["device"]
        events.run_start(cfg, env, r.hashes())
    r.setup_model()
    return r.run()
