"""STaR (Zelikman et al. 2022, Algorithm 1) and its rationalization ablation, on any task.

iteration 0: the starting model M0 — for a tiny model, a warm-up fine-tune on reference
             rationales standing in for the few-shot prompt (for a hub model: the pretrained
             model, with the task's few-shot prefix when task.few_shot) — evaluated on the
             held-out split.
n = 1..N:    sample samples_per_question rationales per training question with M_{n-1}
             (near-greedy by default); keep the distinct correct ones; ``star`` only: for each
             question with none correct, with probability p_rationalization, sample again with
             the gold answer as a hint and keep it if it reaches the gold — saved WITHOUT the
             hint; fine-tune from the base weights (restart_from_base) on the kept set for
             steps_n = round_half_up(base_steps · step_growth^(n−1)) steps, fully or with a
             fresh LoRA adapter — a step being loop.batch_size examples, or with loop.pack
             that many rows of whole examples packed to loop.pack_len tokens, as the reference
             (train.py), at loop.lr_schedule; evaluate M_n on the held-out split.

``star-norat`` is the same loop without the rationalization step; V-STaR's generator
(variants/vstar.py) subclasses this runner.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .. import models
from ..events import EventWriter
from .. import seeds
from .common import LOSS_EVENTS_PER_TRAIN, PROGRESS_MIN_INTERVAL_S, RunOutput, _Throttle
from ..generate import generate
from ..stopping import NEVER, StopFlag
from ..tasks import Task, get_task
from ..train import TrainStats, finetune



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
    by_difficulty: dict[int, float]  # accuracy per task.difficulty (digits for addition)
    kept: int = 0
    steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class StarRun(RunOutput):
    """One STaR-family run. Subclasses (V-STaR) override the marked extension points."""

    def __init__(self, cfg: dict[str, Any], events: EventWriter, *, run_dir: str | None = None,
                 stop: StopFlag = NEVER, hooks: Hooks | None = None):
        self.cfg = cfg
        self.ev = events
        self.run_dir = os.path.abspath(run_dir or os.environ.get("STARLAB_RUN_DIR") or os.getcwd())
        self.stop = stop
        self.hooks = hooks or Hooks()
        self.seed = int(cfg["seed"])
        self.task: Task = get_task(cfg["dataset"])
        self.rationalize = cfg["variant"] == "star"
        self.total_steps = 0  # cumulative optimizer steps (warm-up included): the metrics' step
        self.tokens_generated = 0  # compute counters for the compare view's x-axes
        self.tokens_trained = 0
        self.examples_trained = 0
        self.last_train_stats: TrainStats | None = None  # what the last fine-tune trained
        self.results: list[IterationResult] = []
        self.start_iteration = 1  # > 1 when resumed from a checkpoint

    # ------------------------------------------------------------------ helpers
    def _prompt_ids(self, text: str, hint: bool = False) -> list[int]:
        """A sampling prompt: the few-shot prefix (hinted exemplars for a hinted prompt), then the question."""
        ids = self.tok.encode((self.prefix_hint if hint else self.prefix) + text)
        return ([self.tok.bos_id] if self.tok.bos_id is not None else []) + ids

    def _train_prompt_ids(self, text: str) -> list[int]:
        """A training prompt: the question alone — STaR fine-tunes on fmt(x) ⊕ r ⊕ <eos>, never on
        the few-shot prefix (which would also multiply the tokens trained on)."""
        ids = self.tok.encode(text)
        return ([self.tok.bos_id] if self.tok.bos_id is not None else []) + ids

    def _completion_ids(self, prompt: str, completion: str) -> list[int]:
        """A completion's ids as they follow the prompt's (``tok.encode_continuation``: the tokens
        a sampler emits for it, never a separately encoded completion), then <eos>."""
        return self.tok.encode_continuation(prompt, completion) + [self.tok.eos_id]

    def _decode(self, questions: list[Any], *, hint: bool, iteration: int, phase: str, samples: int = 1,
                temperature: float | None = None) -> list[str]:
        """Completions for each question, ``samples`` per question in question order
        (q0 s0, q0 s1, …, q1 s0, …), cleaned by the task."""
        loop = self.cfg["loop"]
        temp = loop["temperature"] if temperature is None else temperature
        prompts = [self._prompt_ids(self.task.prompt(q, hint=hint), hint) for q in questions for _ in range(samples)]
        throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
        if phase != "evaluate":
            self.ev.progress(iteration, phase, 0, len(prompts))
        gen = torch.Generator(device=self.device).manual_seed(seeds.sample_seed(self.seed, iteration, phase))  # one stream per phase
        with self.amp():
            outs = generate(self.model, self.tok, prompts, max_new_tokens=loop["max_new_tokens"],
                            temperature=temp, batch_size=self.gen_batch, generator=gen, stop=self.stop,
                            stop_strings=self.task.stop_strings,
                            on_batch=lambda d, t: self._progress(throttle, iteration, phase, d, t) if phase != "evaluate" else None)
        self.tokens_generated += sum(len(o) for o in outs)
        return [self.task.clean_completion(self.tok.decode(o)) for o in outs]

    def _fit_options(self, phase: str) -> dict[str, Any]:
        """How ``finetune`` batches and schedules a fine-tune of this phase. The iterations'
        ("train"): loop.pack / pack_len / lr_schedule / warmup_steps / micro_batch_size; a loop
        without those keys (a config written before them, V-STaR's generator) and the warm-up
        train as before: unpacked batches, 5% warm-up then cosine to 0, one forward a step."""
        loop = self.cfg["loop"]
        if phase != "train":
            return {"pack_len": 0, "lr_schedule": "cosine", "warmup_steps": 0, "micro_batch_size": 0}
        return {"pack_len": int(loop["pack_len"]) if loop.get("pack", False) else 0,
                "lr_schedule": loop.get("lr_schedule", "cosine"), "warmup_steps": int(loop.get("warmup_steps", 0)),
                "micro_batch_size": int(loop.get("micro_batch_size", 0))}

    def _train(self, iteration: int, examples: list[tuple[list[int], list[int]]], steps: int, lr: float,
               batch_size: int, phase: str, **options: Any) -> list[float]:
        """Fine-tune for ``steps`` steps (``finetune``), logging the loss and progress, and count
        what was trained. ``options`` (finetune's pack_len, lr_schedule, warmup_steps,
        micro_batch_size) override ``_fit_options(phase)``."""
        opts = {**self._fit_options(phase), **options}
        stats = TrainStats()
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

        with self.amp():
            losses = finetune(self.model, examples, steps=steps, lr=lr, batch_size=batch_size,
                              pad_id=self.tok.pad_id, seed=seeds.derive(self.seed, "finetune", iteration), stop=self.stop, on_step=on_step,
                              stats=stats, **opts)
        self.total_steps += len(losses)
        # what the batches really held (packed rows hold several examples; tokens without padding)
        self.examples_trained += stats.examples
        self.tokens_trained += stats.tokens
        self.last_train_stats = stats
        return losses

    @staticmethod
    def _train_stat_metrics(stats: TrainStats | None) -> dict[str, float]:
        """Per-step averages of the last fine-tune: examples and real tokens a step trained on,
        and (packed) examples per sequence."""
        if stats is None or stats.steps == 0:
            return {}
        out = {"train/examples_per_step": stats.examples / stats.steps, "train/tokens_per_step": stats.tokens / stats.steps}
        if stats.sequences:
            out["train/examples_per_sequence"] = stats.examples / stats.sequences
        return out

    def _difficulty_metrics(self, prefix: str, questions: list[Any], correct: list[bool]) -> dict[str, float]:
        """``{prefix}/{name}_{d}``: accuracy per difficulty level (addition: digits_1, …)."""
        by: dict[int, list[bool]] = {}
        for q, ok in zip(questions, correct):
            d = self.task.difficulty(q)
            if d is not None:
                by.setdefault(d, []).append(ok)
        name = self.task.difficulty_name
        return {f"{prefix}/{name}_{d}": sum(v) / len(v) for d, v in sorted(by.items())}

    def _evaluate(self, iteration: int) -> IterationResult:
        with self.ev.phase(iteration, "evaluate") as ph:
            qs = self.splits.eval
            outs = self._decode(qs, hint=False, iteration=iteration, phase="evaluate", temperature=0.0)
            items, correct = [], []
            for q, text in zip(qs, outs):
                ans = self.task.extract_answer(text, q)
                ok = self.task.is_correct(ans, q.gold)
                correct.append(ok)
                items.append(dict(question_id=q.qid, split="eval", kind="eval", question=self.task.question_text(q),
                                  text=text, answer=ans, gold=q.gold, correct=ok, hint_used=False,
                                  difficulty=self.task.difficulty(q)))
            self._emit_samples(iteration, items)
        by = {int(k.rsplit("_", 1)[1]): v for k, v in self._difficulty_metrics("eval/accuracy", qs, correct).items()}
        res = IterationResult(iteration, sum(correct) / max(1, len(correct)), by)
        res.extra["time/evaluate_s"] = ph.duration_s
        return res

    def _eval_metrics(self, res: IterationResult) -> dict[str, float]:
        vals = {"eval/accuracy": res.accuracy}
        for d, acc in res.by_difficulty.items():
            vals[f"eval/accuracy/{self.task.difficulty_name}_{d}"] = acc
        return vals

    def _compute_metrics(self) -> dict[str, float]:
        return {"compute/tokens_generated": self.tokens_generated, "compute/tokens_trained": self.tokens_trained,
                "compute/tokens": self.tokens_generated + self.tokens_trained,
                "compute/examples_trained": self.examples_trained}

    # ------------------------------------------------------------------ main
    def setup_data(self) -> None:
        """Splits and prompt prefix (no model yet), so run_start can carry the data hash."""
        cfg = self.cfg
        models.seed_everything(self.seed)
        self.splits = self.task.load(cfg, self.seed)
        hub = cfg["model"]["source"] == "hub"
        few = cfg["task"]["few_shot"]
        self.prefix = self.task.few_shot_prefix(self.seed) if few else ""
        self.prefix_hint = self.task.few_shot_prefix(self.seed, hint=True) if few else ""
        self.gen_batch = cfg["runtime"]["gen_batch_size"] or (32 if hub else 512)

    def setup_model(self) -> None:
        cfg = self.cfg
        models.set_threads(cfg["runtime"]["threads"])
        self.device = models.pick_device(cfg["runtime"]["device"])
        self.lora = cfg["loop"]["finetune"] == "lora"
        self.precision = models.resolve_precision(cfg["runtime"]["dtype"], source=cfg["model"]["source"],
                                                  device=self.device, finetune=cfg["loop"]["finetune"])
        self.model, self.tok = models.build(cfg["model"], self.seed, alphabet=self.task.alphabet,
                                            dtype=self.precision.weights)
        self.model.to(self.device)
        self.model.eval()
        if self.precision.weights == torch.bfloat16 and not self.lora:
            self.ev.log("warning", "full fine-tuning with bfloat16 weights: AdamW loses updates smaller than about "
                                   "1/256 of a weight (runtime.dtype 'mixed' keeps float32 weights)")

    def amp(self):
        """The autocast context of runtime.dtype 'mixed' (a no-op otherwise)."""
        return self.precision.context(self.device)

    def hashes(self) -> dict[str, str]:
        from ..config import config_hash

        example = self.splits.eval[0] if self.splits.eval else self.splits.train[0]
        return {"config": config_hash(self.cfg), "data": self.splits.data_hash(),
                "prompt": self.task.prompt_spec_hash(example, self.prefix + self.prefix_hint)}

    def warmup_pairs(self) -> list[tuple[Any, bool, str, str]]:
        """The warm-up's (question, hinted, prompt, reference) — what it trains on, and V-STaR's D_SFT."""
        out = []
        for q, hinted in self.splits.warmup:
            ref = self.task.reference(q)
            if ref is not None:
                out.append((q, hinted, self.task.prompt(q, hint=hinted), ref))
        return out

    def warmup(self) -> None:
        w = self.cfg["warmup"]
        with self.ev.phase(0, "warmup") as ph:
            examples = []
            rows = []
            for q, hinted, p, ref in self.warmup_pairs():
                examples.append((self._train_prompt_ids(p), self._completion_ids(p, ref)))
                rows.append({"question_id": q.qid, "prompt": p, "completion": ref, "hinted": hinted})
            if rows:
                self._artifact("artifacts/warmup.jsonl", "jsonl", 0, rows)
            lora_warmup = self.lora and w["steps"] > 0 and examples
            if lora_warmup:  # a 7B model's full fine-tune does not fit one GPU: an adapter, merged below
                from ..lora import add_adapter

                loop = self.cfg["loop"]
                self.model = add_adapter(self.model, r=loop["lora_r"], alpha=loop["lora_alpha"], seed=seeds.derive(self.seed, "lora_warmup"))
            losses = self._train(0, examples, w["steps"], w["lr"], w["batch_size"], "warmup")
            if lora_warmup:
                self.model = self.model.merge_and_unload()  # the SFT model is the new base
        vals = {"time/warmup_s": ph.duration_s, "warmup/examples": len(examples), "train/steps": len(losses)}
        if losses:
            vals["warmup/final_loss"] = sum(losses[-10:]) / len(losses[-10:])
        self.ev.metrics(0, self.total_steps, vals)
        self.base_state = None if self.lora else models.state_copy(self.model)
        if self.hooks.on_warmup_end:
            self.hooks.on_warmup_end(self.model)

    def _restore_base(self) -> None:
        """Back to the base (warm-up) weights before an iteration's fine-tune."""
        if self.lora:
            from ..lora import remove_adapter

            self.model = remove_adapter(self.model)
        else:
            self.model.load_state_dict(self.base_state)

    def _prepare_finetune(self, n: int) -> None:
        if self.lora:
            from ..lora import add_adapter

            loop = self.cfg["loop"]
            self.model = add_adapter(self.model, r=loop["lora_r"], alpha=loop["lora_alpha"], seed=seeds.derive(self.seed, "lora", n))

    # ----------------------------------------------------- extension points (V-STaR)
    def on_samples(self, n: int, questions: list[Any], outs: list[str], correct: list[bool]) -> None:
        """Every sampled completion of iteration n (k per question, in order) — V-STaR's buffer."""

    def training_set(self, n: int, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What iteration n fine-tunes on (STaR: this iteration's kept set)."""
        return kept

    def after_iteration(self, n: int, vals: dict[str, Any]) -> None:
        """Extra work at the end of iteration n (V-STaR: the verifier); may add to ``vals``."""

    # ------------------------------------------------------------------ loop
    def iteration(self, n: int) -> IterationResult:
        loop = self.cfg["loop"]
        task = self.task
        t_iter = time.perf_counter()
        train_qs = self.splits.train
        k = loop["samples_per_question"]
        # 1. sample k rationales per training question with M_{n-1}
        with self.ev.phase(n, "sample") as ph_sample:
            outs = self._decode(train_qs, hint=False, iteration=n, phase="sample", samples=k)
        direct: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        wrong: list[int] = []
        correct_flags: list[bool] = []
        solved: list[bool] = []
        for i, q in enumerate(train_qs):
            seen: set[str] = set()
            any_ok = False
            for text in outs[i * k:(i + 1) * k]:
                ans = task.extract_answer(text, q)
                ok = task.is_correct(ans, q.gold)
                correct_flags.append(ok)
                keep = ok and text not in seen  # distinct correct rationales only
                if keep:
                    seen.add(text)
                    kept.append({"question_id": q.qid, "question": task.question_text(q), "completion": text,
                                 "train_completion": task.training_completion(q, text),
                                 "text": task.training_text(q, text), "rationalized": False,
                                 "difficulty": task.difficulty(q)})
                direct.append(dict(question_id=q.qid, split="train", kind="direct", question=task.question_text(q),
                                   text=text, answer=ans, gold=q.gold, correct=ok, hint_used=False, kept=keep,
                                   difficulty=task.difficulty(q)))
                any_ok = any_ok or ok
            solved.append(any_ok)
            if not any_ok:
                wrong.append(i)
        self._emit_samples(n, direct)
        self.on_samples(n, train_qs, outs, correct_flags)
        solved_direct = sum(solved)
        # 2. star only: rationalize the unsolved ones, the gold answer as a hint, saved without it
        rat_items = []
        rat_ok = 0
        rat_leaks = 0
        rat_attempted = 0
        t_rat = 0.0
        if self.rationalize:
            rng = random.Random(f"rationalize:{self.seed}:{n}")
            chosen = [i for i in wrong if rng.random() < loop["p_rationalization"]]
            rat_attempted = len(chosen)
            with self.ev.phase(n, "rationalize") as ph_rat:
                qs = [train_qs[i] for i in chosen]
                outs_h = self._decode(qs, hint=True, iteration=n, phase="rationalize") if qs else []
                for q, text in zip(qs, outs_h):
                    ans = task.extract_answer(text, q)
                    ok = task.is_correct(ans, q.gold)
                    leak = ok and task.leaks_hint(q, text)  # copied the hint's marker: never trained on
                    rat_leaks += leak
                    rat_items.append(dict(question_id=q.qid, split="train", kind="rationalized",
                                          question=task.prompt(q, hint=True), text=text, answer=ans, gold=q.gold,
                                          correct=ok, hint_used=True, kept=ok and not leak, difficulty=task.difficulty(q)))
                    if ok and not leak:
                        rat_ok += 1
                        kept.append({"question_id": q.qid, "question": task.question_text(q), "completion": text,
                                     "train_completion": task.training_completion(q, text),
                                     "text": task.training_text(q, text), "rationalized": True,
                                     "difficulty": task.difficulty(q)})
                self._emit_samples(n, rat_items)
            t_rat = ph_rat.duration_s
        self._artifact(f"artifacts/iter_{n}/kept.jsonl", "jsonl", n, kept)
        train_set = self.training_set(n, kept)
        # 3. fine-tune (from the base weights) on the training set
        steps = steps_for_iteration(loop["base_steps"], loop["step_growth"], n)
        with self.ev.phase(n, "train") as ph_train:
            if loop["restart_from_base"] or self.lora:
                self._restore_base()
            self._prepare_finetune(n)
            if self.hooks.on_train_start:
                self.hooks.on_train_start(n, self.model, train_set)
            examples = [(self._train_prompt_ids(x["question"]), self._completion_ids(x["question"], x["train_completion"]))
                        for x in train_set]
            if not examples:
                self.ev.log("warning", f"iteration {n}: nothing kept, the model is not fine-tuned this iteration")
            losses = self._train(n, examples, steps if examples else 0, loop["lr"], loop["batch_size"], "train")
        # 4. evaluate M_n on the held-out split
        res = self._evaluate(n)
        res.kept, res.steps = len(kept), len(losses)
        attempted = len(train_qs)
        vals = {
            "train/attempted": attempted,
            "train/samples": len(outs),
            "train/solved_direct": solved_direct,
            "train/rationalize_attempted": rat_attempted,
            "train/rationalized": rat_ok,
            "train/rationalized_hint_copied": rat_leaks,
            "train/kept": len(kept),
            "train/kept_fraction": len({x["question_id"] for x in kept}) / max(1, attempted),
            "train/train_set": len(train_set),
            "train/steps": len(losses),
            "time/sample_s": ph_sample.duration_s,
            "time/rationalize_s": t_rat,
            "time/train_s": ph_train.duration_s,
            "time/evaluate_s": res.extra["time/evaluate_s"],
            **self._eval_metrics(res),
        }
        if losses:
            vals["train/loss"] = sum(losses[-10:]) / len(losses[-10:])
            vals.update(self._train_stat_metrics(self.last_train_stats))
        vals.update(self._difficulty_metrics("train/solved_direct", train_qs, solved))
        self.after_iteration(n, vals)
        vals["time/iteration_s"] = time.perf_counter() - t_iter
        vals.update(self._compute_metrics())
        self.ev.metrics(n, self.total_steps, vals)
        if self.hooks.on_iteration_end:
            self.hooks.on_iteration_end(n, vals)
        return res

    def start(self) -> None:
        """Warm-up, iteration 0's evaluation and the data artifacts."""
        self.warmup()
        res0 = self._evaluate(0)
        self.results.append(res0)
        self.ev.metrics(0, self.total_steps, {**self._eval_metrics(res0), "time/evaluate_s": res0.extra["time/evaluate_s"],
                                              **self._compute_metrics()})
        self._artifact("artifacts/data/eval.jsonl", "jsonl", None, [self.task.question_record(q) for q in self.splits.eval])
        self._artifact("artifacts/data/train.jsonl", "jsonl", None, [self.task.question_record(q) for q in self.splits.train])

    def run(self) -> list[IterationResult]:
        t0 = time.perf_counter()
        if self.start_iteration == 1:
            self.start()
        for n in range(self.start_iteration, self.cfg["loop"]["iterations"] + 1):
            self.stop.check()
            res = self.iteration(n)
            self.results.append(res)
            self.ev.log("info", f"iteration {n}: eval accuracy {res.accuracy:.3f}"
                                + (f" ({', '.join(f'{d}: {a:.2f}' for d, a in res.by_difficulty.items())})" if res.by_difficulty else "")
                                + f", kept {res.kept}")
            self.save_checkpoint(n)
        summary = {
            "accuracy": [r.accuracy for r in self.results],
            "by_difficulty": [{str(d): a for d, a in r.by_difficulty.items()} for r in self.results],
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

    # ------------------------------------------------------------------ resume
    def checkpoint_state(self) -> dict[str, Any]:
        """What a resumed run needs beyond the weights (subclasses add theirs)."""
        return {"results": [dataclasses.asdict(r) for r in self.results], "total_steps": self.total_steps,
                "tokens_generated": self.tokens_generated, "tokens_trained": self.tokens_trained,
                "examples_trained": self.examples_trained}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        self.results = [IterationResult(r["iteration"], r["accuracy"], {int(k): v for k, v in r.get("by_difficulty", r.get("by_digits", {})).items()},
                                        r["kept"], r["steps"], r.get("extra", {})) for r in state["results"]]
        self.total_steps = state["total_steps"]
        self.tokens_generated = state["tokens_generated"]
        self.tokens_trained = state["tokens_trained"]
        self.examples_trained = state["examples_trained"]

    def save_checkpoint(self, n: int) -> None:
        from .. import checkpoint

        checkpoint.save(self.run_dir, n, self.cfg, self.model, self.base_state, self.checkpoint_state(), lora=self.lora,
                        identity=self.identity())

    def identity(self) -> dict[str, str]:
        """What, beyond the config, makes this the same experiment (checked on resume)."""
        h = self.hashes()
        return {"data": h["data"], "prompt": h["prompt"], **task_versions(self.task)}

    def resume(self) -> int | None:
        """Load the last iteration checkpoint of the run directory; returns its iteration."""
        from .. import checkpoint

        ck = checkpoint.load(self.run_dir, self.cfg, self.model, lora=self.lora, identity=self.identity())
        if ck is None:
            return None
        n, model, base_state, state = ck
        self.model, self.base_state = model, base_state
        self.model.to(self.device)
        self.load_checkpoint_state(state)
        self.start_iteration = n + 1
        return n


def task_versions(task: Task) -> dict[str, str]:
    """What produced and scored the answers, recorded in run_start.env."""
    return {"dataset": task.name, "format": task.format_version, "extractor": task.extractor_version}


def drive(r: Any, cfg: dict[str, Any], events: EventWriter, *, emit_run_start: bool, run_id: str | None,
          resume: bool, unit: str = "iteration") -> list[Any]:
    """What every runner does in the same order: data (so run_start carries its hash),
    run_start (config, environment, hashes, task versions), the model, an optional resume
    from the run directory's checkpoint, then the run itself."""
    r.setup_data()
    if emit_run_start:
        from ..events import collect_env

        env = collect_env(import_torch=True)
        env["run_id"] = run_id
        env["device"] = cfg["runtime"]["device"]
        env["task_versions"] = task_versions(r.task)
        events.run_start(cfg, env, r.hashes())
    r.setup_model()
    if resume:
        n = r.resume()
        if n is None:
            raise RuntimeError(f"nothing to resume: the run directory has no {unit} checkpoint")
        events.log("info", f"resumed after {unit} {n}")
        events.resumed(n)
    return r.run()


def run(cfg: dict[str, Any], events: EventWriter, *, run_dir: str | None = None, stop: StopFlag = NEVER,
        hooks: Hooks | None = None, emit_run_start: bool = True, run_id: str | None = None,
        resume: bool = False, runner_cls: type[StarRun] = StarRun) -> list[IterationResult]:
    """Run the whole loop: run_start (config, environment, hashes), warm-up, iterations.
    With ``resume``, continue after the run directory's last completed iteration."""
    r = runner_cls(cfg, events, run_dir=run_dir, stop=stop, hooks=hooks)
    return drive(r, cfg, events, emit_run_start=emit_run_start, run_id=run_id, resume=resume)
