"""Run by test_dist.py under torchrun (2 processes, gloo): ``finetune`` on fixed examples with the
process group, for each batching mode, V-STaR's verifiers (DPO, the ORM, candidate scores) and
Quiet-STaR's training step (each rank's rows normalised by the batch, gradients summed);
rank 0 writes every mode's losses, stats, metrics, scores and the parameter checksums of all
ranks to the JSON file named on the command line."""

from __future__ import annotations

import faulthandler
import json
import sys

import torch
import torch.distributed as D

from starlab import dist, models, quiet
from starlab import verifier as V
from starlab.train import TrainStats, finetune

MODES = {
    "unpacked": {"n": 20, "options": {}},
    "packed": {"n": 20, "options": {"pack_len": 40, "micro_batch_size": 2}},
    "one_example": {"n": 1, "options": {}},  # a batch of one row: rank 1 has none
}
STEPS = 30


def build(n: int):
    model, tok = models.build({"source": "tiny", "name": "t", "n_layer": 1, "n_embd": 32, "n_head": 2, "max_len": 64}, seed=0)
    examples = [([tok.bos_id] + tok.encode(f"{i}+{i + 3}:"), tok.encode(f"{2 * i + 3}") + [tok.eos_id]) for i in range(n)]
    return model, tok, examples


def train(mode: str, d: dist.Dist) -> dict:
    spec = MODES[mode]
    model, tok, examples = build(spec["n"])
    stats = TrainStats()
    losses = finetune(
        model, examples, steps=STEPS, lr=0.003, batch_size=8, pad_id=tok.pad_id, seed=0, stats=stats, dist=d, **spec["options"]
    )
    return {"losses": losses, "stats": vars(stats), "checksums": _checksums(model, d)}


#: FSDP (runtime.fsdp): the sharded copy trains, its weights come back whole into the model
FSDP_MODES = {"fsdp_unpacked": MODES["unpacked"], "fsdp_packed": MODES["packed"]}


def train_sharded(mode: str, d: dist.Dist) -> dict:
    spec = FSDP_MODES[mode]
    model, tok, examples = build(spec["n"])
    stats = TrainStats()
    losses = finetune(
        model, examples, steps=STEPS, lr=0.003, batch_size=8, pad_id=tok.pad_id, seed=0, stats=stats, dist=d, shard=True, **spec["options"]
    )
    return {"losses": losses, "stats": vars(stats), "checksums": _checksums(model, d), "plain": type(model).__name__}


#: DPO: batches of 6 pairs, split in micro-batches of 2 (3 of the 7 pairs would leave a rank
#: with one row); "dpo_one_pair": a batch of one pair, so rank 1 has none
DPO_MODES = {"dpo": {"n": 7, "options": {"micro_batch_size": 2}}, "dpo_one_pair": {"n": 1, "options": {}}}
ORM_OPTIONS = {"lm_weight": 0.5, "pos_weight": 2.0}


def _checksums(model: torch.nn.Module, d: dist.Dist) -> list:
    checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
    sums: list = [None] * d.world
    if d.enabled:
        D.all_gather_object(sums, checksum)
    else:
        sums = [checksum]
    return sums


def verifier_pairs(tok, n: int) -> list:
    """(prompt, right, wrong) for n addition questions."""
    return [
        ([tok.bos_id] + tok.encode(f"{i}+{i + 3}:"), tok.encode(f"{2 * i + 3}") + [tok.eos_id], tok.encode(f"{2 * i + 4}") + [tok.eos_id])
        for i in range(n)
    ]


def train_dpo(mode: str, d: dist.Dist) -> dict:
    spec = DPO_MODES[mode]
    model, tok, _ = build(1)
    pairs = verifier_pairs(tok, spec["n"])
    hist = V.train_dpo(model, pairs, beta=0.1, steps=STEPS, lr=0.003, batch_size=6, pad_id=tok.pad_id, seed=0, dist=d, **spec["options"])
    return {"history": hist, "checksums": _checksums(model, d)}


def orm_data(tok) -> tuple[list, list]:
    pairs = verifier_pairs(tok, 9)
    examples = [(p, c) for p, c, _ in pairs] + [(p, r) for p, _, r in pairs[:5]]
    return examples, [True] * 9 + [False] * 5


