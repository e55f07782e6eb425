"""The domain's names, written once in ``catalogue.json`` (shared/catalogue.ts reads the same file):
the variants, the phases of an iteration in the order they run, V-STaR's Best-of-k scorers, and the
metrics the variants log (name or pattern, label, unit, lower-is-better, cumulative, aliases).

Standard library only (no torch): cheap to import anywhere.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

CATALOGUE_PATH = os.path.join(os.path.dirname(__file__), "catalogue.json")

with open(CATALOGUE_PATH, encoding="utf-8") as _f:
    CATALOGUE: dict[str, Any] = json.load(_f)

#: variant ids, in display order
VARIANTS: tuple[str, ...] = tuple(v["id"] for v in CATALOGUE["variants"])
#: variant id -> "star" (the STaR loop: star, star-norat, v-star) or "quiet-star"
VARIANT_FAMILIES: dict[str, str] = {v["id"]: v["family"] for v in CATALOGUE["variants"]}
VARIANT_LABELS: dict[str, str] = {v["id"]: v["label"] for v in CATALOGUE["variants"]}
#: variants that run under torchrun with runtime.nproc > 1 (starlab/dist.py)
MULTI_PROCESS_VARIANTS: tuple[str, ...] = tuple(v["id"] for v in CATALOGUE["variants"] if v["multiProcess"])
#: phases of an iteration, in the order they run
PHASES: tuple[str, ...] = tuple(p["id"] for p in CATALOGUE["phases"])
#: Best-of-k scorer ids, in display order
SCORERS: tuple[str, ...] = tuple(s["id"] for s in CATALOGUE["scorers"])
#: stored candidate score -> the scorer that ranks by it (the shape of variants/vstar.SCORERS)
SCORER_BY_SCORE_KEY: dict[str, str] = {s["scoreKey"]: s["id"] for s in CATALOGUE["scorers"]}
#: every metric entry, as in the JSON (``name`` or ``pattern``, ``label``, ``unit``, ``lowerIsBetter``, …)
METRICS: tuple[dict[str, Any], ...] = tuple(CATALOGUE["metrics"])
PLACEHOLDERS: dict[str, str] = dict(CATALOGUE["placeholders"])

_BY_NAME: dict[str, dict[str, Any]] = {}
for _m in METRICS:
    for _n in ([_m["name"]] if "name" in _m else []) + list(_m.get("aliases", [])):
        _BY_NAME[_n] = _m


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-z_]+\})", pattern)
    src = "".join(f"({PLACEHOLDERS[p[1:-1]]})" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
    return re.compile(f"^{src}$")


_PATTERNS: tuple[tuple[re.Pattern[str], dict[str, Any]], ...] = tuple((_pattern_regex(m["pattern"]), m) for m in METRICS if "pattern" in m)

#: metric namespaces (the first segment of every catalogued name, aliases included)
METRIC_NAMESPACES: tuple[str, ...] = tuple(
    dict.fromkeys(n.split("/", 1)[0] for m in METRICS for n in [m.get("name") or m["pattern"], *m.get("aliases", [])])
)


def metric_entry(name: str) -> dict[str, Any] | None:
    """The catalogue entry of a metric name (by name, alias or pattern), or None."""
    hit = _BY_NAME.get(name)
    if hit is not None:
        return hit
    for rx, m in _PATTERNS:
        if rx.match(name):
            return m
    return None


def canonical_metric(name: str) -> str:
    """The one name of a series: an alias's entry name, else ``name``."""
    m = _BY_NAME.get(name)
    return m["name"] if m is not None else name
