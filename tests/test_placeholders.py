"""Placeholder values: found by shape and frequency, set to null, counted in the profile."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker
from er_toolkit.placeholders import (
    PLACEHOLDERS_SCHEMA,
    PlaceholderConfig,
    count_quantiles,
    find_placeholders,
    null_placeholders,
    placeholder_counts,
)


def _found(values: list[Any], **options: Any) -> dict[str, str]:
    frame = pl.DataFrame({"v": values})
    found = find_placeholders(frame, PlaceholderConfig(columns=("v",), **options))
    return dict(zip(found["value"], found["rule"], strict=True))


@pytest.mark.parametrize(
    ("value", "junk"),
    [
        ("test@test.com", True),
        ("NoEmail@gmail.com", True),
        ("someone@example.com", True),
        ("x@x.com", True),
        ("ann.test@gmail.com", False),
        ("testa@gmail.com", False),
        ("+44000000000", True),
        ("0000000000", True),
        ("+44 1234 567890", True),
        ("(987) 654-3210", True),
        ("+442079460958", False),
        ("+33611111124", False),
        ("Unknown", True),
        (" n/a ", True),
        ("-", True),
        ("SW1A 1AA", False),
        ("00000", False),  # five digits: a real postcode shape
    ],
)
def test_shapes(value: str, junk: bool) -> None:
    assert (_found([value, "other"]).get(value.strip()) == "shape") is junk


def test_placeholder_dates_only_where_far_commoner_than_a_typical_date() -> None:
    rng = np.random.default_rng(0)
    days = rng.integers(0, 365 * 50, 5_000)
    ordinary = pl.Series(days, dtype=pl.Int32).cast(pl.Date).dt.offset_by("20y")
    ordinary = ordinary.cast(pl.String).to_list()
    common = _found([*ordinary, *["1900-01-01"] * 40, "1970-01-01", "1970-01-01"])
    assert common == {"1900-01-01": "date"}  # the epoch twice is a birthday
    dates = pl.Series([*ordinary, *["1970-01-01"] * 40]).str.to_date()
    assert _found(dates.to_list()) == {"1970-01-01": "date"}  # Date values too


def _people(n_people: int, records_each: int) -> list[tuple[str, str]]:
    return [
        (f"p{i}@mail.com", f"surname{i}")
        for i in range(n_people)
        for _ in range(records_each)
    ]


def test_frequency_finds_values_shared_by_many_different_people() -> None:
    rows = _people(500, 2) + [("help@acme.com", f"s{i}") for i in range(60)]
    # one customer with many records: frequent, but one person
    rows += [("busy@mail.com", "busy")] * 60
    frame = pl.DataFrame(rows, schema=["email", "surname"], orient="row")
    by_name = find_placeholders(
        frame, PlaceholderConfig(columns=("email",), distinct_by="surname")
    )
    assert by_name.rows() == [("email", "help@acme.com", 60, "frequency")]
    counts_only = find_placeholders(frame, PlaceholderConfig(columns=("email",)))
    assert sorted(counts_only["value"]) == ["busy@mail.com", "help@acme.com"]
    rare = find_placeholders(
        frame,
        PlaceholderConfig(columns=("email",), min_count=61, distinct_by="surname"),
    )
    assert rare.is_empty()


def test_declared_values_and_builtin_off() -> None:
    frame = pl.DataFrame({"e": ["Helpdesk@Acme.com", "test@test.com", "a@b.org"]})
    config = PlaceholderConfig(
        columns=("e",), builtin=False, values={"e": ("helpdesk@acme.com",)}
    )
    assert find_placeholders(frame, config).rows() == [
        ("e", "Helpdesk@Acme.com", 1, "declared")
    ]


def test_null_keeps_types_and_other_values() -> None:
    others = pl.date_range(
        pl.date(1980, 1, 1), pl.date(1980, 1, 1) + pl.duration(days=99), eager=True
    )
    frame = pl.DataFrame(
        {
            "dob": pl.concat([pl.Series(["1900-01-01"] * 30).str.to_date(), others]),
            "email": ["test@test.com"] * 31 + ["a@b.org"] * 99,
            "name": ["a"] * 130,
        }
    )
    config = PlaceholderConfig(columns=("dob", "email"))
    found = find_placeholders(frame, config)
    out = null_placeholders(frame, found)
    assert out.schema == frame.schema
    assert out["dob"].null_count() == 30 and out["dob"][30:].equals(others)
    assert out["email"].null_count() == 31
    assert out["name"].to_list() == frame["name"].to_list()
    frame = frame.with_columns(source=pl.Series(["crm"] * 20 + ["erp"] * 110))
    counts = placeholder_counts(frame, found, config.columns).sort("source", "column")
    assert counts.rows() == [
        ("crm", "dob", 20),
        ("crm", "email", 20),
        ("erp", "dob", 10),
        ("erp", "email", 11),
    ]


def test_no_values_no_placeholders() -> None:
    frame = pl.DataFrame({"v": [None, "  "]}, schema={"v": pl.String})
    found = find_placeholders(frame, PlaceholderConfig(columns=("v",)))
    assert found.is_empty() and found.schema == pl.Schema(PLACEHOLDERS_SCHEMA)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"columns": "email"}, r"columns must be a list of column names"),
        ({"columns": ["e"], "min_count": 1}, r"min_count"),
        ({"columns": ["e"], "factor": 0.5}, r"factor"),
        ({"columns": ["e"], "builtin": "yes"}, r"builtin.* must be true or false"),
        ({"columns": ["e"], "values": {"f": ["x"]}}, r"names column\(s\) \['f'\]"),
        ({"columns": ["e"], "values": {"e": "x"}}, r"values.e must be a list"),
        (
            {"columns": ["e"], "limit": 3},
            r"Unknown key\(s\) \['limit'\] in \[placeholders\]",
        ),
    ],
)
def test_bad_config_says_what_was_expected(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PlaceholderConfig.from_dict(spec)


def test_missing_column_is_named() -> None:
    with pytest.raises(
        SchemaError, match=r"\[placeholders\] reads column\(s\) \['x'\]"
    ):
        find_placeholders(pl.DataFrame({"a": [1]}), PlaceholderConfig(columns=("x",)))


_CONFIG = {
    "name": "p",
    "link_type": "dedupe",
    "standardise": {"email": "email"},
    "placeholders": {"columns": ["email"], "values": {"email": ["desk@acme.com"]}},
    "blocking": {"rules": [["email"]]},
    "model": {"training_rules": [["email"]]},
    "comparisons": [{"name": "email", "levels": [{"kind": "exact"}]}],
}


def test_config_round_trip_and_linker_nulls_and_profiles() -> None:
    config = LinkageConfig.from_dict(_CONFIG)
    again = LinkageConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again.placeholders == config.placeholders
    assert (
        "placeholders"
        not in LinkageConfig.from_dict(
            {k: v for k, v in _CONFIG.items() if k != "placeholders"}
        ).to_dict()
    )
    records = pl.DataFrame(
        {
            "record_id": [1, 2, 3, 4],
            "email": ["TEST@test.com", "ann@x.org", "desk@acme.com", None],
        }
    )
    prepared = Linker(config).prepare([Source("crm", records)])
    assert prepared.records["email"].to_list() == [None, "ann@x.org", None, None]
    assert prepared.placeholders is not None
    assert sorted(prepared.placeholders["rule"]) == ["declared", "shape"]
    profile = prepared.profile.filter(pl.col("column") == "email")
    assert dict(zip(profile["stage"], profile["placeholders"], strict=True)) == {
        "before": None,
        "after": 2,
    }


def test_records_without_the_profile_are_the_prepared_records() -> None:
    """Linker.records skips the profile (a scored batch needs none), nothing else."""
    config = LinkageConfig.from_dict(
        {
            **_CONFIG,
            "standardise": {
                "email": {"kind": "email", "normalise_provider": True},
                "name": "name",
                "phone": {"kind": "phone", "default_region": "GB", "check": "possible"},
                "dob": {"kind": "date", "swap_impossible": True},
            },
        }
    )
    records = pl.DataFrame(
        {
            "record_id": [1, 2, 3, 4, 5],
            "email": ["TEST@test.com", "Ann.B@gmail.com", "desk@acme.com", None, "x"],
            "name": ["Dr. Bill O'Neil", "Ms Liz Smith", "", None, "ANN  b"],
            "phone": ["020 7946 0958", "n/a", "+44 7700 900123", None, "07700900123"],
            "dob": ["1980-02-30", "31/12/1990", "1990-12-31", None, "x"],
        }
    )
    linker = Linker(config)
    prepared = linker.prepare([Source("crm", records)])
    assert linker.records([Source("crm", records)]).equals(prepared.records)
    assert prepared.records["email"].to_list()[2] is None  # the placeholder
    assert "phone_reason" not in prepared.records.columns


def test_frequency_rule_can_be_switched_off() -> None:
    rows = _people(300, 2) + [("help@acme.com", f"s{i}") for i in range(60)]
    frame = pl.DataFrame(rows, schema=["email", "surname"], orient="row")
    on = PlaceholderConfig(columns=("email",))
    off = PlaceholderConfig(columns=("email",), frequency=False)
    assert find_placeholders(frame, on)["value"].to_list() == ["help@acme.com"]
    assert find_placeholders(frame, off).is_empty()
    assert PlaceholderConfig.from_dict(off.to_dict()) == off


def test_placeholders_give_the_null_level_not_agreement() -> None:
    # 40 strangers share test@test.com and 0000000000; two records of one
    # person share a real address. After prepare, the strangers' pairs are
    # null on both comparisons (gamma -1), the person's pair still agrees.
    n = 40
    records = pl.DataFrame(
        {
            "record_id": list(range(n + 2)),
            "surname": [f"s{i}" for i in range(n)] + ["lee", "lee"],
            "email": ["test@test.com"] * n + ["ann@x.org"] * 2,
            "phone": ["0000000000"] * n + ["+442079460958"] * 2,
        }
    )
    config = LinkageConfig.from_dict(
        {
            "name": "p",
            "link_type": "dedupe",
            "placeholders": {"columns": ["email", "phone"], "distinct_by": "surname"},
            "blocking": {"rules": [["email"]]},
            "model": {"training_rules": [["email"]]},
            "comparisons": [
                {"name": "email", "levels": [{"kind": "exact"}]},
                {"name": "phone", "levels": [{"kind": "exact"}]},
            ],
        }
    )
    assert "surname" in config.columns  # distinct_by is read from the sources
    linker = Linker(config)
    prepared = linker.prepare([Source("crm", records)])
    pairs = pl.DataFrame(
        {"_row_l": [0, n], "_row_r": [1, n + 1]},
        schema={"_row_l": pl.UInt32, "_row_r": pl.UInt32},
    )
    vectors = linker.compare(prepared.records, pairs)
    assert vectors["gamma_email"].to_list() == [-1, 1]
    assert vectors["gamma_phone"].to_list() == [-1, 1]
    # and blocking on email no longer pairs the strangers
    assert linker.block(prepared.records).height == 1


@settings(max_examples=40, deadline=None)
@given(
    background=st.lists(st.integers(1, 3), min_size=100, max_size=300),
    heavy=st.lists(st.integers(1, 200), max_size=6),
    min_count=st.integers(2, 30),
    factor=st.floats(1, 12),
)
def test_frequency_rule_equals_its_definition(
    background: list[int], heavy: list[int], min_count: int, factor: float
) -> None:
    counts = background + heavy
    # values v0, v1, ... held by counts[i] records; builtin rules off, so
    # only the frequency rule speaks
    values = [f"v{i}" for i, c in enumerate(counts) for _ in range(c)]
    frame = pl.DataFrame({"v": values})
    config = PlaceholderConfig(
        columns=("v",), builtin=False, min_count=min_count, factor=factor
    )
    found = find_placeholders(frame, config)
    p99 = float(np.quantile(np.array(counts, dtype=float), 0.99, method="nearest"))
    expected = {
        f"v{i}" for i, c in enumerate(counts) if c >= min_count and c >= factor * p99
    }
    assert set(found["value"]) == expected
    assert set(found["rule"]) <= {"frequency"}
    out = null_placeholders(frame, found)
    assert out["v"].null_count() == sum(
        c for i, c in enumerate(counts) if f"v{i}" in expected
    )
    assert out["v"].drop_nulls().is_in(list(expected)).sum() == 0


def test_training_summary_counts_placeholders(tmp_path: Any) -> None:
    from er_toolkit.cli.train import train

    rng = np.random.default_rng(3)
    n = 600
    emails = [f"p{i}@mail.com" for i in rng.integers(0, 300, n)]
    emails[:30] = ["test@test.com"] * 30
    records = pl.DataFrame(
        {
            "record_id": list(range(n)),
            "surname": [f"s{i}" for i in rng.integers(0, 200, n)],
            "email": emails,
        }
    )
    records.write_parquet(tmp_path / "crm.parquet")
    spec = dict(_CONFIG, sources=[{"name": "crm", "path": "crm.parquet"}])
    spec["model"] = {"training_rules": [["email"], ["surname"]]}
    spec["comparisons"] = [
        {"name": "email", "levels": [{"kind": "exact"}]},
        {"name": "surname", "levels": [{"kind": "exact"}]},
    ]
    config = LinkageConfig.from_dict(spec, base_dir=tmp_path)
    metrics = train(config, log_mlflow=False, report=False)["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["placeholder_values"] == 1  # desk@acme.com is absent
    assert metrics["placeholder_records"] == 30


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=400))
def test_count_quantiles_from_a_histogram_are_polars_quantiles(
    counts: list[int],
) -> None:
    # what an engine that cannot hold one count per value (Spark) hands over
    series = pl.Series(counts)
    histogram = series.value_counts()
    p99, median = count_quantiles(
        histogram.get_column(series.name).to_numpy(),
        histogram.get_column("count").to_numpy(),
    )
    assert p99 == series.quantile(0.99)
    assert median == series.median()