def train_orm(d: dist.Dist) -> dict:
    model, tok, _ = build(1)
    orm = V.OutcomeRewardModel(model, seed=1)
    examples, labels = orm_data(tok)
    hist = V.train_orm(orm, examples, labels, steps=STEPS, lr=0.003, batch_size=5, pad_id=tok.pad_id, seed=0, dist=d, **ORM_OPTIONS)
    scores = V.score_candidates(model, examples, pad_id=tok.pad_id, batch_size=4, reference=model, orm=orm, dist=d)
    return {"history": hist, "checksums": _checksums(orm, d), "scores": scores}


#: Quiet-STaR: 5 rows a batch (rank 0 takes 3, rank 1 takes 2), thoughts forced so both runs draw the same
QUIET = {"rows": 5, "steps": 3, "n_thoughts": 2, "thought_len": 2, "n_ahead": 2}


def quiet_setup():
    """A micro QuietModel with a non-zero mixing head, its optimizer, packed rows and, per step,
    the thoughts every row draws (forced, so one process and the ranks train on the same)."""
    from starlab.tasks.addition import AdditionTask
    from starlab.tokenizer import CharTokenizer

    tok = CharTokenizer(AdditionTask.alphabet)
    qm = quiet.QuietModel(models.build_tiny({"n_layer": 1, "n_embd": 16, "n_head": 2, "max_len": 64}, tok, 0), tok)
    torch.manual_seed(1)
    torch.nn.init.normal_(qm.head.out.weight, std=0.5)
    docs = [[tok.bos_id] + tok.encode(f"{i}+{i + 7}={2 * i + 7}") + [tok.eos_id] for i in range(9)]
    ids, doc = quiet.pack_documents(docs, 24, tok.pad_id)
    ids, doc = ids[: QUIET["rows"]], doc[: QUIET["rows"]]
    g = torch.Generator().manual_seed(3)
    B, T = ids.shape[0] * QUIET["n_thoughts"], ids.shape[1]
    allowed = (qm.thought_logit_mask() == 0).nonzero().flatten()  # what a thought may hold
    thoughts = [allowed[torch.randint(0, len(allowed), (B, T, QUIET["thought_len"]), generator=g)] for _ in range(QUIET["steps"])]
    opt = torch.optim.AdamW(qm.parameters(), lr=0.01)
    return qm, opt, ids, doc, thoughts


def quiet_steps(d: dist.Dist) -> dict:
    qm, opt, ids, doc, thoughts = quiet_setup()
    k = QUIET["n_thoughts"]
    stats = []
    for step in range(QUIET["steps"]):
        opt.zero_grad(set_to_none=True)
        norms = quiet.batch_norms(doc, QUIET["n_ahead"], k)
        rows = list(range(d.rank, ids.shape[0], d.world))
        forced = thoughts[step].view(ids.shape[0], k, *thoughts[step].shape[1:])[rows].reshape(-1, *thoughts[step].shape[1:])
        args = {key: QUIET[key] for key in ("n_thoughts", "thought_len", "n_ahead")}
        out = quiet.quiet_loss(qm, ids[rows], doc[rows], thoughts=forced, norms=norms, **args)
        out.loss.backward()
        d.sum_grads(qm.parameters())
        opt.step()
        stats.append(quiet.combine_stats(d.objects(out.stats)))
    return {"stats": stats, "checksums": _checksums(qm, d)}


def main() -> None:
    faulthandler.enable()  # a native abort prints every thread's Python stack
    torch.set_num_threads(1)
    d = dist.from_env("cpu")
    clean = False
    try:
        out = {mode: train(mode, d) for mode in MODES}
        out.update({mode: train_sharded(mode, d) for mode in FSDP_MODES})
        out.update({mode: train_dpo(mode, d) for mode in DPO_MODES})
        out["orm"] = train_orm(d)
        out["quiet"] = quiet_steps(d)
        if d.main:
            with open(sys.argv[1], "w", encoding="utf-8") as f:
                json.dump({"world": d.world, **out}, f)
        clean = True
    finally:
        dist.close(d, clean=clean)


if __name__ == "__main__":
    main()
