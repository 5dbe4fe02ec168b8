"""A few values run through a standardiser's query built once: the same results as building it."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from benchmarks.synthetic import generate_customers
from er_toolkit.standardise import (
    AddressStandardiser,
    DateStandardiser,
    NameStandardiser,
    PostcodeStandardiser,
    TextStandardiser,
    base,
)
from er_toolkit.standardise.base import standardise_values

STEPS = {
    "first_name": NameStandardiser(),
    "surname": NameStandardiser(nicknames=False),
    "date_of_birth": DateStandardiser(),
    "street_address": AddressStandardiser(),
    "city": TextStandardiser(fold_accents=True),
    "postcode": PostcodeStandardiser(country="any"),
}


def _built(
    step: object, values: pl.Series, monkeypatch: pytest.MonkeyPatch
) -> pl.DataFrame:
    with monkeypatch.context() as patch:
        patch.setattr(base, "PLAN_MAX_ROWS", 0)  # the query built per call
        return standardise_values(step, values, distinct=True)  # type: ignore[arg-type]


def test_a_few_customer_values_give_what_the_built_query_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customers = generate_customers(300, seed=3, n_sources=4)
    for column, step in STEPS.items():
        values = (
            customers.get_column(column).cast(pl.String).unique(maintain_order=True)
        )
        for start in range(0, 60, 7):  # the plan is reused with other values each time
            part = values.slice(start, 1 + start % base.PLAN_MAX_ROWS)
            planned = standardise_values(step, part, distinct=True)
            assert_frame_equal(planned, _built(step, part, monkeypatch))
    assert base._PLANS  # the plans were made and kept


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.text(max_size=12)),
        min_size=0,
        max_size=base.PLAN_MAX_ROWS,
        unique=True,
    ),
    st.sampled_from(sorted(STEPS)),
)
def test_planned_equals_built_on_any_text(
    values: list[str | None], column: str
) -> None:
    step = STEPS[column]
    series = pl.Series("raw", values, dtype=pl.String)
    planned = standardise_values(step, series, distinct=True)
    limit = base.PLAN_MAX_ROWS
    base.PLAN_MAX_ROWS = 0
    try:
        built = standardise_values(step, series, distinct=True)
    finally:
        base.PLAN_MAX_ROWS = limit
    assert_frame_equal(planned, built)


def test_an_unhashable_build_is_built_per_call() -> None:
    def build(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns(value=pl.col("raw").str.to_uppercase(), reason=None)

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, frame: pl.LazyFrame) -> pl.LazyFrame:
            return build(frame)

    schema = {"value": pl.String, "reason": pl.String}
    before = len(base._PLANS)
    out = base.columnwise_frame(pl.Series(["ab"]), Unhashable(), schema=schema)
    assert out.rows() == [("AB", None)]
    assert len(base._PLANS) == before
