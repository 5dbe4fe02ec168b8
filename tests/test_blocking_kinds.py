"""Token, q-gram, phonetic and MinHash LSH blockers against brute force."""

from __future__ import annotations

import itertools
import json
import re

import hypothesis.strategies as st
import jellyfish
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings

from er_toolkit import schema
from er_toolkit.blocking import (
    KeyBlocker,
    MinHashLSH,
    PhoneticBlocker,
    TokenBlocker,
    block_against,
    blocker_from_dict,
)
from er_toolkit.blocking.minhash import minhash_seeds
from er_toolkit.exceptions import ConfigError
from er_toolkit.tokens import explode_tokens, stable_hash

LINK_TYPES = ("dedupe", "link", "link_and_dedupe")
WORDS = ["acme", "ACME", "corp", "ltd", "the", "smith", "smyth", "jon", "john", "42"]
VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.just("  "),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map("-".join),
)


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 14))
    values = draw(st.lists(VALUES, min_size=n, max_size=n))
    sources = draw(st.lists(st.sampled_from(["s", "t"]), min_size=n, max_size=n))
    return pl.DataFrame(
        {schema.ROW: list(range(n)), schema.SOURCE: sources, "v": values},
        schema={schema.ROW: pl.UInt32, schema.SOURCE: pl.String, "v": pl.String},
    )


def brute_tokens(value: str | None, tokens: str, q: int) -> set[str]:
    if value is None:
        return set()
    text = re.sub(r"\s+", " ", value.lower()).strip()
    if not text:
        return set()
    if tokens == "word":
        return set(re.findall(r"\w+", text))
    if len(text) <= q:
        return {text}
    return {text[i : i + q] for i in range(len(text) - q + 1)}


def brute_pairs(
    keys: list[set[str]], sources: list[str], link_type: str, max_block_size: int | None
) -> set[tuple[int, int]]:
    """Pairs sharing a key held by at most max_block_size records."""
    held = {}
    for ks in keys:
        for k in ks:
            held[k] = held.get(k, 0) + 1
    out = set()
    for i, j in itertools.combinations(range(len(keys)), 2):
        if link_type == "link" and sources[i] == sources[j]:
            continue
        shared = keys[i] & keys[j]
        if any(max_block_size is None or held[k] <= max_block_size for k in shared):
            out.add((i, j))
    return out


def pair_set(pairs: pl.DataFrame) -> set[tuple[int, int]]:
    got = list(zip(pairs[schema.ROW_L], pairs[schema.ROW_R], strict=True))
    assert all(lo < hi for lo, hi in got)
    assert len(set(got)) == len(got), "duplicate pair"
    return set(got)


@settings(max_examples=80, deadline=None)
@given(
    records=frames(),
    tokens=st.sampled_from(["word", "qgram"]),
    q=st.integers(1, 4),
    max_block_size=st.sampled_from([None, 2, 3, 5]),
    link_type=st.sampled_from(LINK_TYPES),
)
def test_token_blocker_matches_brute_force(
    records: pl.DataFrame,
    tokens: str,
    q: int,
    max_block_size: int | None,
    link_type: str,
) -> None:
    blocker = TokenBlocker("v", tokens=tokens, q=q, max_block_size=max_block_size)  # type: ignore[arg-type]
    keys = [brute_tokens(v, tokens, q) for v in records.get_column("v").to_list()]
    sources = records.get_column(schema.SOURCE).to_list()
    got = pair_set(blocker.block(records, link_type=link_type))
    assert got == brute_pairs(keys, sources, link_type, max_block_size)
    assert blocker.count_pairs(records, link_type=link_type) >= len(got)


@settings(max_examples=40, deadline=None)
@given(records=frames(), min_length=st.integers(1, 5))
def test_token_blocker_min_length_drops_short_words(
    records: pl.DataFrame, min_length: int
) -> None:
    blocker = TokenBlocker("v", min_length=min_length)
    keys = [
        {t for t in brute_tokens(v, "word", 3) if len(t) >= min_length}
        for v in records.get_column("v").to_list()
    ]
    sources = records.get_column(schema.SOURCE).to_list()
    got = pair_set(blocker.block(records, link_type="dedupe"))
    assert got == brute_pairs(keys, sources, "dedupe", None)


