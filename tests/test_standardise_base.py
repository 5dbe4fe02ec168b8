import datetime as dt
import json
import re
import tomllib

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import er_toolkit.standardise as standardise
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.standardise import (
    STANDARDISERS,
    AddressStandardiser,
    DateStandardiser,
    EmailStandardiser,
    NameStandardiser,
    PhoneStandardiser,
    PostcodeStandardiser,
    Standardiser,
    TextStandardiser,
    apply_standardisers,
    standardiser_from_dict,
    steps_from_dict,
    steps_to_dict,
)

ALL = [
    TextStandardiser(),
    TextStandardiser(case="upper", fold_accents=True),
    NameStandardiser(),
    PhoneStandardiser(default_region="US", check="possible"),
    EmailStandardiser(normalise_provider=True),
    AddressStandardiser(),
    AddressStandardiser(parser="usaddress"),
    PostcodeStandardiser(country="US"),
    PostcodeStandardiser(country=None),
    DateStandardiser(dayfirst=False, formats=("%d %B %Y",), pivot_year=10),
]


def test_all_is_exported():
    assert sorted(standardise.__all__) == sorted(
        name for name in dir(standardise) if not name.startswith("_")
        and name not in {"addresses", "base", "dates", "emails", "names", "phones",
                         "postcodes", "quality", "registry", "text"}
    )  # fmt: skip


def test_every_kind_is_registered():
    assert sorted(STANDARDISERS) == [
        "address", "date", "email", "name", "phone", "postcode", "text",
    ]  # fmt: skip


@pytest.mark.parametrize("std", ALL, ids=repr)
def test_declaration_round_trips_through_json_and_toml(std):
    assert isinstance(std, Standardiser)
    declaration = std.to_dict()
    assert declaration["kind"] == std.kind
    assert standardiser_from_dict(json.loads(json.dumps(declaration))) == std
    toml = "\n".join(
        f"{k} = {json.dumps(v)}" for k, v in declaration.items() if v is not None
    )
    assert standardiser_from_dict(tomllib.loads(toml) | {
        k: v for k, v in declaration.items() if v is None
    }) == std  # fmt: skip


def test_steps_round_trip():
    steps = {
        "name": NameStandardiser(),
        "notes": [TextStandardiser(), TextStandardiser(case="upper")],
    }
    declaration = steps_to_dict(steps)
    assert declaration["format_version"] == 1
    back = steps_from_dict(json.loads(json.dumps(declaration)))
    assert back == {"name": (NameStandardiser(),), "notes": tuple(steps["notes"])}


def test_steps_from_toml_shorthand():
    config = tomllib.loads(
        """
        name = "name"
        phone = { kind = "phone", default_region = "US" }
        email = ["text", { kind = "email", normalise_provider = true }]
        """
    )
    steps = steps_from_dict(config)
    assert steps["phone"] == (PhoneStandardiser(default_region="US"),)
    assert steps["email"] == (
        TextStandardiser(),
        EmailStandardiser(normalise_provider=True),
    )


def test_unknown_kind_lists_valid_kinds():
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "Unknown standardiser kind 'fone'; valid kinds: address, date, email, "
            "name, phone, postcode, text."
        ),
    ):
        standardiser_from_dict({"kind": "fone"})


def test_missing_kind():
    with pytest.raises(ConfigError, match="Unknown standardiser kind None"):
        standardiser_from_dict({"default_region": "GB"})


def test_unknown_option_lists_valid_options():
    with pytest.raises(
        ConfigError,
        match=r"Unknown option\(s\) \['region'\] for standardiser 'phone'; valid "
        r"options: \['default_region', 'check'\].",
    ):
        standardiser_from_dict({"kind": "phone", "region": "GB"})


def test_bad_format_version():
    with pytest.raises(ConfigError, match="format_version 2 is not supported"):
        steps_from_dict({"format_version": 2})


