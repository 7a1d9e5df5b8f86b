r"""Writing with a causal model: greedy decoding, beam search, and sampling, over a key/value cache.

``generate`` takes a ``MiniGPT`` (continuing a prompt) or a ``BertEncoderDecoder`` (writing a
target for a source, starting from ``decoder_start_token_id``) and adds up to
``max_new_tokens`` tokens, stopping a sequence at its end token ([SEP] in a BERT vocabulary).

- **Greedy**: the most likely next token, every step.
- **Beam search**: keep the ``num_beams`` most likely prefixes; a finished hypothesis is scored
  by its summed log-probability divided by (generated length)^{length_penalty}, so a penalty
  above 0 stops short hypotheses from winning only because they have fewer terms to pay for.
- **Sampling**: draw the next token from softmax(logits / temperature), optionally among the
  ``top_k`` most likely only, with an explicit ``numpy.random.Generator``.

With ``use_cache`` (the default) the model runs the prompt once and then one token per step,
reading the keys and values of earlier positions from its cache; without it every step runs the
whole sequence again. Both give the same tokens (tests/minibert/test_generation.py).
"""

from __future__ import annotations

import numpy as np

from autograd import Tensor, no_grad


class IncrementalDecoder:
    """Next-token logits of a growing batch of sequences, with or without the key/value cache.

    Args:
        model: a ``MiniGPT`` (for an encoder-decoder, its ``decoder``).
        use_cache: feed only the tokens not seen yet and keep the cache between calls.
        encoder_hidden_states, encoder_attention_mask: what cross-attention reads, if any.

    Shapes:
        ``next_logits(ids)``: ids (N, T) -> (N, V) float64; encoder_hidden_states (N, S, H).
    """

    def __init__(
        self, model, use_cache=True, encoder_hidden_states=None, encoder_attention_mask=None
    ):
        self.model, self.use_cache = model, use_cache
        self.encoder_hidden_states = encoder_hidden_states
        self.encoder_attention_mask = encoder_attention_mask
        self.past, self.seen = None, 0

    def next_logits(self, ids: np.ndarray) -> np.ndarray:
        new = ids[:, self.seen :] if self.use_cache else ids
        out = self.model(
            new,
            past_key_values=self.past,
            use_cache=self.use_cache,
            encoder_hidden_states=self.encoder_hidden_states,
            encoder_attention_mask=self.encoder_attention_mask,
        )
        if self.use_cache:
            self.past, self.seen = out.past_key_values, ids.shape[1]
        return np.asarray(out.logits.data[:, -1], dtype=np.float64)  # (N, T, V) -> (N, V)

    def reorder(self, index: np.ndarray) -> None:
        """Keep rows ``index`` (beam search's surviving prefixes) of the cache and the source."""
        if self.past is not None:
            self.past = tuple(tuple(Tensor(t.data[index]) for t in layer) for layer in self.past)
        if self.encoder_hidden_states is not None:
            self.encoder_hidden_states = Tensor(self.encoder_hidden_states.data[index])
        if self.encoder_attention_mask is not None:
            self.encoder_attention_mask = self.encoder_attention_mask[index]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in NumPy (no graph is needed while decoding).

    Shapes:
        logits (N, V) -> (N, V).
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sample_next_tokens(logits, generator: np.random.Generator, temperature=1.0, top_k=None):
    """One token per row from softmax(logits / temperature), among the ``top_k`` best if given.

    Each row consumes exactly one uniform draw from ``generator`` (inverse-CDF sampling), so a
    run is reproducible from its seed and independent of how the logits were computed.

    Shapes:
        logits (N, V); returns (N,) integers.
    """
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            "sampling needs an explicit generator: pass generator=np.random.default_rng(seed)"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}; use greedy for 0")
    logits = logits / temperature
    if top_k is not None:
        if not 1 <= top_k:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        k = min(top_k, logits.shape[-1])
        kth = np.partition(logits, -k, axis=-1)[:, -k][:, None]  # (N, 1): the k-th largest
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(log_softmax(logits))
    cdf = np.cumsum(probs, axis=-1)  # (N, V)
    draws = generator.random(len(logits))[:, None] * cdf[:, -1:]  # (N, 1)
    return np.minimum((cdf < draws).sum(axis=-1), logits.shape[-1] - 1)