def brute_phonetic(value: str | None, algorithm: str, per_word: bool) -> set[str]:
    encode = {
        "nysiis": jellyfish.nysiis,
        "metaphone": jellyfish.metaphone,
        "soundex": jellyfish.soundex,
        "match_rating": jellyfish.match_rating_codex,
    }[algorithm]
    if value is None:
        return set()
    parts = value.split(" ") if per_word else [value]
    out = set()
    for part in parts:
        letters = "".join(c for c in part if c.isalpha())
        if letters and (code := encode(letters)):
            out.add(code)
    return out


@settings(max_examples=80, deadline=None)
@given(
    records=frames(),
    algorithm=st.sampled_from(["nysiis", "metaphone", "soundex", "match_rating"]),
    per_word=st.booleans(),
    max_block_size=st.sampled_from([None, 2, 4]),
    link_type=st.sampled_from(LINK_TYPES),
)
def test_phonetic_blocker_matches_brute_force(
    records: pl.DataFrame,
    algorithm: str,
    per_word: bool,
    max_block_size: int | None,
    link_type: str,
) -> None:
    blocker = PhoneticBlocker(
        "v",
        algorithm=algorithm,  # type: ignore[arg-type]
        per_word=per_word,
        max_block_size=max_block_size,
    )
    keys = [
        brute_phonetic(v, algorithm, per_word)
        for v in records.get_column("v").to_list()
    ]
    sources = records.get_column(schema.SOURCE).to_list()
    got = pair_set(blocker.block(records, link_type=link_type))
    assert got == brute_pairs(keys, sources, link_type, max_block_size)
    count = blocker.count_pairs(records, link_type=link_type)
    assert count == len(got) if not per_word else count >= len(got)


def brute_minhash_keys(value: str | None, blocker: MinHashLSH) -> set[str]:
    """MinHash band keys computed one record, one token, one hash at a time."""
    tokens = brute_tokens(value, blocker.tokens, blocker.q)
    if not tokens:
        return set()
    n = blocker.bands * blocker.rows
    seeds = [int(v) for v in minhash_seeds(n, blocker.seed)]
    mask = 2**64 - 1

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    ids = []
    for t in sorted(tokens):
        h = 0xCBF29CE484222325
        for byte in t.encode("utf-8"):
            h = ((h ^ byte) * 0x100000001B3) & mask
        ids.append(h)
    signature = [
        min(mix((x + (seeds[i] + 1) * 0x9E3779B97F4A7C15) & mask) for x in ids)
        for i in range(n)
    ]
    keys = set()
    for band in range(blocker.bands):
        h = 0xCBF29CE484222325
        for r in range(blocker.rows):
            h = ((h ^ signature[band * blocker.rows + r]) * 0x100000001B3) % 2**64
        keys.add(f"{band}:{h}")
    return keys


@settings(max_examples=60, deadline=None)
@given(
    records=frames(),
    tokens=st.sampled_from(["word", "qgram"]),
    bands=st.integers(1, 6),
    rows=st.integers(1, 4),
    seed=st.integers(0, 3),
    max_block_size=st.sampled_from([None, 3]),
    link_type=st.sampled_from(LINK_TYPES),
)
def test_minhash_matches_brute_force(
    records: pl.DataFrame,
    tokens: str,
    bands: int,
    rows: int,
    seed: int,
    max_block_size: int | None,
    link_type: str,
) -> None:
    blocker = MinHashLSH(
        "v",
        tokens=tokens,  # type: ignore[arg-type]
        q=2,
        bands=bands,
        rows=rows,
        seed=seed,
        max_block_size=max_block_size,
    )
    values = records.get_column("v").to_list()
    keys = [brute_minhash_keys(v, blocker) for v in values]
    got_keys = blocker.block_keys(records)
    assert {(r, k) for r, k in got_keys.iter_rows()} == {
        (i, k) for i, ks in enumerate(keys) for k in ks
    }
    sources = records.get_column(schema.SOURCE).to_list()
    got = pair_set(blocker.block(records, link_type=link_type))
    assert got == brute_pairs(keys, sources, link_type, max_block_size)
    # equal token sets always pair; disjoint ones never do
    for i, j in itertools.combinations(range(len(values)), 2):
        ti = brute_tokens(values[i], blocker.tokens, 2)
        tj = brute_tokens(values[j], blocker.tokens, 2)
        if link_type == "link" and sources[i] == sources[j]:
            continue
        if ti and ti == tj and max_block_size is None:
            assert (i, j) in got
        if not ti & tj:
            assert (i, j) not in got


