"""TF-IDF cosine, set overlap, numbers in text and geographic distance levels."""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from er_toolkit import schema
from er_toolkit.compare import (
    Comparison,
    ExactLevel,
    FirstNumberLevel,
    GeoDistanceLevel,
    NumberSetLevel,
    SetOverlapLevel,
    TfidfCosineLevel,
    compare_batch,
    compare_pairs,
    document_frequencies,
    level_from_dict,
    level_to_dict,
)
from er_toolkit.exceptions import ConfigError, SchemaError

WORDS = ["sony", "camera", "dsc", "w55", "black", "the", "7.2mp", "kit", "Sony"]


def records(values: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {schema.ROW: range(len(values)), "v": values},
        schema={schema.ROW: pl.UInt32, "v": pl.String},
    )


def all_pairs(n: int) -> pl.DataFrame:
    pairs = list(itertools.combinations(range(n), 2))
    return pl.DataFrame(
        {schema.ROW_L: [p[0] for p in pairs], schema.ROW_R: [p[1] for p in pairs]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )


def run(level, values: list[str | None], **kw) -> pl.DataFrame:
    comparison = Comparison("c", "v", (level,), **kw)
    recs = records(values)
    return compare_pairs(recs, all_pairs(len(values)), [comparison])


texts = st.lists(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join),
    min_size=2,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(values=texts)
def test_tfidf_cosine_is_scikit_learns(values: list[str]) -> None:
    out = run(TfidfCosineLevel(min_similarity=0.5), values)
    matrix = TfidfVectorizer(token_pattern=r"\w+").fit_transform(values)
    expected = (matrix @ matrix.T).toarray()
    pairs = list(itertools.combinations(range(len(values)), 2))
    want = np.array([expected[i, j] for i, j in pairs])
    got = out.get_column("sim_c").to_numpy()
    assert np.allclose(got, want, atol=1e-5)
    gamma = out.get_column("gamma_c").to_numpy()
    assert ((gamma == 1) == (got >= np.float32(0.5))).all()


def test_tfidf_weighs_rare_tokens_more_and_nulls_are_null() -> None:
    values = ["acme widget", "acme gadget", "zeta widget", "acme inc", None, "acme inc"]
    values += ["acme"] * 20
    out = run(TfidfCosineLevel(), values).filter(pl.col(schema.ROW_L) == 0)
    sim = dict(zip(out[schema.ROW_R], out["sim_c"], strict=True))
    # sharing the rare "widget" beats sharing the common "acme"
    assert sim[2] > sim[1]
    assert sim[4] is None
    gamma = dict(zip(out[schema.ROW_R], out["gamma_c"], strict=True))
    assert gamma[4] == schema.NULL_LEVEL


def test_tfidf_qgrams_match_scikit_learns_char_ngrams() -> None:
    values = ["jon smith", "john smith", "jane smyth", "smith jon"]
    out = run(TfidfCosineLevel(tokens="qgram", q=3), values)
    matrix = TfidfVectorizer(analyzer="char", ngram_range=(3, 3)).fit_transform(values)
    expected = (matrix @ matrix.T).toarray()
    want = [expected[i, j] for i, j in itertools.combinations(range(4), 2)]
    assert np.allclose(out.get_column("sim_c").to_numpy(), want, atol=1e-5)


def test_compare_batch_needs_document_frequencies_of_the_whole_column() -> None:
    values = ["acme widget", "acme gadget", "zeta widget", "acme inc", "acme", "x"]
    comparison = Comparison("c", "v", (ExactLevel(), TfidfCosineLevel(0.4)))
    pairs = all_pairs(len(values))
    whole = compare_pairs(records(values), pairs, [comparison])
    rows_l = pairs.get_column(schema.ROW_L).to_numpy()
    rows_r = pairs.get_column(schema.ROW_R).to_numpy()
    left = {"v": [values[i] for i in rows_l]}
    right = {"v": [values[i] for i in rows_r]}
    frequencies = {"c": document_frequencies(pl.Series(values))}
    batch = compare_batch([comparison], left, right, document_frequencies=frequencies)
    assert np.allclose(batch["sim_c"], whole.get_column("sim_c").to_numpy(), atol=1e-6)
    assert (batch["gamma_c"] == whole.get_column("gamma_c").to_numpy()).all()
    # split into two batches: the same, because IDF comes from outside
    half = len(rows_l) // 2
    parts = [
        compare_batch(
            [comparison],
            {"v": left["v"][sl]},
            {"v": right["v"][sl]},
            document_frequencies=frequencies,
        )["sim_c"]
        for sl in (slice(0, half), slice(half, None))
    ]
    assert np.allclose(np.concatenate(parts), batch["sim_c"])
    with pytest.raises(SchemaError, match=r"needs document_frequencies\['c'\]"):
        compare_batch([comparison], left, right)
    wrong = {"c": document_frequencies(pl.Series(values), tokens="qgram")}
    with pytest.raises(SchemaError, match="counts 'qgram' tokens"):
        compare_batch([comparison], left, right, document_frequencies=wrong)


def brute_set(a: str, b: str, sep: str, measure: str) -> float:
    sa = {x.strip() for x in a.split(sep)} - {""}
    sb = {x.strip() for x in b.split(sep)} - {""}
    inter = len(sa & sb)
    if measure == "jaccard":
        den = len(sa | sb)
    elif measure == "overlap":
        den = min(len(sa), len(sb))
    else:
        inter, den = 2 * inter, len(sa) + len(sb)
    return inter / den if den else 0.0


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.lists(st.sampled_from(["tv", "hdmi", " audio", "", "usb "]), max_size=4).map(
            ";".join
        ),
        min_size=2,
        max_size=10,
    ),
    measure=st.sampled_from(["jaccard", "overlap", "dice"]),
    threshold=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_set_overlap_matches_brute_force(
    values: list[str], measure: str, threshold: float
) -> None:
    level = SetOverlapLevel(separator=";", measure=measure, min_similarity=threshold)  # type: ignore[arg-type]
    out = run(level, values)
    for (i, j), sim, gamma in zip(
        itertools.combinations(range(len(values)), 2),
        out["sim_c"],
        out["gamma_c"],
        strict=True,
    ):
        if not values[i].strip() or not values[j].strip():
            assert sim is None and gamma == schema.NULL_LEVEL
            continue
        want = brute_set(values[i], values[j], ";", measure)
        assert sim == pytest.approx(want, abs=1e-6)
        assert gamma == int(np.float32(want) >= np.float32(threshold))


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", text)]


