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
    _, profile = profile_standardisation(FRAME, {"phone": PhoneStandardiser()})
    with mlflow.start_run() as run:
        log_profile(profile)
    client = mlflow.MlflowClient()
    metrics = client.get_run(run.info.run_id).data.metrics
    assert metrics["profile.before.crm.phone.validity"] == pytest.approx(0.5)
    assert metrics["profile.after.erp.name.completeness"] == pytest.approx(0.5)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "profile")}
    assert artifacts == {"profile/profile.csv", "profile/profile.png"}
