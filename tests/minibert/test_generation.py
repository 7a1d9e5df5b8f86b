"""Generation: cached and uncached decoding agree, beam search is right (beam 1 is greedy, a
wide beam finds the best sequence), sampling follows its distribution and its seed, and every
sequence stops at its end token or the length limit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minibert.generation import (
    beam_search,
    generate,
    log_softmax,
    sample_next_tokens,
    start_decoding,
)
from tests.minibert.conftest import padded_batch
from tests.minibert.decoder_helpers import encoder_decoder, minigpt, random_ids

EOS = 3


def models(seed):
    """A MiniGPT with its prompts, and an encoder-decoder with its padded sources."""
    rng = np.random.default_rng(seed)
    source, mask, _ = padded_batch(rng, 3, 5, 22)
    return [
        (minigpt(seed), random_ids(rng, 3, 2), None),
        (encoder_decoder(seed), source, mask),
    ]


SETTINGS = [
    dict(),
    dict(num_beams=3),
    dict(num_beams=2, length_penalty=0.0),
    dict(do_sample=True, temperature=0.7),
    dict(do_sample=True, top_k=3),
]


@settings(max_examples=4)
@given(st.integers(0, 2**16), st.sampled_from(SETTINGS))
def test_cached_and_uncached_generation_give_identical_tokens(seed, kwargs):
    for model, ids, mask in models(seed):
        runs = []
        for use_cache in (True, False):
            if kwargs.get("do_sample"):
                kwargs = {**kwargs, "generator": np.random.default_rng(seed)}
            runs.append(generate(model, ids, mask, max_new_tokens=8, use_cache=use_cache, **kwargs))
        np.testing.assert_array_equal(runs[0], runs[1])


@settings(max_examples=8)
@given(st.integers(0, 2**16))
def test_beam_search_with_one_beam_is_greedy(seed):
    for model, ids, mask in models(seed):
        greedy = generate(model, ids, mask, max_new_tokens=7)
        decoder, start, _ = start_decoding(model, ids, mask, use_cache=True)
        beam, _ = beam_search(decoder, start, 1, 7, EOS, 0, length_penalty=1.0)
        np.testing.assert_array_equal(beam, greedy[:, : beam.shape[1]])
        assert (greedy[:, beam.shape[1] :] == 0).all()  # greedy only padded the rest


def sequence_log_prob(model, prompt, continuation):
    """log p(continuation | prompt) under a MiniGPT, by one full forward."""
    ids = np.concatenate([prompt, continuation])[None, :]
    log_probs = log_softmax(np.asarray(model(ids).logits.data[0], dtype=np.float64))
    return sum(log_probs[len(prompt) - 1 + i, t] for i, t in enumerate(continuation))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_wide_beam_finds_the_most_likely_sequence(seed):
    """With beams enough for every prefix and no length normalization, beam search is
    exhaustive: its answer is the best of all sequences up to the limit, found by brute force."""
    model = minigpt(seed, vocab_size=5, eos_token_id=3, pad_token_id=0, bos_token_id=2)
    prompt, limit, V = np.array([4, 1]), 3, 5
    candidates = []
    for length in range(1, limit + 1):
        for tokens in itertools.product(range(V), repeat=length):
            # the end token may only come last; an unfinished sequence must be full length
            if EOS in tokens[:-1] or (tokens[-1] != EOS and length < limit):
                continue
            candidates.append((sequence_log_prob(model, prompt, np.array(tokens)), tokens))
    best_score, best = max(candidates)
    found = generate(model, prompt[None], max_new_tokens=limit, num_beams=V**limit,
                     length_penalty=0.0)[0, 2:]  # fmt: skip
    assert tuple(int(t) for t in found[: len(best)]) == best
    assert (found[len(best) :] == 0).all()
    greedy = generate(model, prompt[None], max_new_tokens=limit)[0, 2:]
    greedy = greedy[: int(np.argmax(greedy == EOS)) + 1] if EOS in greedy else greedy
    assert best_score >= sequence_log_prob(model, prompt, greedy) - 1e-12


def test_generation_stops_at_the_end_token_and_pads_after_it():
    model = minigpt(5)
    prompts = random_ids(np.random.default_rng(5), 4, 2)
    free = generate(model, prompts, max_new_tokens=6)
    assert free.shape == (4, 8)  # the length limit: prompt + 6
    end = int(free[0, 3])  # declare the second generated token of row 0 the end token
    stopped = generate(model, prompts, max_new_tokens=6, eos_token_id=end)
    for row in stopped:
        new = row[2:]
        if end in new:
            first = int(np.argmax(new == end))
            assert (new[first + 1 :] == 0).all()  # padding after the end
    assert stopped[0, 3] == end and (stopped[0, 4:] == 0).all()


def test_the_cache_runs_one_token_per_step():
    """With the cache the model reads the prompt once, then one token per step; without it,
    the whole sequence again at every step."""
    model = minigpt(6)
    lengths = []
    forward = model.forward
    model.forward = lambda ids, **kw: lengths.append(np.asarray(ids).shape[1]) or forward(ids, **kw)
    prompt = random_ids(np.random.default_rng(6), 1, 3)
    generate(model, prompt, max_new_tokens=5, eos_token_id=-1)
    assert lengths == [3, 1, 1, 1, 1]
    lengths.clear()
    generate(model, prompt, max_new_tokens=5, eos_token_id=-1, use_cache=False)
    assert lengths == [3, 4, 5, 6, 7]


def test_sampling_follows_softmax_over_temperature_within_binomial_bounds():
    logits = np.array([[2.0, 1.0, 0.0, -1.0]])
    draws = 20000
    rng = np.random.default_rng(7)
    tokens = np.array([sample_next_tokens(logits, rng, temperature=2.0)[0] for _ in range(draws)])
    expected = np.exp(log_softmax(logits / 2.0))[0]
    counts = np.bincount(tokens, minlength=4)
    bound = 4.5 * np.sqrt(draws * expected * (1 - expected))  # 4.5 sigma: fails ~1e-5 of runs
    assert (np.abs(counts - draws * expected) < bound).all(), (counts, draws * expected)


def test_top_k_keeps_only_the_k_most_likely_tokens():
    logits = np.array([[0.5, 3.0, 2.0, -1.0, 2.5]])
    rng = np.random.default_rng(8)
    seen = {int(sample_next_tokens(logits, rng, top_k=2)[0]) for _ in range(400)}
    assert seen == {1, 4}
    assert sample_next_tokens(logits, rng, top_k=1)[0] == 1  # top-1 sampling is greedy


def test_sampling_is_reproducible_from_its_seed_only():
    model = minigpt(9)
    prompt = random_ids(np.random.default_rng(9), 2, 2)

    def run(seed):
        rng = np.random.default_rng(seed)
        return generate(model, prompt, max_new_tokens=10, do_sample=True, generator=rng)

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_bad_generation_requests_are_explained():
    model = minigpt(0)
    prompt = np.array([[5, 6]])
    with pytest.raises(TypeError, match="explicit generator"):
        generate(model, prompt, do_sample=True)
    with pytest.raises(ValueError, match="1 when sampling"):
        generate(model, prompt, do_sample=True, num_beams=2, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="must not be padded"):
        generate(model, np.array([[5, 0]]), np.array([[1, 0]]))
    with pytest.raises(ValueError, match="temperature must be positive"):
        generate(model, prompt, do_sample=True, temperature=0, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        generate(model, prompt, max_new_tokens=40)
