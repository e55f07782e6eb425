"""Tokenizers behind one small interface: ``encode(text) -> ids`` (no specials),
``decode(ids) -> text``, ``bos_id``, ``eos_id``, ``pad_id``, ``vocab_size``.

``CharTokenizer`` is the character-level tokenizer of the tiny models; ``HFTokenizer`` wraps
an ``AutoTokenizer`` (hub models) unchanged.

Both have ``encode_continuation(prompt, completion)``: the ids of a completion as they follow
``encode(prompt)`` — the ids a sampler emits when it writes that completion after that prompt
(generate.py feeds ``encode(prompt)`` and never re-merges across that boundary). Every
(prompt, completion) pair that is trained or scored goes through it; encoding the completion
on its own is wrong for subword tokenizers (see :func:`continuation_ids`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
DEFAULT_ALPHABET = "0123456789+-*=:;()., \n"


#: texts put before a completion to encode it as a fragment that starts at a token boundary
#: (see :func:`fragment_ids`): a newline, else punctuation, else a letter — the first whose
#: tokens are not merged with the completion's.
FRAGMENT_ANCHORS = ("\n", ".", "a")


def continuation_ids(encode: Callable[[str], list[int]], prompt: str, completion: str) -> list[int]:
    """The ids of ``completion`` as they follow ``encode(prompt)``: what a sampler emits when it
    writes that completion after that prompt, so that training on and scoring
    ``encode(prompt) + continuation_ids(...)`` sees the token sequence sampling produces.

    The rule. Encode prompt and completion jointly; when the joint ids start with the prompt's
    ids (the prompt ends at a token boundary: always for the tasks' prompts, which end in
    ``A:`` or ``:``), the completion's ids are the rest — the tokenization the model was
    pretrained on (SentencePiece: ``"A:" + " 42"`` → ``… ":", "▁", "4", "2"``,
    ``" Therefore"`` → ``"▁Therefore"``; byte-level BPE: ``"Ġ42"``). When a merge would cross
    the boundary (``"…\n" + "\n…"`` with a ``"\n\n"`` token), no sampler can produce the joint
    ids (it continues the prompt's ids as they are), and the completion is encoded as a
    fragment that starts a new token at the boundary (:func:`fragment_ids`).

    Why not ``encode(completion)``: a SentencePiece tokenizer encodes a text on its own as a
    document start, with a dummy-prefix "▁" — a stray extra "▁" token (id 29871 in Llama-2)
    before a completion that starts with a space in legacy tokenizers (transformers#26273),
    and a "▁" (i.e. a space that is not in the text) before one that does not; a byte-level
    BPE with ``add_prefix_space`` adds a "Ġ" the same way. The model never samples those.
    """
    if not completion:
        return []
    head = encode(prompt)
    joint = encode(prompt + completion)
    if joint[: len(head)] == head:
        return joint[len(head) :]
    return fragment_ids(encode, completion)


def fragment_ids(encode: Callable[[str], list[int]], text: str) -> list[int]:
    """The ids of ``text`` where it starts at a token boundary in the middle of a text (no
    dummy prefix, no prefix space, no BOS): the ids after an anchor (:data:`FRAGMENT_ANCHORS`)
    in ``encode(anchor + text)``, for the first anchor whose own ids start that encoding;
    ``encode(text)`` if none does (a tokenizer that merges all of them with the text)."""
    for anchor in FRAGMENT_ANCHORS:
        head = encode(anchor)
        ids = encode(anchor + text)
        if head and ids[: len(head)] == head:
            return ids[len(head) :]
    return encode(text)


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

    def encode_continuation(self, prompt: str, completion: str) -> list[int]:
        """A completion's ids after ``prompt``: one per character, whatever the prompt."""
        return self.encode(completion)

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
    def from_pretrained(cls, path: str) -> CharTokenizer:
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

    def encode_continuation(self, prompt: str, completion: str) -> list[int]:
        """A completion's ids as they follow ``encode(prompt)`` (the rule: :func:`continuation_ids`)."""
        return continuation_ids(self.encode, prompt, completion)

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
