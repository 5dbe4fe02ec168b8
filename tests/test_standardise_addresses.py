import polars as pl
import pytest

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise import AddressStandardiser


def run(standardiser, values):
    frame = pl.DataFrame({"x": values}, schema={"x": pl.String})
    return frame.select(standardiser.standardise(pl.col("x")).alias("r")).unnest("r")


RULES = [
    ("12 Main Street Apt 4", "12 main st apt 4", "12"),
    ("12 MAIN ST., APT. #4", "12 main st apt 4", "12"),
    ("Flat 3, 12-14 North Road, St. Albans", "flat 3 12-14 n rd st albans", "12-14"),
    ("Apartment 5B, 221b Baker Street", "apt 5b 221b baker st", "221b"),
    ("1600 Pennsylvania Avenue NW", "1600 pennsylvania ave nw", "1600"),
    ("10 Downing St - London", "10 downing st london", "10"),
    ("Rue de l\u2019Église 7", "rue de leglise 7", None),
    ("Berliner Straße 5", "berliner str 5", None),
    ("Königstraße 12", "konigstrasse 12", None),  # words only, not compounds
    ("The Old Rectory, Church Lane", "the old rectory church ln", None),
    ("PO Box 123", "po box 123", None),
]


@pytest.mark.parametrize(("raw", "value", "number"), RULES)
def test_rules(raw, value, number):
    assert run(AddressStandardiser(), [raw]).row(0) == (value, None, number)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("  ,.; ", "empty_after_cleaning"), (" ", "blank"), (None, None)],
)
def test_rules_nulls(raw, reason):
    assert run(AddressStandardiser(), [raw]).row(0) == (None, reason, None)


US = [
    (
        "123 Main St. Suite #100, Chicago, IL 60601-1234",
        ("123 main st ste 100 chicago il 60601-1234", None, "123", "main st",
         "ste 100", "chicago", "IL", "60601-1234"),
    ),
    (
        "1600 Pennsylvania Avenue Northwest, Washington, DC 20500",
        ("1600 pennsylvania ave nw washington dc 20500", None, "1600",
         "pennsylvania ave nw", None, "washington", "DC", "20500"),
    ),
    ("12 Main Street Apt 4",
     ("12 main st apt 4", None, "12", "main st", "apt 4", None, None, None)),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), US)
def test_usaddress(raw, expected):
    out = run(AddressStandardiser(parser="usaddress"), [raw])
    assert out.columns == [
        "value", "reason", "house_number", "street", "unit", "city", "state", "postcode",
    ]  # fmt: skip
    assert out.row(0) == expected


def test_usaddress_nulls_and_blanks():
    out = run(AddressStandardiser(parser="usaddress"), [None, "", ",,"])
    assert out.select("value", "reason").rows() == [
        (None, None),
        (None, "blank"),
        (None, "empty_after_cleaning"),
    ]


def test_unknown_parser_is_rejected():
    with pytest.raises(ConfigError, match="'parser' parameter of AddressStandardiser"):
        AddressStandardiser(parser="libpostal")  # type: ignore[arg-type]
