"""runtime.dtype: what 'auto' resolves to, and that bfloat16 weights and mixed precision
(float32 weights under bfloat16 autocast) run the loop end to end (on the CPU here)."""

from __future__ import annotations

import pytest
import torch

from conftest import micro_config, read_events
from starlab import models
from starlab.events import EventWriter
from starlab.variants import star

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_precision():
    assert models.resolve_precision("auto", source="tiny", device=CPU).name == "float32"
    assert models.resolve_precision("auto", source="hub", device=CPU, finetune="lora").name == "float32"
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        assert models.resolve_precision("auto", source="hub", device=CUDA, finetune="lora").name == "bfloat16"
        assert models.resolve_precision("auto", source="hub", device=CUDA, finetune="full").name == "mixed"
    mixed = models.resolve_precision("mixed", source="tiny", device=CPU)
    assert mixed.weights == torch.float32 and mixed.autocast == torch.bfloat16
    with mixed.context(CPU):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with pytest.raises(ValueError):
        models.resolve_precision("float16", source="tiny", device=CPU)


@pytest.mark.parametrize("dtype,finetune", [("mixed", "full"), ("bfloat16", "lora")])
def test_the_loop_runs_in_reduced_precision(tmp_path, dtype, finetune):
    cfg = micro_config(loop={"iterations": 1, "finetune": finetune}, runtime={"dtype": dtype})
    w = EventWriter(tmp_path / "events.jsonl", heartbeat_s=None)
    seen = {}
    hooks = star.Hooks(on_warmup_end=lambda m: seen.setdefault("dtype", next(m.parameters()).dtype))
    star.run(cfg, w, run_dir=str(tmp_path), emit_run_start=False, hooks=hooks)
    w.close()
    assert seen["dtype"] == (torch.float32 if dtype == "mixed" else torch.bfloat16)
    events = read_events(tmp_path / "events.jsonl")
    losses = [e["values"]["train/loss"] for e in events if e["type"] == "metrics" and "train/loss" in e["values"]]
    assert losses and all(x == x for x in losses)  # finite, not NaN
    assert any(e["type"] == "metrics" and e["iteration"] == 1 and "eval/accuracy" in e["values"] for e in events)


def test_mixed_precision_trains_like_float32_inside_one_long_context():
    """A context around the whole loop (as the runners use it) must not freeze the weights the
    forward sees: mixed precision reaches about the float32 loss."""
    from starlab.train import finetune

    def final_loss(precision):
        model, tok = models.build({"source": "tiny", "name": "t", "n_layer": 1, "n_embd": 32, "n_head": 2, "max_len": 64}, seed=0)
        examples = [([tok.bos_id] + tok.encode(f"{i}+{i}:"), tok.encode(f"{2 * i}") + [tok.eos_id]) for i in range(10)]
        with precision.context(CPU):
            losses = finetune(model, examples, steps=40, lr=0.01, batch_size=10, pad_id=tok.pad_id, seed=0)
        return losses[0], sum(losses[-5:]) / 5

    first, fp32 = final_loss(models.resolve_precision("float32", source="tiny", device=CPU))
    _, mixed = final_loss(models.resolve_precision("mixed", source="tiny", device=CPU))
    assert fp32 < first / 2
    assert mixed < first - 0.8 * (first - fp32)
