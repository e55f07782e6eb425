"""V-STaR (Hosseini et al. 2024): a STaR generator without rationalization, plus a DPO verifier.

Per iteration t (on top of the STaR loop in star.py, whose warm-up model is G_SFT = V_SFT):
  generator  sample loop.samples_per_question completions per training question from G_{t−1}
             at loop.temperature; every one, right or wrong, enters the verifier buffer D_VER;
             the correct ones are added to D_GEN (accumulated across iterations; with
             loop.include_sft D_GEN starts as D_SFT, the warm-up examples, as Algorithm 1)
             and G_t is fine-tuned from the base on all of D_GEN for loop.epochs epochs
             (``generator_steps``; absent or 0: STaR's loop.base_steps · loop.step_growth^(t−1)
             steps). The base is the warm-up model G_SFT, not the pretrained G_base of the paper.
  verifier   V starts as V_SFT and is trained with DPO (β = verifier.beta) on (right, wrong)
             pairs per question from all of D_VER (capped at verifier.pairs_per_question),
             with V_SFT as the reference; beside it an outcome reward model (a scalar head on
             a copy of V_SFT, verifier.orm_steps of BCE on the same candidates' labels).
  test time  verifier.candidates (N) completions per held-out question from G_t, each stored
             with its scores (log V, length-normalised log V, DPO reward β·log V/V_SFT, ORM
             logit, and log G_t and its length-normalised form, the generator's own likelihood
             gen_logp, gen_logp_norm: the control); Pass@k, majority vote@k and Best-of-k by
             each score for k = 1..N with the unbiased estimators in estimators.py, logged as
             vstar/* metrics; and the held-out pair accuracy: every (right, wrong) pair of one
             question's candidates, ordered by the DPO reward (verifier/test_pair_accuracy) and by the ORM (orm/test_pair_accuracy),
             ties counting half, as db/verifier.ts recounts it from the stored scores.
``eval/accuracy`` stays the generator's greedy Pass@1, as for the other variants.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import catalogue, checkpoint, estimators, seeds, verifier_dir
from .. import verifier as V
from ..dist import Dist
from ..events import EventWriter
from ..lora import add_adapter, base_model, remove_adapter
from ..stopping import NEVER, StopFlag
from ..tokenizer import CharTokenizer
from . import star
from .common import PROGRESS_MIN_INTERVAL_S, _Throttle, sample_item
from .star import Hooks, IterationResult, StarRun

#: score keys of a candidate → the metric name of their Best-of-k curve: the DPO verifier's reward,
#: the trained verifier's own length-normalised log-likelihood (logp), the ORM, and the control
#: the paper's claim is measured against, the generator G_t's length-normalised log-likelihood
#: of its own sample (likelihood: ranking by the sampler's confidence, no verifier at all)
SCORERS = catalogue.SCORER_BY_SCORE_KEY


def generator_steps(n_examples: int, batch_size: int, epochs: float) -> int:
    """Optimizer steps for ``epochs`` epochs over ``n_examples`` at ``batch_size`` a step
    (``train.finetune``'s batches: min(batch_size, n) rows drawn in shuffled epochs; a row is an
    example, or with packing a packed row and ``n_examples`` the rows): ceil(epochs · n /
    batch), at least 1. Unpacked, the examples seen, steps × batch, are then at least
    epochs · n and fewer than epochs · n + batch."""
    if n_examples <= 0 or epochs <= 0:
        return 0
    bs = max(1, min(int(batch_size), n_examples))
    return max(1, math.ceil(epochs * n_examples / bs - 1e-9))


#: D_VER tokenized: per training question (prompt ids, [(completion ids, correct), …])
VerifierData = list[tuple[list[int], list[tuple[list[int], bool]]]]


@dataclass
class Candidates:
    """One iteration's test-time candidates, N per held-out question in question order, and
    their scores as the scoring steps fill them in."""

    texts: list[str]
    examples: list[V.Example]  # (question, completion) ids as the verifier reads them
    gen_logps: list[float]  # log G_n of each, under the prompt it was sampled from
    gen_counts: list[int]  # its tokens
    verifier: list[dict[str, float]] = field(default_factory=list)  # V.score_candidates' rows
    orm: list[float] | None = None  # the ORM's logits (verifier.orm_steps > 0)

    def scores(self, i: int) -> dict[str, float]:
        """Candidate i's stored scores: the verifier's, the generator's likelihood, the ORM's."""
        lp, c = self.gen_logps[i], self.gen_counts[i]
        row = {**self.verifier[i], "gen_logp": float(lp), "gen_logp_norm": float(lp) / max(1, int(c))}
        if self.orm is not None:
            row["orm"] = self.orm[i]
        return {k: float(v) for k, v in row.items()}


class VStarRun(StarRun):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.buffer: dict[str, dict[str, bool]] = {}  # D_VER: question id → {completion: correct}
        self.gen_data: dict[tuple[str, str], dict[str, Any]] = {}  # D_GEN: (question id, completion) → row
        self.verifier_steps = 0
        self.orm_steps = 0
        self.gen_budget: dict[str, int] = {}  # this iteration's generator fine-tune: examples seen, |D_GEN|

    # ---------------------------------------------------------------- generator
    def on_samples(self, n: int, questions: list[Any], outs: list[str], correct: list[bool]) -> None:
        k = self.cfg["loop"]["samples_per_question"]
        for i, q in enumerate(questions):
            seen = self.buffer.setdefault(q.qid, {})
            for j in range(i * k, (i + 1) * k):
                seen.setdefault(outs[j], correct[j])

    def training_set(self, n: int, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """D_GEN: D_SFT (loop.include_sft) ∪ every correct sample so far, distinct."""
        for row in kept:
            self.gen_data.setdefault((row["question_id"], row["completion"]), row)
        sft = self.sft_rows() if self.cfg["loop"].get("include_sft", False) else []
        # a sample identical to its question's (unhinted) reference is already in D_SFT
        refs = {(r["question_id"], r["train_completion"]) for r in sft if not r["hinted"]}
        return sft + [r for r in self.gen_data.values() if (r["question_id"], r["train_completion"]) not in refs]

    def sft_rows(self) -> list[dict[str, Any]]:
        """D_SFT as rows of the training set: the warm-up examples exactly as the warm-up trains
        on them (``task.prompt(q, hint)`` ⊕ ``task.reference(q)``), the same questions and hints."""
        rows = []
        for q, hinted, p, ref in self.warmup_pairs():
            rows.append(
                {
                    "question_id": q.qid,
                    "question": p,
                    "completion": ref,
                    "train_completion": ref,
                    "text": p + ref,
                    "rationalized": False,
                    "hinted": hinted,
                    "sft": True,
                    "difficulty": self.task.difficulty(q),
                }
            )
        return rows

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
        """The generator's fine-tune (phase "train") runs loop.epochs epochs over D_GEN in place
        of the STaR step budget it is called with (kept when loop.epochs is absent or 0); the
        warm-up passes through. With loop.pack an epoch is D_GEN's packed rows (packed in order
        here; ``finetune`` re-packs each shuffled epoch, to about as many rows). Records the
        examples the fine-tune saw, as ``_train`` counts them (``gen_budget``)."""
        loop = self.cfg["loop"]
        epochs = loop.get("epochs", 0)
        if phase == "train" and epochs > 0 and examples:
            units = len(examples)
            pack_len = int(options.get("pack_len", loop["pack_len"] if loop.get("pack", False) else 0))
            if pack_len > 0:
                from ..train import pack_sequences

                units = len(pack_sequences([len(p) + len(c) for p, c in examples], range(len(examples)), pack_len))
            steps = generator_steps(units, batch_size, epochs)
        before = self.examples_trained
        losses = super()._train(iteration, examples, steps, lr, batch_size, phase, **options)
        if phase == "train":
            self.gen_budget = {"examples": self.examples_trained - before, "train_set": len(examples)}
        return losses

    # ---------------------------------------------------------------- verifier
    def after_iteration(self, n: int, vals: dict[str, Any]) -> None:
        """After the generator's steps, the verifier's: ``verify``, its metrics in the iteration's."""
        vals.update(self.verify(n))

    def verify(self, n: int) -> dict[str, Any]:
        """The verifier steps of iteration n (phase "verify"), in the paper's order: N test
        candidates from G_n; D_pref from all of D_VER; V ← DPO(V_SFT, D_pref) scoring the
        candidates; the ORM baseline scoring them; the candidates stored with their scores; the
        Pass@k / majority / Best-of-k curves and the held-out pair accuracy. Returns the metrics."""
        with self.ev.phase(n, "verify") as ph:
            cands = self.sample_candidates(n)
            sets = self._candidate_sets()
            pairs = self.preference_pairs(n, sets)
            hist = self.train_verifier(n, pairs, cands)
            orm_hist = self.train_orm_baseline(n, sets, cands)
            per_question = self.store_candidates(n, cands)
            vals = self.best_of_k(n, per_question)
            vals.update(self._held_out_pair_metrics(n, per_question))
        if self.gen_budget:  # the generator's fine-tune of this iteration (train/steps is its step count)
            seen, size = self.gen_budget["examples"], self.gen_budget["train_set"]
            vals.update(
                {
                    "train/examples": seen,
                    "train/epochs": seen / size if size else 0.0,
                    "train/sft_examples": len(self.sft_rows()) if self.cfg["loop"].get("include_sft", False) else 0,
                }
            )
            self.gen_budget = {}
        vals.update(
            {
                "verifier/pairs": len(pairs),
                "verifier/buffer": sum(len(c) for c in self.buffer.values()),
                "verifier/buffer_correct": sum(sum(c.values()) for c in self.buffer.values()),
                "time/verify_s": ph.duration_s,
            }
        )
        if hist:
            last = hist[-min(10, len(hist)) :]
            vals["verifier/final_loss"] = sum(h["loss"] for h in last) / len(last)
            vals["verifier/final_pair_accuracy"] = sum(h["accuracy"] for h in last) / len(last)
        if orm_hist:
            last = orm_hist[-min(10, len(orm_hist)) :]
            vals["orm/final_loss"] = sum(h["loss"] for h in last) / len(last)
        return vals

    def sample_candidates(self, n: int) -> Candidates:
        """verifier.candidates (N) completions per held-out question from G_n at
        verifier.temperature, with G_n's own log-likelihood of each (the control ranking)."""
        vcfg, task = self.cfg["verifier"], self.task
        qs, N = self.splits.eval, vcfg["candidates"]
        texts = self._decode(qs, hint=False, iteration=n, phase="verify", samples=N, temperature=vcfg["temperature"])
        # the verifier reads (question, solution) as the generator is trained on it: no few-shot prefix
        examples = [
            (self._train_prompt_ids(task.prompt(q)), self._completion_ids(task.prompt(q), task.training_completion(q, texts[i * N + j])))
            for i, q in enumerate(qs)
            for j in range(N)
        ]
        # G_n's likelihood under the prompt it sampled from (with the few-shot prefix, if any)
        gen_examples = [(self._prompt_ids(task.prompt(q)), examples[i * N + j][1]) for i, q in enumerate(qs) for j in range(N)]
        with self.amp():
            logps, counts = V.sequence_logprobs(self.model, gen_examples, self.tok.pad_id, vcfg["batch_size"], self.dist)
        return Candidates(texts, examples, logps.tolist(), counts.tolist())

    def _candidate_sets(self) -> VerifierData:
        """D_VER as (prompt ids, [(completion ids, correct)]) per training question."""
        by_id = {q.qid: q for q in self.splits.train}
        out = []
        for qid, cands in self.buffer.items():
            q = by_id[qid]
            text = self.task.prompt(q)
            p = self._train_prompt_ids(text)
            out.append((p, [(self._completion_ids(text, self.task.training_completion(q, c)), ok) for c, ok in cands.items()]))
        return out

    def preference_pairs(self, n: int, sets: VerifierData) -> list[V.Pair]:
        """D_pref: each training question's (correct, wrong) pairs from D_VER, at most
        verifier.pairs_per_question of them."""
        return V.make_pairs(sets, self.cfg["verifier"]["pairs_per_question"], seeds.derive(self.seed, "dpo_pairs", n))

    def _sft_copy(self) -> torch.nn.Module:
        """A fresh copy of V_SFT = G_SFT (the base weights every iteration restarts from)."""
        m = copy.deepcopy(self.model)
        if self.lora:
            m = remove_adapter(m)
        else:
            m.load_state_dict(self.base_state)
        m.eval()
        return m

    def train_verifier(self, n: int, pairs: list[V.Pair], cands: Candidates) -> list[dict[str, float]]:
        """V ← DPO(V_SFT, D_pref), V_SFT the reference; then the candidates' log V and DPO
        reward β·log V/V_SFT. Returns the training history."""
        vcfg, pad = self.cfg["verifier"], self.tok.pad_id
        verifier = self._sft_copy()
        with self.amp():
            ref_logps, _ = V.sequence_logprobs(verifier, cands.examples, pad, vcfg["batch_size"], self.dist)  # under V_SFT
        if self.lora:
            loop = self.cfg["loop"]
            verifier = add_adapter(verifier, r=loop["lora_r"], alpha=loop["lora_alpha"], seed=seeds.derive(self.seed, "verifier_lora", n))
        with self.amp():
            hist = self._fit_dpo(n, verifier, pairs)
            cands.verifier = V.score_candidates(
                verifier, cands.examples, pad_id=pad, batch_size=vcfg["batch_size"], beta=vcfg["beta"], ref_logps=ref_logps, dist=self.dist
            )
        self.save_verifier(n, verifier)
        return hist

    def save_verifier(self, n: int, verifier: torch.nn.Module) -> None:
        """V_n with its reference V_SFT as a directory that scores candidates apart from this run
        (verifier_dir.py; `starlab verifier export`, `starlab rerank`), per verifier.save: the
        last iteration's (default), every iteration's, or none."""
        keep = self.cfg["verifier"].get("save", "last")
        if keep == "none" or not self.is_main:  # under torchrun rank 0 alone writes files
            return
        cfg, reloadable = self.cfg, checkpoint.base_is_reloadable(self.cfg)
        if reloadable:
            reference = None
        elif self.lora:  # V_SFT is the verifier's own base weights, without the adapter's layers
            base = {k: v for k, v in base_model(verifier).state_dict().items() if "lora_" not in k}
            reference = {k.replace("base_layer.", ""): v for k, v in base.items()}
        else:
            reference = self.base_state
        manifest = {
            "run_id": os.path.basename(os.path.normpath(self.run_dir)),
            "iteration": n,
            "variant": cfg["variant"],
            "task": cfg["dataset"],
            "model": {"source": cfg["model"]["source"], "name": cfg["model"]["name"]},
            "beta": cfg["verifier"]["beta"],
            "batch_size": cfg["verifier"]["batch_size"],
            "score": "reward",
            "score_formula": "beta * (log V(y|x) - log V_SFT(y|x)), summed over the completion's tokens and <eos>",
            "tokenizer": "char" if isinstance(self.tok, CharTokenizer) else "hf",
            # runtime.dtype as resolved: "mixed" scored under bfloat16 autocast, and so does the loaded verifier
            "precision": self.precision.name,
            "prompt": {
                "question": "the task's question text, no few-shot prefix, after <bos> when the tokenizer has one",
                "completion": "the task's training_completion of the candidate, encoded as it follows the question, then <eos>",
            },
            **({"reference_hub": cfg["model"]["name"]} if reloadable else {}),
        }
        try:
            verifier_dir.save(
                self.run_dir,
                n,
                verifier=verifier,
                reference_state=reference,
                tokenizer=self.tok,
                lora=self.lora,
                manifest=manifest,
                keep=keep,
            )
        except (OSError, verifier_dir.VerifierDirError) as e:  # a full disk costs the folder, not the run's curves
            self.ev.log("warning", f"iteration {n}: the verifier was not saved ({type(e).__name__}: {e})")

    def train_orm_baseline(self, n: int, sets: VerifierData, cands: Candidates) -> list[dict[str, float]]:
        """The outcome reward model on the same data (verifier.orm_steps > 0): a scalar head on a
        copy of V_SFT, trained with BCE on D_VER's correctness labels; then the candidates' ORM
        logits. Returns the training history."""
        vcfg = self.cfg["verifier"]
        if vcfg["orm_steps"] <= 0:
            return []
        examples = [(p, c) for p, group in sets for c, _ in group]
        labels = [ok for _, group in sets for _, ok in group]
        base = self._sft_copy()
        if self.lora:  # a LoRA adapter (and the head) train; the copied base stays frozen
            loop = self.cfg["loop"]
            base = add_adapter(base, r=loop["lora_r"], alpha=loop["lora_alpha"], seed=seeds.derive(self.seed, "orm_lora", n))
        orm = V.OutcomeRewardModel(base, copy_base=False, seed=seeds.derive(self.seed, "orm_head", n))
        with self.amp():
            hist = self._fit_orm(n, orm, examples, labels)
            cands.orm = V.orm_scores(orm, cands.examples, self.tok.pad_id, vcfg["batch_size"], self.dist).tolist()
        return hist

    def store_candidates(self, n: int, cands: Candidates) -> list[list[dict[str, Any]]]:
        """Every candidate as a sample with its scores; returns them per question (answer,
        correct and scores of each), the pool the curves are computed from."""
        task, N = self.task, self.cfg["verifier"]["candidates"]
        items, per_question = [], []
        for i, q in enumerate(self.splits.eval):
            group = []
            for j in range(N):
                text = cands.texts[i * N + j]
                ans = task.extract_answer(text, q)
                ok = task.is_correct(ans, q.gold)
                scores = cands.scores(i * N + j)
                items.append(sample_item(task, q, text, ans, ok, split="eval", kind="candidate", scores=scores))
                group.append({"answer": ans, "correct": ok, **scores})
            per_question.append(group)
        self._emit_samples(n, items)
        return per_question

    def best_of_k(self, n: int, per_question: list[list[dict[str, Any]]]) -> dict[str, float]:
        """Pass@k, majority vote@k and Best-of-k by each score for k = 1..N (the unbiased
        estimators of estimators.py), stored as an artifact; returns them as vstar/* metrics."""
        N = self.cfg["verifier"]["candidates"]
        score_keys = [k for k in SCORERS if all(k in c for g in per_question for c in g)]
        curves = estimators.all_curves(per_question, range(1, N + 1), score_keys=score_keys)
        self._artifact(
            f"artifacts/iter_{n}/vstar_curves.json", "json", n, {name: {str(k): v for k, v in c.items()} for name, c in curves.items()}
        )
        return self._curve_metrics(curves)

    def _held_out_pair_metrics(self, n: int, per_question: list[list[dict[str, Any]]]) -> dict[str, float]:
        """The trained verifier on held-out pairs: every (right, wrong) pair of one test
        question's N candidates (the Best-of-k pool, duplicates included), from the candidates'
        stored log V and log V_SFT (``verifier.pair_metrics``: evaluate_pairs without the
        forward passes), ties counting half. verifier/test_pair_accuracy is therefore the
        Verifier panel's test-candidate pair accuracy for the DPO scorer (db/verifier.ts
        recounts it from the same stored rewards), and orm/test_pair_accuracy for the ORM."""
        flat = [c for g in per_question for c in g]
        ci, ri = V.pair_indices([[c["correct"] for c in g] for g in per_question])
        out: dict[str, float] = {"verifier/test_pairs": len(ci)}
        if len(ci) == 0:
            self.ev.log("warning", f"iteration {n}: no test question has both a right and a wrong candidate; no held-out pair accuracy")
            return out

        def col(key: str) -> torch.Tensor:
            return torch.tensor([c[key] for c in flat], dtype=torch.float32)

        logp, ref = col("logp"), col("ref_logp")
        m = V.pair_metrics(logp[ci], logp[ri], ref[ci], ref[ri], beta=self.cfg["verifier"]["beta"], tie=0.5)
        out.update(
            {
                "verifier/test_pair_accuracy": m["accuracy"],
                "verifier/test_loss": m["loss"],
                "verifier/test_reward_margin": m["reward_margin"],
            }
        )
        if all("orm" in c for c in flat):
            orm = col("orm")
            out["orm/test_pair_accuracy"] = V.pair_accuracy(orm[ci], orm[ri], tie=0.5)
        return out

    @staticmethod
    def _curve_metrics(curves: dict[str, dict[int, float]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, c in curves.items():
            if name == "pass@k":
                prefix = "vstar/pass"
            elif name == "majority":
                prefix = "vstar/majority"
            else:
                prefix = f"vstar/best_of_k/{SCORERS[name.split(':', 1)[1]]}"
            for k, v in c.items():
                out[f"{prefix}@{k}"] = v
        return out

    def _fit_dpo(self, n: int, model: torch.nn.Module, pairs: list[V.Pair]) -> list[dict[str, float]]:
        vcfg = self.cfg["verifier"]
        steps = vcfg["steps"] if pairs else 0
        if not pairs:
            self.ev.log("warning", f"iteration {n}: no (right, wrong) pair in the buffer yet; the verifier stays V_SFT")
        throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
        every = max(1, steps // 20)
        start = self.verifier_steps

        def on_step(step: int, m: dict[str, float]) -> None:
            if step % every == 0 or step == steps:
                self.ev.metrics(
                    n,
                    start + step,
                    {
                        "verifier/loss": m["loss"],
                        "verifier/reward_margin": m["reward_margin"],
                        "verifier/chosen_reward": m["chosen_reward"],
                        "verifier/rejected_reward": m["rejected_reward"],
                        "verifier/pair_accuracy": m["accuracy"],
                    },
                )
            if throttle.ready(force=step == steps):
                self.ev.progress(n, "verify", step, steps)

        hist = V.train_dpo(
            model,
            pairs,
            beta=vcfg["beta"],
            steps=steps,
            lr=vcfg["lr"],
            batch_size=vcfg["batch_size"],
            pad_id=self.tok.pad_id,
            seed=seeds.derive(self.seed, "dpo_batches", n),
            stop=self.stop,
            on_step=on_step,
            dist=self.dist,
        )
        self.verifier_steps += len(hist)
        return hist

    def _fit_orm(self, n: int, orm: V.OutcomeRewardModel, examples: list[Any], labels: list[bool]) -> list[dict[str, float]]:
        vcfg = self.cfg["verifier"]
        steps = vcfg["orm_steps"]
        every = max(1, steps // 20)
        start = self.orm_steps

        def on_step(step: int, m: dict[str, float]) -> None:
            if step % every == 0 or step == steps:
                self.ev.metrics(n, start + step, {"orm/loss": m["loss"], "orm/accuracy": m["accuracy"]})

        hist = V.train_orm(
            orm,
            examples,
            labels,
            steps=steps,
            lr=vcfg["orm_lr"],
            batch_size=vcfg["batch_size"],
            pad_id=self.tok.pad_id,
            seed=seeds.derive(self.seed, "orm_batches", n),
            stop=self.stop,
            on_step=on_step,
            dist=self.dist,
        )
        self.orm_steps += len(hist)
        return hist

    # ---------------------------------------------------------------- resume
    def checkpoint_state(self) -> dict[str, Any]:
        return super().checkpoint_state() | {
            "buffer": {qid: [[c, ok] for c, ok in cands.items()] for qid, cands in self.buffer.items()},
            "gen_data": list(self.gen_data.values()),
            "verifier_steps": self.verifier_steps,
            "orm_steps": self.orm_steps,
        }

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        super().load_checkpoint_state(state)
        self.buffer = {qid: {c: ok for c, ok in cands} for qid, cands in state["buffer"].items()}
        self.gen_data = {(r["question_id"], r["completion"]): r for r in state["gen_data"]}
        self.verifier_steps, self.orm_steps = state["verifier_steps"], state["orm_steps"]


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
    dist: Dist | None = None,
) -> list[IterationResult]:
    return star.run(
        cfg,
        events,
        run_dir=run_dir,
        stop=stop,
        hooks=hooks,
        emit_run_start=emit_run_start,
        run_id=run_id,
        resume=resume,
        runner_cls=VStarRun,
        dist=dist,
    )
