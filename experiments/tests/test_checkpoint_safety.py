"""Checkpoints load nothing that can run code: no pickle, no torch.load, from a run directory
(which may come from someone else's bundle). Old pickle checkpoints are refused with a message
that says why; the safetensors + JSON state round-trips exactly."""

from __future__ import annotations

import ast
import builtins
import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXPERIMENTS, micro_config, require
from starlab import checkpoint, models, safe_state
from starlab.config import config_hash
from starlab.events import EventWriter
from starlab.stopping import StopFlag, StopRequested
from starlab.train import lr_lambda

OLD_FORMAT = r"older STaR Lab in PyTorch's pickle format \({}\), which can run code when loaded; STaR Lab no longer loads pickles"


# --------------------------------------------------------------------------- a malicious pickle


class _Payload:
    """Unpickling this calls open(marker, "w"): the file appearing means code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def _plant(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weights": _Payload(marker)}, path)  # what a crafted model.pt / state.pt looks like


def test_the_planted_pickle_calls_code_when_unpickled(tmp_path):
    """The control, read without unpickling (pickletools only parses opcodes): the planted file
    imports open (pickled as "io open") and calls it on the marker (REDUCE), so an unpickler
    would create the marker file."""
    import pickletools
    import zipfile

    marker = tmp_path / "pwned"
    _plant(tmp_path / "state.pt", marker)
    with zipfile.ZipFile(tmp_path / "state.pt") as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    assert ("GLOBAL", "io open") in ops  # torch.save writes pickle protocol 2
    assert ("BINUNICODE", str(marker)) in ops
    assert any(name == "REDUCE" for name, _ in ops)
    assert not marker.exists()


def _tiny(seed: int = 0):
    cfg = micro_config()
    return models.build(cfg["model"], seed, alphabet="0123456789+=")[0]


def _write_meta(ck: Path, cfg, *, fmt: int | None, lora: bool = False) -> None:
    meta = {"iteration": 1, "config_hash": config_hash(cfg), "identity": {}, "lora": lora, "state": {}}
    if fmt is not None:
        meta["format"] = fmt
    ck.mkdir(parents=True, exist_ok=True)
    (ck / "state.json").write_text(json.dumps(meta))


# --------------------------------------------------------------------------- (a) old format refused


@pytest.mark.parametrize("fmt", [None, 2])
@pytest.mark.parametrize("name", ["model.pt", "base.pt"])
@pytest.mark.parametrize("ckdir", ["checkpoint", "checkpoint.old"])
def test_a_planted_model_pickle_is_refused_without_running(tmp_path, fmt, name, ckdir):
    cfg = micro_config()
    marker = tmp_path / "pwned"
    ck = tmp_path / "run" / ckdir
    _write_meta(ck, cfg, fmt=fmt)
    _plant(ck / name, marker)
    with pytest.raises(checkpoint.CheckpointError, match=OLD_FORMAT.format(name.replace(".", r"\."))) as e:
        checkpoint.load(str(tmp_path / "run"), cfg, _tiny(), lora=False)
    assert "Start the run again" in str(e.value) and "someone else's bundle" in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize("fmt", [None, 2])
def test_a_planted_quiet_star_state_pickle_is_refused_without_running(tmp_path, fmt):
    cfg = micro_config()
    marker = tmp_path / "pwned"
    ck = tmp_path / "checkpoint"
    _write_meta(ck, cfg, fmt=fmt)
    _plant(ck / "state.pt", marker)
    with pytest.raises(checkpoint.CheckpointError, match=OLD_FORMAT.format(r"state\.pt")):
        checkpoint.load_tensors(str(tmp_path), cfg)
    assert not marker.exists()


def test_an_old_checkpoint_without_pickles_and_a_newer_one_are_refused(tmp_path):
    cfg = micro_config()
    _write_meta(tmp_path / "checkpoint", cfg, fmt=None)
    with pytest.raises(checkpoint.CheckpointError, match=r'older STaR Lab \(its state.json has no "format": 2\)'):
        checkpoint.load(str(tmp_path), cfg, _tiny(), lora=False)
    with pytest.raises(checkpoint.CheckpointError, match="older STaR Lab"):
        checkpoint.load_tensors(str(tmp_path), cfg)
    assert checkpoint.exists(str(tmp_path))  # still found, so resume says why rather than "nothing to resume"
    _write_meta(tmp_path / "checkpoint", cfg, fmt=3)
    with pytest.raises(checkpoint.CheckpointError, match="newer STaR Lab"):
        checkpoint.load(str(tmp_path), cfg, _tiny(), lora=False)
    _write_meta(tmp_path / "checkpoint", cfg, fmt="2")
    with pytest.raises(checkpoint.CheckpointError, match="unknown format"):
        checkpoint.load_tensors(str(tmp_path), cfg)


def _star_run(run_dir: Path, cfg, *, stop_after: int | None = None, resume: bool = False):
    from starlab.variants import star

    stop = StopFlag()
    hooks = star.Hooks(on_iteration_end=lambda n, v: stop.request() if n == stop_after else None)
    w = EventWriter(run_dir / "events.jsonl", heartbeat_s=None)
    try:
        star.run(cfg, w, run_dir=str(run_dir), stop=stop, hooks=hooks, emit_run_start=False, resume=resume)
    finally:
        w.close()


def test_resuming_a_star_run_whose_checkpoint_was_swapped_for_a_pickle_is_refused(tmp_path):
    """End to end through the runner: a real checkpoint (format 2, safetensors only), then the
    same run directory as an older version (or a crafted bundle) would have it."""
    cfg = micro_config(loop={"iterations": 2})
    with pytest.raises(StopRequested):
        _star_run(tmp_path, cfg, stop_after=1)
    ck = tmp_path / "checkpoint"
    names = sorted(p.name for p in ck.iterdir())
    assert names == ["base.safetensors", "model.safetensors", "state.json"]
    meta = json.loads((ck / "state.json").read_text())
    assert meta["format"] == 2 and {"iteration", "config_hash", "identity", "lora", "state"} <= set(meta)
    marker = tmp_path / "pwned"
    (ck / "model.safetensors").unlink()
    _plant(ck / "model.pt", marker)
    del meta["format"]
    (ck / "state.json").write_text(json.dumps(meta))
    with pytest.raises(checkpoint.CheckpointError, match=OLD_FORMAT.format(r"model\.pt")):
        _star_run(tmp_path, cfg, resume=True)
    assert not marker.exists()


def test_resuming_a_quiet_star_run_whose_state_was_swapped_for_a_pickle_is_refused(tmp_path):
    import copy

    from conftest import MICRO_CONFIG
    from starlab.config import validate_config
    from starlab.variants import quiet_star

    cfg = copy.deepcopy(MICRO_CONFIG)
    cfg.pop("loop")
    cfg["variant"] = "quiet-star"
    cfg["quiet"] = {
        "steps": 2,
        "lr": 0.003,
        "batch_size": 2,
        "seq_len": 32,
        "n_thoughts": 1,
        "thought_len": 2,
        "n_ahead": 2,
        "thought_temperature": 1.0,
        "policy_weight": 1.0,
        "eval_every": 1,
        "max_new_tokens": 16,
    }
    cfg["warmup"]["steps"] = 2
    cfg, errors = validate_config(cfg)
    assert not errors, errors
    stop = StopFlag()
    w = EventWriter(tmp_path / "events.jsonl", heartbeat_s=None)
    with pytest.raises(StopRequested):
        quiet_star.run(
            cfg,
            w,
            run_dir=str(tmp_path),
            emit_run_start=False,
            stop=stop,
            hooks=quiet_star.Hooks(on_eval_end=lambda i, r: stop.request() if i == 1 else None),
        )
    w.close()
    ck = tmp_path / "checkpoint"
    assert sorted(p.name for p in ck.iterdir()) == ["state.json", "state.safetensors", "state.skeleton.json"]
    # the state loads with safetensors + json alone, and holds what the resume needs
    _, tensors, _ = checkpoint.load_tensors(str(tmp_path), cfg, identity=None)
    assert set(tensors) == {"qm", "opt", "sched", "data_gen", "thought_gen", "perm", "pos"}
    assert isinstance(tensors["opt"]["param_groups"][0]["betas"], tuple)
    assert all(type(k) is int for k in tensors["opt"]["state"])
    marker = tmp_path / "pwned"
    _plant(ck / "state.pt", marker)
    w = EventWriter(tmp_path / "events.jsonl", heartbeat_s=None)
    with pytest.raises(checkpoint.CheckpointError, match=OLD_FORMAT.format(r"state\.pt")):
        quiet_star.run(cfg, w, run_dir=str(tmp_path), emit_run_start=False, resume=True)
    w.close()
    assert not marker.exists()


# --------------------------------------------------------------------------- (b) adapters


def _lora_checkpoint(tmp_path: Path):
    from starlab.lora import add_adapter

    cfg = micro_config(loop={"finetune": "lora"})
    model = add_adapter(_tiny(), r=2, alpha=4, seed=0)
    checkpoint.save(str(tmp_path), 1, cfg, model, None, {"x": 1}, lora=True)
    return cfg, tmp_path / "checkpoint" / "adapter"


def test_a_lora_checkpoint_is_safetensors_and_loads(tmp_path):
    cfg, adapter = _lora_checkpoint(tmp_path)
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not [p for p in adapter.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
    n, model, _, state = checkpoint.load(str(tmp_path), cfg, _tiny(), lora=True)
    assert n == 1 and state == {"x": 1} and any("lora_" in k for k in model.state_dict())


@pytest.mark.parametrize("keep_safetensors", [True, False])
def test_an_adapter_with_a_pickle_is_refused(tmp_path, keep_safetensors):
    cfg, adapter = _lora_checkpoint(tmp_path)
    marker = tmp_path / "pwned"
    if not keep_safetensors:
        (adapter / "adapter_model.safetensors").unlink()  # peft would fall back to adapter_model.bin
    _plant(adapter / "adapter_model.bin", marker)
    with pytest.raises(checkpoint.CheckpointError, match=r"adapter/adapter_model\.bin.*can run code"):
        checkpoint.load(str(tmp_path), cfg, _tiny(), lora=True)
    assert not marker.exists()
    with pytest.raises(checkpoint.CheckpointError, match=r"adapter_model\.bin"):
        checkpoint._check_adapter_dir(str(adapter))


def test_an_adapter_without_its_safetensors_file_is_refused_before_peft(tmp_path, monkeypatch):
    cfg, adapter = _lora_checkpoint(tmp_path)
    (adapter / "adapter_model.safetensors").unlink()
    import peft

    monkeypatch.setattr(peft.PeftModel, "from_pretrained", lambda *a, **k: pytest.fail("peft was called"))
    with pytest.raises(checkpoint.CheckpointError, match="no adapter_model.safetensors"):
        checkpoint.load(str(tmp_path), cfg, _tiny(), lora=True)


# --------------------------------------------------------------------------- (c) round trips


def _same(a, b, path="root"):
    """Equal, with exactly the same types (tuple vs list, int vs str keys, nan)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and b.device.type == "cpu", path
        assert not b.requires_grad and b.is_contiguous(), path
        torch.testing.assert_close(a.detach().cpu(), b, rtol=0, atol=0, equal_nan=True, msg=path)
    elif isinstance(a, dict):
        assert list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b], path
        for k in a:
            _same(a[k], b[k], f"{path}/{k!r}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}/{i}")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b)), path
    else:
        assert a == b, path


