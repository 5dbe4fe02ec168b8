"""What the memory savings at 1M records keep equal: encodings without their trimmed copy, scores cut as views."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit.compare.pair_values import SMALL_ENCODING, ColumnEncoding
from er_toolkit.score.fellegi_sunter import _scored_frame


def _values(n: int) -> pl.Series:
    rng = np.random.default_rng(0)
    words = np.array(
        [" ann@x.org", "bob@y.net ", "", "cy@z.com", "2024-01-0"], dtype=object
    )
    picked = [
        str(w) + (str(i % 7) if i % 3 else "")
        for i, w in enumerate(rng.choice(words, n))
    ]
    picked[5] = None  # type: ignore[call-overload]
    return pl.Series("v", picked, dtype=pl.String)


def test_codes_drop_the_trimmed_copy_and_later_readers_get_the_same_values() -> None:
    values = _values(SMALL_ENCODING + 2_000)  # the polars path
    kept = ColumnEncoding(values)
    expected_strings = kept.strings.to_list()
    expected_part = kept.part("^[^@]+").strings.to_list()
    expected_codes = kept.codes
    lean = ColumnEncoding(values)
    codes = lean.codes
    assert "strings" not in lean.__dict__
    np.testing.assert_array_equal(codes, expected_codes)
    assert lean.part("^[^@]+").strings.to_list() == expected_part
    assert "strings" not in lean.__dict__  # the part trimmed again, kept nothing
    assert lean.strings.to_list() == expected_strings
    uniques = lean.uniques_series.to_list()
    assert [None if c < 0 else uniques[c] for c in codes] == expected_strings


def test_text_dates_after_codes_read_as_before() -> None:
    days = pl.Series(
        "d",
        [
            f"2020-01-{1 + i % 28:02d}" if i % 5 else " "
            for i in range(SMALL_ENCODING + 600)
        ],
    )
    first = ColumnEncoding(days).dates
    lean = ColumnEncoding(days)
    _ = lean.codes
    for key, array in lean.dates.items():
        np.testing.assert_array_equal(array, first[key])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=6),
    st.booleans(),
)
def test_scores_cut_to_the_pairs_chunks_keep_every_value(
    chunks: list[int], with_null: bool
) -> None:
    n = sum(chunks)
    rows = pl.concat(
        [pl.Series("_row_l", np.arange(k, dtype=np.uint32)) for k in chunks],
        rechunk=False,
    )
    values = list(np.linspace(0.0, 1.0, n))
    if with_null:
        values[n // 2] = None
    scores = pl.Series("match_probability", values, dtype=pl.Float64)
    out = _scored_frame([rows], scores)
    assert out.get_column("match_probability").chunk_lengths() == chunks
    assert out.get_column("match_probability").to_list() == scores.to_list()
    assert out.get_column("_row_l").to_list() == rows.to_list()