NUMBER_TEXTS = st.lists(
    st.lists(
        st.sampled_from(["dsc", "w55", "7.2mp", "55", "07", "7", "v2.0", "2"]),
        max_size=3,
    ).map(" ".join),
    min_size=2,
    max_size=10,
)


@settings(max_examples=60, deadline=None)
@given(values=NUMBER_TEXTS)
def test_number_set_and_first_number_match_brute_force(values: list[str]) -> None:
    comparison = Comparison(
        "c",
        "v",
        (NumberSetLevel(), FirstNumberLevel(max_difference=0.1, relative=True)),
    )
    out = compare_pairs(records(values), all_pairs(len(values)), [comparison])
    for (i, j), sim, gamma in zip(
        itertools.combinations(range(len(values)), 2),
        out["sim_c"],
        out["gamma_c"],
        strict=True,
    ):
        a, b = numbers(values[i]), numbers(values[j])
        if not a or not b:  # no number: unknown, for every level
            assert gamma == schema.NULL_LEVEL and sim is None
            continue
        jaccard = len(set(a) & set(b)) / len(set(a) | set(b))
        assert sim == pytest.approx(jaccard, abs=1e-6)
        close = abs(a[0] - b[0]) <= 0.1 * max(abs(a[0]), abs(b[0])) or a[0] == b[0]
        want = 2 if jaccard == 1 else (1 if close else 0)
        assert gamma == want


def haversine(p: tuple[float, float], q: tuple[float, float]) -> float:
    la, oa, lb, ob = map(math.radians, (*p, *q))
    h = (
        math.sin((lb - la) / 2) ** 2
        + math.cos(la) * math.cos(lb) * math.sin((ob - oa) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def test_geo_distance_levels_and_unreadable_points_are_null() -> None:
    points = {
        0: (41.8781, -87.6298),  # Chicago
        1: (41.8800, -87.6300),  # 200 m away
        2: (41.9500, -87.6500),  # ~8 km
        3: (40.7128, -74.0060),  # New York
    }
    values = [f"{lat},{lon}" for lat, lon in points.values()]
    values += ["41.8781 -87.6298", "not a point", "91,0", None]
    comparison = Comparison(
        "c", "v", (GeoDistanceLevel(max_km=0.5), GeoDistanceLevel(max_km=10))
    )
    out = compare_pairs(records(values), all_pairs(len(values)), [comparison])
    gammas = {
        (lo, hi): g
        for lo, hi, g in out.select(schema.ROW_L, schema.ROW_R, "gamma_c").rows()
    }
    for (i, j), g in gammas.items():
        if i >= 5 or j >= 5:
            assert g == schema.NULL_LEVEL
            continue
        p = points.get(i, points[0])
        q = points.get(j, points[0])
        d = haversine(p, q)
        assert g == (2 if d <= 0.5 else 1 if d <= 10 else 0), (i, j, d)


@pytest.mark.parametrize(
    "level",
    [
        TfidfCosineLevel(0.3, tokens="qgram", q=2),
        SetOverlapLevel(separator="|", measure="dice", min_similarity=0.25),
        NumberSetLevel(measure="overlap", min_similarity=0.5),
        FirstNumberLevel(max_difference=2.5),
        GeoDistanceLevel(max_km=3),
    ],
)
def test_new_levels_round_trip(level) -> None:
    assert level_from_dict(json.loads(json.dumps(level_to_dict(level)))) == level


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: TfidfCosineLevel(1.5), r"'min_similarity' of a tfidf_cosine level"),
        (
            lambda: TfidfCosineLevel(tokens="bigram"),
            r"'tokens' of a tfidf_cosine level",
        ),
        (lambda: SetOverlapLevel(separator=""), r"'separator' of a set_overlap level"),
        (
            lambda: SetOverlapLevel(measure="cosine"),
            r"'measure' of a set_overlap level",
        ),
        (lambda: FirstNumberLevel(max_difference=2, relative=True), r"\[0.0, 1.0\]"),
        (lambda: GeoDistanceLevel(max_km=-1), r"'max_km' of a geo_distance level"),
        (
            lambda: Comparison(
                "c", "v", (TfidfCosineLevel(0.8), TfidfCosineLevel(0.5, tokens="qgram"))
            ),
            "must share their tokens",
        ),
    ],
)
def test_bad_declarations_say_what_was_expected(make, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()
