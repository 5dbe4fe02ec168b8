import polars as pl
import pytest

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise import PostcodeStandardiser


def run(standardiser, values):
    frame = pl.DataFrame({"x": values}, schema={"x": pl.String})
    return frame.select(standardiser.standardise(pl.col("x")).alias("r")).unnest("r")


CASES = [
    ("GB", "sw1a1aa", "SW1A 1AA"),
    ("GB", " SW1A  1AA ", "SW1A 1AA"),
    ("GB", "ec1a-1bb", "EC1A 1BB"),
    ("GB", "m11ae", "M1 1AE"),
    ("GB", "B33 8TH", "B33 8TH"),
    ("GB", "gir0aa", "GIR 0AA"),
    ("GB", "SW1A", None),
    ("GB", "12345", None),
    ("US", "02134-1234", "02134-1234"),
    ("US", "021341234", "02134-1234"),
    ("US", " 02134 ", "02134"),
    ("US", "2134", None),
    ("US", "SW1A 1AA", None),
    ("CA", "k1a0b1", "K1A 0B1"),
    ("NL", "1234ab", "1234 AB"),
    ("IE", "d02x285", "D02 X285"),
    ("DE", "10115", "10115"),
    ("DE", "1011", None),
    ("SE", "11455", "114 55"),
    ("PL", "00950", "00-950"),
    ("JP", "100-0001", "100-0001"),
    (None, " sw1a   1aa ", "SW1A 1AA"),
]


@pytest.mark.parametrize(("country", "raw", "value"), CASES)
def test_postcode_standardiser(country, raw, value):
    reason = None if value is not None else "invalid_postcode"
    assert run(PostcodeStandardiser(country=country), [raw]).row(0) == (value, reason)


def test_blank_and_null():
    rows = run(PostcodeStandardiser(), [" ", None]).rows()
    assert rows == [(None, "blank"), (None, None)]


def test_unknown_country_is_rejected():
    with pytest.raises(ConfigError, match=r"'country' parameter.*got 'UK'"):
        PostcodeStandardiser(country="UK")


def test_any_country_is_the_toml_spelling_of_none():
    from er_toolkit.standardise import apply_standardisers, standardiser_from_dict

    std = standardiser_from_dict({"kind": "postcode", "country": "any"})
    assert std.country is None  # type: ignore[attr-defined]
    frame, _ = apply_standardisers(
        pl.DataFrame({"p": [" 75010 ", "sw1a 1aa", "46-455"]}), {"p": std}
    )
    assert frame.get_column("p").to_list() == ["75010", "SW1A 1AA", "46-455"]
