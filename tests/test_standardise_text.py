import re

import polars as pl
import pytest

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise import TextStandardiser


def run(standardiser, values):
    frame = pl.DataFrame({"x": values}, schema={"x": pl.String})
    return frame.select(standardiser.standardise(pl.col("x")).alias("r")).unnest("r")


CASES = [
    ({}, "  ACME   Ltd.  ", "acme ltd"),
    ({}, "Smith & Sons, Inc.", "smith sons inc"),
    ({}, "O'Reilly\tMedia\n", "oreilly media"),
    ({}, "Café", "café"),
    ({"fold_accents": True}, "Café Straße", "cafe strasse"),
    ({"case": "upper"}, "acme ltd", "ACME LTD"),
    ({"case": "title"}, "acme LTD", "Acme Ltd"),
    ({"case": "keep", "strip_punctuation": False}, " A.C.M.E.  Ltd ", "A.C.M.E. Ltd"),
    (
        {},
        "\uff21\uff22\uff23\u00a0\uff11\uff12\uff13",
        "abc 123",
    ),  # full-width and no-break space
    ({}, "!!!", None),
]


@pytest.mark.parametrize(("options", "raw", "value"), CASES)
def test_text_standardiser(options, raw, value):
    reason = None if value is not None else "empty_after_cleaning"
    assert run(TextStandardiser(**options), [raw]).row(0) == (value, reason)


def test_unknown_case_is_rejected():
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "The 'case' parameter of TextStandardiser must be one of "
            "'lower', 'upper', 'title', 'keep'; got 'snake'."
        ),
    ):
        TextStandardiser(case="snake")  # type: ignore[arg-type]


# --- the ASCII shortcuts change nothing ---------------------------------------

import standardise_reference as reference  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from polars.testing import assert_frame_equal  # noqa: E402

from er_toolkit.standardise import (  # noqa: E402
    AddressStandardiser,
    DateStandardiser,
    NameStandardiser,
    PostcodeStandardiser,
)

_SHORTCUT = [
    TextStandardiser(),
    TextStandardiser(fold_accents=True, case="title"),
    TextStandardiser(strip_punctuation=False, case="keep"),
    NameStandardiser(),
    AddressStandardiser(),
    PostcodeStandardiser(country=None),
    PostcodeStandardiser(country="GB"),
    DateStandardiser(),
]
_CHARS = st.sampled_from(
    [*"aZ09 ,.-/'\t\n\x00\u00a0\u2003\u2019\u2013", "\u00e9", "\u00df", "\u00d8",
     "e\u0301", "\ufb01", "\uff21", "\u216b", "\u00b2", "\u0131", "\u00c6",
     "\uff0f", "\u0661", "\u0661\u0662", "st", "Street", "Rd"]
)  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.none(), st.lists(_CHARS, max_size=10).map("".join)), max_size=25
    )
)
def test_text_shortcuts_equal_the_plain_helpers(values):
    series = pl.Series("raw", values, dtype=pl.String).unique()
    for std in _SHORTCUT:
        got = std._standardise_distinct(series)
        want = reference.standardise_with_old_helpers(std, series)
        assert_frame_equal(got, want, check_exact=True)
