"""Saving and loading checkpoint state without pickles.

A run directory may come from someone else's bundle, so nothing in it may be able to run code
when it is loaded: no ``torch.load`` (even ``weights_only=True`` is an unpickler, and the
restricted one has had remote-code-execution bugs, e.g. CVE-2025-32434 in torch <= 2.5.1), no
``pickle``. What a checkpoint holds is written as

* tensors: a safetensors file (a JSON header and raw bytes; ``safetensors.torch.load_file``
  only ever builds tensors), every tensor contiguous, detached and on the CPU;
* everything else: JSON (parsed with :mod:`json`, which only ever builds dicts, lists, strings
  and numbers).

Two shapes:

``save_weights`` / ``load_weights``: a flat state dict ``{name: tensor}`` (a model's weights)
    as one safetensors file. Names whose tensor is another name's tensor (tied embeddings:
    ``lm_head.weight`` is ``model.embed_tokens.weight``) are stored once — safetensors refuses
    tensors that share memory — and listed as aliases in the file's metadata; loading returns
    the same tensor object under both names, and ``load_state_dict`` copies it into the
    (still tied) parameter.

``save_state`` / ``load_state``: a nested state (optimizer and scheduler state dicts, RNG
    states, a data permutation, counters) as a safetensors file plus a JSON *skeleton*: the
    structure with each tensor replaced by a reference to its key in the file. Supported:
    dicts with str or int keys (an optimizer's ``state`` is keyed by parameter index), lists,
    tuples, tensors, None, bool, int, float (nan and ±inf included) and str — types come back
    exactly (tuple vs list, int vs str keys), except that an OrderedDict (what a module's
    ``state_dict()`` returns) comes back a dict in the same order. Anything else is refused
    with a TypeError when saving; there is no fallback to pickle.

Skeleton nodes: JSON null/true/false/numbers/strings are themselves, a JSON array is a list,
and a JSON object has exactly one key saying what it is:

    {"tuple": [node, …]}        {"dict": [[key, node], …]}  (key: a JSON string or integer)
    {"tensor": "<key in the safetensors file>"}            {"float": "nan" | "inf" | "-inf"}

Loading is bounded: a skeleton nested deeper than :data:`MAX_DEPTH`, a reference to a tensor the
file does not hold, a tensor no reference names, an unknown node kind or a malformed node is
refused with :class:`StateFormatError`.
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from typing import Any

import torch

SKELETON_FORMAT = "starlab-state"
SKELETON_VERSION = 1
WEIGHTS_FORMAT = "starlab-weights-1"
MAX_DEPTH = 64
MAX_SKELETON_BYTES = 64 << 20  # a real skeleton is a few KB (an optimizer's per-parameter entries)
_ALIASES = "starlab.aliases"
_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_KINDS = ("tuple", "dict", "tensor", "float")


class StateFormatError(ValueError):
    """A state file that is not what :func:`save_state` / :func:`save_weights` write."""


# ---------------------------------------------------------------------------- tensors


def _dtypes() -> frozenset:
    names = (
        "float64",
        "float32",
        "float16",
        "bfloat16",
        "int64",
        "int32",
        "int16",
        "int8",
        "uint8",
        "bool",
        "complex64",
        "uint16",
        "uint32",
        "uint64",
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e5m2",
        "float8_e5m2fnuz",
    )
    return frozenset(getattr(torch, n) for n in names if hasattr(torch, n))


_DTYPES = _dtypes()  # what safetensors stores


def _check_storable(t: torch.Tensor, where: str) -> None:
    if t.layout != torch.strided or t.is_quantized or t.is_meta:
        kind = "quantized" if t.is_quantized else "meta" if t.is_meta else str(t.layout)
        raise TypeError(f"{where}: a {kind} tensor cannot be saved in a checkpoint (only dense tensors)")
    if t.dtype not in _DTYPES:
        raise TypeError(f"{where}: tensors of dtype {t.dtype} cannot be saved in safetensors")


class _TensorTable:
    """Tensors to write, each once: a tensor met again (the same view of the same memory) gets
    the key it got the first time; one that shares memory with an earlier tensor otherwise (a
    different view) is copied, since safetensors refuses tensors that share memory. Every
    tensor is written detached, on the CPU and contiguous."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._keys: dict[tuple, str] = {}  # identity of an original view -> its key
        self._storages: set[tuple] = set()  # (device, storage pointer) of what is written

    def add(self, t: torch.Tensor, key: str) -> str:
        _check_storable(t, key)
        t = t.detach()
        shared = False
        if t.numel() > 0 and t.untyped_storage().nbytes() > 0:
            storage = (str(t.device), t.untyped_storage().data_ptr())
            ident = (*storage, t.data_ptr(), t.dtype, tuple(t.shape), t.stride())
            if ident in self._keys:
                return self._keys[ident]
            shared = storage in self._storages
            self._storages.add(storage)
            self._keys[ident] = key
        c = t.to("cpu")
        if shared or not c.is_contiguous():
            c = c.clone(memory_format=torch.contiguous_format)
        self.tensors[key] = c
        return key