def _roundtrip(obj, tmp_path: Path, name: str = "s"):
    ts, sk = str(tmp_path / f"{name}.safetensors"), str(tmp_path / f"{name}.skeleton.json")
    safe_state.save_state(obj, ts, sk)
    return safe_state.load_state(ts, sk)


def _train(model, opt, sched, gen, steps):
    for _ in range(steps):
        ids = torch.randint(0, 10, (2, 8), generator=gen)
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def test_optimizer_scheduler_and_generator_state_round_trip_and_continue_bit_for_bit(tmp_path):
    def setup():
        model = _tiny()
        opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
        return model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(20)), torch.Generator().manual_seed(3)

    model, opt, sched, gen = setup()
    _train(model, opt, sched, gen, 3)
    perm = torch.randperm(7, generator=gen)
    state = {
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "gen": gen.get_state(),
        "pos": 5,
        "perm": perm,
    }
    back = _roundtrip(state, tmp_path)
    _same({**state, "model": dict(state["model"])}, back)
    assert isinstance(back["opt"]["param_groups"][0]["betas"], tuple)
    assert sorted(back["opt"]["state"]) == list(range(len(list(model.parameters()))))

    model2, opt2, sched2, gen2 = setup()
    model2.load_state_dict(back["model"])
    opt2.load_state_dict(back["opt"])
    sched2.load_state_dict(back["sched"])
    gen2.set_state(back["gen"])
    _train(model, opt, sched, gen, 3)
    _train(model2, opt2, sched2, gen2, 3)
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        assert torch.equal(a, b), k
    assert sched.get_last_lr() == sched2.get_last_lr()


