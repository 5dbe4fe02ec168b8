"""The config validators: MLflow's name rules, tracking URIs, date formats, level order."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit.compare import (
    Comparison,
    DateDifferenceLevel,
    DateSwapLevel,
    DistanceLevel,
    ExactLevel,
    NumericDifferenceLevel,
    SimilarityLevel,
)
from er_toolkit.config import (
    validate_date_format,
    validate_level_order,
    validate_model_name,
    validate_tracking_uri,
)
from er_toolkit.exceptions import ConfigError


# ---------------------------------------------------------------- model names
def _mlflow_refuses(name: str) -> bool:
    from mlflow.exceptions import MlflowException
    from mlflow.store.model_registry.file_store import _validate_model_name

    try:
        _validate_model_name(name)
    except MlflowException:
        return True
    return False


@settings(max_examples=300, deadline=None)
@given(name=st.text(alphabet=st.sampled_from("ab ./:%\\-_1é"), max_size=8))
def test_every_name_mlflow_refuses_is_refused_before_training(name):
    if _mlflow_refuses(name):
        with pytest.raises(ConfigError, match="name"):
            validate_model_name(name)


@pytest.mark.parametrize(
    "name", ["febrl3", "crm dedupe", "people_link-v2", "a.b", "Ünïcode"]
)
def test_ordinary_names_pass_both(name):
    validate_model_name(name)
    assert not _mlflow_refuses(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "non-empty"),
        ("a/b", "'/'"),
        ("x:y", "':'"),
        ("5%", "'%'"),
        ("a\\b", r"it holds '\\\\'"),
        (".", "plain name"),
        ("..", "plain name"),
        ("a" * 300, "300 characters"),
        ("a\tb", "control"),
    ],
)
def test_refused_names_say_why(name, reason):
    with pytest.raises(ConfigError, match=reason):
        validate_model_name(name)


# -------------------------------------------------------------- tracking URIs
@pytest.mark.parametrize(
    "uri",
    [
        "mlruns",
        "/tmp/mlruns",
        "file:///tmp/mlruns",
        "sqlite:///mlflow.db",
        "sqlite:////abs/m.db",
        "postgresql://u@h/db",
        "postgresql+psycopg2://u@h/db",
        "mysql://h/db",
        "https://mlflow.example.com",
        "databricks",
        "C:\\mlruns",
    ],
)
def test_tracking_uris_mlflow_supports_pass(uri):
    validate_tracking_uri(uri)


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("ftp://h/x", "scheme 'ftp'"),
        ("s3://bucket/mlruns", "scheme 's3'"),
        ("gopher://x", "gopher"),
        ("sqlite://relative.db", "sqlite:///"),
        ("", "non-empty"),
        ("mongodb://h", "mongodb"),
    ],
)
def test_unsupported_tracking_uris_are_refused(uri, match):
    with pytest.raises(ConfigError, match=match):
        validate_tracking_uri(uri)


def test_every_scheme_we_accept_has_an_mlflow_tracking_store():
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    for uri in [
        "file:///tmp/x",
        "sqlite:///x.db",
        "postgresql://h/db",
        "mysql://h/db",
        "mssql://h/db",
        "http://h",
        "https://h",
        "databricks",
    ]:
        validate_tracking_uri(uri)
        _tracking_store_registry.get_store_builder(uri)  # raises if MLflow has none


# --------------------------------------------------------------- date formats
@pytest.mark.parametrize(
    "fmt",
    [
        "%Y%m%d",
        "%Y-%m-%d",
        "%d/%m/%Y",
        "%m/%d/%y",
        "%d %b %Y",
        "%B %d, %Y",
        "%Y%j",
        "%F",
        "%D",
        "%-d.%-m.%Y",
    ],
)
def test_date_formats_that_give_a_date_pass_and_parse(fmt):
    validate_date_format(fmt)
    day = dt.date(1987, 3, 9)
    text = day.strftime(fmt.replace("%-", "%")) if "%-" not in fmt else "9.3.1987"
    assert pl.Series([text]).str.to_date(fmt, strict=False).item() == day


@pytest.mark.parametrize(
    ("fmt", "match"),
    [
        ("%Y-%q-%d", r"unknown directive\(s\) \['%q'\]"),
        ("%Y%m%d%", "unknown directive"),
        ("%m/%d", "does not give a whole date"),
        ("%Y", "does not give a whole date"),
        ("dd/mm/yyyy", "does not give a whole date"),
        ("%Y%m%d %H", "not a valid format"),
    ],
)
def test_date_formats_that_cannot_give_a_date_are_refused(fmt, match):
    with pytest.raises(ConfigError, match=match):
        validate_date_format(fmt)


# ---------------------------------------------------------------- level order
@pytest.mark.parametrize(
    "levels",
    [
        (
            ExactLevel(),
            SimilarityLevel("jaro_winkler", 0.92),
            SimilarityLevel("jaro_winkler", 0.8),
        ),
        (
            ExactLevel(),
            DistanceLevel("levenshtein", 1),
            DistanceLevel("levenshtein", 2),
        ),
        (
            SimilarityLevel("jaro", 0.9),
            SimilarityLevel("jaro_winkler", 0.95),
        ),  # other comparator
        (
            ExactLevel(),
            DateSwapLevel(),
            DistanceLevel("damerau_levenshtein", 1),
            DateDifferenceLevel(365),
        ),
        (
            NumericDifferenceLevel(0.0),
            NumericDifferenceLevel(5.0),
            NumericDifferenceLevel(0.1, relative=True),
        ),
    ],
)
def test_levels_from_most_to_least_similar_pass(levels):
    validate_level_order(Comparison("c", "c", levels))


@pytest.mark.parametrize(
    ("levels", "bad"),
    [
        (
            (
                SimilarityLevel("jaro_winkler", 0.8),
                SimilarityLevel("jaro_winkler", 0.92),
            ),
            2,
        ),
        (
            (
                SimilarityLevel("jaro_winkler", 0.9),
                SimilarityLevel("jaro_winkler", 0.9),
            ),
            2,
        ),
        ((DistanceLevel("levenshtein", 2), DistanceLevel("levenshtein", 1)), 2),
        ((SimilarityLevel("levenshtein", 0.5), ExactLevel()), 2),
        ((DistanceLevel("levenshtein", 0), ExactLevel(term_frequency=True)), 2),
        ((ExactLevel(), ExactLevel()), 2),
        ((DateDifferenceLevel(30), DateDifferenceLevel(30)), 2),
        ((DateSwapLevel(), DateSwapLevel()), 2),
        ((NumericDifferenceLevel(2.0), NumericDifferenceLevel(1.0)), 2),
        (
            (ExactLevel(), SimilarityLevel("jaro", 0.8), SimilarityLevel("jaro", 0.85)),
            3,
        ),
    ],
)
def test_a_level_that_can_never_be_reached_is_refused(levels, bad):
    with pytest.raises(ConfigError, match=rf"level {bad} \(.*\) can never be reached"):
        validate_level_order(Comparison("c", "c", levels))