def _unique(key: str, taken: dict[str, Any]) -> str:
    if key not in taken:
        return key
    i = 1
    while f"{key}~{i}" in taken:
        i += 1
    return f"{key}~{i}"


def _write_safetensors(tensors: dict[str, torch.Tensor], path: str, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    save_file(tensors, path, metadata=metadata)


def _read_safetensors(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors (on the CPU) and header metadata of a safetensors file; neither can run code."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except OSError:
        raise
    except Exception as e:  # safetensors' SafetensorError: a malformed header or data
        raise StateFormatError(f"{path} is not a valid safetensors file: {e}") from e


# ---------------------------------------------------------------------------- flat weights


def save_weights(state_dict: dict[str, torch.Tensor], path: str) -> None:
    """A flat ``{name: tensor}`` (a model's state dict) as one safetensors file; tied names are
    stored once and recorded as aliases (see the module's docstring)."""
    table = _TensorTable()
    aliases: dict[str, str] = {}
    for name, t in state_dict.items():
        if type(name) is not str:
            raise TypeError(f"weight names must be str, got {type(name).__name__} {name!r}")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"weight {name!r} is a {type(t).__name__}, not a tensor")
        key = table.add(t, name)
        if key != name:
            aliases[name] = key
    _write_safetensors(table.tensors, path, {"format": WEIGHTS_FORMAT, _ALIASES: json.dumps(aliases)})


def load_weights(path: str) -> dict[str, torch.Tensor]:
    """The state dict :func:`save_weights` wrote, aliases resolved (the same tensor object)."""
    tensors, metadata = _read_safetensors(path)
    raw = metadata.get(_ALIASES, "{}")
    try:
        aliases = _parse_json(raw)
    except StateFormatError as e:
        raise StateFormatError(f"{path}: its aliases are not valid JSON ({e})") from e
    if not isinstance(aliases, dict) or not all(type(k) is str and type(v) is str for k, v in aliases.items()):
        raise StateFormatError(f"{path}: its aliases are not a JSON object of names")
    out = dict(tensors)
    for name, target in aliases.items():
        if name in tensors:
            raise StateFormatError(f"{path}: the alias {name!r} is also a stored tensor")
        if target not in tensors:
            raise StateFormatError(f"{path}: the alias {name!r} names a tensor the file does not hold ({target!r})")
        out[name] = tensors[target]
    return out


# ---------------------------------------------------------------------------- nested state


def flatten(obj: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(skeleton, tensors) of a nested state; TypeError for anything that is not supported."""
    table = _TensorTable()

    def enc(x: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError(f"{path or '<root>'}: nested deeper than {MAX_DEPTH} levels (a cycle?)")
        t = type(x)
        if x is None or t is bool or t is int or t is str:
            return x
        if t is float:
            if math.isnan(x):
                return {"float": "nan"}
            if math.isinf(x):
                return {"float": "inf" if x > 0 else "-inf"}
            return x
        if t is list:
            return [enc(v, f"{path}/{i}", depth + 1) for i, v in enumerate(x)]
        if t is tuple:
            return {"tuple": [enc(v, f"{path}/{i}", depth + 1) for i, v in enumerate(x)]}
        if t is dict or t is OrderedDict:  # a module's state_dict() is an OrderedDict: it comes back a dict
            pairs = []
            for k, v in x.items():
                if type(k) not in (str, int):
                    raise TypeError(f"{path or '<root>'}: dict key {k!r} is a {type(k).__name__}; only str and int keys can be saved")
                pairs.append([k, enc(v, f"{path}/{k}", depth + 1)])
            return {"dict": pairs}
        if isinstance(x, torch.Tensor):
            key = path.lstrip("/") or "tensor"
            if key in table.tensors:
                key = _unique(key, table.tensors)
            return {"tensor": table.add(x, key)}
        raise TypeError(
            f"{path or '<root>'}: a {t.__module__}.{t.__qualname__} cannot be saved in a checkpoint "
            "(supported: dict with str/int keys, list, tuple, tensor, None, bool, int, float, str)"
        )

    root = enc(obj, "", 0)
    return {"format": SKELETON_FORMAT, "version": SKELETON_VERSION, "root": root}, table.tensors


def unflatten(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The state :func:`flatten` took apart; StateFormatError for anything it would not write."""
    if not isinstance(skeleton, dict) or skeleton.get("format") != SKELETON_FORMAT:
        raise StateFormatError(f"not a {SKELETON_FORMAT} skeleton")
    if skeleton.get("version") != SKELETON_VERSION:
        raise StateFormatError(f"skeleton version {skeleton.get('version')!r} is not supported (expected {SKELETON_VERSION})")
    if set(skeleton) != {"format", "version", "root"}:
        raise StateFormatError(f"unexpected skeleton fields {sorted(set(skeleton) - {'format', 'version', 'root'})}")
    used: set[str] = set()

    def dec(n: Any, path: str, depth: int) -> Any:
        where = path or "<root>"
        if depth > MAX_DEPTH:
            raise StateFormatError(f"{where}: the skeleton is nested deeper than {MAX_DEPTH} levels")
        t = type(n)
        if n is None or t is bool or t is int or t is str:
            return n
        if t is float:
            if not math.isfinite(n):  # pragma: no cover - the parser refuses NaN/Infinity literals
                raise StateFormatError(f"{where}: a non-finite float literal")
            return n
        if t is list:
            return [dec(v, f"{path}/{i}", depth + 1) for i, v in enumerate(n)]
        if t is not dict:
            raise StateFormatError(f"{where}: unexpected {t.__name__} in the skeleton")
        if len(n) != 1:
            raise StateFormatError(f"{where}: a skeleton node must have exactly one of {', '.join(_KINDS)}, got {sorted(n)}")
        ((kind, v),) = n.items()
        if kind == "tuple":
            if type(v) is not list:
                raise StateFormatError(f"{where}: a tuple node holds a {type(v).__name__}, not a list")
            return tuple(dec(x, f"{path}/{i}", depth + 1) for i, x in enumerate(v))
        if kind == "dict":
            if type(v) is not list:
                raise StateFormatError(f"{where}: a dict node holds a {type(v).__name__}, not a list of pairs")
            out: dict[Any, Any] = {}
            for pair in v:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                    raise StateFormatError(f"{where}: a dict entry must be [str or int key, node], got {str(pair)[:80]}")
                k = pair[0]
                if k in out:
                    raise StateFormatError(f"{where}: the dict key {k!r} appears twice")
                out[k] = dec(pair[1], f"{path}/{k}", depth + 1)
            return out
        if kind == "tensor":
            if type(v) is not str:
                raise StateFormatError(f"{where}: a tensor reference must be a string key, got {type(v).__name__}")
            if v not in tensors:
                raise StateFormatError(f"{where}: the skeleton references tensor {v!r}, which the tensor file does not hold")
            used.add(v)
            return tensors[v]
        if kind == "float":
            if type(v) is not str or v not in _FLOATS:
                raise StateFormatError(f"{where}: a float node must be one of {sorted(_FLOATS)}, got {v!r}")
            return _FLOATS[v]
        raise StateFormatError(f"{where}: unknown skeleton node kind {kind!r} (known: {', '.join(_KINDS)})")

    try:
        obj = dec(skeleton["root"], "", 0)
    except RecursionError as e:  # pragma: no cover - MAX_DEPTH stops far earlier
        raise StateFormatError("the skeleton is nested too deeply") from e
    unused = sorted(set(tensors) - used)
    if unused:
        raise StateFormatError(f"the tensor file holds tensors the skeleton does not reference: {unused[:5]}")
    return obj


def _parse_json(text: str | bytes) -> Any:
    """Strict JSON: no NaN/Infinity literals, no duplicate object keys, bounded nesting."""

    def constant(name: str) -> Any:
        raise StateFormatError(f'{name} is not allowed in a skeleton (non-finite floats are written as {{"float": …}})')

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k, v in items:
            if k in d:
                raise StateFormatError(f"duplicate JSON key {k!r}")
            d[k] = v
        return d

    try:
        return json.loads(text, parse_constant=constant, object_pairs_hook=pairs)
    except StateFormatError:
        raise
    except RecursionError as e:
        raise StateFormatError("the JSON is nested too deeply") from e
    except ValueError as e:  # json.JSONDecodeError, UnicodeDecodeError, an over-long integer
        raise StateFormatError(f"invalid JSON: {e}") from e


def save_state(obj: Any, tensors_path: str, skeleton_path: str) -> None:
    """Write a nested state as a safetensors file and its JSON skeleton."""
    skeleton, tensors = flatten(obj)
    text = json.dumps(skeleton, allow_nan=False, separators=(",", ":"))  # ASCII: any str survives
    _write_safetensors(tensors, tensors_path, {"format": SKELETON_FORMAT})
    with open(skeleton_path, "w", encoding="ascii") as f:
        f.write(text)


def load_state(tensors_path: str, skeleton_path: str) -> Any:
    """The state :func:`save_state` wrote; StateFormatError when the files are not such a pair."""
    size = os.path.getsize(skeleton_path)
    if size > MAX_SKELETON_BYTES:
        raise StateFormatError(f"{skeleton_path} is {size} bytes; a skeleton is at most {MAX_SKELETON_BYTES}")
    with open(skeleton_path, "rb") as f:
        raw = f.read()
    try:
        skeleton = _parse_json(raw)
    except StateFormatError as e:
        raise StateFormatError(f"{skeleton_path}: {e}") from e
    tensors, _ = _read_safetensors(tensors_path)
    try:
        return unflatten(skeleton, tensors)
    except StateFormatError as e:
        raise StateFormatError(f"{skeleton_path}: {e}") from e