def test_types_keys_and_special_floats_round_trip(tmp_path):
    x = torch.arange(12.0).reshape(3, 4)
    obj = {
        0: "int key",
        "0": "str key",
        7: (1, [2, (3.5,)], ()),
        "floats": [math.nan, math.inf, -math.inf, -0.0, 1e-310],
        "nested": {"t": x, "view": x[1:], "transposed": x.t(), "same": x, "empty": torch.zeros(0, 3)},
        "scalars": [None, True, False, 2**70, -1, ""],
        "tensors": [torch.tensor(True), torch.tensor(3, dtype=torch.int16), torch.randn(2).to(torch.bfloat16)],
    }
    back = _roundtrip(obj, tmp_path)
    _same(obj, back)
    assert back["nested"]["same"] is back["nested"]["t"]  # one tensor, stored once
    text = (tmp_path / "s.skeleton.json").read_text()
    assert "NaN" not in text and "Infinity" not in text


@pytest.mark.parametrize("bad", [{1, 2}, b"bytes", object(), {(1, 2): 3}, {True: 1}, {1.5: 2}, [complex(1, 2)], torch.zeros(2).to_sparse()])
def test_unsupported_values_are_refused_with_a_type_error_and_nothing_is_written(tmp_path, bad):
    with pytest.raises(TypeError, match="cannot be saved|only str and int keys|dense tensors"):
        safe_state.save_state({"x": bad}, str(tmp_path / "s.safetensors"), str(tmp_path / "s.skeleton.json"))
    assert not list(tmp_path.iterdir())


