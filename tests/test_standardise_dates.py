import datetime as dt

import polars as pl
import pytest

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise import DateStandardiser


def run(standardiser, values):
    frame = pl.DataFrame({"x": values}, schema={"x": pl.String})
    return frame.select(standardiser.standardise(pl.col("x")).alias("r")).unnest("r")


D = dt.date
# raw, value (dayfirst), reason, ambiguous
CASES = [
    ("2020-04-03", D(2020, 4, 3), None, False),
    ("2020/4/3", D(2020, 4, 3), None, False),
    ("20200403", D(2020, 4, 3), None, False),
    ("2020-04-03T10:15:00Z", D(2020, 4, 3), None, False),
    ("2020-04-03 10:15:00.123456", D(2020, 4, 3), None, False),
    ("03/04/2020", D(2020, 4, 3), None, True),
    ("3.4.2020", D(2020, 4, 3), None, True),
    ("04/04/2020", D(2020, 4, 4), None, False),
    ("13/04/2020", D(2020, 4, 13), None, False),
    ("13-04-85", D(1985, 4, 13), None, False),
    ("13-04-05", D(2005, 4, 13), None, False),
    ("3 April 2020", D(2020, 4, 3), None, False),
    ("Jan. 3rd, 2020", D(2020, 1, 3), None, False),
    ("April 3, 2020", D(2020, 4, 3), None, False),
    ("01-JAN-1990", D(1990, 1, 1), None, False),
    ("5 Sept 1999", D(1999, 9, 5), None, False),
    ("3 MAR 20", D(2020, 3, 3), None, False),
    ("29/02/2024", D(2024, 2, 29), None, False),
    ("31/02/2020", None, "impossible_date", None),
    ("29/02/2021", None, "impossible_date", None),
    ("2020-13-01", None, "impossible_date", None),
    ("12/13/2020", None, "impossible_date", None),
    ("0001-01-01", None, "out_of_range_date", None),
    ("yesterday", None, "unparseable_date", None),
    ("31st of Febtober", None, "unparseable_date", None),
    ("", None, "blank", None),
    (None, None, None, None),
]


@pytest.mark.parametrize(("raw", "value", "reason", "ambiguous"), CASES)
def test_dayfirst(raw, value, reason, ambiguous):
    assert run(DateStandardiser(), [raw]).row(0) == (value, reason, ambiguous)


@pytest.mark.parametrize(
    ("raw", "value", "reason", "ambiguous"),
    [
        ("03/04/2020", D(2020, 3, 4), None, True),
        ("12/13/2020", D(2020, 12, 13), None, False),
        ("13/04/2020", None, "impossible_date", None),
        ("2020-04-03", D(2020, 4, 3), None, False),
    ],
)
def test_monthfirst(raw, value, reason, ambiguous):
    out = run(DateStandardiser(dayfirst=False), [raw]).row(0)
    assert out == (value, reason, ambiguous)


def test_output_is_a_date_column():
    assert run(DateStandardiser(), ["2020-01-01"]).schema["value"] == pl.Date


def test_date_typed_input():
    frame = pl.DataFrame({"x": [D(2020, 1, 2), None]})
    out = frame.select(DateStandardiser().standardise(pl.col("x")).alias("r"))
    assert out.unnest("r").rows() == [(D(2020, 1, 2), None, False), (None, None, None)]


def test_custom_formats_and_range():
    std = DateStandardiser(formats=("%Y %j",), min_year=2000, max_year=2030)
    assert run(std, ["2020 032", "1999-01-01", "3 April 2020"]).rows() == [
        (D(2020, 2, 1), None, False),
        (None, "out_of_range_date", None),
        (None, "unparseable_date", None),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"formats": "%d %B %Y"}, "'formats' parameter of DateStandardiser"),
        ({"pivot_year": 100}, r"'pivot_year' parameter .* \[0, 99\]; got 100"),
        ({"min_year": 2000, "max_year": 1900}, "'min_year' parameter"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        DateStandardiser(**options)
