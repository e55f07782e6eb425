"""Where samples come from: ``runtime.engine``.

- ``hf`` (the default): ``starlab.generate`` in the experiment's own process, on the model it
  trains.
- ``vllm``: a vLLM engine (continuous batching, paged KV cache) in a process of its own
  (``starlab/vllm_server.py``), run by the Python of vLLM's environment:
  ``$STARLAB_VLLM_PYTHON``, else ``experiments/.venv-vllm/bin/python`` (``scripts/setup.sh
  --vllm`` makes it; vLLM pins a torch and transformers of its own). Token ids go in and come
  out: the experiment's tokenizer encodes and decodes, as for ``hf``.
- ``auto``: ``vllm`` on a GPU where that Python exists, else ``hf`` (vLLM's CPU build refuses
  the tiny presets' head size of 16, and a tiny run spends longer starting the engine than
  sampling).

The weights' hand-off (``VllmEngine.sync``): after each fine-tune the runner's model is saved
in transformers' format (safetensors; a LoRA adapter's delta added to the weights it adapts) to
``<run dir>/engine/``, and the engine reloads them in place (vLLM's ``reload_weights``, then its
prefix cache is dropped) — the engine starts once per run. The folder is removed when the run
ends. What it costs is logged as ``time/engine_sync_s``.

Under torchrun (runtime.nproc > 1) every rank has an engine of its own, on its own GPU, and
samples its share of the prompts (data-parallel sampling, as the ``hf`` engine shards them);
rank 0 alone writes the weights, once, and every engine reloads them from that folder. A
prompt's seed is the same whichever rank draws it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from typing import Any

EXPERIMENTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(EXPERIMENTS, "starlab", "vllm_server.py")


class EngineError(RuntimeError):
    """The vLLM engine refused a request, or its process is gone."""


def vllm_python() -> str | None:
    """The Python of vLLM's environment, or None where there is none."""
    explicit = os.environ.get("STARLAB_VLLM_PYTHON")
    if explicit:
        return explicit
    default = os.path.join(EXPERIMENTS, ".venv-vllm", "bin", "python")
    return default if os.path.isfile(default) and os.access(default, os.X_OK) else None


def resolve(engine: str, device_type: str) -> str:
    """``hf`` or ``vllm`` for a config's runtime.engine (absent: hf) on a device of this type."""
    if engine == "auto":
        return "vllm" if device_type == "cuda" and vllm_python() else "hf"
    if engine == "vllm" and not vllm_python():
        raise EngineError(
            "runtime.engine is vllm but vLLM's environment was not found: run scripts/setup.sh --vllm, "
            "or point STARLAB_VLLM_PYTHON at a Python that imports vllm"
        )
    return engine


