import re

import polars as pl
import pytest

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise import PhoneStandardiser


def run(standardiser, values):
    frame = pl.DataFrame({"x": values}, schema={"x": pl.String})
    return frame.select(standardiser.standardise(pl.col("x")).alias("r")).unnest("r")


GB = [
    ("+44 (0)20 7946 0958", "+442079460958", None),
    ("020 7946 0958", "+442079460958", None),
    ("020-7946-0958", "+442079460958", None),
    ("0044 20 7946 0958", "+442079460958", None),
    ("(020) 7946 0958", "+442079460958", None),
    ("07700 900 123", None, "invalid_phone"),  # Ofcom drama range: not assigned
    ("+1 (415) 555-2671", "+14155552671", None),
    ("+33 1 42 68 53 00", "+33142685300", None),
    ("12", None, "invalid_phone"),
    ("not a phone", None, "unparseable_phone"),
    ("n/a", None, "unparseable_phone"),
    ("  ", None, "blank"),
    (None, None, None),
]
US = [
    ("(415) 555-2671", "+14155552671", None),
    ("415.555.2671", "+14155552671", None),
    ("1-415-555-2671", "+14155552671", None),
    ("+44 20 7946 0958", "+442079460958", None),
    ("555-2671", None, "invalid_phone"),
]


@pytest.mark.parametrize(("raw", "value", "reason"), GB)
def test_gb_numbers(raw, value, reason):
    assert run(PhoneStandardiser(default_region="GB"), [raw]).row(0) == (value, reason)


@pytest.mark.parametrize(("raw", "value", "reason"), US)
def test_us_numbers(raw, value, reason):
    assert run(PhoneStandardiser(default_region="US"), [raw]).row(0) == (value, reason)


def test_possible_check_accepts_unassigned_ranges():
    rows = run(PhoneStandardiser(check="possible"), ["07700 900 123"]).rows()
    assert rows == [("+447700900123", None)]


def test_repeated_values_keep_order_and_count():
    values = ["020 7946 0958", None, "x", "020 7946 0958", "", "+14155552671"] * 50
    out = run(PhoneStandardiser(), values)
    assert out.height == len(values)
    assert out["value"].to_list()[:6] == [
        "+442079460958", None, None, "+442079460958", None, "+14155552671",
    ]  # fmt: skip


def test_unknown_region_is_rejected():
    with pytest.raises(ConfigError, match=r"'default_region' parameter.*got 'UK'"):
        PhoneStandardiser(default_region="UK")


def test_unknown_check_is_rejected():
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "The 'check' parameter of PhoneStandardiser must be one of "
            "'valid', 'possible'; got 'strict'."
        ),
    ):
        PhoneStandardiser(check="strict")  # type: ignore[arg-type]
