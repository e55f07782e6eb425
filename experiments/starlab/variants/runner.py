"""What every runner does the same way, STaR's (and V-STaR's) and Quiet-STaR's alike: the run's
data and model, its identity (hashes, task versions), the warm-up that makes the starting model,
the metrics per difficulty level and of compute, the counters a checkpoint carries, and the order
of a run — ``drive`` (data, run_start, model, resume) and ``Runner.run`` (iteration 0: warm-up and
evaluation; then iterations 1..N, each checkpointed; the summary)."""

from __future__ import annotations

import abc
import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .. import models
from ..dist import SINGLE, CollectiveStop, Dist, device_for
from ..events import EventWriter
from ..stopping import StopFlag, StopRequested
from ..tasks import Task, get_task
from ..train import finetune
from .common import LOSS_EVENTS_PER_TRAIN, PROGRESS_MIN_INTERVAL_S, RunOutput, _Throttle

T = TypeVar("T")


def task_versions(task: Task) -> dict[str, str]:
    """What produced and scored the answers, recorded in run_start.env."""
    return {"dataset": task.name, "format": task.format_version, "extractor": task.extractor_version}


class Runner(RunOutput, abc.ABC):
    """A run of one variant. Subclasses provide the warm-up's examples and fine-tune, the
    evaluations, an iteration, the summary and the checkpoint's weights."""

    #: what an iteration is called in a resume's messages (Quiet-STaR: "evaluation")
    unit = "iteration"
    #: the counters a checkpoint carries, in state.json's order
    COUNTERS: tuple[str, ...] = ("total_steps", "tokens_generated", "tokens_trained", "examples_trained")

    def __init__(
        self, cfg: dict[str, Any], events: EventWriter, *, run_dir: str | None, stop: StopFlag, hooks: Any, dist: Dist | None = None
    ):
        self.cfg = cfg
        self.ev = events
        self.run_dir = os.path.abspath(run_dir or os.environ.get("STARLAB_RUN_DIR") or os.getcwd())
        self.dist = dist or SINGLE
        self.is_main = self.dist.main  # only rank 0 writes files (RunOutput._artifact, checkpoints)
        # under torchrun, the loop's and training's stop checks are collective (every rank makes
        # them once per step); sampling, where ranks take different numbers of steps, reads
        # ``local_stop`` and reports a stop in its gather
        self.local_stop = stop
        self.stop = CollectiveStop(stop, self.dist) if self.dist.enabled else stop
        self.hooks = hooks
        self.seed = int(cfg["seed"])
        self.task: Task = get_task(cfg["dataset"])
        self.total_steps = 0  # cumulative optimizer steps (warm-up included): the metrics' step
        self.tokens_generated = 0  # compute counters for the compare view's x-axes
        self.tokens_trained = 0
        self.examples_trained = 0
        self.results: list[Any] = []  # one per evaluation, iteration 0 first
        self.weights_version = 0  # bumped whenever the model's weights change (a sampling engine re-syncs)
        self.start_iteration = 1  # > 1 when resumed from a checkpoint

    # ------------------------------------------------------------------ setup
    def setup_data(self) -> None:
        """Splits and prompt prefixes (no model yet), so run_start can carry the data hash."""
        cfg = self.cfg
        models.seed_everything(self.seed)
        self.splits = self.task.load(cfg, self.seed)
        self.prefix = self.task.few_shot_prefix(self.seed) if cfg["task"].get("few_shot") else ""
        self.prefix_hint = ""  # the hinted exemplars: STaR's rationalization prompts only
        self.gen_batch = cfg["runtime"]["gen_batch_size"] or (32 if cfg["model"]["source"] == "hub" else 512)

    @abc.abstractmethod
    def finetune_mode(self) -> str:
        """ "full" or "lora": how this run fine-tunes (it decides the weights' dtype)."""

    def setup_model(self) -> None:
        cfg = self.cfg
        models.set_threads(cfg["runtime"]["threads"])
        self.device = device_for(self.dist, models.pick_device(cfg["runtime"]["device"]))
        self.precision = models.resolve_precision(
            cfg["runtime"]["dtype"], source=cfg["model"]["source"], device=self.device, finetune=self.finetune_mode()
        )
        self.model, self.tok = models.build(cfg["model"], self.seed, alphabet=self.task.alphabet or None, dtype=self.precision.weights)
        self.model.to(self.device)
        self.model.eval()

    def amp(self):
        """The autocast context of runtime.dtype 'mixed' (a no-op otherwise)."""
        return self.precision.context(self.device)

    def hashes(self) -> dict[str, str]:
        from ..config import config_hash

        example = self.splits.eval[0] if self.splits.eval else self.splits.train[0]
        return {
            "config": config_hash(self.cfg),
            "data": self.splits.data_hash(),
            "prompt": self.task.prompt_spec_hash(example, self.prefix + self.prefix_hint),
        }

    def identity(self) -> dict[str, str]:
        """What, beyond the config, makes this the same experiment (checked on resume)."""
        h = self.hashes()
        return {"data": h["data"], "prompt": h["prompt"], **task_versions(self.task)}

    # ------------------------------------------------------------------ token ids
    def _bos(self) -> list[int]:
        return [self.tok.bos_id] if self.tok.bos_id is not None else []

    def _prompt_ids(self, text: str, hint: bool = False) -> list[int]:
        """A sampling prompt: the few-shot prefix (hinted exemplars for a hinted prompt), then the question."""
        return self._bos() + self.tok.encode((self.prefix_hint if hint else self.prefix) + text)

    def _train_prompt_ids(self, text: str) -> list[int]:
        """A training prompt: the question alone — STaR fine-tunes on fmt(x) ⊕ r ⊕ <eos>, never on
        the few-shot prefix (which would also multiply the tokens trained on)."""
        return self._bos() + self.tok.encode(text)

    def _completion_ids(self, prompt: str, completion: str) -> list[int]:
        """A completion's ids as they follow the prompt's (``tok.encode_continuation``: the tokens
        a sampler emits for it, never a separately encoded completion), then <eos>."""
        return self.tok.encode_continuation(prompt, completion) + [self.tok.eos_id]

    # ------------------------------------------------------------------ warm-up
    @abc.abstractmethod
    def warmup_examples(self) -> tuple[list[tuple[list[int], list[int]]], list[dict[str, Any]]]:
        """The warm-up's (prompt ids, completion ids) examples and their artifact rows."""

    @abc.abstractmethod
    def warmup_finetune(self, examples: list[tuple[list[int], list[int]]]) -> list[float]:
        """Fine-tune the model on the warm-up examples; returns the losses."""

    def warmup(self) -> None:
        """The starting model M0: a tiny model fine-tuned on the warm-up questions' reference
        completions, standing in for the few-shot prompt (a hub model with warmup.steps = 0
        starts as it is)."""
        with self.ev.phase(0, "warmup") as ph:
            examples, rows = self.warmup_examples()
            if rows:
                self._artifact("artifacts/warmup.jsonl", "jsonl", 0, rows)
            losses = self.warmup_finetune(examples)
        vals = {"time/warmup_s": ph.duration_s, "warmup/examples": len(examples), "train/steps": len(losses)}
        if losses:
            vals["warmup/final_loss"] = sum(losses[-10:]) / len(losses[-10:])
        self.ev.metrics(0, self.total_steps, vals)
        if self.hooks.on_warmup_end:
            self.hooks.on_warmup_end(self.model)

    def _finetune_logged(
        self, iteration: int, phase: str, examples: list[tuple[list[int], list[int]]], *, steps: int, seed: int, **kw: Any
    ) -> list[float]:
        """``train.finetune`` of the model for ``steps`` steps (``kw``: its lr, batch_size, stats
        and batching options), its loss logged as window means about LOSS_EVENTS_PER_TRAIN times
        at the run's cumulative step, with throttled progress. Returns the losses."""
        start = self.total_steps
        throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
        every = max(1, steps // LOSS_EVENTS_PER_TRAIN)
        window: list[float] = []

        def on_step(step: int, loss: float) -> None:
            window.append(loss)
            if step % every == 0 or step == steps:
                self.ev.metrics(iteration, start + step, {"train/loss": sum(window) / len(window)})
                window.clear()
            self._progress(throttle, iteration, phase, step, steps)

        with self.amp():
            losses = finetune(
                self.model,
                examples,
                steps=steps,
                pad_id=self.tok.pad_id,
                seed=seed,
                stop=self.stop,
                on_step=on_step,
                dist=self.dist,
                shard=bool(self.cfg["runtime"].get("fsdp")),
                **kw,
            )
        self.total_steps += len(losses)
        self.weights_version += 1
        return losses

    def across_ranks(self, n: int, compute: Callable[[list[int]], list[T]]) -> list[T]:
        """``compute`` of items 0..n−1 (given their indices, returning one result each), split over
        the ranks under torchrun (rank r: r, r + W, …) and gathered in item order on every rank.
        ``compute`` reads ``local_stop``, as the ranks take different numbers of batches; a stop on
        any rank ends every rank after the gather."""
        d = self.dist
        if not d.enabled:
            return compute(list(range(n)))
        try:
            local, stopped = compute(d.shard(n)), False
        except StopRequested:
            local, stopped = [], True
        return d.gather(local, n, stopped=stopped)

    # ------------------------------------------------------------------ metrics
    def by_difficulty(self, questions: list[Any], values: list[Any]) -> dict[int, float]:
        """The mean of ``values`` (one per question) per difficulty level (addition: digits)."""
        by: dict[int, list[Any]] = {}
        for q, v in zip(questions, values, strict=True):
            d = self.task.difficulty(q)
            if d is not None:
                by.setdefault(int(d), []).append(v)
        return {d: sum(v) / len(v) for d, v in sorted(by.items())}

    def difficulty_metrics(self, prefix: str, by: dict[int, float]) -> dict[str, float]:
        """``{prefix}/{name}_{d}`` per difficulty level (eval/accuracy/digits_1, …)."""
        return {f"{prefix}/{self.task.difficulty_name}_{d}": v for d, v in by.items()}

    def _compute_metrics(self) -> dict[str, float]:
        return {
            "compute/tokens_generated": self.tokens_generated,
            "compute/tokens_trained": self.tokens_trained,
            "compute/tokens": self.tokens_generated + self.tokens_trained,
            "compute/examples_trained": self.examples_trained,
        }

    # ------------------------------------------------------------------ the run
    @abc.abstractmethod
    def evaluate_start(self) -> None:
        """Evaluation 0 of the starting model, recorded."""

    @abc.abstractmethod
    def iterations(self) -> int:
        """How many iterations the run has after iteration 0."""

    @abc.abstractmethod
    def iteration(self, n: int) -> Any:
        """Iteration n; its result is recorded in ``results`` and returned."""

    @abc.abstractmethod
    def summary(self) -> dict[str, Any]:
        """artifacts/summary.json (the run's elapsed time is added)."""

    def start(self) -> None:
        """Iteration 0: the warm-up, the starting model's evaluation and the data artifacts."""
        self.warmup()
        self.evaluate_start()
        self._artifact("artifacts/data/eval.jsonl", "jsonl", None, [self.task.question_record(q) for q in self.splits.eval])
        self._artifact("artifacts/data/train.jsonl", "jsonl", None, [self.task.question_record(q) for q in self.splits.train])

    def run(self) -> list[Any]:
        t0 = time.perf_counter()
        if self.start_iteration == 1:
            self.start()
        for n in range(self.start_iteration, self.iterations() + 1):
            self.stop.check()
            self.iteration(n)
            self.save_checkpoint(n)
        self._artifact("artifacts/summary.json", "json", None, {**self.summary(), "elapsed_s": time.perf_counter() - t0})
        if os.environ.get("STARLAB_SAVE_MODEL") == "1":
            self.save_model("artifacts/final_model")
        return self.results

    def close(self) -> None:
        """Release what the run holds beyond this process (a sampling engine's process)."""

    def save_model(self, rel: str) -> None:
        """The final model and tokenizer, in transformers' format, under the run directory."""
        if not self.is_main:
            return
        self.model.save_pretrained(os.path.join(self.run_dir, rel))
        self.tok.save_pretrained(os.path.join(self.run_dir, rel))
        self.ev.artifact("final_model", "model", rel, iteration=len(self.results) - 1)

    # ------------------------------------------------------------------ resume
    @abc.abstractmethod
    def save_checkpoint(self, n: int) -> None:
        """The checkpoint after iteration n: the weights and ``checkpoint_state``."""

    @abc.abstractmethod
    def resume(self) -> int | None:
        """Load the run directory's checkpoint; returns its iteration (None: there is none)."""

    @abc.abstractmethod
    def result_from_dict(self, r: dict[str, Any]) -> Any:
        """A result from ``dataclasses.asdict`` (a checkpoint's state)."""

    def checkpoint_state(self) -> dict[str, Any]:
        """What a resumed run needs beyond the weights (subclasses add theirs)."""
        return {"results": [dataclasses.asdict(r) for r in self.results], **{k: getattr(self, k) for k in self.COUNTERS}}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        self.results = [self.result_from_dict(r) for r in state["results"]]
        for k in self.COUNTERS:
            setattr(self, k, state[k])


def drive(r: Runner, cfg: dict[str, Any], events: EventWriter, *, emit_run_start: bool, run_id: str | None, resume: bool) -> list[Any]:
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
            raise RuntimeError(f"nothing to resume: the run directory has no {r.unit} checkpoint")
        events.log("info", f"resumed after {r.unit} {n}")
        events.resumed(n)
    try:
        return r.run()
    finally:
        r.close()