def test_numpy_values_and_subclasses_are_refused():
    np = require("numpy")

    class MyInt(int):
        pass

    for bad in (np.float64(1.0), np.int64(1), np.zeros(2), MyInt(3)):
        with pytest.raises(TypeError):
            safe_state.flatten({"x": bad})


def test_saving_refuses_cycles_and_deep_nesting():
    cyc: list = []
    cyc.append(cyc)
    with pytest.raises(ValueError, match="deeper than 64"):
        safe_state.flatten(cyc)
    deep: list = []
    for _ in range(70):
        deep = [deep]
    with pytest.raises(ValueError, match="deeper than 64"):
        safe_state.flatten(deep)


_dtypes = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.int8,
    torch.uint8,
    torch.bool,
]


@st.composite
def _tensors(draw):
    dtype = draw(st.sampled_from(_dtypes))
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    if dtype.is_floating_point:
        t = torch.randn(shape, generator=g).to(dtype)
        if t.numel() and draw(st.booleans()):
            t.view(-1)[0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    elif dtype == torch.bool:
        t = torch.randint(0, 2, shape, generator=g).bool()
    else:
        t = torch.randint(0, 100, shape, generator=g).to(dtype)
    if t.dim() >= 2 and draw(st.booleans()):
        t = t.transpose(0, 1)  # not contiguous
    return t


_leaves = st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(max_size=6) | _tensors()
_states = st.recursive(
    _leaves,
    lambda ch: (
        st.lists(ch, max_size=4)
        | st.lists(ch, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=6) | st.integers(-3, 2**40), ch, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obj=_states)
def test_any_supported_state_round_trips_exactly(tmp_path, obj):
    _same(obj, _roundtrip(obj, tmp_path))


# --------------------------------------------------------------------------- (d) bounded loading


def _files(tmp_path: Path, obj=None):
    ts, sk = tmp_path / "s.safetensors", tmp_path / "s.skeleton.json"
    safe_state.save_state(obj if obj is not None else {"a": torch.ones(2), "b": [1, 2]}, str(ts), str(sk))
    return ts, sk


def _edit_root(sk: Path, root) -> None:
    skel = json.loads(sk.read_text())
    skel["root"] = root
    sk.write_text(json.dumps(skel))


@pytest.mark.parametrize(
    "root,message",
    [
        ({"dict": [["a", {"tensor": "missing"}], ["b", [1, 2]]]}, "references tensor 'missing', which the tensor file does not hold"),
        ({"dict": [["a", {"pickle": "a"}]]}, "unknown skeleton node kind 'pickle'"),
        ({"dict": [["a", {"tensor": "a", "float": "nan"}]]}, "exactly one of"),
        ({"dict": [["a", {"tensor": 3}]]}, "tensor reference must be a string"),
        ({"dict": [["a", {"float": "1e999"}]]}, "float node must be one of"),
        ({"dict": [["a", {"tensor": "a"}], ["a", 1]]}, "appears twice"),
        ({"dict": [[1.5, {"tensor": "a"}]]}, "must be \\[str or int key, node\\]"),
        ({"dict": [["b", [1]]]}, "does not reference"),
        ({"tuple": {"x": 1}}, "not a list"),
    ],
)
def test_a_malformed_skeleton_is_refused(tmp_path, root, message):
    ts, sk = _files(tmp_path)
    _edit_root(sk, root)
    with pytest.raises(safe_state.StateFormatError, match=message):
        safe_state.load_state(str(ts), str(sk))


def test_deep_nesting_nan_literals_and_bad_headers_are_refused(tmp_path):
    ts, sk = _files(tmp_path)
    deep = {"tensor": "a"}
    for _ in range(80):
        deep = [deep]
    _edit_root(sk, {"dict": [["a", deep]]})
    with pytest.raises(safe_state.StateFormatError, match="deeper than 64"):
        safe_state.load_state(str(ts), str(sk))
    sk.write_text('{"format":"starlab-state","version":1,"root":' + "[" * 200000 + "]" * 200000 + "}")
    with pytest.raises(safe_state.StateFormatError):
        safe_state.load_state(str(ts), str(sk))
    sk.write_text('{"format":"starlab-state","version":1,"root":{"dict":[["a",{"tensor":"a"}],["b",[NaN]]]}}')
    with pytest.raises(safe_state.StateFormatError, match="NaN is not allowed"):
        safe_state.load_state(str(ts), str(sk))
    sk.write_text('{"format":"starlab-state","version":1,"version":1,"root":null}')
    with pytest.raises(safe_state.StateFormatError, match="duplicate JSON key"):
        safe_state.load_state(str(ts), str(sk))
    sk.write_text('{"format":"starlab-state","version":2,"root":null}')
    with pytest.raises(safe_state.StateFormatError, match="version 2 is not supported"):
        safe_state.load_state(str(ts), str(sk))
    sk.write_text('["not a skeleton"]')
    with pytest.raises(safe_state.StateFormatError, match="not a starlab-state skeleton"):
        safe_state.load_state(str(ts), str(sk))
    (tmp_path / "x").mkdir()
    _, good_skeleton = _files(tmp_path / "x")
    ts.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(safe_state.StateFormatError, match="not a valid safetensors file"):
        safe_state.load_state(str(ts), str(good_skeleton))


def test_a_malformed_quiet_star_checkpoint_is_a_checkpoint_error(tmp_path):
    cfg = micro_config()
    checkpoint.save_tensors(str(tmp_path), 1, cfg, {"qm": {"w": torch.ones(2)}, "pos": 3}, {"k": 1})
    n, tensors, state = checkpoint.load_tensors(str(tmp_path), cfg)
    assert n == 1 and state == {"k": 1} and tensors["pos"] == 3 and torch.equal(tensors["qm"]["w"], torch.ones(2))
    _edit_root(tmp_path / "checkpoint" / "state.skeleton.json", {"dict": [["qm", {"tensor": "nope"}]]})
    with pytest.raises(checkpoint.CheckpointError, match="unreadable.*'nope'"):
        checkpoint.load_tensors(str(tmp_path), cfg)
    (tmp_path / "checkpoint" / "state.skeleton.json").unlink()
    with pytest.raises(checkpoint.CheckpointError, match="not written by this variant"):
        checkpoint.load_tensors(str(tmp_path), cfg)


# --------------------------------------------------------------------------- (e) tied weights


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_a_tied_tiny_model_round_trips_and_stays_tied(tmp_path):
    src = _tiny(seed=1)
    sd = src.state_dict()
    assert sd["lm_head.weight"].data_ptr() == sd["model.embed_tokens.weight"].data_ptr()  # tied
    with torch.no_grad():
        src.lm_head.weight.mul_(1.5)  # trained weights, not the init of the seed
    safe_state.save_weights(src.state_dict(), str(tmp_path / "m.safetensors"))
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "m.safetensors"))
    assert len(stored) == len(sd) - 1  # the tied pair is stored once
    back = safe_state.load_weights(str(tmp_path / "m.safetensors"))
    assert set(back) == set(sd) and back["lm_head.weight"] is back["model.embed_tokens.weight"]

    dst = _tiny(seed=2)
    dst.load_state_dict(back)
    assert dst.lm_head.weight is dst.model.embed_tokens.weight  # still tied
    ids = torch.randint(0, 10, (2, 9), generator=torch.Generator().manual_seed(0))
    assert torch.equal(_logits(src, ids), _logits(dst, ids))
    # and through checkpoint.save/load (full fine-tuning), base weights included
    cfg = micro_config()
    checkpoint.save(str(tmp_path / "run"), 1, cfg, src, models.state_copy(_tiny(seed=3)), {}, lora=False)
    n, m, base, _ = checkpoint.load(str(tmp_path / "run"), cfg, _tiny(seed=4), lora=False)
    assert m.lm_head.weight is m.model.embed_tokens.weight
    assert torch.equal(_logits(src, ids), _logits(m, ids))
    assert all(torch.equal(base[k], v) for k, v in _tiny(seed=3).state_dict().items())


