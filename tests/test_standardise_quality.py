import polars as pl
import pytest
from matplotlib.figure import Figure

from er_toolkit.exceptions import SchemaError
from er_toolkit.standardise import (
    NameStandardiser,
    PhoneStandardiser,
    log_profile,
    plot_profile,
    profile_frame,
    profile_standardisation,
)
from er_toolkit.standardise.quality import PROFILE_SCHEMA

FRAME = pl.DataFrame(
    {
        "source": ["crm", "crm", "crm", "crm", "erp", "erp"],
        "name": ["Smith", "smith", "Smith", None, " ", "Jo"],
        "phone": ["020 7946 0958", "n/a", "12", "020 7946 0958", None, "+14155552671"],
        "age": [30, 40, None, 30, 50, 60],
    }
)


def row(profile, source, column):
    return profile.filter(source=source, column=column).row(0, named=True)


def test_profile_numbers():
    profile = profile_frame(FRAME, validity={"phone": PhoneStandardiser()}, top_n=2)
    assert profile.schema == pl.Schema(PROFILE_SCHEMA)
    assert profile.select("source", "column").rows() == [
        ("crm", "name"), ("crm", "phone"), ("crm", "age"),
        ("erp", "name"), ("erp", "phone"), ("erp", "age"),
    ]  # fmt: skip

    name = row(profile, "crm", "name")
    assert name["rows"] == 4
    assert name["missing"] == 1
    assert name["completeness"] == pytest.approx(0.75)
    assert name["distinct"] == 2
    assert name["uniqueness"] == pytest.approx(2 / 3)
    assert name["invalid"] is None and name["validity"] is None
    assert (name["length_min"], name["length_mean"], name["length_max"]) == (5, 5.0, 5)
    assert name["top_values"] == "Smith (2); smith (1)"
    assert name["top_patterns"] == "Aaaaa (2); aaaaa (1)"

    erp_name = row(profile, "erp", "name")
    assert erp_name["missing"] == 1  # whitespace counts as missing
    assert erp_name["top_values"] == "Jo (1)"

    phone = row(profile, "crm", "phone")
    assert phone["missing"] == 0
    assert phone["invalid"] == 2
    assert phone["validity"] == pytest.approx(0.5)
    assert phone["invalid_reasons"] == "invalid_phone (1); unparseable_phone (1)"
    assert phone["top_patterns"] == "999 9999 9999 (2); 99 (1)"

    erp_phone = row(profile, "erp", "phone")
    assert (erp_phone["invalid"], erp_phone["validity"]) == (0, 1.0)
    assert erp_phone["invalid_reasons"] is None

    age = row(profile, "crm", "age")
    assert age["completeness"] == pytest.approx(0.75)
    assert age["top_values"] == "30 (2); 40 (1)"


def test_whole_frame_is_one_source_without_a_source_column():
    profile = profile_frame(FRAME.drop("source"), columns=["name"])
    assert profile.select("source", "column", "rows", "missing").rows() == [
        ("all", "name", 6, 2)
    ]
    assert profile_frame(FRAME, source_column=None)["source"].unique().to_list() == [
        "all"
    ]


def test_all_missing_column():
    frame = pl.DataFrame({"x": [None, None]}, schema={"x": pl.String})
    p = profile_frame(frame, validity={"x": PhoneStandardiser()}).row(0, named=True)
    assert p["completeness"] == 0.0
    assert p["distinct"] == 0
    assert p["uniqueness"] is None and p["validity"] is None
    assert p["top_values"] is None


def test_empty_frame_and_no_columns():
    empty = pl.DataFrame(schema={"x": pl.String})
    assert profile_frame(empty).height == 0
    assert profile_frame(pl.DataFrame({"source": ["a"]})).schema == pl.Schema(
        PROFILE_SCHEMA
    )


def test_missing_and_nested_columns_are_rejected():
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['email'\]"):
        profile_frame(FRAME, columns=["email"])
    with pytest.raises(
        SchemaError, match=r"validity of missing column\(s\) \['email'\]"
    ):
        profile_frame(FRAME, validity={"email": PhoneStandardiser()})
    nested = pl.DataFrame({"l": [[1, 2]]})
    with pytest.raises(SchemaError, match="nested column"):
        profile_frame(nested, columns=["l"])
    assert profile_frame(nested).height == 0  # skipped by default