def extend(decoder, ids, max_new_tokens, eos_token_id, pad_token_id, choose) -> np.ndarray:
    """Append ``choose(logits)`` tokens until every row has ended or the length limit is hit;
    rows that ended are filled with padding.

    Shapes:
        ids (N, T0); returns (N, T0 + n) with n <= max_new_tokens.
    """
    finished = np.zeros(len(ids), dtype=bool)
    for _ in range(max_new_tokens):
        tokens = np.where(finished, pad_token_id, choose(decoder.next_logits(ids)))
        ids = np.concatenate([ids, tokens[:, None]], axis=1)  # (N, T) -> (N, T + 1)
        finished |= tokens == eos_token_id
        if finished.all():
            break
    return ids


class _Hypotheses:
    """The ``num_beams`` best finished hypotheses of one input, by length-normalized score."""

    def __init__(self, num_beams: int, length_penalty: float):
        self.num_beams, self.length_penalty = num_beams, length_penalty
        self.kept: list[tuple[float, float, np.ndarray]] = []  # (normalized, raw, tokens)

    def add(self, tokens: np.ndarray, score: float, generated: int) -> None:
        normalized = score / generated**self.length_penalty
        self.kept.append((normalized, score, tokens))
        self.kept.sort(key=lambda hypothesis: -hypothesis[0])
        del self.kept[self.num_beams :]

    def is_done(self, best_running_score: float, generated: int) -> bool:
        """No running beam can still beat the worst kept hypothesis (transformers' heuristic)."""
        if len(self.kept) < self.num_beams:
            return False
        return self.kept[-1][0] >= best_running_score / generated**self.length_penalty


def beam_search(
    decoder, ids, num_beams, max_new_tokens, eos_token_id, pad_token_id, length_penalty=1.0
):
    """Beam search over ``num_beams`` beams per input.

    Args:
        decoder: an ``IncrementalDecoder`` whose rows (and source) are already repeated
            ``num_beams`` times per input.
        ids: the start of every beam, repeated likewise.

    Returns:
        The best hypothesis of every input, padded with ``pad_token_id``, and its raw summed
        log-probability.

    Shapes:
        ids (B * K, T0); returns (B, T0 + n) and (B,).
    """
    K = num_beams
    B = len(ids) // K
    # Only the first beam of each input is live at the start: the K copies are identical, and
    # K equal beams would fill the beam with one prefix.
    scores = np.tile(np.array([0.0] + [-np.inf] * (K - 1)), B)  # (B * K,)
    hypotheses = [_Hypotheses(K, length_penalty) for _ in range(B)]
    done = np.zeros(B, dtype=bool)
    for step in range(max_new_tokens):
        log_probs = log_softmax(decoder.next_logits(ids))  # (B * K, V)
        V = log_probs.shape[-1]
        candidates = (scores[:, None] + log_probs).reshape(B, K * V)  # (B * K, V) -> (B, K V)
        order = np.argsort(-candidates, axis=1, kind="stable")[:, : 2 * K]  # (B, 2K)
        rows = np.repeat(np.arange(B) * K, K)  # finished inputs keep dummy beams (B * K,)
        tokens = np.full(B * K, pad_token_id)
        new_scores = np.zeros(B * K)
        for b in np.flatnonzero(~done):
            chosen = 0
            for rank, flat in enumerate(order[b]):
                beam, token = divmod(int(flat), V)
                row, score = b * K + beam, float(candidates[b, flat])
                if token == eos_token_id:
                    # A finished hypothesis counts only if it ranks among the K best candidates:
                    # with K = 1 beam search is then exactly greedy decoding.
                    if rank < K:
                        hypotheses[b].add(np.append(ids[row], token), score, step + 1)
                    continue
                rows[b * K + chosen], tokens[b * K + chosen] = row, token
                new_scores[b * K + chosen] = score
                chosen += 1
                if chosen == K:
                    break
            best_running = new_scores[b * K : (b + 1) * K].max()
            done[b] = hypotheses[b].is_done(best_running, step + 1)
        ids = np.concatenate([ids[rows], tokens[:, None]], axis=1)  # (B K, T) -> (B K, T + 1)
        scores = new_scores
        decoder.reorder(rows)
        if done.all():
            break
    for b in np.flatnonzero(~done):  # the length limit ended these: running beams compete too
        for beam in range(K):
            if np.isfinite(scores[b * K + beam]):
                hypotheses[b].add(ids[b * K + beam], scores[b * K + beam], step + 1)
    best = [h.kept[0] for h in hypotheses]
    width = max(len(tokens) for _, _, tokens in best)
    out = np.full((B, width), pad_token_id, dtype=ids.dtype)
    for b, (_, _, tokens) in enumerate(best):
        out[b, : len(tokens)] = tokens
    return out, np.array([raw for _, raw, _ in best])


