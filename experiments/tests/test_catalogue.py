"""The catalogue (starlab/catalogue.json) is the one list of variants, phases, scorers and metric
names: the Python side's own lists equal it, and every metric name the experiments write is in it.

The metric names are found statically (no torch): every string literal and f-string in
experiments/starlab that looks like ``<namespace>/<rest>``, where the namespace is one of the
catalogue's or the string is used as a dict key. f-string holes stand for one name part; a
string may also be a prefix that code completes (``vstar/pass`` + ``@k``). f-strings that begin
with a hole (``f"{prefix}/{name}_{d}"``) cannot be checked this way and are left out.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from conftest import REPO, SCHEMA_PATH
from starlab import catalogue as C

STARLAB = REPO / "experiments" / "starlab"
HOLE = "\x00"
PART = r"[A-Za-z0-9_.-]+"
LOOKS_LIKE_METRIC = re.compile(r"^[a-z][a-z_]*/[A-Za-z0-9_@./\x00-]*$")
#: values to fill the catalogue's pattern placeholders with, for matching against what the code writes
SAMPLE_VALUES = {"difficulty": ["digits"], "level": ["3"], "k": ["4"], "scorer": list(C.SCORERS)}


def _is_path(s: str) -> bool:
    return s.startswith("artifacts/") or "*" in s or bool(re.search(r"\.[a-z]+$", s))


def _template(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in node.values)
    return None


def _key_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes used as a dict key: {k: v}, {k: v for …}, d[k] = v."""
    keys: set[int] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Dict):
            keys.update(id(k) for k in n.keys if k is not None)
        elif isinstance(n, ast.DictComp):
            keys.add(id(n.key))
        elif isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store):
            keys.add(id(n.slice))
    return keys


def emitted_names() -> dict[str, list[str]]:
    """Metric-like templates in experiments/starlab -> where they occur (file:line); keys of dicts
    are marked with a leading "=" (they must match a name exactly, not as a prefix). The shims in
    compat/ write the names a user's script chose, which no catalogue can know."""
    out: dict[str, list[str]] = {}
    for f in sorted(STARLAB.rglob("*.py")):
        if f.name == "catalogue.py" or f.parent.name == "compat":
            continue
        tree = ast.parse(f.read_text(encoding="utf-8"))
        inside_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        keys = _key_nodes(tree)
        for n in ast.walk(tree):
            if id(n) in inside_fstrings:
                continue
            t = _template(n)
            if t is None or t.startswith(HOLE) or not LOOKS_LIKE_METRIC.match(t) or _is_path(t):
                continue
            is_key = id(n) in keys
            if not is_key and t.split("/", 1)[0] not in C.METRIC_NAMESPACES:
                continue
            out.setdefault(("=" if is_key else "") + t, []).append(f"{f.relative_to(STARLAB)}:{n.lineno}")
    return out


def catalogue_samples() -> list[str]:
    """Every catalogued name and alias, and every pattern filled in with SAMPLE_VALUES."""
    out: list[str] = []
    for m in C.METRICS:
        if "name" in m:
            out.append(m["name"])
        out.extend(m.get("aliases", []))
        if "pattern" in m:
            names = [m["pattern"]]
            for ph, values in SAMPLE_VALUES.items():
                names = [n.replace("{" + ph + "}", v) for n in names for v in values]
            assert "{" not in "".join(names), f"no sample value for a placeholder of {m['pattern']}"
            out.extend(names)
    return out


def _regex(template: str, *, prefix: bool) -> re.Pattern[str]:
    src = PART.join(re.escape(p) for p in template.split(HOLE))
    return re.compile(f"^{src}" + ("(?:[@/].*)?" if prefix else "") + "$")


def test_every_metric_name_the_experiments_write_is_catalogued():
    found = emitted_names()
    assert len(found) > 50, "the scan found too few metric names: has the code moved?"
    samples = catalogue_samples()
    missing = []
    for key, where in sorted(found.items()):
        exact = key.startswith("=")
        t = key[1:] if exact else key
        rx = _regex(t, prefix=not exact)
        if HOLE not in t and exact:
            ok = C.metric_entry(t) is not None
        else:
            ok = any(rx.match(s) for s in samples)
        if not ok:
            missing.append(f"{t.replace(HOLE, '{…}')} ({', '.join(where[:3])})")
    assert not missing, "metric names written by experiments/starlab but not in catalogue.json:\n  " + "\n  ".join(missing)