class VllmEngine:
    """A vLLM engine process fed token ids; ``sync`` hands it the runner's current weights."""

    def __init__(self, run_dir: str, *, seed: int, max_model_len: int | None, log: Any = None, dist: Any = None):
        from .dist import SINGLE

        self.dir = os.path.join(run_dir, "engine")
        self.seed, self.max_model_len, self.log = seed, max_model_len, log
        self.dist = dist if dist is not None else SINGLE
        self.proc: subprocess.Popen[str] | None = None
        self.version: str | None = None
        self.seeded = False
        self.synced: Any = None  # the runner's weights version the engine holds
        self.sync_s = 0.0  # time spent handing weights over (cumulative)

    # ------------------------------------------------------------------ process
    def _request(self, **req: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError) as e:
            raise EngineError(f"the vLLM engine process is gone ({e})") from None
        if not line:
            raise EngineError(f"the vLLM engine process exited (code {self.proc.poll()}); its messages are in the run's stderr")
        rep = json.loads(line)
        if not rep.get("ok"):
            raise EngineError(f"vLLM refused {req['op']}: {rep.get('error')}")
        return rep

    def _start(self, dtype: str) -> None:
        python = vllm_python()
        if python is None:
            raise EngineError("vLLM's environment was not found (scripts/setup.sh --vllm, or STARLAB_VLLM_PYTHON)")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB, on a CPU machine (vLLM's default is larger)
        if self.dist.enabled:
            env["CUDA_VISIBLE_DEVICES"] = gpu_of_rank(os.environ.get("CUDA_VISIBLE_DEVICES"), self.dist.local_rank)
            # torchrun's variables describe the trainer's process group, not the engine's
            for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK"):
                env.pop(k, None)
        # started by path from experiments/ (never a run directory); it imports only vllm. In a session
        # of its own: a stop's SIGTERM to the run's process group is the experiment's to act on (it
        # finishes the request in flight, then closes the engine); the server dies with the
        # experiment (PR_SET_PDEATHSIG, and end of input)
        self.proc = subprocess.Popen(
            [python, SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            env=env,
            cwd=EXPERIMENTS,
            start_new_session=True,
        )
        gpu_share = float(os.environ.get("STARLAB_VLLM_GPU_MEMORY", "0.35"))  # the rest is the trainer's
        # STARLAB_VLLM_EAGER=1: no compilation or CUDA graphs (an engine starts in 26 s instead of 63 s
        # on the test machine's CPU, and decodes slower); the test suite sets it
        eager = os.environ.get("STARLAB_VLLM_EAGER") == "1"
        rep = self._request(
            op="start",
            model=self.dir,
            dtype=dtype,
            seed=self.seed,
            max_model_len=self.max_model_len,
            gpu_memory_utilization=gpu_share,
            enforce_eager=eager,
        )
        self.version = rep.get("vllm")
        # False on vLLM's CPU build, which cannot seed a request: temperature samples then come from
        # the engine's one stream and depend on the batch they are in
        self.seeded = bool(rep.get("seeded"))

    def close(self) -> None:
        if self.proc is not None:
            try:
                self._request(op="exit")
            except EngineError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
        if self.dist.main and os.path.isdir(self.dir) and not os.path.islink(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ weights
    def sync(self, model: Any, version: Any) -> None:
        """Hand the engine ``model``'s weights unless it holds ``version`` already. Under torchrun
        every rank calls it at the same point (its model holds the same weights): rank 0 writes
        them, the others wait for that, then each engine loads them."""
        if self.synced == version and self.proc is not None:
            return
        t0 = time.perf_counter()
        failed: BaseException | None = None
        if self.dist.main:
            try:
                if os.path.islink(self.dir):
                    raise EngineError(f"{self.dir} is a symbolic link: the engine's weights are not written through it")
                os.makedirs(self.dir, exist_ok=True)
                save_untied(model, self.dir)
            except Exception as e:  # every rank must learn of it, or the others wait for weights forever
                failed = e
        if self.dist.any(failed is not None):
            raise failed if failed is not None else EngineError("rank 0 could not write the weights for the vLLM engines")
        if self.proc is None:
            import torch

            dtype = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(
                next(model.parameters()).dtype, "auto"
            )
            self._start(dtype)
        else:
            self._request(op="reload", path=self.dir)
        self.synced = version
        self.sync_s += time.perf_counter() - t0

    # ------------------------------------------------------------------ sampling
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_new_tokens: int | Sequence[int],
        temperature: float,
        seed: int,
        stop_ids: set[int],
        stop: Any = None,
        positions: Sequence[int] | None = None,
    ) -> list[list[int]]:
        """Completions (token ids, without the stop token), as ``starlab.generate`` returns them.
        Temperature samples draw from a seed per prompt (``seed`` + its position: ``positions``,
        where the prompts are a rank's share of a larger list, else its index) where the engine
        can seed a request (not on vLLM's CPU build: ``seeded``). A stop request
        is honoured between chunks of prompts. ``max_new_tokens`` may be one per prompt."""
        at = list(positions) if positions is not None else list(range(len(prompts)))
        if len(at) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(at)} positions")
        out: list[list[int]] = []
        chunk = 1024  # a stop waits for the chunk in flight
        for start in range(0, len(prompts), chunk):
            if stop is not None:
                stop.check()
            part = [list(map(int, p)) for p in prompts[start : start + chunk]]
            limit = max_new_tokens if isinstance(max_new_tokens, int) else list(max_new_tokens[start : start + chunk])
            rep = self._request(
                op="generate",
                prompts=part,
                max_tokens=limit,
                temperature=temperature,
                seeds=[seed + at[start + i] for i in range(len(part))],
                stop_token_ids=sorted(stop_ids),
            )
            for ids in rep["outputs"]:
                cut = next((j for j, t in enumerate(ids) if t in stop_ids), len(ids))
                out.append(ids[:cut])
        return out


def gpu_of_rank(visible: str | None, local_rank: int) -> str:
    """CUDA_VISIBLE_DEVICES for the engine of the rank ``local_rank``: its own GPU, as the
    trainer sees it (``cuda:LOCAL_RANK`` among the GPUs visible to the job, Slurm's included)."""
    ids = [x.strip() for x in visible.split(",") if x.strip()] if visible else []
    if not ids:
        return str(local_rank)
    if local_rank >= len(ids):
        raise EngineError(f"rank {local_rank} has no GPU for its vLLM engine: CUDA_VISIBLE_DEVICES is {visible!r}")
    return ids[local_rank]


def save_untied(model: Any, folder: str) -> None:
    """``model`` in transformers' format (config.json, model.safetensors), as plain weights: a
    LoRA adapter's delta added to each weight it adapts (the base model is not touched), and the
    output layer written out even where it is tied to the input embeddings, with the config
    saying untied (vLLM's in-place reload leaves a tied output layer with the weights it started
    with). The values are the model's own, so the engine computes what the model computes."""
    from safetensors.torch import save_file

    base = model.get_base_model() if hasattr(model, "peft_config") else model
    state = merged_state(model)
    config = copy.deepcopy(base.config)
    if getattr(config, "tie_word_embeddings", False):
        out = base.get_output_embeddings()
        if out is not None:
            state["lm_head.weight"] = out.weight.detach().to("cpu", copy=True).contiguous()
        config.tie_word_embeddings = False
    tmp = os.path.join(folder, "model.safetensors.tmp")
    save_file(state, tmp, metadata={"format": "pt"})
    os.replace(tmp, os.path.join(folder, "model.safetensors"))
    config.save_pretrained(folder)


def merged_state(model: Any) -> dict[str, Any]:
    """The weights of ``model`` as a plain transformers model's state dict, on the CPU, each
    tensor its own copy: for a peft model, W + ΔW of every LoRA layer under the base layer's
    name, the adapter's own tensors left out."""
    if not hasattr(model, "peft_config"):
        return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    merged: dict[str, Any] = {}
    for name, mod in base.named_modules():
        if isinstance(mod, LoraLayer):
            w = mod.base_layer.weight.detach()
            for a in mod.active_adapters:
                if a in mod.lora_A:
                    w = w + mod.get_delta_weight(a).to(w.dtype)
            merged[f"{name}.weight"] = w.to("cpu", copy=True).contiguous()
    state = {}
    for k, v in base.state_dict().items():
        if ".lora_" in k:
            continue
        plain = k.replace(".base_layer.", ".")
        state[plain] = merged[plain] if plain in merged else v.detach().to("cpu", copy=True).contiguous()
    return state
