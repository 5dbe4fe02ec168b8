"""Tests of the synthetic customer generator in benchmarks/synthetic.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from benchmarks.synthetic import (
    COLUMNS,
    NICKNAMES,
    NULLABLE_FIELDS,
    SOURCES,
    Corruptions,
    generate_customers,
    main,
    true_pair_count,
)

N = 20_000


@pytest.fixture(scope="module")
def default_pair() -> tuple[pl.DataFrame, pl.DataFrame]:
    return generate_customers(N, seed=7, return_truth=True)


def only(**rates: float) -> Corruptions:
    """A configuration with every corruption off except ``rates``."""
    return dataclasses.replace(Corruptions.none(), **rates)


def one_source(n: int = N, seed: int = 3, locale_weights=None, **rates: float):
    """Records from the CRM alone (ISO dates, as-typed case) plus truth."""
    return generate_customers(
        n,
        seed=seed,
        n_sources=1,
        corruptions=only(**rates),
        locale_weights=locale_weights,
        return_truth=True,
    )


def test_schema(default_pair):
    df, truth = default_pair
    assert df.columns == list(COLUMNS)
    assert df.schema["entity_id"] == pl.Int64
    assert all(df.schema[c] == pl.String for c in COLUMNS if c != "entity_id")
    assert df.height == N
    assert truth.height == N
    assert truth["record_id"].equals(df["record_id"])
    assert truth["entity_id"].equals(df["entity_id"])


def test_exact_row_count_for_small_and_odd_sizes():
    for n in (1, 7, 1_001):
        assert generate_customers(n, seed=n).height == n


def test_deterministic():
    a = generate_customers(5_000, seed=11)
    b = generate_customers(5_000, seed=11)
    c = generate_customers(5_000, seed=12)
    assert a.equals(b)
    assert not a.equals(c)


def test_record_ids_unique_within_source(default_pair):
    df, _ = default_pair
    assert df.select(pl.struct("source", "record_id").is_unique().all()).item()
    assert df["record_id"].null_count() == 0


def test_sources_and_their_formats(default_pair):
    df, _ = default_pair
    assert set(df["source"].unique()) == {s.name for s in SOURCES[:4]}
    dob = df.drop_nulls("date_of_birth")
    by_source = {
        s: dob.filter(pl.col("source") == s)["date_of_birth"]
        for s in ("crm", "erp", "support")
    }
    assert by_source["crm"].str.contains(r"^\d{4}-\d{2}-\d{2}$").mean() > 0.99
    assert by_source["erp"].str.contains(r"^\d{2}/\d{2}/\d{4}$").mean() > 0.99
    assert by_source["support"].str.contains(r"^\d{2}/\d{2}/\d{4}$").mean() > 0.99
    erp = df.filter(pl.col("source") == "erp").drop_nulls("surname")["surname"]
    assert (erp == erp.str.to_uppercase()).mean() > 0.9
    six = generate_customers(3_000, seed=1, n_sources=6)
    assert six["source"].n_unique() == 6
    with pytest.raises(ValueError):
        generate_customers(10, n_sources=len(SOURCES) + 1)


def test_every_entity_has_a_record_and_ids_are_dense(default_pair):
    df, _ = default_pair
    ids = df["entity_id"].unique().sort()
    assert ids[0] == 0
    assert ids[-1] == ids.len() - 1


def test_long_tail_of_duplicates():
    df = generate_customers(50_000, seed=5, corruptions=Corruptions.none())
    sizes = df.group_by("entity_id").len()["len"]
    singleton_share = (sizes == 1).mean()
    assert 0.5 < singleton_share < 0.7
    assert ((sizes >= 2) & (sizes <= 5)).sum() > 0.2 * sizes.len()
    assert sizes.max() >= 20
    assert (sizes >= 10).sum() > 50
    assert true_pair_count(df) == int((sizes * (sizes - 1) // 2).sum())


def test_clean_records_match_truth():
    df, truth = one_source(5_000)
    for col in ("first_name", "surname", "email", "street_address", "city"):
        assert df[col].equals(truth[col]), col
    assert df["date_of_birth"].equals(truth["date_of_birth"])
    assert df["phone"].str.replace_all(" ", "").equals(truth["phone"])


def changed(df: pl.DataFrame, truth: pl.DataFrame, col: str) -> np.ndarray:
    return (df[col] != truth[col]).fill_null(True).to_numpy()


@pytest.mark.parametrize(
    ("kind", "col"),
    [
        ("typo", "surname"),
        ("typo", "email"),
        ("transposition", "first_name"),
        ("transposition", "city"),
    ],
)
def test_typos_occur_at_rate_and_change_values(kind, col):
    df, truth = one_source(**{kind: 0.2})
    flag = truth[f"c_{kind}_{col}"].to_numpy()
    assert flag.mean() == pytest.approx(0.2, abs=0.02)
    diff = changed(df, truth, col)
    assert diff[flag].mean() > 0.9
    assert not diff[~flag].any()


def test_typo_is_one_edit():
    df, truth = one_source(typo=1.0)
    a, b = df["surname"].to_list(), truth["surname"].to_list()
    for x, y in list(zip(a, b, strict=True))[:500]:
        assert abs(len(x) - len(y)) <= 1


def test_nicknames():
    df, truth = one_source(nickname=0.3)
    formal = {f for f, _ in NICKNAMES}
    eligible = truth["first_name"].is_in(formal).to_numpy()
    flag = truth["c_nickname"].to_numpy()
    assert eligible.sum() > 500
    assert flag[eligible].mean() == pytest.approx(0.3, abs=0.05)
    assert not flag[~eligible].any()
    diff = changed(df, truth, "first_name")
    assert np.array_equal(diff, flag)
    pairs = set(NICKNAMES)
    got = set(
        zip(
            truth["first_name"].filter(flag), df["first_name"].filter(flag), strict=True
        )
    )
    assert got <= pairs


def test_name_swap_and_surname_change():
    df, truth = one_source(name_swap=0.1, surname_change=0.2)
    swap = truth["c_name_swap"].to_numpy()
    assert swap.mean() == pytest.approx(0.1, abs=0.015)
    assert (df["surname"].filter(swap) == truth["first_name"].filter(swap)).all()
    change = truth["c_surname_change"].to_numpy() & ~swap
    female = truth["female"].to_numpy()
    assert not truth["c_surname_change"].to_numpy()[~female].any()
    assert truth["c_surname_change"].to_numpy()[female].mean() == pytest.approx(
        0.2, abs=0.03
    )
    # The other surname is the entity's, so all of an entity's changed records
    # agree, and most differ from the original.
    assert changed(df, truth, "surname")[change].mean() > 0.9
    alt = (
        df.filter(change)
        .group_by("entity_id")
        .agg(pl.col("surname").n_unique())["surname"]
    )
    assert (alt == 1).all()


def test_move_changes_address_consistently():
    df, truth = one_source(move=0.25)
    moved = truth["c_move"].to_numpy()
    assert moved.mean() == pytest.approx(0.25, abs=0.02)
    diff = changed(df, truth, "street_address")
    assert diff[moved].mean() > 0.95
    assert not diff[~moved].any()
    new = (
        df.filter(moved).group_by("entity_id").agg(pl.col("street_address").n_unique())
    )
    assert (new["street_address"] == 1).all()


def test_dob_corruptions():
    df, truth = one_source(dob_swap=0.5, dob_placeholder=0.02)
    swap = truth["c_dob_swap"].to_numpy()
    parts = truth["date_of_birth"].str.split("-").list
    day = parts.get(2).cast(pl.Int32).to_numpy()
    month = parts.get(1).cast(pl.Int32).to_numpy()
    eligible = (day <= 12) & (day != month)
    assert not swap[~eligible].any()
    assert swap[eligible].mean() == pytest.approx(0.5, abs=0.05)
    expected = truth["date_of_birth"].str.replace(r"-(\d\d)-(\d\d)$", "-$2-$1")
    placeholder = truth["c_dob_placeholder"].to_numpy()
    ok = swap & ~placeholder
    assert (df["date_of_birth"].filter(ok) == expected.filter(ok)).all()
    assert placeholder.mean() == pytest.approx(0.02, abs=0.01)
    assert (df["date_of_birth"].filter(placeholder) == "1900-01-01").all()


def test_phone_format_variants():
    df, truth = one_source(phone_format=0.4)
    flag = truth["c_phone_format"].to_numpy()
    assert flag.mean() == pytest.approx(0.4, abs=0.03)
    digits = df["phone"].str.replace_all(r"\D", "")
    e164 = truth["phone"].str.slice(1)
    # Every layout keeps the subscriber digits.
    assert all(
        d.endswith(e[-7:])
        for d, e in zip(digits.to_list(), e164.to_list(), strict=True)
    )
    assert df["phone"].n_unique() > 0.9 * df.height * 0.6
    us = df.filter(truth["country"] == "US")["phone"]
    assert us.str.contains(r"^\(\d{3}\) \d{3}-\d{4}$").any()
    gb = df.filter(truth["country"] == "GB")["phone"]
    assert gb.str.contains(r"^0\d{10}$").any()
    assert gb.str.contains(r"^\+44 \d{2} \d{4} \d{4}$").any()


def test_case_email_accent_whitespace_variants():
    df, truth = one_source(case=0.2, email_variant=0.3, whitespace=0.1)
    case = truth["c_case"].to_numpy()
    assert case.mean() == pytest.approx(0.2, abs=0.02)
    fn = df["first_name"].filter(case)
    assert ((fn == fn.str.to_uppercase()) | (fn == fn.str.to_lowercase())).all()
    email = truth["c_email_variant"].to_numpy()
    assert email.mean() == pytest.approx(0.3, abs=0.03)
    assert changed(df, truth, "email")[email].mean() > 0.95
    assert (
        df["email"].filter(email).str.to_lowercase().str.replace_all(r"[.+]", "") != ""
    ).all()
    ws = truth["c_whitespace"].to_numpy()
    assert ws.mean() == pytest.approx(0.1, abs=0.015)
    spaced = pl.any_horizontal(
        pl.col(c).str.contains(r"^\s|\s$|\s\s")
        for c in ("first_name", "surname", "street_address")
    )
    assert df.select(spaced).to_series().to_numpy()[ws].mean() > 0.95

    df, truth = one_source(accent_strip=1.0, locale_weights={"es_ES": 1, "pl_PL": 1})
    assert not df["first_name"].str.contains(r"[^\x00-\x7F]").any()
    assert truth["first_name"].str.contains(r"[^\x00-\x7F]").any()


def test_missing_rates():
    rates = {"email": 0.2, "phone": 0.3, "date_of_birth": 0.1, "first_name": 0.0}
    df = generate_customers(
        N,
        seed=2,
        n_sources=1,
        corruptions=dataclasses.replace(Corruptions.none(), missing=rates),
    )
    for col in NULLABLE_FIELDS:
        expected = rates.get(col, 0.0)
        assert df[col].null_count() / N == pytest.approx(expected, abs=0.015), col


def test_default_config_is_messy(default_pair):
    df, truth = default_pair
    for col in ("first_name", "surname", "email", "street_address"):
        assert 0.02 < changed(df, truth, col).mean() < 0.6, col
    nulls = df.select(pl.all().null_count() / pl.len()).row(0, named=True)
    assert nulls["record_id"] == 0
    assert nulls["entity_id"] == 0
    assert 0.05 < nulls["email"] < 0.4
    assert 0.1 < nulls["date_of_birth"] < 0.5
    countries = df["country"].drop_nulls().str.to_uppercase().unique().to_list()
    assert {"US", "GB", "DE", "UNITED KINGDOM", "GERMANY"} <= set(countries)


def test_cli(tmp_path, capsys):
    out = tmp_path / "c.parquet"
    assert main(["--n", "2000", "--seed", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "rows=2000" in text
    assert "true_pairs=" in text
    assert pl.read_parquet(out).equals(generate_customers(2000, seed=1))