def test_every_catalogued_name_is_written_somewhere():
    """Catches a catalogue entry left behind by a rename (patterns are left out: their names are built)."""
    templates = [k.lstrip("=") for k in emitted_names()]
    regexes = [_regex(t, prefix=False) for t in templates]
    stale = [m["name"] for m in C.METRICS if "name" in m and not any(rx.match(m["name"]) for rx in regexes)]
    assert not stale, f"catalogued but written nowhere in experiments/starlab: {stale}"


def test_quiet_step_metrics_are_catalogued():
    """quiet_star.py writes quiet/<k> for k in STEP_METRICS (but loss, written as train/loss)."""
    tree = ast.parse((STARLAB / "variants" / "quiet_star.py").read_text(encoding="utf-8"))
    step = next(
        (
            n.value
            for n in tree.body
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "STEP_METRICS" for t in n.targets)
        ),
        None,
    )
    assert step is not None, "quiet_star.py has no module-level STEP_METRICS any more: update this test"
    names = [f"quiet/{e.value}" for e in step.elts if isinstance(e, ast.Constant) and e.value != "loss"]
    assert names and all(C.metric_entry(n) is not None for n in names), [n for n in names if C.metric_entry(n) is None]


def test_the_duplicate_token_counters_are_aliases_of_one_name():
    assert C.canonical_metric("tokens/generated") == "compute/tokens_generated"
    assert C.canonical_metric("tokens/trained") == "compute/tokens_trained"
    assert C.metric_entry("tokens/generated") is C.metric_entry("compute/tokens_generated")
    assert C.canonical_metric("eval/accuracy") == "eval/accuracy"


def test_patterns_match_the_names_they_stand_for():
    assert C.metric_entry("eval/accuracy/digits_3")["pattern"] == "eval/accuracy/{difficulty}_{level}"
    assert C.metric_entry("vstar/best_of_k/dpo@16")["pattern"] == "vstar/best_of_k/{scorer}@{k}"
    assert C.metric_entry("vstar/pass@1")["pattern"] == "vstar/pass@{k}"
    assert C.metric_entry("vstar/pass@0") is None
    assert C.metric_entry("my/own_metric") is None


def test_python_lists_are_the_catalogue():
    from starlab import config, events
    from starlab.variants import vstar

    assert config.VARIANTS is C.VARIANTS
    assert events.PHASES is C.PHASES
    assert vstar.SCORERS is C.SCORER_BY_SCORE_KEY


def test_the_event_schema_has_the_catalogue_phases():
    schema = json.loads(Path(SCHEMA_PATH).read_text())
    enums = []

    def walk(o):
        if isinstance(o, dict):
            if "enum" in o and "rationalize" in o["enum"]:
                enums.append(o["enum"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(schema)
    assert enums and all(tuple(e) == C.PHASES for e in enums)


def test_catalogue_is_well_formed():
    units = {"fraction", "count", "tokens", "seconds", "nats", "score", "ratio", "tokens_per_second", "learning_rate"}
    names: list[str] = []
    for m in C.METRICS:
        assert ("name" in m) != ("pattern" in m), m
        assert m["label"] and m["unit"] in units and isinstance(m["lowerIsBetter"], bool), m
        names += [m.get("name") or m["pattern"], *m.get("aliases", [])]
        for ph in re.findall(r"\{([^}]*)\}", m.get("pattern", "")):
            assert ph in C.PLACEHOLDERS, (m, ph)
    assert len(names) == len(set(names)), "a metric name is catalogued twice"
    assert set(C.VARIANT_FAMILIES.values()) <= {"star", "quiet-star"}
    assert len(set(C.SCORER_BY_SCORE_KEY.values())) == len(C.SCORERS)