def test_profile_standardisation_before_and_after():
    steps = {"name": NameStandardiser(), "phone": PhoneStandardiser()}
    out, profile = profile_standardisation(FRAME, steps)
    assert out.height == FRAME.height
    assert "phone_reason" not in out.columns
    assert profile.columns == ["stage", *PROFILE_SCHEMA]
    before = profile.filter(stage="before")
    after = profile.filter(stage="after")
    assert row(before, "crm", "phone")["validity"] == pytest.approx(0.5)
    assert row(after, "crm", "phone")["completeness"] == pytest.approx(0.5)
    assert row(after, "crm", "name")["distinct"] == 1  # Smith / smith merged
    assert "name_canonical" in after["column"].to_list()


def test_plot_profile():
    _, profile = profile_standardisation(FRAME, {"phone": PhoneStandardiser()})
    fig = plot_profile(profile)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == [
        "completeness",
        "validity",
        "uniqueness",
    ]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "crm · name · before"
    assert len(labels) == profile.height


def test_plot_profile_rejects_other_frames():
    with pytest.raises(SchemaError, match="plot_profile needs a profile frame"):
        plot_profile(FRAME)


def test_log_profile_to_mlflow(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    # other tests leave a tracking URI and an active experiment behind: this
    # run names its own store and experiment
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    experiment = mlflow.create_experiment("profile")
    _, profile = profile_standardisation(FRAME, {"phone": PhoneStandardiser()})
    with mlflow.start_run(experiment_id=experiment) as run:
        log_profile(profile)
    client = mlflow.MlflowClient()
    metrics = client.get_run(run.info.run_id).data.metrics
    assert metrics["profile.before.crm.phone.validity"] == pytest.approx(0.5)
    assert metrics["profile.after.erp.name.completeness"] == pytest.approx(0.5)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "profile")}
    assert artifacts == {"profile/profile.csv", "profile/profile.png"}


# --- the profile of distinct values equals the per-row reference -------------

import datetime as dt  # noqa: E402

import standardise_reference as reference  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from polars.testing import assert_frame_equal  # noqa: E402

from er_toolkit.standardise import (  # noqa: E402
    DateStandardiser,
    EmailStandardiser,
    TextStandardiser,
)

_texts = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "Smith", "smith", "Zoë", "020 7946 0958", "n/a", "12",
                     "a@b.com", "A@B.COM", "31/02/2020", "2020-04-03", "Dr Bill"]),
    st.text(max_size=8),
)  # fmt: skip
_rows = st.tuples(
    st.sampled_from(["crm", "erp", "web", None]),
    _texts,
    _texts,
    st.one_of(st.none(), st.integers(-5, 5)),
    st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, float("nan"), float("inf")])),
    st.one_of(st.none(), st.dates(dt.date(1999, 12, 30), dt.date(2000, 1, 2))),
    st.one_of(st.none(), st.booleans()),
)
_STEPS = [
    {},
    {"name": NameStandardiser()},
    {"name": NameStandardiser(), "phone": PhoneStandardiser()},
    {"phone": [TextStandardiser(), EmailStandardiser()], "day": DateStandardiser()},
    {"source": TextStandardiser(case="upper")},
]


def _frame(rows):
    names = ["source", "name", "phone", "age", "score", "day", "flag"]
    dtypes = [
        pl.String,
        pl.String,
        pl.String,
        pl.Int64,
        pl.Float64,
        pl.Date,
        pl.Boolean,
    ]
    return pl.DataFrame(
        {n: [r[i] for r in rows] for i, n in enumerate(names)},
        schema=dict(zip(names, dtypes, strict=True)),
    )


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_rows, max_size=40),
    st.sampled_from(range(len(_STEPS))),
    st.integers(1, 3),
    st.sampled_from(["source", None]),
)
def test_profiles_equal_the_per_row_reference(rows, which, top_n, source_column):
    frame = _frame(rows)
    steps = _STEPS[which]
    validity = {c: s for c, s in steps.items() if c != "source"}
    got = profile_frame(
        frame, source_column=source_column, validity=validity, top_n=top_n
    )
    want = reference.profile_frame(
        frame, source_column=source_column, validity=validity, top_n=top_n
    )
    assert_frame_equal(got, want, check_exact=True)
    out, profile = profile_standardisation(
        frame, steps, source_column=source_column, top_n=top_n
    )
    ref_out, ref_profile = reference.profile_standardisation(
        frame, steps, source_column=source_column, top_n=top_n
    )
    assert_frame_equal(out, ref_out, check_exact=True)
    assert_frame_equal(profile, ref_profile, check_exact=True)