def test_weights_with_bad_aliases_are_refused(tmp_path):
    from safetensors.torch import save_file

    p = str(tmp_path / "m.safetensors")
    for aliases, message in [
        ('{"b": "nope"}', "does not hold"),
        ('{"a": "a"}', "also a stored tensor"),
        ('["a"]', "not a JSON object"),
        ("{", "not valid JSON"),
    ]:
        save_file({"a": torch.ones(1)}, p, metadata={"starlab.aliases": aliases})
        with pytest.raises(safe_state.StateFormatError, match=message):
            safe_state.load_weights(p)


# --------------------------------------------------------------------------- the package itself


def test_the_package_never_unpickles():
    """No torch.load / pickle / numpy load with pickles anywhere in starlab/ (a run directory's
    files may come from someone else's bundle)."""
    bad = []
    for path in sorted((EXPERIMENTS / "starlab").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                if any(n.split(".")[0] in ("pickle", "dill", "joblib", "shelve", "marshal", "cloudpickle") for n in names):
                    bad.append(f"{path.name}:{node.lineno} imports {names}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
                if node.func.attr in ("load", "loads") and owner_name in ("torch", "np", "numpy"):
                    bad.append(f"{path.name}:{node.lineno} calls {owner_name}.{node.func.attr}")
            if isinstance(node, ast.keyword) and node.arg in ("weights_only", "allow_pickle", "trust_remote_code"):
                bad.append(f"{path.name}:{node.value.lineno} passes {node.arg}")
    assert not bad, bad