def test_empty_chain_is_rejected():
    with pytest.raises(ConfigError, match="empty list of standardisers"):
        steps_from_dict({"name": []})


FRAME = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "name": ["Dr. Bill Smith", None, "  ", "123"],
        "phone": ["020 7946 0958", "n/a", None, "12"],
        "dob": ["03/04/1980", "31/02/1990", "1975-01-01", None],
    }
)
STEPS = {
    "name": NameStandardiser(),
    "phone": PhoneStandardiser(),
    "dob": DateStandardiser(),
}


def test_apply_standardisers_output():
    before = FRAME.clone()
    out, issues = apply_standardisers(FRAME, STEPS)
    assert FRAME.equals(before)
    assert out.columns == [
        "id", "name", "phone", "dob", "name_title", "name_suffix", "name_canonical",
        "dob_ambiguous",
    ]  # fmt: skip
    assert out["id"].to_list() == [1, 2, 3, 4]
    assert out["name"].to_list() == ["bill smith", None, None, None]
    assert out["phone"].to_list() == ["+442079460958", None, None, None]
    assert out["dob"].to_list() == [
        dt.date(1980, 4, 3),
        None,
        dt.date(1975, 1, 1),
        None,
    ]
    assert out["dob_ambiguous"].to_list() == [True, None, False, None]
    assert issues.schema == pl.Schema(
        {"column": pl.String, "standardiser": pl.String, "reason": pl.String,
         "count": pl.UInt32}
    )  # fmt: skip
    assert sorted(issues.rows()) == [
        ("dob", "date", "impossible_date", 1),
        ("name", "name", "blank", 1),
        ("name", "name", "no_letters", 1),
        ("phone", "phone", "invalid_phone", 1),
        ("phone", "phone", "unparseable_phone", 1),
    ]


def test_reason_columns():
    out, _ = apply_standardisers(FRAME, STEPS, reasons=True)
    assert out["phone_reason"].to_list() == [
        None,
        "unparseable_phone",
        None,
        "invalid_phone",
    ]


def test_chained_standardisers_read_the_previous_value():
    frame = pl.DataFrame({"x": ["  hello, world ", "!!", None]})
    steps = {"x": [TextStandardiser(), TextStandardiser(case="upper")]}
    out, issues = apply_standardisers(frame, steps, reasons=True)
    assert out["x"].to_list() == ["HELLO WORLD", None, None]
    assert out["x_reason"].to_list() == [None, "empty_after_cleaning", None]
    assert issues.rows() == [("x", "text", "empty_after_cleaning", 1)]


def test_no_steps_returns_the_frame_and_no_issues():
    out, issues = apply_standardisers(FRAME, {})
    assert out.equals(FRAME)
    assert issues.is_empty()
    assert issues.columns == ["column", "standardiser", "reason", "count"]


def test_missing_column_is_named():
    with pytest.raises(
        SchemaError, match=r"missing column\(s\) \['email'\]; valid columns"
    ):
        apply_standardisers(FRAME, {"email": EmailStandardiser()})


def test_output_that_would_overwrite_a_column_is_rejected():
    frame = FRAME.with_columns(name_title=pl.lit("x"))
    with pytest.raises(SchemaError, match=r"overwrite column\(s\) \['name_title'\]"):
        apply_standardisers(frame, {"name": NameStandardiser()})


