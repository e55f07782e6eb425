"""The vLLM engine's process (runtime.engine = vllm; the client is starlab/engines.py).

It runs with the Python of vLLM's own environment (experiments/.venv-vllm: vLLM pins its torch
and transformers, which the experiments' environment does not share), started by path, so it
imports nothing of the starlab package. One JSON request per line on stdin, one JSON reply per
line on the original stdout; everything else printed (vLLM's logs, warnings) goes to stderr.

    {"op": "start", "model": DIR, "dtype": "float32", "seed": 0, "max_model_len": 64 | null,
     "gpu_memory_utilization": 0.35}                        -> {"ok": true, "vllm": "0.32.0", "seeded": bool}
    {"op": "reload", "path": DIR}                           -> {"ok": true}   new weights, in place
    {"op": "generate", "prompts": [[ids]], "max_tokens": N | [N per prompt], "temperature": T,
     "seeds": [s] | null, "stop_token_ids": [ids]}          -> {"ok": true, "outputs": [[ids]]}
    {"op": "exit"}

Prompts and completions are token ids (the engine starts without a tokenizer: the experiment's
tokenizer encodes and decodes, exactly as for the hf engine). A failed request answers
{"ok": false, "error": "..."} and the process goes on.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _die_with_parent() -> None:
    """The experiment that started this process may be killed (SIGKILL): then so is this one
    (Linux: PR_SET_PDEATHSIG; elsewhere the closed stdin ends the loop)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def main() -> None:
    _die_with_parent()
    reply_to = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # whatever vLLM or its libraries print must not mix with the replies
    llm: Any = None
    seeded = True  # per-prompt seeds (vLLM's CPU build refuses them: "CPU Generator does not use offset")

    def reply(**fields: Any) -> None:
        reply_to.write(json.dumps(fields) + "\n")

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req["op"]
            if op == "exit":
                break
            if op == "start":
                import vllm

                kw: dict[str, Any] = {}
                if req.get("max_model_len"):
                    kw["max_model_len"] = int(req["max_model_len"])
                if req.get("gpu_memory_utilization"):
                    kw["gpu_memory_utilization"] = float(req["gpu_memory_utilization"])
                if req.get("enforce_eager"):
                    kw["enforce_eager"] = True
                llm = vllm.LLM(
                    model=req["model"],
                    skip_tokenizer_init=True,
                    dtype=req.get("dtype", "auto"),
                    seed=int(req.get("seed", 0)),
                    # new weights arrive in place (reload): no cached prefix may outlive them
                    enable_prefix_caching=False,
                    **kw,
                )
                from vllm.platforms import current_platform

                seeded = not current_platform.is_cpu()
                reply(ok=True, vllm=vllm.__version__, seeded=seeded)
            elif op == "reload":
                llm.collective_rpc("reload_weights", kwargs={"weights_path": req["path"]})
                llm.reset_prefix_cache()
                reply(ok=True)
            elif op == "generate":
                from vllm import SamplingParams
                from vllm.inputs import TokensPrompt

                prompts = req["prompts"]
                seeds = req.get("seeds")
                max_tokens = req["max_tokens"]
                if not isinstance(max_tokens, list):
                    max_tokens = [max_tokens] * len(prompts)
                temperature = float(req["temperature"])
                params = [
                    SamplingParams(
                        n=1,
                        temperature=temperature,
                        max_tokens=int(max_tokens[i]),
                        stop_token_ids=list(req["stop_token_ids"]),
                        # a seed per prompt: its sample does not depend on the batch it is in
                        seed=None if seeds is None or temperature == 0 or not seeded else int(seeds[i]),
                        detokenize=False,
                    )
                    for i in range(len(prompts))
                ]
                outs = llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
                reply(ok=True, outputs=[list(o.outputs[0].token_ids) for o in outs])
            else:
                reply(ok=False, error=f"unknown op {op!r}")
        except Exception as e:  # noqa: BLE001 - every failure is answered; the client raises it
            reply(ok=False, error=f"{type(e).__name__}: {e}")


if __name__ == "__main__":  # vLLM spawns its engine process: only the main module may run this
    main()
