"""Dataset files of the text tasks (GSM8K, CommonsenseQA): where they are found, how each
line is read and validated, the hub fallback, the hash of a selection, and
:func:`import_dataset`.

Where a dataset is looked for (``task.path`` empty), first match wins:

1. ``$STARLAB_DATASETS_DIR/<name>/``
2. ``$STARLAB_DATA_DIR/datasets/<name>/`` (the app's data directory; imports go here)
3. ``$XDG_CACHE_HOME/starlab/datasets/<name>/`` (default ``~/.cache/starlab/datasets/<name>/``)
4. the Hugging Face hub (``openai/gsm8k`` config ``main``, ``tau/commonsense_qa``): the
   parquet files are converted to JSONL under the canonical names in the directory of 2 (or
   3 when ``STARLAB_DATA_DIR`` is unset). Needs ``pyarrow`` and a network; skipped when
   ``HF_HUB_OFFLINE=1``.

A non-empty ``task.path`` is either the dataset folder itself or a folder holding
``<name>/``; nothing else is tried.

A folder counts when it holds a file for every split; each split has a canonical file name
and accepted alternatives (see each task's ``SPEC``). A folder that holds some but not all
of them is an error (the missing one is named), not a silent fall-through.

Every line of a file is validated when it is read; a bad line raises :class:`DataError`
``"<file>:<line>: <what is wrong>"`` (1-based line numbers; blank lines are skipped).

Runs read JSONL only; :func:`import_dataset` also takes ``.csv``/``.tsv`` files and converts
them to the canonical JSONL file (``csv_files``; each spec's ``csv`` maps the columns).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import DataError, Splits

#: bump when the way files are read or selections are made changes (part of every data hash)
SELECTION_VERSION = "select-v1"


# ------------------------------------------------------------------------------- text
# Punctuation and whitespace folded to ASCII in every question, choice and solution (letters
# such as é, and symbols such as € or £, are kept as they are).
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00d7": "x",
        "\u00f7": "/",
        "\u2026": "...",
        "\t": " ",
        "\u00a0": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u3000": " ",
        "\u2028": "\n",
        "\u2029": "\n",
        "\r": "\n",
        "\u200b": "",
        "\u200c": "",
        "\u200d": "",
        "\ufeff": "",
    }
)
_SPACES = re.compile(r"[ \x0b\x0c]+")


def fold_text(s: str) -> str:
    """Curly quotes, dashes, the minus sign, × and ÷ to ASCII; odd spaces to a space; zero-width
    characters removed (line breaks are kept)."""
    return s.translate(_FOLD)


def one_line(s: str) -> str:
    """``fold_text`` and every run of whitespace (line breaks included) as one space, stripped."""
    return " ".join(fold_text(s).split())


def clean_lines(s: str) -> list[str]:
    """``fold_text``, runs of spaces collapsed, each line stripped, empty lines dropped."""
    return [ln for ln in (_SPACES.sub(" ", x).strip() for x in fold_text(s).split("\n")) if ln]


def split_exemplars(text: str) -> list[tuple[str, str]]:
    """A few-shot prompt file (exemplars separated by blank lines, each ``Q: …`` … ``A:`` …)
    as (prompt, completion) pairs: the prompt ends with ``A:``, the completion is the rest
    (starting with the space after ``A:``)."""
    out = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").strip("\n")):
        block = block.strip("\n")
        if not block.strip():
            continue
        i = block.find("\nA:")
        if not block.startswith("Q:") or i == -1:
            raise ValueError(f"not a 'Q: … A: …' exemplar: {block[:60]!r}")
        out.append((block[: i + 3], block[i + 3 :]))
    return out


# ------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class HubSource:
    repo_id: str
    #: glob of the parquet files to fetch (inside the dataset repository)
    pattern: str
    #: our split -> the hub's split name (the parquet files are named ``<split>-*.parquet``)
    splits: dict[str, str]
    #: a hub row (dict from parquet) -> a row in our canonical JSONL format
    convert: Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class DatasetSpec:
    """What one dataset's files look like."""

    name: str
    #: split ("train", "eval") -> accepted file names, the canonical one first
    files: dict[str, tuple[str, ...]]
    #: (parsed JSON object, split, 0-based row index) -> question; raises ValueError on a bad row
    parse: Callable[[Any, str, int], Any]
    hub: HubSource | None = None
    #: header column names -> ``csv_files.CsvLayout`` (ValueError names a missing or bad column);
    #: None: no CSV import
    csv: Callable[[list[str]], Any] | None = None
    #: extra words for error messages (e.g. where to get the files)
    notes: str = ""