def test_a_step_that_is_not_a_standardiser_is_rejected():
    with pytest.raises(ConfigError, match="must be a Standardiser or a sequence"):
        apply_standardisers(FRAME, {"name": "name"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="standardiser_from_dict"):
        apply_standardisers(FRAME, {"name": [{"kind": "name"}]})  # type: ignore[list-item]


def test_empty_frame():
    frame = pl.DataFrame(schema={k: pl.String for k in ["name", "phone", "dob"]})
    out, issues = apply_standardisers(frame, STEPS)
    assert out.height == 0
    assert issues.height == 0


def test_lazy_expression_use():
    lazy = FRAME.lazy().select(
        PhoneStandardiser().standardise(pl.col("phone")).alias("p")
    )
    assert lazy.collect().unnest("p")["value"].to_list()[0] == "+442079460958"


texts = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=30),
    st.sampled_from(
        ["020 7946 0958", "a@b.com", "31/02/2020", "Dr Bill", "SW1A 1AA", "12 Main St"]
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, max_size=40))
def test_rows_are_never_dropped_duplicated_or_reordered(values):
    frame = pl.DataFrame({"row": list(range(len(values))), "x": values},
                         schema={"row": pl.Int64, "x": pl.String})  # fmt: skip
    for std in ALL:
        out, issues = apply_standardisers(frame, {"x": std}, reasons=True)
        assert out.height == frame.height
        assert out["row"].to_list() == frame["row"].to_list()
        # a reason exactly where a non-null input became null
        raw_present = frame["x"].is_not_null()
        became_null = raw_present & out["x"].is_null()
        assert (out["x_reason"].is_not_null() == became_null).all()
        assert int(issues["count"].sum() or 0) == int(became_null.sum())


def test_many_distinct_values_are_parsed_in_worker_processes(monkeypatch):
    values = [f"020 7946 {i:04d}" for i in range(10_000)] + [
        f"{i}@example.com" for i in range(10_000)
    ]
    frame = pl.DataFrame({"x": values})
    steps = {"x": PhoneStandardiser()}
    monkeypatch.setenv("ER_TOOLKIT_WORKERS", "2")
    parallel, _ = apply_standardisers(frame, steps, reasons=True)
    monkeypatch.setenv("ER_TOOLKIT_WORKERS", "1")
    serial, _ = apply_standardisers(frame, steps, reasons=True)
    assert parallel.equals(serial)
    assert parallel["x"][9_999] == "+442079469999"
    assert parallel["x_reason"][10_000] == "unparseable_phone"


def test_bad_worker_setting(monkeypatch):
    from er_toolkit.standardise.base import distinct_workers

    monkeypatch.setenv("ER_TOOLKIT_WORKERS", "many")
    with pytest.raises(ConfigError, match="ER_TOOLKIT_WORKERS environment variable"):
        distinct_workers(1_000_000)


# --- once per distinct value gives the per-row answer ------------------------

import standardise_reference as reference  # noqa: E402
from polars.testing import assert_frame_equal  # noqa: E402

from er_toolkit.standardise.base import distinct_codes  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(), st.text(max_size=4), st.integers(-3, 3).map(str), st.just("")
        ),
        max_size=30,
    )
)
def test_distinct_codes_rebuild_every_row(values):
    series = pl.Series("x", values, dtype=pl.String)
    distinct, codes = distinct_codes(series)
    assert distinct.is_unique().all()
    assert distinct.gather(codes).equals(series)
    assert distinct.len() == series.n_unique()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=3)), min_size=2, max_size=30))
def test_distinct_codes_never_merge_values_that_share_a_hash(values):
    # A hash of only the length makes collisions common: every value that
    # merely shares one must still get its own code.
    series = pl.Series("x", values, dtype=pl.String)
    real = pl.Series.hash

    def weak(self, seed=0, *args, **kwargs):
        return self.str.len_bytes().fill_null(99).cast(pl.UInt64)

    pl.Series.hash = weak
    try:
        distinct, codes = distinct_codes(series)
    finally:
        pl.Series.hash = real
    assert distinct.gather(codes).equals(series)
    assert distinct.is_unique().all()
    assert distinct.len() == series.n_unique()
    assert codes.dtype == pl.UInt32


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=30),
    st.sampled_from([pl.Int64, pl.Int8, pl.UInt32]),
)
def test_distinct_codes_of_repeated_integers_keep_their_type(values, dtype):
    # Values that repeat go through Arrow's dictionary encoding.
    series = pl.Series("x", [v if v is None or v >= 0 else -v for v in values])
    series = series.cast(dtype)
    distinct, codes = distinct_codes(series)
    assert distinct.dtype == dtype and codes.dtype == pl.UInt32
    assert distinct.gather(codes).equals(series)
    assert distinct.is_unique().all()
    assert distinct.len() == series.n_unique()


