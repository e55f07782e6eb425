"""Quiet-STaR's training corpus (quiet.corpus and its keys; variants/quiet_star.py packs it).

The paper trains on OpenWebMath (web text) and evaluates on GSM8K/CommonsenseQA; the lab used to
train on the evaluation task's own train references. ``quiet.corpus`` picks the source:

- absent   — the behaviour before the key: the task's train questions with their reference
             completions, a document longer than quiet.seq_len split into seq_len chunks (which
             can cut an answer from its question; the count is logged).
- "task"   — the same documents, never cut between question and answer: one longer than
             quiet.seq_len keeps its last seq_len tokens (truncated from the front), counted and logged.
- "direct" — the task's train questions with their gold answer written straight after the prompt
             (variants/quiet_star.direct_answer, the evaluation's format: addition ``374+982:=267``
             + <eos>), never cut.
- "file"   — a local corpus at quiet.corpus_path: JSONL (``.jsonl``/``.json``; one object per
             line, its quiet.corpus_field string is a document, default "text") or plain text
             (documents separated by blank lines). UTF-8, at most tasks/data_files.MAX_FILE_BYTES;
             a JSONL line over MAX_LINE_BYTES, not valid JSON, or without a string field is
             counted, skipped and logged. Long documents are split into seq_len chunks (web text:
             there is no question to cut from its answer).
- "hub"    — a hub dataset (quiet.corpus_path, e.g. ``open-web-math/open-web-math``), streamed
             with the ``datasets`` library where it is installed (it is not a requirement) and the
             machine is connected; split into chunks as "file".

quiet.corpus_limit caps the documents read (0: all; "hub" reads at most HUB_DEFAULT_LIMIT then).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tasks.data_files import MAX_FILE_BYTES, MAX_LINE_BYTES, DataError, _decode

CORPUS_SOURCES = ("task", "direct", "file", "hub")
#: Optional quiet.* corpus keys and what their absence means.
CORPUS_DEFAULTS: dict[str, Any] = {"corpus": None, "corpus_path": "", "corpus_field": "text", "corpus_limit": 0}
HUB_DEFAULT_LIMIT = 10000
#: bad lines named in the log (the rest are only counted)
LOG_BAD_LINES = 5


class CorpusError(ValueError):
    """A corpus that cannot be read (the message names the file or dataset and the fix)."""


@dataclass
class TextCorpus:
    docs: list[str]
    source: str
    skipped: int = 0  # lines/rows left out (bad JSON, no text field, too long)
    notes: list[str] = field(default_factory=list)


def read_file(path: str, text_field: str = "text", limit: int = 0) -> TextCorpus:
    """Documents of a local JSONL or text file (see the module doc)."""
    if not path:
        raise CorpusError('quiet.corpus "file" needs quiet.corpus_path, the corpus file (JSONL or text)')
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise CorpusError(f"{p}: corpus file not found (quiet.corpus_path)") from None
    except OSError as e:
        raise CorpusError(f"{p}: cannot read the corpus file: {e}") from None
    if not p.is_file():
        raise CorpusError(f"{p}: the corpus path is not a file")
    if st.st_size > MAX_FILE_BYTES:
        raise CorpusError(
            f"{p}: corpus file is {st.st_size} bytes, over the limit of {MAX_FILE_BYTES} bytes (take a shard, or a first part of it)"
        )
    try:
        text = _decode(p, p.read_bytes())
    except DataError as e:
        raise CorpusError(str(e)) from None
    except OSError as e:
        raise CorpusError(f"{p}: cannot read the corpus file: {e}") from None
    out = TextCorpus([], f"file:{p}")
    if p.suffix.lower() in (".jsonl", ".json"):
        bad: list[str] = []
        for lineno, line in enumerate(text.split("\n"), start=1):
            if limit and len(out.docs) >= limit:
                break
            if not line.strip():
                continue
            why = None
            if len(line.encode("utf-8", errors="surrogatepass")) > MAX_LINE_BYTES:
                why = f"over {MAX_LINE_BYTES} bytes"
            else:
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError) as e:
                    why = f"not valid JSON ({getattr(e, 'msg', e)})"
                    obj = None
                if why is None:
                    v = obj.get(text_field) if isinstance(obj, dict) else None
                    if not isinstance(v, str):
                        why = f"no string field {text_field!r}"
                    elif v.strip():
                        out.docs.append(v)
            if why is not None:
                out.skipped += 1
                if len(bad) < LOG_BAD_LINES:
                    bad.append(f"line {lineno}: {why}")
        if out.skipped:
            out.notes.append(f"{p}: {out.skipped} line(s) skipped — " + "; ".join(bad) + (" …" if out.skipped > len(bad) else ""))
    else:
        for para in text.replace("\r\n", "\n").split("\n\n"):
            if limit and len(out.docs) >= limit:
                break
            if para.strip():
                out.docs.append(para.strip("\n"))
    if not out.docs:
        raise CorpusError(
            f"{p}: no documents in the corpus file" + (f" ({out.skipped} line(s) skipped: {out.notes[0]})" if out.skipped else "")
        )
    return out


def read_hub(name: str, text_field: str = "text", limit: int = 0, loader: Callable[..., Any] | None = None) -> TextCorpus:
    """The first ``limit`` documents of hub dataset ``name``'s train split, streamed."""
    if not name:
        raise CorpusError('quiet.corpus "hub" needs quiet.corpus_path, a hub dataset id (e.g. open-web-math/open-web-math)')
    if loader is None:
        try:
            from datasets import load_dataset as loader  # type: ignore[import-not-found,no-redef]
        except ImportError:
            raise CorpusError(
                'quiet.corpus "hub" needs the `datasets` package (pip install datasets; it is not '
                "in the requirements) and a connection; or download a shard and use "
                'quiet.corpus "file"'
            ) from None
    n = limit or HUB_DEFAULT_LIMIT
    out = TextCorpus([], f"hub:{name}")
    try:
        ds = loader(name, split="train", streaming=True)
        for row in ds:
            if len(out.docs) >= n:
                break
            v = row.get(text_field) if isinstance(row, dict) else None
            if not isinstance(v, str):
                out.skipped += 1
                continue
            if v.strip():
                out.docs.append(v)
    except CorpusError:
        raise
    except Exception as e:  # network, unknown dataset, auth: the library's own message
        raise CorpusError(
            f'hub corpus {name!r} could not be read ({type(e).__name__}: {e}); offline, download a shard and use quiet.corpus "file"'
        ) from None
    if out.skipped:
        out.notes.append(f"{name}: {out.skipped} row(s) without a string field {text_field!r} skipped")
    if not out.docs:
        raise CorpusError(f"hub corpus {name!r}: no documents with a string field {text_field!r}")
    return out