def get_spec(name: str) -> DatasetSpec:
    if name == "gsm8k":
        from .gsm8k import SPEC

        return SPEC
    if name == "commonsenseqa":
        from .commonsenseqa import SPEC

        return SPEC
    raise KeyError(f"unknown dataset {name!r} (known: gsm8k, commonsenseqa)")


_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "eval": "eval",
    "test": "eval",
    "dev": "eval",
    "validation": "eval",
    "valid": "eval",
    "val": "eval",
}


# ------------------------------------------------------------------------------- reading
_PARSED: dict[tuple[str, int, int, str], tuple[list[Any], str]] = {}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Limits on a dataset file, far above the real ones (GSM8K train: 4 MB, longest line about 1.5 kB).
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _decode(p: Path, data: bytes) -> str:
    """The file as text; DataError naming the line, column and byte offset of the first byte that
    is not UTF-8 (a leading BOM is dropped; nothing is guessed or replaced)."""
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        # not "utf-8-sig": its error offsets do not count the BOM
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        at = bom + err.start
        start = data.rfind(b"\n", 0, at) + 1
        line = data.count(b"\n", 0, at) + 1
        col = len(data[max(start, bom) : at].decode("utf-8", errors="replace")) + 1
        e = err
        hint = ""
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            hint = " (the file starts with a UTF-16 byte-order mark: save it as UTF-8)"
        elif e.reason.startswith("invalid"):
            hint = " (Latin-1 or Windows-1252 text? save the file as UTF-8)"
        raise DataError(f"{p}:{line}: not UTF-8 text: byte 0x{data[at]:02x} at byte offset {at} (column {col}): {e.reason}{hint}") from None