def test_distinct_codes_keep_floats_and_nested_values_apart():
    floats = pl.Series([0.0, -0.0, float("nan"), float("nan"), None])
    distinct, codes = distinct_codes(floats)
    assert distinct.len() == 5 and codes.to_list() == [0, 1, 2, 3, 4]
    ints = pl.Series([3, None, 3, -1])
    distinct, codes = distinct_codes(ints)
    assert sorted(distinct.to_list(), key=str) == [-1, 3, None]
    assert distinct.gather(codes).to_list() == [3, None, 3, -1]


class Shout:
    """A standardiser outside the package: only its expression is known."""

    kind = "shout"
    parts = ("length",)

    def standardise(self, values):
        text = values.cast(pl.String)
        return pl.struct(
            text.str.to_uppercase().alias("value"),
            pl.when(text == "").then(pl.lit("blank")).alias("reason"),
            text.str.len_chars().alias("length"),
        )

    def to_dict(self):
        return {"kind": self.kind}


CHAINS = [
    *ALL,
    [TextStandardiser(), NameStandardiser()],
    [DateStandardiser(), TextStandardiser(case="upper")],
    Shout(),
    [TextStandardiser(), Shout()],
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(texts, texts), max_size=40),
    st.sampled_from(range(len(CHAINS))),
    st.sampled_from(range(len(CHAINS))),
)
def test_apply_equals_the_per_row_reference(rows, first, second):
    frame = pl.DataFrame(
        {"x": [r[0] for r in rows], "y": [r[1] for r in rows]},
        schema={"x": pl.String, "y": pl.String},
    )
    steps = {"x": CHAINS[first], "y": CHAINS[second]}
    if {"x", "y"} & {
        f"{c}_{p}"
        for c, spec in steps.items()
        for s in (spec if isinstance(spec, list) else [spec])
        for p in s.parts
    }:
        return
    for with_reasons in (False, True):
        got = apply_standardisers(frame, steps, reasons=with_reasons)
        want = reference.apply_standardisers(frame, steps, reasons=with_reasons)
        assert_frame_equal(got[0], want[0], check_exact=True)
        assert_frame_equal(got[1], want[1], check_exact=True)


def test_a_settle_without_rows_is_placed_by_key(monkeypatch):
    from er_toolkit.standardise import base
    from er_toolkit.standardise.base import per_distinct

    monkeypatch.setattr(base, "SETTLE_MIN_KEYS", 1)  # settle even these few keys

    def shout(keys):
        return [(k.upper(), None) if k.isalpha() else (None, "bad") for k in keys]

    def settle(keys):  # settles the keys starting with "a", without their rows
        return keys.filter(pl.col("key").str.starts_with("a")).select(
            "key", pl.col("key").alias("value"), pl.lit(None, pl.String).alias("reason")
        )

    schema = {"value": pl.String, "reason": pl.String}
    frame = pl.DataFrame({"x": ["ab", "b1", "ab", "", None, "cd", "a1"]})
    out = frame.select(
        per_distinct(pl.col("x"), shout, schema=schema, settle=settle).alias("r")
    ).unnest("r")
    assert out.rows() == [
        ("ab", None), (None, "bad"), ("ab", None), (None, "blank"), (None, None),
        ("CD", None), ("a1", None),
    ]  # fmt: skip
    # below SETTLE_MIN_KEYS keys the function alone answers
    monkeypatch.setattr(base, "SETTLE_MIN_KEYS", 16)
    out = frame.select(
        per_distinct(pl.col("x"), shout, schema=schema, settle=settle).alias("r")
    ).unnest("r")
    assert out.get_column("value").to_list() == [
        "AB",
        None,
        "AB",
        None,
        None,
        "CD",
        None,
    ]
