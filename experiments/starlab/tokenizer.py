"""Tokenizers behind one small interface: ``encode(text) -> ids`` (no specials),
``decode(ids) -> text``, ``bos_id``, ``eos_id``, ``pad_id``, ``vocab_size``.

``CharTokenizer`` is the character-level tokenizer of the tiny models; ``HFTokenizer`` wraps
an ``AutoTokenizer`` (hub models) unchanged.
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterable, Sequence

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
DEFAULT_ALPHABET = "0123456789+-*=:;()., \n"


class CharTokenizer:
    """One token per character of a fixed alphabet, plus <pad>=0, <bos>=1, <eos>=2, <unk>=3."""

    specials = (PAD, BOS, EOS, UNK)

    def __init__(self, alphabet: str = DEFAULT_ALPHABET):
        if len(set(alphabet)) != len(alphabet):
            raise ValueError("alphabet has repeated characters")
        self.alphabet = alphabet
        self.itos: list[str] = list(self.specials) + list(alphabet)
        self.stoi = {c: i for i, c in enumerate(self.itos) if i >= len(self.specials)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, 3

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(c, self.unk_id) for c in text]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        out = []
        n = len(self.specials)
        for i in ids:
            i = int(i)
            if i < n:
                if skip_special:
                    continue
                out.append(self.itos[i])
            elif i < len(self.itos):
                out.append(self.itos[i])
        return "".join(out)

    def stop_ids(self) -> set[int]:
        return {self.eos_id}

    # transformers-style convenience -------------------------------------------------
    def __call__(self, texts: str | Sequence[str]) -> dict[str, Any]:
        if isinstance(texts, str):
            return {"input_ids": [self.bos_id] + self.encode(texts)}
        return {"input_ids": [[self.bos_id] + self.encode(t) for t in texts]}

    def save_pretrained(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "starlab_char_tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump({"type": "char", "alphabet": self.alphabet, "specials": list(self.specials)}, f)

    @classmethod
    def from_pretrained(cls, path: str) -> "CharTokenizer":
        with open(os.path.join(path, "starlab_char_tokenizer.json"), encoding="utf-8") as f:
            d = json.load(f)
        return cls(d["alphabet"])


class HFTokenizer:
    """Adapter over a transformers tokenizer (used unchanged)."""

    def __init__(self, tok: Any):
        self.tok = tok
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        self.pad_id = tok.pad_token_id
        self.eos_id = tok.eos_token_id
        self.bos_id = tok.bos_token_id  # may be None
        self._stop: set[int] | None = None

    @property
    def vocab_size(self) -> int:
        return len(self.tok)

    def encode(self, text: str) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=False))

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=skip_special)

    def stop_ids(self) -> set[int]:
        """EOS plus every token containing a newline (a completion is one line)."""
        if self._stop is None:
            stop = {self.eos_id} if self.eos_id is not None else set()
            for tid in range(len(self.tok)):
                try:
                    if "\n" in self.tok.decode([tid]):
                        stop.add(tid)
                except Exception:
                    continue
            self._stop = stop
        return self._stop

    def save_pretrained(self, path: str) -> None:
        self.tok.save_pretrained(path)