def _surrogate_field(obj: Any, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) holding a lone UTF-16 surrogate."""
    if isinstance(obj, str):
        return path or "(row)" if any("\ud800" <= c <= "\udfff" for c in obj) else None
    if isinstance(obj, dict):
        for k, v in obj.items():
            sub = f"{path}.{k}" if path else str(k)
            if any("\ud800" <= c <= "\udfff" for c in k):
                return sub
            hit = _surrogate_field(v, sub)
            if hit:
                return hit
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            hit = _surrogate_field(v, f"{path}[{i}]")
            if hit:
                return hit
    return None


def parse_line(p: Path, lineno: int, line: str) -> Any:
    """One non-blank line as JSON; DataError ``<file>:<line>: …`` for anything JSON or Unicode
    cannot represent (bad syntax, nesting beyond the interpreter's limit, an integer of more than
    4300 digits, an escaped lone surrogate)."""
    n = len(line) if len(line) * 4 <= MAX_LINE_BYTES else len(line.encode("utf-8", errors="surrogatepass"))
    if n > MAX_LINE_BYTES:
        raise DataError(f"{p}:{lineno}: line is {n} bytes, over the limit of {MAX_LINE_BYTES} bytes per row")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{p}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise DataError(f"{p}:{lineno}: not a dataset row: JSON nested too deeply") from None
    except ValueError as e:  # e.g. an integer literal over sys.get_int_max_str_digits()
        raise DataError(f"{p}:{lineno}: not valid JSON ({e})") from None
    if _SURROGATE_ESCAPE.search(line):
        try:
            field = _surrogate_field(obj)
        except RecursionError:
            raise DataError(f"{p}:{lineno}: not a dataset row: JSON nested too deeply") from None
        if field:
            raise DataError(
                f"{p}:{lineno}: field {field!r} holds an unpaired UTF-16 surrogate escape (\\ud800–\\udfff), which is not Unicode text"
            )
    return obj


def stat_file(p: Path) -> os.stat_result:
    """A data file's stat: DataError (naming the file) when it is missing, unreadable, not a
    regular file or over MAX_FILE_BYTES."""
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DataError(f"{p}: file not found") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e}") from None
    if not p.is_file():
        raise DataError(f"{p}: not a file")
    if st.st_size > MAX_FILE_BYTES:
        raise DataError(f"{p}: file is {st.st_size} bytes, over the limit of {MAX_FILE_BYTES} bytes")
    return st


def read_jsonl(path: str | os.PathLike, parse: Callable[[Any, str, int], Any], split: str) -> tuple[list[Any], str]:
    """Every row of a JSONL file parsed by ``parse`` (rows in file order) and the file's
    sha256. Blank lines are skipped; anything else that fails raises DataError with the file
    and the 1-based line number (and the field, where one field is wrong). The file must be
    UTF-8 (a BOM is allowed), at most ``MAX_FILE_BYTES``, each line at most ``MAX_LINE_BYTES``.
    Results are cached per (path, size, mtime)."""
    p = Path(path)
    st = stat_file(p)
    if p.suffix.lower() in (".csv", ".tsv"):
        raise DataError(
            f"{p}: {p.suffix[1:].upper()} files are read only by import: `starlab import-data` (or "
            f"Settings → Datasets) converts them to the JSONL files runs read"
        )
    parser = f"{getattr(parse, '__module__', '')}.{getattr(parse, '__qualname__', '')}"
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, f"{parser}:{split}")
    hit = _PARSED.get(key)
    if hit is not None:
        return hit
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DataError(f"{p}: cannot read: {e}") from None
    digest = hashlib.sha256(data).hexdigest()
    text = _decode(p, data)
    rows: list[Any] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        obj = parse_line(p, lineno, line)
        try:
            rows.append(parse(obj, split, len(rows)))
        except (ValueError, TypeError, KeyError) as e:
            raise DataError(f"{p}:{lineno}: {e}") from None
    if not rows:
        raise DataError(f"{p}: no rows (the file is empty)")
    if len(_PARSED) > 32:
        _PARSED.clear()
    _PARSED[key] = (rows, digest)
    return rows, digest


# ------------------------------------------------------------------------------- locating
def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "starlab" / "datasets"


def search_dirs(name: str) -> list[tuple[Path, str]]:
    """The default places for dataset ``name``, in order, each with where it comes from."""
    out: list[tuple[Path, str]] = []
    if os.environ.get("STARLAB_DATASETS_DIR"):
        out.append((Path(os.environ["STARLAB_DATASETS_DIR"]) / name, "$STARLAB_DATASETS_DIR"))
    if os.environ.get("STARLAB_DATA_DIR"):
        out.append((Path(os.environ["STARLAB_DATA_DIR"]) / "datasets" / name, "$STARLAB_DATA_DIR/datasets"))
    out.append((_user_cache_root() / name, "user cache"))
    return out


def download_dir(name: str) -> Path:
    """Where a hub download is written (and found again next time)."""
    if os.environ.get("STARLAB_DATA_DIR"):
        return Path(os.environ["STARLAB_DATA_DIR"]) / "datasets" / name
    return _user_cache_root() / name


def _files_in(spec: DatasetSpec, d: Path) -> tuple[dict[str, Path], list[str]]:
    found: dict[str, Path] = {}
    missing: list[str] = []
    for split, names in spec.files.items():
        for n in names:
            if (d / n).is_file():
                found[split] = d / n
                break
        else:
            missing.append(split)
    return found, missing


def _alts(spec: DatasetSpec, split: str) -> str:
    return " or ".join(spec.files[split])


def _check_dir(spec: DatasetSpec, d: Path) -> dict[str, Path] | None:
    """The split files in ``d``; None when it holds none of them; DataError when only some."""
    if not d.is_dir():
        return None
    found, missing = _files_in(spec, d)
    if not found:
        return None
    if missing:
        need = "; ".join(f"{s}: {_alts(spec, s)}" for s in missing)
        raise DataError(
            f"{spec.name}: {d} holds {', '.join(p.name for p in found.values())} but not the {' and '.join(missing)} split ({need})"
        )
    return found


def expected_files(spec: DatasetSpec) -> str:
    return ", ".join(f"{s}: {_alts(spec, s)}" for s in spec.files)


def locate(spec: DatasetSpec, path: str = "") -> dict[str, Path]:
    """The file of every split of ``spec`` (see the module doc for the search order)."""
    if path:
        p = Path(os.path.expanduser(path))
        for d in (p, p / spec.name):
            got = _check_dir(spec, d)
            if got:
                return got
        where = str(p) if not p.exists() else f"{p} (or {p / spec.name})"
        why = "does not exist" if not p.exists() else "holds none of the files"
        raise DataError(f"{spec.name}: task.path {where} {why}; expected {expected_files(spec)}{_csv_hint(p, spec)}")
    looked = []
    for d, origin in search_dirs(spec.name):
        got = _check_dir(spec, d)
        if got:
            return got
        looked.append(f"{d} ({origin})")
    return _from_hub(spec, looked)


def _csv_hint(p: Path, spec: DatasetSpec) -> str:
    """A pointer to import for a folder that holds CSV/TSV files instead of the JSONL ones."""
    found = sorted({f.name for d in (p, p / spec.name) if d.is_dir() for f in d.iterdir() if f.suffix.lower() in (".csv", ".tsv")})
    if not found:
        return ""
    return (
        f". It holds {', '.join(found[:4])}: runs read JSONL only; `starlab import-data --dataset {spec.name} "
        f"--train FILE --eval FILE` converts CSV/TSV files to it"
    )


def _how_to_import(spec: DatasetSpec, looked: list[str]) -> str:
    dest = download_dir(spec.name)
    return (
        f"To use local copies, put the JSONL files ({expected_files(spec)}) in {dest}, or set "
        f"task.path or $STARLAB_DATASETS_DIR to a folder that holds them, or import them: "
        f"`npx starlab import-data --dataset {spec.name} --train FILE --eval FILE` (or Settings → Datasets "
        f"in the app) validates every line and copies them where runs look." + (f" {spec.notes}" if spec.notes else "")
    )


def _from_hub(spec: DatasetSpec, looked: list[str]) -> dict[str, Path]:
    head = f"{spec.name}: no local copy found; looked in: " + "; ".join(looked) + "."
    if spec.hub is None:
        raise DataError(f"{head} {_how_to_import(spec, looked)}")
    reasons = []
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        reasons.append(
            f"downloading {spec.hub.repo_id} from the Hugging Face hub needs pyarrow, which is not installed (pip install pyarrow)"
        )
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        reasons.append(f"the hub is switched off (HF_HUB_OFFLINE={os.environ['HF_HUB_OFFLINE']})")
    if reasons:
        raise DataError(
            f"{head} Not downloading {spec.hub.repo_id} from the Hugging Face hub: {'; '.join(reasons)}. {_how_to_import(spec, looked)}"
        )
    dest = download_dir(spec.name)
    try:
        download_from_hub(spec, dest)
    except DataError:
        raise
    except Exception as e:  # network, auth, layout: say what happened and how to do it by hand
        raise DataError(
            f"{head} Downloading {spec.hub.repo_id} from the Hugging Face hub failed: "
            f"{type(e).__name__}: {e}. {_how_to_import(spec, looked)}"
        ) from e
    got = _check_dir(spec, dest)
    if not got:
        raise DataError(f"{head} The hub download left no files in {dest}. {_how_to_import(spec, looked)}")
    return got


def download_from_hub(spec: DatasetSpec, dest: Path) -> dict[str, Any]:
    """Fetch the dataset's parquet files from the hub and write them, converted and validated,
    as JSONL under the canonical names in ``dest``."""
    import pyarrow.parquet as pq
    from huggingface_hub import snapshot_download

    assert spec.hub is not None
    local = Path(snapshot_download(repo_id=spec.hub.repo_id, repo_type="dataset", allow_patterns=[spec.hub.pattern]))
    summary: dict[str, Any] = {}
    dest.mkdir(parents=True, exist_ok=True)
    for split, hub_split in spec.hub.splits.items():
        parts = sorted(p for p in local.rglob("*.parquet") if p.name.startswith(f"{hub_split}-") or p.stem == hub_split)
        if not parts:
            raise DataError(f"{spec.name}: the hub snapshot of {spec.hub.repo_id} has no {hub_split}-*.parquet")
        rows = [spec.hub.convert(r) for part in parts for r in pq.read_table(part).to_pylist()]
        target = dest / spec.files[split][0]
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
            read_jsonl(tmp, spec.parse, split)  # validate before it counts as present
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        summary[split] = {"file": str(target), "rows": len(rows)}
    return summary


# ------------------------------------------------------------------------------- selection
def select(n: int, limit: int, key: str) -> list[int]:
    """Indices 0..n-1 shuffled with a generator seeded by ``key``; the first ``limit`` of them
    (all when ``limit`` is 0 or ≥ n)."""
    import random

    idx = list(range(n))
    random.Random(key).shuffle(idx)
    return idx[:limit] if 0 < limit < n else idx


def load_splits(spec: DatasetSpec, cfg: dict[str, Any], seed: int, format_version: str) -> Splits:
    """The run's splits of a file-backed task.

    - train: the training file shuffled with the run's seed, the first ``task.train_limit``
      (0: all), then put back in file order;
    - eval: the evaluation file shuffled with a fixed key (the same questions for every seed,
      and a smaller limit gives a subset of a larger one), the first ``task.eval_limit``
      (0: all), in file order;
    - warmup: ``warmup.examples`` questions of the training file, taken from those the
      train selection left out (in the seed's shuffled order) and only when those run out
      from the selected ones; never from the eval file; at most one per training row. A
      ``warmup.hinted_fraction`` of them (rounded) are hinted, chosen with the seed.
    """
    import random

    t = cfg.get("task", {}) or {}
    w = cfg.get("warmup", {}) or {}
    files = locate(spec, str(t.get("path") or ""))
    train_rows, train_sha = read_jsonl(files["train"], spec.parse, "train")
    eval_rows, eval_sha = read_jsonl(files["eval"], spec.parse, "eval")
    order = select(len(train_rows), 0, f"{spec.name}:train:{seed}")
    limit = int(t.get("train_limit") or 0)
    n_train = limit if 0 < limit < len(order) else len(order)
    chosen, rest = order[:n_train], order[n_train:]
    ev = sorted(select(len(eval_rows), int(t.get("eval_limit") or 0), f"{spec.name}:eval"))
    k = min(max(0, int(w.get("examples") or 0)), len(train_rows))
    warm_idx = (rest + chosen)[:k]
    rng = random.Random(f"{spec.name}:warmup:{seed}")
    rng.shuffle(warm_idx)
    n_hint = round(float(w.get("hinted_fraction") or 0.0) * k)
    hinted = [i < n_hint for i in range(k)]
    rng.shuffle(hinted)
    train = [train_rows[i] for i in sorted(chosen)]
    evals = [eval_rows[i] for i in ev]
    warm = [(train_rows[i], h) for i, h in zip(warm_idx, hinted)]
    digest = splits_hash(
        name=spec.name,
        format_version=format_version,
        digests={"train": train_sha, "eval": eval_sha},
        train=[q.qid for q in train],
        eval=[q.qid for q in evals],
        warmup=[(q.qid, h) for q, h in warm],
    )
    return Splits(train=train, eval=evals, warmup=warm, hash=digest)


def splits_hash(
    *, name: str, format_version: str, digests: dict[str, str], train: list[str], eval: list[str], warmup: list[tuple[str, bool]]
) -> str:
    """sha256 over the files' digests, the selected question ids (in order), the warm-up
    (id, hinted) pairs and the format version."""
    spec = {
        "dataset": name,
        "format": format_version,
        "selection": SELECTION_VERSION,
        "files": digests,
        "train": train,
        "eval": eval,
        "warmup": [[q, bool(h)] for q, h in warmup],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ------------------------------------------------------------------------------- import
def import_dataset(name: str, files: dict[str, str | os.PathLike], dest_dir: str | os.PathLike) -> dict[str, Any]:
    """Validate every line of the user's files and copy them to ``dest_dir/<name>/`` under the
    canonical names (GSM8K: train.jsonl, test.jsonl; CommonsenseQA: train_rand_split.jsonl,
    dev_rand_split.jsonl). ``files`` maps a split to a path; splits are ``train`` and
    ``eval`` (aliases: test, dev, validation). A ``.csv``/``.tsv`` file (see ``csv_files``) is
    converted to that JSONL file instead of copied. Nothing is written unless every file is
    valid; each file is written atomically. Returns ``{"dataset", "dir", "splits": {split:
    {"file", "source", "rows", "sha256"}}}`` (sha256 of the file written); a converted split
    also has ``"converted_from": "CSV"`` (or ``"TSV"``) and ``"source_sha256"``."""
    from . import csv_files

    try:
        spec = get_spec(name)
    except KeyError as e:
        raise DataError(str(e.args[0])) from None
    if not files:
        raise DataError(f"{name}: no files given to import")
    wanted: dict[str, Path] = {}
    for split, p in files.items():
        s = _SPLIT_ALIASES.get(str(split).lower())
        if s is None or s not in spec.files:
            raise DataError(f"{name}: unknown split {split!r} (use {', '.join(spec.files)})")
        if s in wanted:
            raise DataError(f"{name}: two files given for the {s} split")
        wanted[s] = Path(os.path.expanduser(str(p)))
    checked: dict[str, tuple[Path, int, str]] = {}
    converted: dict[str, Any] = {}
    for split, src in wanted.items():
        if csv_files.is_csv(src):
            rows, got = csv_files.read_csv_rows(src, spec, split)
            converted[split] = got
            checked[split] = (src, len(rows), got.sha256)
        else:
            rows, digest = read_jsonl(src, spec.parse, split)
            checked[split] = (src, len(rows), digest)
    out_dir = Path(dest_dir) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"dataset": name, "dir": str(out_dir), "splits": {}}
    for split, (src, n, digest) in checked.items():
        target = out_dir / spec.files[split][0]  # looked for before any alternative name
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        extra: dict[str, Any] = {}
        try:
            if split in converted:
                got = converted[split]
                with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                    for _, _, line in got.rows:
                        f.write(line + "\n")
                # the converted file is read back exactly as a run will read it
                again, written = read_jsonl(tmp, spec.parse, split)
                if len(again) != n:
                    raise DataError(f"{src}: converting to JSONL gave {len(again)} rows, not {n}")
                extra = {"converted_from": got.kind, "source_sha256": digest}
                digest = written
            else:
                shutil.copyfile(src, tmp)
                if file_sha256(Path(tmp)) != digest:
                    raise DataError(f"{src}: the file changed while it was being imported")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        summary["splits"][split] = {"file": str(target), "source": str(src), "rows": n, "sha256": digest, **extra}
    return summary
