"""The few-record lookup's shortcuts give what the polars expressions and the batch path give."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from er_toolkit.blocking import ExactRule
from er_toolkit.compare import comparators, pair_values
from er_toolkit.compare.pair_values import ColumnEncoding
from er_toolkit.master import MasterStore
from er_toolkit.master.lookup import _few_key_hashes, _keyed, lookup
from tests.master_fixtures import (
    customers,  # noqa: F401  (fixture)
    model_path,  # noqa: F401  (fixture)
)

# white space polars strips and Python strips, Python's alone (\x1c, \x1f), none
_ALPHABET = st.sampled_from([*"ab Zé\t\u00a0\u2003\x1c\x1f\u0085ß1:", "ǅ", "😀"])
_TEXTS = st.one_of(st.none(), st.text(alphabet=_ALPHABET, max_size=6))
_DATES = st.one_of(st.none(), st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)))


def _polars_hashes(
    blockers: tuple[ExactRule, ...], frame: pl.DataFrame
) -> list[tuple[int, int]]:
    """(row, hash) of every non-null key, from the store's polars expressions."""
    out = frame.select(_keyed(blockers))
    return sorted(
        (row, hashed)
        for series in out.iter_columns()
        for row, hashed in enumerate(series.to_list())
        if hashed is not None
    )


@settings(max_examples=150, deadline=None)
@given(
    a=st.lists(_TEXTS, min_size=1, max_size=5),
    dates=st.lists(_DATES, min_size=1, max_size=5),
    prefix=st.integers(1, 4),
)
def test_key_hashes_built_in_python_equal_the_polars_ones(
    a: list[str | None], dates: list[dt.date | None], prefix: int
) -> None:
    """Every key text and hash is the polars expression's, white space and dates included."""
    n = min(len(a), len(dates))
    frame = pl.DataFrame(
        {
            "a": pl.Series(a[:n], dtype=pl.String),
            "d": pl.Series(dates[:n], dtype=pl.Date),
        }
    )
    blockers = (
        ExactRule(("a",)),
        ExactRule((f"a[:{prefix}]", "d")),
        ExactRule(("d",)),
    )
    rows, hashes = _few_key_hashes(blockers, frame)
    got = sorted(zip(rows.tolist(), hashes.tolist(), strict=True))
    assert got == _polars_hashes(blockers, frame)


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(_TEXTS, max_size=30), dates=st.lists(_DATES, max_size=30))
def test_small_strings_and_dates_made_in_python_equal_the_polars_ones(
    texts: list[str | None], dates: list[dt.date | None]
) -> None:
    """A few values' strings and date parts, made without a query, are the polars ones."""

    def encoded(small: int, series: pl.Series) -> dict[str, Any]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pair_values, "SMALL_ENCODING", small)
            enc = ColumnEncoding(series)
            out: dict[str, Any] = {"strings": enc.strings.to_list()}
            if series.dtype == pl.Date:
                out.update({k: v.tolist() for k, v in enc.dates.items()})
                out["dtypes"] = [v.dtype.str for v in enc.dates.values()]
            return out

    for series in (
        pl.Series("t", texts, dtype=pl.String),
        pl.Series("d", dates, dtype=pl.Date),
    ):
        assert encoded(10_000, series) == encoded(0, series)


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            st.text(alphabet="ab c\t", max_size=8),
            st.text(alphabet="ab c\t", max_size=8),
        ),
        max_size=20,
    ),
    precise=st.booleans(),
)
def test_token_jaccard_of_a_few_pairs_equals_the_polars_sets(
    pairs: list[tuple[str, str]], precise: bool
) -> None:
    """Python's token sets give polars' similarities, bit for bit, in either precision."""
    left = [a for a, _ in pairs]
    right = [b for _, b in pairs]
    dtype = np.float64 if precise else np.float32
    fast = comparators.token_jaccard(left, right, dtype=dtype)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(comparators, "_PYTHON_SETS", -1)
        slow = comparators.token_jaccard(left, right, dtype=dtype)
    assert fast.dtype == slow.dtype
    np.testing.assert_array_equal(fast, slow)


@pytest.fixture(scope="module")
def lookups(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """A store of most customers, read-only lookups detached from it."""
    path = tmp_path_factory.mktemp("fast") / "master.duckdb"
    with MasterStore.init(path, model_path, term_frequencies=customers) as store:
        store.apply(customers.slice(100))
    with MasterStore.open(path, read_only=True) as store:
        return store.lookups()


def _perturbed(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A record as a sign-up form might send it: fields dropped, padded, cut, recased."""
    out = dict(record)
    out.pop("record_id", None)
    for column, value in record.items():
        if column in ("record_id", "source") or not isinstance(value, str):
            continue
        roll = rng.random()
        if roll < 0.15:
            out[column] = None
        elif roll < 0.25:
            out[column] = f" {value}\t"
        elif roll < 0.35:
            out[column] = value[: max(len(value) - 2, 1)]
        elif roll < 0.45:
            out[column] = value.upper()
        elif roll < 0.5:
            out[column] = ""
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 4),
    top=st.sampled_from([None, 1, 5]),
)
def test_fast_lookup_equals_the_batch_path_on_perturbed_probes(
    customers: pl.DataFrame,  # noqa: F811
    lookups: Any,
    seed: int,
    size: int,
    top: int | None,
) -> None:
    """Stored, unstored and perturbed records: the few-record path answers as the batch path."""
    rng = random.Random(seed)
    rows = customers.to_dicts()
    probes = [_perturbed(rows[rng.randrange(len(rows))], rng) for _ in range(size)]
    args = (lookups.index, lookups.linker, lookups.frequencies, lookups.blockers)
    options: dict[str, Any] = {"top": top, "id_dtype": lookups.id_dtype}
    few = lookup(*args, probes, path="few", **options)
    many = lookup(*args, probes, path="many", **options)
    assert_frame_equal(few, many)
    for i, probe in enumerate(probes):  # one at a time, as a sign-up check asks
        alone = lookups.lookup(probe, top=top)
        expected = many.filter(pl.col("query") == i).with_columns(
            pl.lit(0, dtype=pl.Int64).alias("query")
        )
        assert_frame_equal(alone, expected)


def test_fast_lookup_finds_the_stored_records_themselves(
    customers: pl.DataFrame,  # noqa: F811
    lookups: Any,
) -> None:
    """Stored records looked up raw come back matched to their own cluster, as the batch path has it."""
    stored = customers.slice(100, 60).drop("record_id").to_dicts()
    args = (lookups.index, lookups.linker, lookups.frequencies, lookups.blockers)
    many = lookup(*args, stored, top=1, path="many", id_dtype=lookups.id_dtype)
    assert many.height == len(stored)
    assert many.get_column("is_match").all()
    for i, probe in enumerate(stored):
        assert_frame_equal(
            lookups.lookup(probe, top=1),
            many.filter(pl.col("query") == i).with_columns(
                pl.lit(0, dtype=pl.Int64).alias("query")
            ),
        )
