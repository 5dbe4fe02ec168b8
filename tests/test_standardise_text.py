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