def test_minhash_pairs_similar_sets_more_often_than_dissimilar() -> None:
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(400)]
    base = [set(rng.choice(vocabulary, 20, replace=False)) for _ in range(300)]
    close, far = [], []
    for s in base:
        kept = list(s)[:18]  # Jaccard 18/22 ~ 0.82 with two new tokens
        close.append(" ".join([*kept, *rng.choice(vocabulary, 2)]))
        far.append(" ".join([*list(s)[:4], *rng.choice(vocabulary, 16)]))  # ~0.1

    def share(others: list[str]) -> float:
        values = [" ".join(s) for s in base] + others
        recs = pl.DataFrame(
            {schema.ROW: range(len(values)), "v": values},
            schema={schema.ROW: pl.UInt32, "v": pl.String},
        )
        got = pair_set(MinHashLSH("v").block(recs, link_type="dedupe"))
        return np.mean([(i, i + len(base)) in got for i in range(len(base))])

    assert share(close) > 0.95
    assert share(far) < 0.05


@pytest.mark.parametrize(
    "blocker",
    [
        TokenBlocker("v", tokens="qgram", q=2, max_block_size=6, name="q"),
        PhoneticBlocker("v", algorithm="soundex", per_word=True),
        MinHashLSH("v", bands=8, rows=2, seed=3),
    ],
)
def test_new_kinds_are_key_blockers_that_round_trip(blocker: KeyBlocker) -> None:
    assert isinstance(blocker, KeyBlocker)
    spec = json.loads(json.dumps(blocker.to_dict()))
    assert blocker_from_dict(spec) == blocker


@settings(max_examples=30, deadline=None)
@given(new=frames(), old=frames())
def test_block_against_stored_records_is_blocking_both_at_once(
    new: pl.DataFrame, old: pl.DataFrame
) -> None:
    both = pl.concat([new, old]).with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(schema.ROW)
    )
    for blocker in (
        TokenBlocker("v", max_block_size=4),
        PhoneticBlocker("v"),
        MinHashLSH("v", bands=4, rows=2),
    ):
        whole = pair_set(blocker.block(both, link_type="dedupe"))
        cross = {(lo, hi) for lo, hi in whole if lo < new.height <= hi}
        got = block_against(blocker, new, old, link_type="dedupe")
        assert {(lo, hi + new.height) for lo, hi in got.iter_rows()} == cross


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"kind": "token", "column": "v", "tokens": "char"},
            "'tokens' of TokenBlocker must be one of",
        ),
        (
            {"kind": "token", "column": "v", "q": 0},
            "'q' of TokenBlocker must be an int >= 1",
        ),
        (
            {"kind": "token", "column": ""},
            "'column' of TokenBlocker must be a column name",
        ),
        (
            {"kind": "token", "column": "v", "max_block_size": 1},
            "must be an int >= 2 or None",
        ),
        (
            {"kind": "phonetic", "column": "v", "algorithm": "caverphone"},
            "'algorithm' of PhoneticBlocker must be one of",
        ),
        (
            {"kind": "minhash", "column": "v", "bands": 0},
            "'bands' of MinHashLSH must be an int >= 1",
        ),
    ],
)
def test_bad_options_name_what_was_expected(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        blocker_from_dict(spec)


def test_stable_hash_is_fnv1a_of_utf8() -> None:
    def fnv(text: str) -> int:
        h = 0xCBF29CE484222325
        for byte in text.encode("utf-8"):
            h = ((h ^ byte) * 0x100000001B3) % 2**64
        return h

    words = ["", "a", "zoë", "münchen straße", "x" * 40]
    assert stable_hash(words).tolist() == [fnv(w) for w in words]


def test_explode_tokens_keeps_other_columns_and_repeats() -> None:
    frame = pl.DataFrame({"id": [1, 2, 3], "v": ["b a b", "", None]})
    got = explode_tokens(frame, "v").collect()
    assert got.rows() == [(1, "b"), (1, "a"), (1, "b")]
