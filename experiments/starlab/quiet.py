"""Quiet-STaR machinery (Zelikman et al. 2024) for any Hugging Face causal LM.

What it adds to a model (``QuietModel(lm, tok)``):

- two new vocabulary entries, start- and end-of-thought, at ids just past the model's
  embedding matrix (``resize_token_embeddings``; their rows are initialised to the embedding
  of "---"/"-" where the tokenizer has it, else to the mean embedding). The tokenizer itself is
  not touched: it never produces these ids, and :func:`decode_thought` renders them, so
  ``tok.encode``/``tok.decode`` keep working (the char tokenizer already skips unknown ids).
  Generation masks them (and any id ≥ ``tok.vocab_size``) out of normal text. Their INPUT
  embeddings are a separate parameter, ``thought_embeddings`` (2, d), stored ÷ and used ×
  ``embedding_scale`` as the reference code does (1e2 there: under Adam, a learning rate 100×
  the rest's); every forward reads token embeddings through :meth:`QuietModel.embed`.
- a mixing head: MLP ``[h_base ; h_thought]`` (2d) → d → ReLU → d → ReLU → 1 (no bias), last
  layer initialised to zero, so that at initialisation ``w = 0`` and the mixed prediction
  ``lm_head((1 − w)·h_base + w·h_thought)`` is exactly the base prediction. As in the reference
  code, ``w`` is unbounded (no sigmoid) and the mixing is done on the final hidden states
  (the LM head is linear, so this interpolates the logits).

Parallel thoughts (training). The cache of keys/values holds "blocks" of T tokens each: block 0
is the real sequence, block j ≥ 1 holds the j-th token of every position's thought (start,
sampled tokens, end, then the teacher-forced true continuation). A 4-D additive float mask
lets block j at position t attend to the real prefix ≤ t of its own document (block 0) and to
blocks 1..j at the same position t only — never to another position's thought. Position ids
are passed explicitly: position-in-document + j. One batched forward advances every
position's thought by one token (the first forward feeds the real tokens and all start
tokens together; the last feeds the last thought token, the end token and the n_ahead−1
teacher-forced true tokens together), so a step costs thought_len + 1 forwards.

Attention implementation: with transformers 5.24 a 4-D ``attention_mask`` is returned as-is
by ``masking_utils._preprocess_mask_arguments`` (early exit) and used by both the "eager" path
(added to the attention scores) and the "sdpa" path (passed as ``attn_mask``; with a mask,
``is_causal`` is False). It must be a FLOAT additive mask (0 where allowed, ``finfo.min``
elsewhere) in the model's dtype: a bool mask would be inverted/added wrongly on the eager
path. Flash-attention/flex ignore or reject such a mask, so :class:`QuietModel` switches those
to "sdpa". The cache is a plain ``DynamicCache()`` (no config), i.e. full-attention layers
even for sliding-window models (the windows are far longer than a Quiet-STaR sequence).

Gradient checkpointing (``QuietModel.grad_checkpoint``): each forward of a training step runs
under ``torch.utils.checkpoint`` with the earlier blocks' keys/values as explicit inputs
(:class:`BlockCache`; HF's own checkpointing turns the cache off), so backward keeps only the
blocks' keys/values and hidden states and recomputes one forward (one block of T tokens) at a
time. Same loss and gradients (a test compares them).

Teacher-forced evaluation (:func:`answer_logits`, :func:`score_answer`): the reference's
``compute_metrics`` — the gold answer's tokens scored under teacher forcing, base and after a
greedy thought at each answer position.

Inference (:func:`generate`): greedy decoding in which every new token is predicted by the
mixed head after a greedy (or low-temperature) thought at the last position only (earlier
positions' thoughts cannot influence it). The thought's keys/values are cropped from the
KV cache after each token. ``use_thoughts=False`` decodes the base model (same masking).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .models import cache_kwarg
from .stopping import NEVER, StopFlag

START_THOUGHT = "<|startthought|>"
END_THOUGHT = "<|endthought|>"


# --------------------------------------------------------------------------- model
class MixingHead(nn.Module):
    """MLP on [h_base ; h_thought] → scalar mixing weight w (last layer zero: w = 0 at init)."""

    def __init__(self, d: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or d
        self.net = nn.Sequential(nn.Linear(2 * d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, 1, bias=False)
        nn.init.zeros_(self.out.weight)

    def forward(self, h_base: torch.Tensor, h_thought: torch.Tensor) -> torch.Tensor:
        x = torch.cat([h_base, h_thought], dim=-1).to(self.out.weight.dtype)
        return self.out(self.net(x)).squeeze(-1)


class QuietModel(nn.Module):
    """An HF causal LM with start/end-of-thought tokens and a mixing head."""

    def __init__(self, lm: nn.Module, tok: Any, *, head_hidden: int | None = None, embedding_scale: float = 1.0):
        super().__init__()
        impl = getattr(lm.config, "_attn_implementation", None)
        if impl not in ("eager", "sdpa"):
            lm.set_attn_implementation("sdpa")  # a custom 4-D float mask needs eager or sdpa
        self.lm = lm
        emb = lm.get_input_embeddings()
        n_old = int(emb.weight.shape[0])
        self.text_vocab = min(int(tok.vocab_size), n_old)  # ids the tokenizer can produce (and the model has)
        self.start_id, self.end_id = n_old, n_old + 1
        init = _init_vector(emb.weight, tok)
        lm.resize_token_embeddings(n_old + 2, mean_resizing=False)
        with torch.no_grad():
            w_in = lm.get_input_embeddings().weight
            w_in[self.start_id] = init
            w_in[self.end_id] = init
            out = lm.get_output_embeddings()
            if out is not None and out.weight is not w_in:
                out.weight[self.start_id] = out.weight[:n_old].mean(0)
                out.weight[self.end_id] = out.weight[:n_old].mean(0)
        self.vocab = n_old + 2
        self.pad_id = tok.pad_id if tok.pad_id is not None else 0
        d = int(w_in.shape[1])
        # The new parameters train in float32 even over bfloat16 weights (LoRA): an AdamW step of
        # ~lr is below bfloat16's resolution for most weights (docs/paper-presets.md §3.4).
        pdtype = torch.float32 if w_in.dtype in (torch.bfloat16, torch.float16) else w_in.dtype
        self.head = MixingHead(d, head_hidden).to(device=w_in.device, dtype=pdtype)
        # The start/end-of-thought INPUT embeddings are their own parameter (rows 0 and 1), stored
        # ÷ embedding_scale and used × embedding_scale, as the reference code does (embedding_scale
        # 1e2): under Adam that is a learning rate embedding_scale × the rest's. The matrix rows
        # start_id/end_id hold the same initial vector but are not read as inputs (see embed()).
        self.embedding_scale = float(embedding_scale)
        self.thought_embeddings = nn.Parameter(torch.stack([init, init]).to(device=w_in.device, dtype=pdtype) / self.embedding_scale)
        #: checkpoint every transformer forward of a training step (set_grad_checkpointing)
        self.grad_checkpoint = False
        self._cache_kw = cache_kwarg(self.base)

    # ------------------------------------------------------------------ pieces
    @property
    def base(self) -> nn.Module:
        """The transformer without its LM head (returns final hidden states)."""
        return getattr(self.lm, self.lm.base_model_prefix)

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.lm.get_input_embeddings().weight.dtype

    def lm_head(self, h: torch.Tensor) -> torch.Tensor:
        return self.lm.get_output_embeddings()(h)

    def thought_vectors(self) -> torch.Tensor:
        """(2, d): the start- and end-of-thought input embeddings as the model reads them."""
        return self.thought_embeddings * self.embedding_scale

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings of ``input_ids``: the embedding matrix's rows, except start/end-of-thought,
        which come from :attr:`thought_embeddings` (× embedding_scale)."""
        e = self.lm.get_input_embeddings()(input_ids)
        tv = self.thought_vectors().to(e.dtype)
        e = torch.where((input_ids == self.start_id).unsqueeze(-1), tv[0], e)
        return torch.where((input_ids == self.end_id).unsqueeze(-1), tv[1], e)

    def new_cache(self) -> Any:
        """An empty KV cache for :meth:`hidden`: a ``DynamicCache``, or with gradient checkpointing
        on and gradients enabled a :class:`BlockCache` (one checkpointed forward per call)."""
        if self.grad_checkpoint and torch.is_grad_enabled():
            return BlockCache()
        from transformers import DynamicCache

        return DynamicCache()

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, position_ids: torch.Tensor, cache: Any) -> torch.Tensor:
        """Final-layer hidden states (after the final norm) of ``input_ids``, appending to ``cache``."""
        if isinstance(cache, BlockCache):
            return self._hidden_checkpointed(input_ids, attention_mask, position_ids, cache)
        out = self.base(
            inputs_embeds=self.embed(input_ids),
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **{self._cache_kw: cache},
        )
        return out.last_hidden_state

    def _hidden_checkpointed(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, position_ids: torch.Tensor, cache: BlockCache
    ) -> torch.Tensor:
        """:meth:`hidden` as one checkpointed forward: it keeps only its inputs (embeddings, mask,
        the earlier blocks' keys/values) and outputs (hidden states, this block's keys/values) and
        runs again in backward. The earlier blocks are passed as separate tensors and joined inside,
        so no concatenated copy of the cache outlives the call."""
        from torch.utils.checkpoint import checkpoint
        from transformers import DynamicCache

        n_blocks, n_layers = len(cache.blocks), cache.n_layers
        n_new = int(input_ids.shape[1])

        def run(emb: torch.Tensor, mask: Any, pos: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
            c = DynamicCache()
            for layer in range(n_layers if n_blocks else 0):
                ks = [past[b * 2 * n_layers + 2 * layer] for b in range(n_blocks)]
                vs = [past[b * 2 * n_layers + 2 * layer + 1] for b in range(n_blocks)]
                c.update(torch.cat(ks, -2), torch.cat(vs, -2), layer)
            out = self.base(inputs_embeds=emb, attention_mask=mask, position_ids=pos, use_cache=True, **{self._cache_kw: c})
            new: list[torch.Tensor] = []
            for lay in c.layers:
                new += [lay.keys[..., -n_new:, :].clone(), lay.values[..., -n_new:, :].clone()]
            return (out.last_hidden_state, *new)

        past = [t for blk in cache.blocks for t in blk]
        res = checkpoint(run, self.embed(input_ids), attention_mask, position_ids, *past, use_reentrant=False)
        cache.blocks.append(tuple(res[1:]))
        cache.n_layers = (len(res) - 1) // 2
        return res[0]

    def mix(self, h_base: torch.Tensor, h_thought: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mixed hidden, w): ``h_base + w·(h_thought − h_base)``; exactly h_base where w = 0."""
        w = self.head(h_base, h_thought).to(h_base.dtype)
        return h_base + w.unsqueeze(-1) * (h_thought - h_base), w

    def thought_logit_mask(self) -> torch.Tensor:
        """Additive mask over the vocabulary for sampling thought tokens: no start/end, no pad,
        nothing the tokenizer cannot produce."""
        m = torch.zeros(self.vocab, device=self.device)
        m[self.text_vocab :] = -math.inf
        m[self.pad_id] = -math.inf
        return m

    def text_logit_mask(self) -> torch.Tensor:
        """Additive mask for normal text: never a thought token (nor an id beyond the tokenizer)."""
        m = torch.zeros(self.vocab, device=self.device)
        m[self.text_vocab :] = -math.inf
        return m


class BlockCache:
    """The keys/values of a training step's forwards under gradient checkpointing: one tuple
    (k_0, v_0, …, k_{n−1}, v_{n−1}) per forward (block), as the checkpointed forwards return them."""

    def __init__(self) -> None:
        self.blocks: list[tuple[torch.Tensor, ...]] = []
        self.n_layers = 0

    def get_seq_length(self) -> int:
        return sum(int(b[0].shape[-2]) for b in self.blocks) if self.blocks else 0


def _init_vector(weight: torch.Tensor, tok: Any) -> torch.Tensor:
    """Start/end-of-thought embedding init: "---" (the paper's choice) if it is one token, else
    "-", else the mean embedding."""
    for s in ("---", "-"):
        try:
            ids = tok.encode(s)
        except Exception:
            ids = []
        unk = getattr(tok, "unk_id", None)
        if len(ids) == 1 and ids[0] != unk and 0 <= ids[0] < weight.shape[0]:
            return weight[ids[0]].detach().clone()
    return weight.detach().mean(0)


def add_thought_tokens(lm: nn.Module, tok: Any) -> QuietModel:
    return QuietModel(lm, tok)


# --------------------------------------------------------------------------- masks
def positions_in_doc(doc_ids: torch.Tensor) -> torch.Tensor:
    """Position of each token within its document (rows are packed documents)."""
    B, T = doc_ids.shape
    idx = torch.arange(T, device=doc_ids.device).expand(B, T)
    new = torch.ones_like(doc_ids, dtype=torch.bool)
    new[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    start = torch.where(new, idx, torch.zeros_like(idx)).cummax(dim=1).values
    return idx - start


def block_allowed(doc_ids: torch.Tensor, q_blocks: tuple[int, int], n_blocks: int) -> torch.Tensor:
    """Which keys each query may attend to, as a bool tensor (B, Q·T, n_blocks·T).

    Keys are blocks 0..n_blocks−1 of T tokens (block 0: the real tokens); queries are blocks
    q_blocks[0]..q_blocks[1]−1. Block 0 at t: real s ≤ t of the same document. Block j ≥ 1 at
    t: real s ≤ t of the same document, and blocks 1..j at position t (its own thought)."""
    B, T = doc_ids.shape
    dev = doc_ids.device
    same = doc_ids[:, :, None] == doc_ids[:, None, :]
    causal = torch.ones(T, T, dtype=torch.bool, device=dev).tril()
    real = same & causal
    eye = torch.eye(T, dtype=torch.bool, device=dev).expand(B, T, T)
    none = torch.zeros(B, T, T, dtype=torch.bool, device=dev)
    rows = []
    for j in range(*q_blocks):
        cols = [real] + [eye if (j >= 1 and jj <= j) else none for jj in range(1, n_blocks)]
        rows.append(torch.cat(cols, dim=-1))
    return torch.cat(rows, dim=1)


def float_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool (B, Q, K) → additive (B, 1, Q, K): 0 where allowed, finfo.min elsewhere."""
    m = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return m.masked_fill_(~allowed, torch.finfo(dtype).min).unsqueeze(1)


# --------------------------------------------------------------------------- corpus
def pack_documents(
    docs: Sequence[Sequence[int]], seq_len: int, pad_id: int, *, skipped: list[int] | None = None, split_long: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack whole documents (token lists) into rows of ``seq_len`` in order; a document longer
    than seq_len is split into seq_len chunks (separate documents) — or, with ``split_long``
    False (a question + answer document, which must never be cut between the two), truncated
    from the front to its last seq_len tokens (the answer and the end of its question stay
    together) and its index appended to ``skipped``. Returns (ids, doc_ids), doc_ids = −1 on
    padding; attention never crosses a document boundary."""
    pieces: list[list[int]] = []
    for n, d in enumerate(docs):
        d = list(d)
        if not split_long and len(d) > seq_len:
            if skipped is not None:
                skipped.append(n)
            d = d[len(d) - seq_len :]
        for i in range(0, len(d), seq_len):
            if len(d[i : i + seq_len]) >= 2:
                pieces.append(d[i : i + seq_len])
    rows: list[list[list[int]]] = []
    cur: list[list[int]] = []
    used = 0
    for p in pieces:
        if used + len(p) > seq_len and cur:
            rows.append(cur)
            cur, used = [], 0
        cur.append(p)
        used += len(p)
    if cur:
        rows.append(cur)
    ids = torch.full((len(rows), seq_len), pad_id, dtype=torch.long)
    doc = torch.full((len(rows), seq_len), -1, dtype=torch.long)
    n = 0
    for r, row in enumerate(rows):
        pos = 0
        for p in row:
            ids[r, pos : pos + len(p)] = torch.tensor(p, dtype=torch.long)
            doc[r, pos : pos + len(p)] = n
            n += 1
            pos += len(p)
    return ids, doc


# --------------------------------------------------------------------------- training loss
@dataclass
class QuietOutput:
    loss: torch.Tensor
    stats: dict[str, float]
    #: tensors for inspection/tests (detached): thoughts (B,T,L), h_thought (B,n_ahead,T,d),
    #: mixed_logp / base_logp (B,n_ahead,T), valid (B,n_ahead,T), reward (B,T), advantage (B,T), w (B,n_ahead,T),
    #: thought_logp (B,T,L): the REINFORCE log-probs of the thought tokens
    details: dict[str, torch.Tensor] = field(default_factory=dict)
    #: with ``record=True``: the first row's first thought at every position, as plain lists —
    #: ids (T), doc (T), valid (T: the position has a target), thoughts (T, L) sampled token ids,
    #: reward (T, before the baseline and negative-reward removal), w (T, talk step 0)
    sample: dict[str, list] | None = None


def _sample(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    if temperature <= 1e-5:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def _shift(x: torch.Tensor, m: int, fill: float | int) -> torch.Tensor:
    """x[:, t+m] at t (fill beyond the end); x is (B, T, ...)."""
    if m == 0:
        return x
    out = torch.full_like(x, fill)
    out[:, : x.shape[1] - m] = x[:, m:]
    return out


def target_validity(doc: torch.Tensor, n_ahead: int) -> torch.Tensor:
    """(B, n_ahead, T): whether x_{t+m+1} is a target for a thought at t (same document, not padding)."""
    B, T = doc.shape
    valid = torch.zeros(B, n_ahead, T, dtype=torch.bool, device=doc.device)
    for m in range(n_ahead):
        if m + 1 < T:
            valid[:, m, : T - m - 1] = (doc[:, m + 1 :] == doc[:, : T - m - 1]) & (doc[:, : T - m - 1] >= 0)
    return valid


def batch_norms(doc_ids: torch.Tensor, n_ahead: int, n_thoughts: int) -> tuple[float, float]:
    """The (positions with a target, targets) counts ``quiet_loss`` divides by, of a whole batch
    of rows (each repeated n_thoughts times): what every rank's share is normalised by."""
    valid = target_validity(doc_ids, n_ahead)
    return float(valid[:, 0].sum()) * n_thoughts, float(valid.sum()) * n_thoughts


#: stats summed over the ranks' shares (the losses are already each share's part of the batch's)
_SUMMED = ("loss", "base_loss", "mixed_loss", "policy_loss", "tokens_trained", "tokens_generated", "n_rewards", "n_weights")


def combine_stats(parts: Sequence[dict[str, float]]) -> dict[str, float]:
    """The stats of a whole batch from its shares' (``quiet_loss`` with ``norms``; an empty dict
    for a rank without a row): sums, means and population stds weighted by their counts, min, max."""
    parts = [p for p in parts if p]
    out: dict[str, float] = {k: sum(p[k] for p in parts) for k in _SUMMED}

    def moments(mean: str, std: str | None, count: str) -> None:
        n = sum(p[count] for p in parts)
        mu = sum(p[mean] * p[count] for p in parts) / n if n else 0.0
        out[mean] = mu
        if std is not None:
            sq = sum(p[count] * (p[std] ** 2 + p[mean] ** 2) for p in parts) / n if n else 0.0
            out[std] = max(0.0, sq - mu * mu) ** 0.5

    moments("reward_mean", "reward_std", "n_rewards")
    moments("advantage_mean", None, "n_rewards")
    moments("mix_weight_mean", "mix_weight_std", "n_weights")
    weighted = [p for p in parts if p["n_weights"]]
    out["mix_weight_min"] = min((p["mix_weight_min"] for p in weighted), default=0.0)
    out["mix_weight_max"] = max((p["mix_weight_max"] for p in weighted), default=0.0)
    return out


def quiet_loss(
    qm: QuietModel,
    input_ids: torch.Tensor,
    doc_ids: torch.Tensor,
    *,
    n_thoughts: int,
    thought_len: int,
    n_ahead: int,
    temperature: float = 1.0,
    policy_weight: float = 1.0,
    remove_negative_rewards: bool = True,
    generator: torch.Generator | None = None,
    thoughts: torch.Tensor | None = None,
    base_weight: float = 0.5,
    mixed_weight: float = 0.5,
    record: bool = False,
    reinforce_temperature: float | None = None,
    norms: tuple[float, float] | None = None,
) -> QuietOutput:
    """One Quiet-STaR training loss on packed rows ``input_ids`` (R, T) with ``doc_ids`` (R, T).

    Each row is repeated ``n_thoughts`` times (independent thoughts at every position). A
    thought is <start>, ``thought_len`` sampled tokens (temperature ``temperature``; start/end
    masked), <end>; then the n_ahead−1 next true tokens are fed (teacher forcing). At talk step
    m the mixed prediction of x_{t+m+1} mixes h_base[t+m] and the thought stream's hidden.

    loss = base_weight·NLL(base) + mixed_weight·NLL(mixed, over t and m) + policy_weight·REINFORCE,
    REINFORCE: reward r = Σ_m [log p_mix(x_{t+m+1}) − log p_base(x_{t+m+1})] (detached), minus the
    mean over the n_thoughts thoughts at that position (when n_thoughts > 1), clamped at 0 when
    ``remove_negative_rewards`` (the reference code's default); loss = mean over positions and
    thought tokens of −advantage·log π(token), π at ``reinforce_temperature`` (the reference
    code's 3: log softmax(logits / 3)) or, when None, at the sampling temperature.
    ``thoughts`` (B=R·n_thoughts, T, thought_len) forces the thought tokens (for tests).
    ``norms``: the (positions, targets) counts of the whole batch (``batch_norms``) when these rows
    are one rank's share of it under torchrun: the loss is then this share's part of the batch's
    loss (the ranks' parts sum to it), and ``combine_stats`` joins the ranks' stats.
    ``record`` copies row 0's first thought per position, its reward and weight into
    ``QuietOutput.sample`` (read from tensors already computed: the loss and the RNG stream are
    the same either way)."""
    dev = qm.device
    R, T = input_ids.shape
    x = input_ids.to(dev).repeat_interleave(n_thoughts, dim=0)
    doc = doc_ids.to(dev).repeat_interleave(n_thoughts, dim=0)
    B = x.shape[0]
    L = thought_len
    pos0 = positions_in_doc(doc)
    n_blocks_total = L + 2 + n_ahead
    dtype = qm.dtype
    cache = qm.new_cache()
    tmask = qm.thought_logit_mask()

    valid = target_validity(doc, n_ahead)

    # 1. real tokens + all start tokens (blocks 0 and 1)
    start = torch.full_like(x, qm.start_id)
    H = qm.hidden(torch.cat([x, start], 1), float_mask(block_allowed(doc, (0, 2), 2), dtype), torch.cat([pos0, pos0 + 1], 1), cache)
    h_base, h_cur = H[:, :T], H[:, T:]
    x_next = _shift(x, 1, qm.pad_id)
    base_next = torch.log_softmax(qm.lm_head(h_base).float(), dim=-1).gather(-1, x_next.unsqueeze(-1)).squeeze(-1)
    # 2. thought tokens, one batched forward each (block 1+k holds token k)
    toks, logps = [], []
    for k in range(1, L + 1):
        raw = qm.lm_head(h_cur).float()
        logits = raw / max(temperature, 1e-5) + tmask
        if thoughts is not None:
            tk = thoughts[:, :, k - 1].to(dev)
        else:
            tk = _sample(logits.detach(), 1.0, generator)  # logits are already ÷ temperature
        pol = logits if reinforce_temperature is None else raw / max(reinforce_temperature, 1e-5) + tmask
        logps.append(torch.log_softmax(pol, dim=-1).gather(-1, tk.unsqueeze(-1)).squeeze(-1))
        toks.append(tk)
        if k < L:
            j = 1 + k
            h_cur = qm.hidden(tk, float_mask(block_allowed(doc, (j, j + 1), j + 1), dtype), pos0 + j, cache)
    # 3. last thought token, end token, n_ahead−1 true tokens (blocks L+1 .. L+1+n_ahead)
    feed = [toks[-1], torch.full_like(x, qm.end_id)] + [_shift(x, m, qm.pad_id) for m in range(1, n_ahead)]
    j0 = L + 1
    if isinstance(cache, BlockCache):  # checkpointed: one block per forward, so backward recomputes one block at a time
        Hf = torch.cat(
            [
                qm.hidden(f, float_mask(block_allowed(doc, (j0 + i, j0 + i + 1), j0 + i + 1), dtype), pos0 + j0 + i, cache)
                for i, f in enumerate(feed)
            ],
            1,
        )
    else:
        pos = torch.cat([pos0 + j0 + i for i in range(len(feed))], 1)
        Hf = qm.hidden(torch.cat(feed, 1), float_mask(block_allowed(doc, (j0, n_blocks_total), n_blocks_total), dtype), pos, cache)
    h_th = Hf[:, T:].reshape(B, n_ahead, T, -1)  # stream after <end>, then after each true token

    # 4. mixed predictions, talk steps m = 0..n_ahead−1
    mixed_lp, base_lp, ws = [], [], []
    for m in range(n_ahead):
        tgt = _shift(x, m + 1, qm.pad_id)
        hb = _shift(h_base, m, 0.0)
        hm, w = qm.mix(hb, h_th[:, m])
        lp = torch.log_softmax(qm.lm_head(hm).float(), dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        blp = _shift(base_next, m, 0.0)  # log p_base(x_{t+m+1}) from position t+m
        mixed_lp.append(lp)
        base_lp.append(blp)
        ws.append(w)
    mixed_lp_t = torch.stack(mixed_lp, 1)  # (B, n_ahead, T)
    base_lp_t = torch.stack(base_lp, 1)
    w_t = torch.stack(ws, 1)
    vf = valid.float()
    pos_valid = valid[:, 0]  # positions with at least one target
    pvf = pos_valid.float()
    if norms is None:
        n_pos, n_valid = pvf.sum().clamp(min=1), vf.sum().clamp(min=1)
    else:
        n_pos, n_valid = (torch.tensor(max(1.0, float(v)), device=dev) for v in norms)

    base_loss = -(base_lp_t[:, 0] * pvf).sum() / n_pos
    mixed_loss = -(mixed_lp_t * vf).sum() / n_valid
    reward = ((mixed_lp_t - base_lp_t).detach() * vf).sum(1)  # (B, T)
    if n_thoughts > 1:
        mean = reward.view(R, n_thoughts, T).mean(1, keepdim=True).expand(R, n_thoughts, T).reshape(B, T)
        adv = reward - mean
    else:
        adv = reward
    if remove_negative_rewards:
        adv = adv.clamp(min=0)
    logp_thought = torch.stack(logps, -1)  # (B, T, L)
    policy_loss = -(adv.unsqueeze(-1) * logp_thought * pvf.unsqueeze(-1)).sum() / (n_pos * L)
    loss = base_weight * base_loss + mixed_weight * mixed_loss + policy_weight * policy_loss

    with torch.no_grad():
        rv = reward[pos_valid]
        wv = w_t[valid].float()
        n_rows_tokens = int((doc[::n_thoughts] >= 0).sum())
        stats = {
            "loss": float(loss.detach()),
            "base_loss": float(base_loss.detach()),
            "mixed_loss": float(mixed_loss.detach()),
            "policy_loss": float(policy_loss.detach()),
            "reward_mean": float(rv.mean()) if rv.numel() else 0.0,
            "reward_std": float(rv.std(unbiased=False)) if rv.numel() else 0.0,
            "advantage_mean": float(adv[pos_valid].mean()) if rv.numel() else 0.0,
            "mix_weight_mean": float(wv.mean()) if wv.numel() else 0.0,
            "mix_weight_std": float(wv.std(unbiased=False)) if wv.numel() else 0.0,
            "mix_weight_min": float(wv.min()) if wv.numel() else 0.0,
            "mix_weight_max": float(wv.max()) if wv.numel() else 0.0,
            "tokens_trained": n_rows_tokens,
            "tokens_generated": int(pos_valid.sum()) * L,
            "n_rewards": int(rv.numel()),
            "n_weights": int(wv.numel()),
        }
    details = {
        "thoughts": torch.stack(toks, -1).detach(),
        "h_thought": h_th.detach(),
        "h_base": h_base.detach(),
        "mixed_logp": mixed_lp_t.detach(),
        "base_logp": base_lp_t.detach(),
        "valid": valid,
        "reward": reward,
        "advantage": adv.detach(),
        "w": w_t.detach(),
        "thought_logp": logp_thought.detach(),
    }
    sample = None
    if record:  # rows 0..n_thoughts−1 are input row 0's thoughts; take the first
        sample = {
            "ids": x[0].tolist(),
            "doc": doc[0].tolist(),
            "valid": pos_valid[0].tolist(),
            "thoughts": details["thoughts"][0].tolist(),
            "reward": reward[0].float().tolist(),
            "w": w_t[0, 0].float().tolist(),
        }
    return QuietOutput(loss, stats, details, sample)


# --------------------------------------------------------------------------- teacher-forced evaluation
@torch.no_grad()
def answer_logits(
    qm: QuietModel, input_ids: torch.Tensor, lengths: torch.Tensor, query_pos: torch.Tensor, *, thought_len: int, use_thoughts: bool = True
) -> dict[str, torch.Tensor]:
    """Teacher-forced next-token logits at chosen positions, the paper's evaluation forward.

    ``input_ids`` (B, T) are right-padded sequences (<bos> in place) of ``lengths`` real tokens;
    ``query_pos`` (B, S) are positions t whose prediction of token t+1 is wanted (pad the rows
    with 0). Returns float32 logits over the whole vocabulary, (B, S, V):

    - ``base``: ``lm_head(h_base[t])``, the model without thoughts;
    - ``mixed`` (with ``use_thoughts``): the mixed prediction after a GREEDY thought at t —
      <start>, ``thought_len`` argmax tokens (start/end/pad masked), <end>, then
      ``lm_head((1−w)·h_base[t] + w·h_thought[t])`` — as the reference evaluates (gumbel
      temperature 0.001, one thought, ``n_ahead_talk`` 1); also ``w`` (B, S) and ``thoughts``
      (B, S, thought_len).

    A thought is computed only at the query positions (the reference thinks at every position;
    a thought never sees another position's, so the query positions' thoughts and predictions
    are the same either way): block 0 is the real tokens (causal), block j ≥ 1 holds the j-th
    thought token of every query, which sees the real tokens ≤ t and its own thought, at
    position t + j (as :func:`quiet_loss` and :func:`generate`)."""
    dev = qm.device
    ids = input_ids.to(dev)
    B, T = ids.shape
    qp = query_pos.to(dev).long()
    S = int(qp.shape[1])
    dtype = qm.dtype
    ar = torch.arange(T, device=dev)
    real = ar[None, :] < lengths.to(dev)[:, None]  # (B, T)
    allowed0 = (ar[:, None] >= ar[None, :])[None] & real[:, None, :]  # causal over real keys
    cache = qm.new_cache()
    h0 = qm.hidden(ids, float_mask(allowed0, dtype), ar.expand(B, T), cache)
    hb = h0.gather(1, qp.unsqueeze(-1).expand(B, S, h0.shape[-1]))
    out = {"base": qm.lm_head(hb).float()}
    if not use_thoughts:
        return out
    seen = (ar[None, None, :] <= qp[:, :, None]) & real[:, None, :]  # (B, S, T)
    eye = torch.eye(S, dtype=torch.bool, device=dev).expand(B, S, S)
    tmask = qm.thought_logit_mask()
    feed = torch.full((B, S), qm.start_id, dtype=torch.long, device=dev)
    toks: list[torch.Tensor] = []
    L = thought_len
    h = hb
    for j in range(1, L + 3):  # block 1: <start>; 2..L+1: thought tokens 1..L; L+2: <end>
        h = qm.hidden(feed, float_mask(torch.cat([seen] + [eye] * j, -1), dtype), qp + j, cache)
        if j <= L:
            feed = (qm.lm_head(h).float() + tmask).argmax(-1)
            toks.append(feed)
        elif j == L + 1:
            feed = torch.full((B, S), qm.end_id, dtype=torch.long, device=dev)
    hm, w = qm.mix(hb, h)
    out["mixed"] = qm.lm_head(hm).float()
    out["w"] = w.float()
    out["thoughts"] = torch.stack(toks, -1) if toks else torch.zeros(B, S, 0, dtype=torch.long, device=dev)
    return out


@dataclass
class AnswerScore:
    """One question's gold answer scored under teacher forcing (see :func:`score_answer`)."""

    prob: float  # Π_j p(g_j | V): the reference's per-question "accuracy" term
    logprob: float  # Σ_j log p(g_j) over the text vocabulary (nats, ≤ 0)
    argmax: bool  # every scored g_j is the argmax of the logits restricted to V
    n_tokens: int  # scored tokens


def score_answer(
    logits: torch.Tensor, targets: Sequence[int], valid: Sequence[int] | None, text_mask: torch.Tensor | None = None
) -> AnswerScore:
    """Score gold tokens ``targets`` (n) from the logits that predict them (n, V), as the
    reference's ``eval_helpers.compute_metrics``: at each scored position the probability of the
    gold token renormalised over the valid answer tokens ``valid`` (p(g) / Σ_{v∈V} p(v)), and the
    product over positions. ``valid`` None: no renormalisation (the reference's
    ``filter_numbers=False``). ``logprob`` is the unrenormalised log-probability (softmax over the
    vocabulary after ``text_mask``, which excludes the thought tokens) summed over the same
    positions; ``argmax`` whether every gold token is the most likely valid token."""
    n = len(targets)
    if n == 0:
        return AnswerScore(1.0, 0.0, True, 0)
    z = logits.float()
    if text_mask is not None:
        z = z + text_mask.to(z.device)
    lp = torch.log_softmax(z, dim=-1)
    tgt = torch.tensor(list(targets), dtype=torch.long, device=lp.device)
    g = lp.gather(-1, tgt[:, None]).squeeze(-1)
    if valid is None:
        renorm = g
        am = lp.argmax(-1) == tgt
    else:
        vid = torch.tensor(sorted(set(int(v) for v in valid)), dtype=torch.long, device=lp.device)
        lv = lp[:, vid]
        renorm = g - torch.logsumexp(lv, dim=-1)
        am = vid[lv.argmax(-1)] == tgt
    return AnswerScore(float(renorm.sum().exp()), float(g.sum()), bool(am.all()), n)


# --------------------------------------------------------------------------- inference
@dataclass
class Generation:
    ids: list[int]  # completion ids (without the stop token)
    thoughts: list[list[int]] = field(default_factory=list)  # the thought before each generated token
    weights: list[float] = field(default_factory=list)  # mixing weight of each generated token


def _crop(cache: Any, n_remove: int) -> None:
    if n_remove <= 0:
        return
    try:
        cache.crop(-n_remove)
    except (ValueError, RuntimeError):  # older transformers: crop(max_length)
        cache.crop(cache.get_seq_length() - n_remove)


@torch.no_grad()
def generate(
    qm: QuietModel,
    tok: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    thought_len: int,
    use_thoughts: bool = True,
    thought_temperature: float = 0.0,
    stop_strings: Sequence[str] = (),
    batch_size: int = 256,
    generator: torch.Generator | None = None,
    stop: StopFlag = NEVER,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[Generation]:
    """Greedy decoding of each prompt (token ids, <bos> in place). With ``use_thoughts`` every
    token is the argmax of the mixed prediction after a thought (<start>, ``thought_len``
    tokens at ``thought_temperature`` — 0: greedy — , <end>) at the last position; otherwise
    the base model decodes. A row stops at <eos> or when its text contains a stop string."""
    was_training = qm.training
    qm.eval()
    from transformers import DynamicCache

    dev = qm.device
    pad = qm.pad_id
    eos = tok.eos_id
    tmask = qm.thought_logit_mask()
    xmask = qm.text_logit_mask()
    L = thought_len
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Generation] = [Generation([]) for _ in prompts]
    done = 0
    try:
        for s0 in range(0, len(order), batch_size):
            stop.check()
            idx = order[s0 : s0 + batch_size]
            B = len(idx)
            P = max(len(prompts[i]) for i in idx)
            ids = torch.full((B, P), pad, dtype=torch.long)
            mask = torch.zeros((B, P), dtype=torch.long)
            for r, i in enumerate(idx):
                p = list(prompts[i])
                ids[r, P - len(p) :] = torch.tensor(p, dtype=torch.long)
                mask[r, P - len(p) :] = 1
            ids, mask = ids.to(dev), mask.to(dev)
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            last = pos[:, -1]  # position of the last real token
            cache = DynamicCache()
            gen = [[] for _ in range(B)]
            thoughts = [[] for _ in range(B)]
            weights = [[] for _ in range(B)]
            finished = torch.zeros(B, dtype=torch.bool, device=dev)
            real_mask = mask[:, :0]  # 2-D mask of the real tokens in the cache
            feed, feed_mask, feed_pos = ids, mask, pos

            def ones(n: int) -> torch.Tensor:  # noqa: B023 (used only within this batch)
                return torch.ones((B, n), dtype=mask.dtype, device=dev)  # noqa: B023

            for step in range(max_new_tokens):
                real_mask = torch.cat([real_mask, feed_mask], 1)
                n_real = real_mask.shape[1]
                if use_thoughts:
                    inp = torch.cat([feed, torch.full((B, 1), qm.start_id, device=dev, dtype=torch.long)], 1)
                    ipos = torch.cat([feed_pos, (last + 1)[:, None]], 1)
                    H = qm.hidden(inp, torch.cat([real_mask, ones(1)], 1), ipos, cache)
                    h_base, h_cur = H[:, -2], H[:, -1]
                    th = []
                    for k in range(1, L + 1):
                        tk = _sample(qm.lm_head(h_cur).float() + tmask, thought_temperature, generator)
                        th.append(tk)
                        if k < L:
                            extra = cache.get_seq_length() - n_real + 1
                            h_cur = qm.hidden(tk[:, None], torch.cat([real_mask, ones(extra)], 1), (last + 1 + k)[:, None], cache)[:, -1]
                    extra = cache.get_seq_length() - n_real + 2
                    inp2 = torch.stack([th[-1], torch.full_like(th[-1], qm.end_id)], 1)
                    pos2 = torch.stack([last + 1 + L, last + 2 + L], 1)
                    h_th = qm.hidden(inp2, torch.cat([real_mask, ones(extra)], 1), pos2, cache)[:, -1]
                    _crop(cache, cache.get_seq_length() - n_real)
                    hm, w = qm.mix(h_base, h_th)
                    logits = qm.lm_head(hm).float() + xmask
                    th_t = torch.stack(th, 1).tolist()
                    w_l = w.float().tolist()
                else:
                    H = qm.hidden(feed, real_mask, feed_pos, cache)
                    logits = qm.lm_head(H[:, -1]).float() + xmask
                    th_t, w_l = None, None
                nxt = logits.argmax(-1)
                nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
                for r in range(B):
                    if finished[r]:
                        continue
                    t = int(nxt[r])
                    if t == eos:
                        finished[r] = True
                        continue
                    gen[r].append(t)
                    if th_t is not None:
                        thoughts[r].append(th_t[r])
                        weights[r].append(w_l[r])
                    if stop_strings:
                        text = tok.decode(gen[r])
                        if any(s in text for s in stop_strings):
                            finished[r] = True
                if bool(finished.all()):
                    break
                if step % 8 == 7:
                    stop.check()
                last = last + 1
                feed, feed_mask, feed_pos = nxt[:, None], ones(1), last[:, None]
            for r, i in enumerate(idx):
                results[i] = Generation(gen[r], thoughts[r], weights[r])
            done += B
            if on_batch is not None:
                on_batch(done, len(prompts))
    finally:
        if was_training:
            qm.train()
    return results


def decode_thought(tok: Any, qm: QuietModel, ids: Sequence[int]) -> str:
    """Readable text of a thought, with the start/end markers."""
    body = tok.decode([i for i in ids if i < qm.text_vocab])
    return f"{START_THOUGHT}{body}{END_THOUGHT}"