@no_grad()
def generate(
    model,
    input_ids,
    attention_mask=None,
    *,
    max_new_tokens: int = 20,
    num_beams: int = 1,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    length_penalty: float = 1.0,
    generator: np.random.Generator | None = None,
    use_cache: bool = True,
    eos_token_id: int | None = None,
) -> np.ndarray:
    """Generate token ids with a ``MiniGPT`` or a ``BertEncoderDecoder``.

    Args:
        input_ids: the prompts (MiniGPT; all of one length, no padding) or the sources
            (encoder-decoder; padded, with ``attention_mask``).
        max_new_tokens: the length limit, in generated tokens.
        num_beams: above 1, beam search (not with ``do_sample``).
        do_sample, temperature, top_k, generator: sampling; ``generator`` is required.
        length_penalty: beam search's length normalization exponent.
        use_cache: run one incremental step per token (False: the whole sequence every step).
        eos_token_id: the end token (default: the decoder config's, [SEP]).

    Returns:
        MiniGPT: the prompt followed by the new tokens; encoder-decoder: the decoder start
        token followed by the new tokens. Sequences that ended early are padded.

    Shapes:
        input_ids (B, T0); returns (B, T0 + n) or (B, 1 + n), n <= max_new_tokens.
    """
    if num_beams < 1 or (num_beams > 1 and do_sample):
        raise ValueError(f"num_beams must be >= 1, and 1 when sampling; got {num_beams}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be positive, got {max_new_tokens}")
    ids = np.asarray(input_ids.data if isinstance(input_ids, Tensor) else input_ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"input_ids must be a (batch, length) integer array, got {ids.shape}")
    ids = ids.astype(np.int64)
    was_training = model.training
    model.eval()
    try:
        decoder, start, lm = start_decoding(model, ids, attention_mask, use_cache)
        eos = lm.config.eos_token_id if eos_token_id is None else eos_token_id
        pad = lm.config.pad_token_id
        if num_beams > 1:
            start = np.repeat(start, num_beams, axis=0)  # (B, T0) -> (B K, T0)
            decoder.reorder(np.repeat(np.arange(len(ids)), num_beams))
            return beam_search(decoder, start, num_beams, max_new_tokens, eos, pad, length_penalty)[
                0
            ]
        if do_sample:

            def choose(logits):
                return sample_next_tokens(logits, generator, temperature, top_k)
        else:

            def choose(logits):
                return logits.argmax(axis=-1)

        return extend(decoder, start, max_new_tokens, eos, pad, choose)
    finally:
        model.train(was_training)


def start_decoding(model, ids, attention_mask, use_cache):
    """The incremental decoder, the first decoder tokens and the language model that writes:
    for an encoder-decoder, the source is encoded once here and the decoder starts from
    ``decoder_start_token_id``; a MiniGPT continues its prompt.

    Shapes:
        ids (B, T0); returns the decoder, start ids (B, 1) or (B, T0), and the model.
    """
    if getattr(model, "is_encoder_decoder", False):
        encoder_out = model.encoder(ids, attention_mask)
        mask = None if attention_mask is None else np.asarray(attention_mask)
        decoder = IncrementalDecoder(model.decoder, use_cache, encoder_out.last_hidden_state, mask)
        start = np.full((len(ids), 1), model.config.decoder_start_token_id, dtype=np.int64)
        return decoder, start, model.decoder
    if attention_mask is not None and not np.asarray(attention_mask).all():
        raise ValueError(
            "MiniGPT prompts must not be padded (a pad between prompt and continuation would be "
            "read as text); generate prompts of different lengths one at a time"
        )
    return IncrementalDecoder(model, use_cache), ids, model