def test_top_lists_of_many_distinct_values_equal_the_reference():
    # enough distinct values for the top lists to be pre-selected
    values = [f"v{i % 700:03d}" for i in range(3_000)] + ["x"] * 5 + ["y"] * 5
    frame = pl.DataFrame(
        {
            "source": ["a", "b"] * (len(values) // 2),
            "v": values,
            "id": range(len(values)),
        }
    )
    got = profile_frame(frame, top_n=4)
    want = reference.profile_frame(frame, top_n=4)
    assert_frame_equal(got, want, check_exact=True)


_INT_TYPES = {
    pl.Int8: (-(2**7), 2**7 - 1),
    pl.Int32: (-(2**31), 2**31 - 1),
    pl.Int64: (-(2**63), 2**63 - 1),
    pl.UInt16: (0, 2**16 - 1),
    pl.UInt64: (0, 2**64 - 1),
}


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(list(_INT_TYPES)),
    st.data(),
    st.integers(1, 6),
)
def test_integer_profiles_equal_the_reference(dtype, data, top_n):
    # Integers are profiled as numbers: their lengths, patterns and the text
    # order of values tied in the top lists (-1 < -10 < -2 < 0 < 1 < 10 < 100)
    # must equal those of the values written out.
    low, high = _INT_TYPES[dtype]
    wide = st.integers(low, high)
    small = st.integers(max(low, -120), min(high, 120))
    powers = st.sampled_from([v for v in (0, 1, 10, 100, 10**9, 10**18, -1, -10,
                              -(10**18)) if low <= v <= high])  # fmt: skip
    values = data.draw(st.lists(st.one_of(st.none(), wide, small, powers), max_size=80))
    sources = data.draw(
        st.lists(
            st.sampled_from(["a", "b"]), min_size=len(values), max_size=len(values)
        )
    )
    frame = pl.DataFrame(
        {"source": sources, "id": pl.Series(values, dtype=dtype)},
        schema={"source": pl.String, "id": dtype},
    )
    got = profile_frame(frame, top_n=top_n)
    want = reference.profile_frame(frame, top_n=top_n)
    assert_frame_equal(got, want, check_exact=True)
    distinct = frame.with_columns(pl.int_range(pl.len(), dtype=dtype).alias("id"))
    got = profile_frame(distinct, top_n=top_n)
    assert_frame_equal(
        got, reference.profile_frame(distinct, top_n=top_n), check_exact=True
    )


@pytest.mark.parametrize("top_n", range(1, 8))
def test_integers_tied_in_top_lists_come_in_text_order(top_n):
    # Every value once: the top lists are the first values written out.
    values = [2, 20, 100, 110, 1, 10, -3, -30, -100, 0, 7, 2**63 - 1, -(2**63)]
    frame = pl.DataFrame({"id": pl.Series(values, dtype=pl.Int64)})
    got = profile_frame(frame, top_n=top_n).get_column("top_values").item()
    first = sorted(str(value) for value in values)[:top_n]
    assert got == "; ".join(f"{value} (1)" for value in first)
    assert_frame_equal(
        profile_frame(frame, top_n=top_n),
        reference.profile_frame(frame, top_n=top_n),
        check_exact=True,
    )


from er_toolkit.standardise.quality import value_pattern, value_patterns  # noqa: E402

_ascii = st.text(st.characters(max_codepoint=127), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), _ascii), max_size=30),
    st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=5),
)
def test_value_patterns_equal_the_regex_patterns(ascii_values, other_values):
    # Only ASCII values (the byte table alone), and with some Unicode mixed in
    # (those go through the regexes).
    for values in (ascii_values, ascii_values + other_values):
        series = pl.Series("v", values, dtype=pl.String)
        want = series.to_frame().select(value_pattern(pl.col("v"))).to_series()
        assert value_patterns(series).to_list() == want.to_list()
