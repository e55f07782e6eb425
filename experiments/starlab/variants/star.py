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

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import engines, models, seeds
from ..dist import Dist
from ..engines import VllmEngine
from ..events import EventWriter
from ..generate import generate, stop_id_set
from ..stopping import NEVER, StopFlag, StopRequested
from ..train import TrainStats
from .common import PROGRESS_MIN_INTERVAL_S, _Throttle, sample_item
from .runner import Runner, drive


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


@dataclass
class Samples:
    """Step 1's outcome: k rationales per training question from M_{n−1}, checked."""

    texts: list[str]  # every sample, k per question in question order
    solved: list[bool]  # per question: some sample correct
    kept: list[dict[str, Any]]  # the distinct correct rationales
    duration_s: float

    def unsolved(self) -> list[int]:
        return [i for i, ok in enumerate(self.solved) if not ok]


@dataclass
class Rationalizations:
    """Step 2's outcome: the hinted samples of unsolved questions that reached the gold answer."""

    attempted: int = 0
    kept: list[dict[str, Any]] = field(default_factory=list)
    hint_copied: int = 0  # correct, but copying the hint's marker: never trained on
    duration_s: float = 0.0


class StarRun(Runner):
    """One STaR-family run. Subclasses (V-STaR) override the marked extension points."""

    def __init__(
        self,
        cfg: dict[str, Any],
        events: EventWriter,
        *,
        run_dir: str | None = None,
        stop: StopFlag = NEVER,
        hooks: Hooks | None = None,
        dist: Dist | None = None,
    ):
        super().__init__(cfg, events, run_dir=run_dir, stop=stop, hooks=hooks or Hooks(), dist=dist)
        self.rationalizes = cfg["variant"] == "star"
        self.lora = cfg["loop"]["finetune"] == "lora"
        self.last_train_stats: TrainStats | None = None  # what the last fine-tune trained

    # ------------------------------------------------------------------ setup
    def setup_data(self) -> None:
        super().setup_data()
        if self.cfg["task"]["few_shot"]:
            self.prefix_hint = self.task.few_shot_prefix(self.seed, hint=True)

    def finetune_mode(self) -> str:
        return self.cfg["loop"]["finetune"]

    def setup_model(self) -> None:
        super().setup_model()
        self.engine: VllmEngine | None = None
        if engines.resolve(self.cfg["runtime"].get("engine", "hf"), self.device.type) == "vllm":
            m = self.cfg["model"]
            self.engine = VllmEngine(
                self.run_dir, seed=self.seed, max_model_len=m["max_len"] if m["source"] == "tiny" else None, dist=self.dist
            )
        if self.precision.weights == torch.bfloat16 and not self.lora:
            self.ev.log(
                "warning",
                "full fine-tuning with bfloat16 weights: AdamW loses updates smaller than about "
                "1/256 of a weight (runtime.dtype 'mixed' keeps float32 weights)",
            )

    # ------------------------------------------------------------------ helpers
    def _decode(
        self, questions: list[Any], *, hint: bool, iteration: int, phase: str, samples: int = 1, temperature: float | None = None
    ) -> list[str]:
        """Completions for each question, ``samples`` per question in question order
        (q0 s0, q0 s1, …, q1 s0, …), cleaned by the task."""
        loop = self.cfg["loop"]
        temp = loop["temperature"] if temperature is None else temperature
        prompts = [self._prompt_ids(self.task.prompt(q, hint=hint), hint) for q in questions for _ in range(samples)]
        throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
        if phase != "evaluate":
            self.ev.progress(iteration, phase, 0, len(prompts))
        # one stream per phase; under torchrun each rank decodes its share of the prompts with a
        # stream of its own (so temperature samples differ from one process's; greedy ones do not);
        # the vLLM engine seeds each prompt by its position instead
        d, seed = self.dist, seeds.sample_seed(self.seed, iteration, phase)
        share = d.shard(len(prompts))
        stopped = False
        try:
            local = self._draw(
                [prompts[i] for i in share],
                share,
                temp,
                seed,
                on_batch=lambda k: (
                    self._progress(throttle, iteration, phase, min(len(prompts), k * d.world), len(prompts))
                    if phase != "evaluate"
                    else None
                ),
            )
        except StopRequested:
            if not d.enabled:
                raise
            local, stopped = [], True
        outs = d.gather(local, len(prompts), stopped=stopped)
        self.tokens_generated += sum(len(o) for o in outs)
        return [self.task.clean_completion(self.tok.decode(o)) for o in outs]

    def _draw(
        self, mine: list[list[int]], share: list[int], temperature: float, seed: int, on_batch: Callable[[int], None]
    ) -> list[list[int]]:
        """This rank's completions (token ids) of its prompts ``mine`` (positions ``share`` of the
        phase's list): from the vLLM engine, handed the model's current weights first (a prompt's
        seed is its position's), or from ``starlab.generate`` on the model, with a stream per rank."""
        loop = self.cfg["loop"]
        if self.engine is not None:
            first = self.engine.proc is None
            self.engine.sync(self.model, self.weights_version)
            if first:
                self.ev.log(
                    "info", f"sampling with vLLM {self.engine.version} (runtime.engine), weights handed over in place after each fine-tune"
                )
            return self.engine.generate(
                mine,
                max_new_tokens=loop["max_new_tokens"],
                temperature=temperature,
                seed=seed,
                stop_ids=stop_id_set(self.tok, self.task.stop_strings),
                stop=self.local_stop,
                positions=share,
            )
        gen = torch.Generator(device=self.device).manual_seed(seeds.rank_seed(seed, self.dist.rank))
        with self.amp():
            return generate(
                self.model,
                self.tok,
                mine,
                max_new_tokens=loop["max_new_tokens"],
                temperature=temperature,
                batch_size=self.gen_batch,
                generator=gen,
                stop=self.local_stop,
                stop_strings=self.task.stop_strings,
                on_batch=lambda k, t: on_batch(k),
            )

    def close(self) -> None:
        if getattr(self, "engine", None) is not None:
            self.engine.close()

    def _kept_row(self, q: Any, text: str, rationalized: bool) -> dict[str, Any]:
        """A correct rationale as the fine-tune trains on it: the hint-free question, then the completion."""
        task = self.task
        return {
            "question_id": q.qid,
            "question": task.question_text(q),
            "completion": text,
            "train_completion": task.training_completion(q, text),
            "text": task.training_text(q, text),
            "rationalized": rationalized,
            "difficulty": task.difficulty(q),
        }

    def _fit_options(self, phase: str) -> dict[str, Any]:
        """How ``finetune`` batches and schedules a fine-tune of this phase. The iterations'
        ("train"): loop.pack / pack_len / lr_schedule / warmup_steps / micro_batch_size; a loop
        without those keys (a config written before them, V-STaR's generator) and the warm-up
        train as before: unpacked batches, 5% warm-up then cosine to 0, one forward a step."""
        loop = self.cfg["loop"]
        if phase != "train":
            return {"pack_len": 0, "lr_schedule": "cosine", "warmup_steps": 0, "micro_batch_size": 0}
        return {
            "pack_len": int(loop["pack_len"]) if loop.get("pack", False) else 0,
            "lr_schedule": loop.get("lr_schedule", "cosine"),
            "warmup_steps": int(loop.get("warmup_steps", 0)),
            "micro_batch_size": int(loop.get("micro_batch_size", 0)),
        }

    def _train(
        self,
        iteration: int,
        examples: list[tuple[list[int], list[int]]],
        steps: int,
        lr: float,
        batch_size: int,
        phase: str,
        **options: Any,
    ) -> list[float]:
        """Fine-tune for ``steps`` steps, logging the loss and progress, and count what was
        trained. ``options`` (finetune's pack_len, lr_schedule, warmup_steps,
        micro_batch_size) override ``_fit_options(phase)``."""
        stats = TrainStats()
        self.ev.progress(iteration, phase, 0, steps)
        losses = self._finetune_logged(
            iteration,
            phase,
            examples,
            steps=steps,
            lr=lr,
            batch_size=batch_size,
            seed=seeds.derive(self.seed, "finetune", iteration),
            stats=stats,
            **{**self._fit_options(phase), **options},
        )
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

    def _eval_metrics(self, res: IterationResult) -> dict[str, float]:
        return {"eval/accuracy": res.accuracy, **self.difficulty_metrics("eval/accuracy", res.by_difficulty)}

    # ------------------------------------------------------------------ warm-up
    def warmup_pairs(self) -> list[tuple[Any, bool, str, str]]:
        """The warm-up's (question, hinted, prompt, reference) — what it trains on, and V-STaR's D_SFT."""
        out = []
        for q, hinted in self.splits.warmup:
            ref = self.task.reference(q)
            if ref is not None:
                out.append((q, hinted, self.task.prompt(q, hint=hinted), ref))
        return out

    def warmup_examples(self) -> tuple[list[tuple[list[int], list[int]]], list[dict[str, Any]]]:
        examples, rows = [], []
        for q, hinted, p, ref in self.warmup_pairs():
            examples.append((self._train_prompt_ids(p), self._completion_ids(p, ref)))
            rows.append({"question_id": q.qid, "prompt": p, "completion": ref, "hinted": hinted})
        return examples, rows

    def warmup_finetune(self, examples: list[tuple[list[int], list[int]]]) -> list[float]:
        """The warm-up fine-tune; its result is the base every iteration restarts from."""
        w = self.cfg["warmup"]
        lora_warmup = self.lora and w["steps"] > 0 and examples
        if lora_warmup:  # a 7B model's full fine-tune does not fit one GPU: an adapter, merged below
            from ..lora import add_adapter

            loop = self.cfg["loop"]
            self.model = add_adapter(self.model, r=loop["lora_r"], alpha=loop["lora_alpha"], seed=seeds.derive(self.seed, "lora_warmup"))
        losses = self._train(0, examples, w["steps"], w["lr"], w["batch_size"], "warmup")
        if lora_warmup:
            self.model = self.model.merge_and_unload()  # the SFT model is the new base
        self.base_state = None if self.lora else models.state_copy(self.model)
        return losses

    def _restore_base(self) -> None:
        """Back to the base (warm-up) weights before an iteration's fine-tune."""
        self.weights_version += 1
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
        """Extra steps at the end of iteration n (V-STaR: the verifier's); may add to ``vals``."""

    # ------------------------------------------------------------------ the paper's steps
    def sample(self, n: int) -> Samples:
        """Algorithm 1, lines 5–7: k rationales per training question from M_{n−1}; the distinct
        correct ones are kept."""
        task, k = self.task, self.cfg["loop"]["samples_per_question"]
        train_qs = self.splits.train
        with self.ev.phase(n, "sample") as ph:
            texts = self._decode(train_qs, hint=False, iteration=n, phase="sample", samples=k)
        items: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        correct: list[bool] = []
        solved: list[bool] = []
        for i, q in enumerate(train_qs):
            seen: set[str] = set()
            any_ok = False
            for text in texts[i * k : (i + 1) * k]:
                ans = task.extract_answer(text, q)
                ok = task.is_correct(ans, q.gold)
                correct.append(ok)
                keep = ok and text not in seen  # distinct correct rationales only
                if keep:
                    seen.add(text)
                    kept.append(self._kept_row(q, text, rationalized=False))
                items.append(sample_item(task, q, text, ans, ok, split="train", kind="direct", kept=keep))
                any_ok = any_ok or ok
            solved.append(any_ok)
        self._emit_samples(n, items)
        self.on_samples(n, train_qs, texts, correct)
        return Samples(texts, solved, kept, ph.duration_s)

    def rationalize(self, n: int, unsolved: list[int]) -> Rationalizations:
        """Algorithm 1, lines 8–10 (``star`` only): each unsolved question, with probability
        p_rationalization, sampled again with the gold answer as a hint; kept if it reaches the
        gold, saved WITHOUT the hint."""
        task = self.task
        rng = random.Random(f"rationalize:{self.seed}:{n}")
        chosen = [i for i in unsolved if rng.random() < self.cfg["loop"]["p_rationalization"]]
        out = Rationalizations(attempted=len(chosen))
        with self.ev.phase(n, "rationalize") as ph:
            qs = [self.splits.train[i] for i in chosen]
            texts = self._decode(qs, hint=True, iteration=n, phase="rationalize") if qs else []
            items = []
            for q, text in zip(qs, texts):
                ans = task.extract_answer(text, q)
                ok = task.is_correct(ans, q.gold)
                leak = ok and task.leaks_hint(q, text)  # copied the hint's marker: never trained on
                out.hint_copied += leak
                items.append(
                    sample_item(
                        task,
                        q,
                        text,
                        ans,
                        ok,
                        split="train",
                        kind="rationalized",
                        question=task.prompt(q, hint=True),
                        hint_used=True,
                        kept=ok and not leak,
                    )
                )
                if ok and not leak:
                    out.kept.append(self._kept_row(q, text, rationalized=True))
            self._emit_samples(n, items)
        out.duration_s = ph.duration_s
        return out

    def finetune(self, n: int, train_set: list[dict[str, Any]]) -> tuple[list[float], float]:
        """Algorithm 1, line 12: M_n fine-tuned from the base weights (restart_from_base) on the
        training set for steps_for_iteration(n) steps; returns the losses and the phase's time."""
        loop = self.cfg["loop"]
        steps = steps_for_iteration(loop["base_steps"], loop["step_growth"], n)
        with self.ev.phase(n, "train") as ph:
            if loop["restart_from_base"] or self.lora:
                self._restore_base()
            self._prepare_finetune(n)
            if self.hooks.on_train_start:
                self.hooks.on_train_start(n, self.model, train_set)
            examples = [
                (self._train_prompt_ids(x["question"]), self._completion_ids(x["question"], x["train_completion"])) for x in train_set
            ]
            if not examples:
                self.ev.log("warning", f"iteration {n}: nothing kept, the model is not fine-tuned this iteration")
            losses = self._train(n, examples, steps if examples else 0, loop["lr"], loop["batch_size"], "train")
        return losses, ph.duration_s

    def evaluate(self, iteration: int) -> IterationResult:
        """Algorithm 1, line 13: greedy decoding on the held-out split, accuracy overall and per difficulty."""
        task = self.task
        with self.ev.phase(iteration, "evaluate") as ph:
            qs = self.splits.eval
            outs = self._decode(qs, hint=False, iteration=iteration, phase="evaluate", temperature=0.0)
            items, correct = [], []
            for q, text in zip(qs, outs):
                ans = task.extract_answer(text, q)
                ok = task.is_correct(ans, q.gold)
                correct.append(ok)
                items.append(sample_item(task, q, text, ans, ok, split="eval", kind="eval"))
            self._emit_samples(iteration, items)
        res = IterationResult(iteration, sum(correct) / max(1, len(correct)), self.by_difficulty(qs, correct))
        res.extra["time/evaluate_s"] = ph.duration_s
        return res

    # ------------------------------------------------------------------ loop
    def iterations(self) -> int:
        return self.cfg["loop"]["iterations"]

    def evaluate_start(self) -> None:
        res0 = self.evaluate(0)
        self.results.append(res0)
        self.ev.metrics(
            0, self.total_steps, {**self._eval_metrics(res0), "time/evaluate_s": res0.extra["time/evaluate_s"], **self._compute_metrics()}
        )

    def iteration(self, n: int) -> IterationResult:
        """Iteration n of Algorithm 1: sample with M_{n−1}, rationalize the unsolved (``star``),
        fine-tune M_n from the base on what was kept, evaluate M_n."""
        t_iter = time.perf_counter()
        sampled = self.sample(n)
        rationalized = self.rationalize(n, sampled.unsolved()) if self.rationalizes else Rationalizations()
        kept = sampled.kept + rationalized.kept
        self._artifact(f"artifacts/iter_{n}/kept.jsonl", "jsonl", n, kept)
        train_set = self.training_set(n, kept)
        losses, t_train = self.finetune(n, train_set)
        res = self.evaluate(n)
        res.kept, res.steps = len(kept), len(losses)
        vals = self._iteration_metrics(res, sampled, rationalized, kept, train_set, losses, t_train)
        self.after_iteration(n, vals)
        vals["time/iteration_s"] = time.perf_counter() - t_iter
        self._record(res, vals)
        return res

    def _record(self, res: IterationResult, vals: dict[str, Any]) -> None:
        """An iteration's metrics (with the compute so far) and result."""
        n = res.iteration
        vals.update(self._compute_metrics())
        self.ev.metrics(n, self.total_steps, vals)
        if self.hooks.on_iteration_end:
            self.hooks.on_iteration_end(n, vals)
        self.results.append(res)
        self.ev.log(
            "info",
            f"iteration {n}: eval accuracy {res.accuracy:.3f}"
            + (f" ({', '.join(f'{d}: {a:.2f}' for d, a in res.by_difficulty.items())})" if res.by_difficulty else "")
            + f", kept {res.kept}",
        )

    def _iteration_metrics(
        self,
        res: IterationResult,
        sampled: Samples,
        rationalized: Rationalizations,
        kept: list[dict[str, Any]],
        train_set: list[dict[str, Any]],
        losses: list[float],
        t_train: float,
    ) -> dict[str, Any]:
        train_qs = self.splits.train
        vals = {
            "train/attempted": len(train_qs),
            "train/samples": len(sampled.texts),
            "train/solved_direct": sum(sampled.solved),
            "train/rationalize_attempted": rationalized.attempted,
            "train/rationalized": len(rationalized.kept),
            "train/rationalized_hint_copied": rationalized.hint_copied,
            "train/kept": len(kept),
            "train/kept_fraction": len({x["question_id"] for x in kept}) / max(1, len(train_qs)),
            "train/train_set": len(train_set),
            "train/steps": len(losses),
            "time/sample_s": sampled.duration_s,
            "time/rationalize_s": rationalized.duration_s,
            "time/train_s": t_train,
            "time/evaluate_s": res.extra["time/evaluate_s"],
            **({"time/engine_sync_s": self.engine.sync_s} if self.engine is not None else {}),
            **self._eval_metrics(res),
        }
        if losses:  # train/loss itself is logged per window at its step (a second value here would share that step)
            vals.update(self._train_stat_metrics(self.last_train_stats))
        vals.update(self.difficulty_metrics("train/solved_direct", self.by_difficulty(train_qs, sampled.solved)))
        return vals

    def summary(self) -> dict[str, Any]:
        return {
            "accuracy": [r.accuracy for r in self.results],
            "by_difficulty": [{str(d): a for d, a in r.by_difficulty.items()} for r in self.results],
            "kept": [r.kept for r in self.results],
            "steps": [r.steps for r in self.results],
        }

    # ------------------------------------------------------------------ resume
    def result_from_dict(self, r: dict[str, Any]) -> IterationResult:
        # "by_digits": a checkpoint written before by_difficulty
        return IterationResult(
            r["iteration"],
            r["accuracy"],
            {int(k): v for k, v in r.get("by_difficulty", r.get("by_digits", {})).items()},
            r["kept"],
            r["steps"],
            r.get("extra", {}),
        )

    def save_checkpoint(self, n: int) -> None:
        from .. import checkpoint

        if not self.is_main:
            return
        checkpoint.save(
            self.run_dir, n, self.cfg, self.model, self.base_state, self.checkpoint_state(), lora=self.lora, identity=self.identity()
        )

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
        self.weights_version += 1
        self.start_iteration = n + 1
        return n


def run(
    cfg: dict[str, Any],
    events: EventWriter,
    *,
    run_dir: str | None = None,
    stop: StopFlag = NEVER,
    hooks: Hooks | None = None,
    emit_run_start: bool = True,
    run_id: str | None = None,
    resume: bool = False,
    runner_cls: type[StarRun] = StarRun,
    dist: Dist | None = None,
) -> list[IterationResult]:
    """Run the whole loop: run_start (config, environment, hashes), warm-up, iterations.
    With ``resume``, continue after the run directory's last completed iteration. ``dist``:
    this process's rank under torchrun (starlab/dist.py)."""
    r = runner_cls(cfg, events, run_dir=run_dir, stop=stop, hooks=hooks, dist=dist)
    return drive(r, cfg, events, emit_run_start=emit_run_start, run_id=run_id, resume=resume)
