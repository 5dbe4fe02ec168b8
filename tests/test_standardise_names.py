import polars as pl
import pytest

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise import NameStandardiser, nickname_table


def run(standardiser, values):
    frame = pl.DataFrame({"x": values}, schema={"x": pl.String})
    return frame.select(standardiser.standardise(pl.col("x")).alias("r")).unnest("r")


# raw, value, reason, title, suffix, canonical
CASES = [
    ("  Dr. José  O'Neil Jr. ", "jose oneil", None, "dr", "jr", "jose oneil"),
    ("BILL SMITH", "bill smith", None, None, None, "william smith"),
    ("Mrs Liz Taylor-Burton", "liz taylor burton", None, "mrs", None,
     "elizabeth taylor burton"),
    ("Prof. Dr. Hans Müller", "hans muller", None, "prof dr", None,
     "johannes muller"),
    ("Smith, John, III", "smith john", None, None, "iii", "smith john"),
    ("Robert Downey Jr. PhD", "robert downey", None, None, "jr phd",
     "robert downey"),
    ("Łukasz Żółć", "lukasz zolc", None, None, None, "lukasz zolc"),
    ("ANNE-MARIE d\u2019Arcy", "anne marie darcy", None, None, None, "anne marie darcy"),
    ("\uff2a\uff4f\uff48\uff4e", "john", None, None, None, "john"),  # full-width letters
    ("Dr", "dr", None, None, None, "dr"),  # a title alone is kept as the name
    ("Jr", "jr", None, None, None, "jr"),
    ("Mr. Ed Jones Sr", "ed jones", None, "mr", "sr", "edward jones"),
    ("Señor Paco Pérez", "senor paco perez", None, None, None,
     "senor francisco perez"),
    ("12345", None, "no_letters", None, None, None),
    ("   ", None, "blank", None, None, None),
    ("", None, "blank", None, None, None),
    (None, None, None, None, None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "value", "reason", "title", "suffix", "canonical"), CASES
)
def test_name_standardiser(raw, value, reason, title, suffix, canonical):
    row = run(NameStandardiser(), [raw]).row(0)
    assert row == (value, reason, title, suffix, canonical)


def test_without_nicknames_there_is_no_canonical_part():
    std = NameStandardiser(nicknames=False)
    assert std.parts == ("title", "suffix")
    assert run(std, ["Bill"]).columns == ["value", "reason", "title", "suffix"]


def test_custom_titles_and_no_suffixes():
    std = NameStandardiser(titles=("herr",), suffixes=())
    assert run(std, ["Herr Dr Klaus Jr"]).row(0)[:4] == (
        "dr klaus jr",
        None,
        "herr",
        None,
    )


def test_bad_titles_are_rejected():
    with pytest.raises(ConfigError, match="'titles' parameter of NameStandardiser"):
        NameStandardiser(titles=("Dr.",))


def test_nickname_table_is_large_and_clean():
    table = nickname_table()
    assert len(table) >= 200
    assert table["bill"] == "william"
    assert table["liz"] == "elizabeth"
    assert table["sepp"] == "josef"
    assert table["pepe"] == "jose"
    assert all(k == k.lower() and k.isascii() for k in table)
    assert all(k != v for k, v in table.items())
