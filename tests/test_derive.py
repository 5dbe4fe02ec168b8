"""Derived columns: each kind, declarations, order, and the Linker applying them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit.config import LinkageConfig
from er_toolkit.derive import (
    DERIVE_KINDS,
    Case,
    Coalesce,
    Concat,
    Copy,
    Extract,
    NamePart,
    NullIf,
    Replace,
    SortedTokens,
    Split,
    apply_derivations,
    as_derivations,
    derivation_from_dict,
    derived_inputs,
    register_derivation,
)
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker


def _derive(derivation: Any, **columns: list[Any]) -> list[Any]:
    frame = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))
    return apply_derivations(frame, [derivation]).get_column(derivation.name).to_list()


@pytest.mark.parametrize(
    ("derivation", "columns", "expected"),
    [
        (Copy(name="o", column="a"), {"a": [" x ", "", None]}, ["x", None, None]),
        (
            Concat(name="o", columns=("a", "b"), separator="|"),
            {"a": ["x", None, " ", None], "b": ["y", "z", "w", None]},
            ["x|y", "z", "w", None],
        ),
        (
            Split(name="o", column="a", separator=",", index=1),
            {"a": ["x,y,z", "x", None]},
            ["y", None, None],
        ),
        (
            Split(name="o", column="a", index=-1),
            {"a": ["ann  marie smith", "solo"]},
            ["smith", "solo"],
        ),
        (
            NamePart(name="o", column="a", part="first"),
            {"a": ["SMITH, John", "John Smith", "Jan van der Berg", "Cher", " , x"]},
            ["John", "John", "Jan", None, "x"],
        ),
        (
            NamePart(name="o", column="a", part="last"),
            {"a": ["SMITH, John", "John Smith", "Jan van der Berg", "Cher", "a ,"]},
            ["SMITH", "Smith", "van der Berg", "Cher", "a"],
        ),
        (
            NamePart(name="o", column="a", part="last", order="last_first"),
            {"a": ["Smith John", "van Dyke Mary", "Smith, John"]},
            ["Smith", "van Dyke", "Smith"],
        ),
        (
            NamePart(name="o", column="a", part="first", order="first_last"),
            {"a": ["Smith, John", "Mary Ann Jones"]},
            ["Smith", "Mary Ann"],
        ),
        (
            Extract(name="o", column="a", pattern=r"(\d{3})-(\d+)", group=2),
            {"a": ["tel 020-7946", "none"]},
            ["7946", None],
        ),
        (
            Extract(name="o", column="a", pattern=r"\S*\d\S*", all=True, separator=","),
            {"a": ["kdl-40 tv 2011", "tv"]},
            ["kdl-40,2011", None],
        ),
        (
            Replace(
                name="o", column="a", pattern=r"^([1-9]\d{10,14})$", replacement="+$1"
            ),
            {"a": ["442079460958", "02079460958"]},
            ["+442079460958", "02079460958"],
        ),
        (
            Replace(name="o", column="a", pattern=".", replacement="", literal=True),
            {"a": ["a.b.c", "..."]},
            ["abc", None],
        ),
        (Case(name="o", column="a", case="upper"), {"a": ["Straße"]}, ["STRASSE"]),
        (Case(name="o", column="a", case="title"), {"a": ["mary ANN"]}, ["Mary Ann"]),
        (
            SortedTokens(name="o", column="a", min_length=2),
            {"a": ["smith john j", "bb a bb", "x"]},
            ["john smith", "bb", None],
        ),
        (
            SortedTokens(name="o", column="a", unique=False),
            {"a": ["b a b"]},
            ["a b b"],
        ),
        (
            NullIf(name="o", column="a", values=("N/A", "unknown"), pattern="0+|9+"),
            {"a": ["n/a", "UNKNOWN", "000", "0120", "x"]},
            [None, None, None, "0120", "x"],
        ),
        (
            NullIf(name="o", column="a", values=("N/A",), case_sensitive=True),
            {"a": ["n/a", "N/A"]},
            ["n/a", None],
        ),
        (
            Coalesce(name="o", columns=("a", "b", "c")),
            {"a": [None, " ", "x"], "b": [None, "y", "z"], "c": ["w", "v", "u"]},
            ["w", "y", "x"],
        ),
    ],
)
def test_each_kind(
    derivation: Any, columns: dict[str, list[Any]], expected: list[Any]
) -> None:
    assert _derive(derivation, **columns) == expected


def test_derivations_see_earlier_ones_and_may_rewrite_in_place() -> None:
    frame = pl.DataFrame({"full_name": ["SMITH, John", None], "first": [None, "Ann"]})
    out = apply_derivations(
        frame,
        [
            Copy(name="full_name_raw", column="full_name"),
            NamePart(name="split_first", column="full_name", part="first"),
            Coalesce(name="first", columns=("first", "split_first")),
            Case(name="full_name", column="full_name", case="lower"),
        ],
    )
    assert out.get_column("first").to_list() == ["John", "Ann"]
    assert out.get_column("full_name").to_list() == ["smith, john", None]
    assert out.get_column("full_name_raw").to_list() == ["SMITH, John", None]
    assert frame.columns == ["full_name", "first"]  # the caller's frame is untouched


def test_derived_inputs_are_columns_no_earlier_derivation_wrote() -> None:
    derivations = [
        NamePart(name="f", column="full", part="first"),
        Coalesce(name="first", columns=("first", "f")),
        Concat(name="key", columns=("first", "surname")),
    ]
    assert derived_inputs(derivations) == ("full", "first", "surname")


def test_a_missing_column_is_named() -> None:
    with pytest.raises(
        SchemaError,
        match=r"\[\[derive\]\] table number 2 \(case -> 'b'\) reads column\(s\) "
        r"\['nope'\], which the records lack",
    ):
        apply_derivations(
            pl.DataFrame({"a": ["x"]}),
            [Copy(name="c", column="a"), Case(name="b", column="nope")],
        )


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            {"name": "a", "kind": "nope"},
            r"'kind' of \[\[derive\]\] .* must be one of \[",
        ),
        (
            {"name": "a", "kind": "copy", "column": "b", "extra": 1},
            r"Unknown option\(s\) \['extra'\] .* valid options are \['column', 'name'\]",
        ),
        ({"name": "a", "kind": "copy"}, r"of kind 'copy' needs \['column'\]"),
        (
            {"name": "a", "kind": "extract", "column": "b", "pattern": "(?<=x)y"},
            r"'pattern' of a extract derivation must be a regular expression polars "
            r"can compile",
        ),
        (
            {
                "name": "a",
                "kind": "extract",
                "column": "b",
                "pattern": "x",
                "all": True,
                "group": 1,
            },
            r"all = true keeps whole matches; its 'group' must be 0",
        ),
        (
            {"name": "a", "kind": "name_part", "column": "b", "part": "middle"},
            r"'part' of a name_part derivation must be 'first' or 'last'; got 'middle'",
        ),
        (
            {"name": "a", "kind": "case", "column": "b", "case": "snake"},
            r"'case' of a case derivation must be one of",
        ),
        (
            {"name": "a", "kind": "null_if", "column": "b"},
            r"needs 'values', a 'pattern'",
        ),
        ({"name": "a", "kind": "concat", "columns": "b"}, r"non-empty list of column"),
        (
            {"name": "a", "kind": "split", "column": "b", "separator": ""},
            r"'separator' of a split derivation must be a non-empty string",
        ),
        (
            {"name": "a", "kind": "sorted_tokens", "column": "b", "min_length": 0},
            r"'min_length' of a sorted_tokens derivation must be an int >= 1",
        ),
    ],
)
def test_bad_declarations_say_what_was_expected(
    spec: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        as_derivations([spec])


def test_derive_must_be_an_array_of_tables() -> None:
    with pytest.raises(ConfigError, match=r"array of tables"):
        as_derivations({"name": "a", "kind": "copy", "column": "b"})  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(DERIVE_KINDS))
def test_every_kind_round_trips_through_json(kind: str) -> None:
    examples: dict[str, dict[str, Any]] = {
        "copy": {"column": "a"},
        "concat": {"columns": ["a", "b"], "separator": "-"},
        "split": {"column": "a", "separator": ",", "index": -1},
        "name_part": {"column": "a", "part": "last", "particles": ["van"]},
        "extract": {"column": "a", "pattern": r"\d+", "all": True},
        "replace": {"column": "a", "pattern": "x", "replacement": "y"},
        "case": {"column": "a", "case": "upper"},
        "sorted_tokens": {"column": "a", "min_length": 2},
        "null_if": {"column": "a", "values": ["n/a"], "pattern": "0+"},
        "coalesce": {"columns": ["a", "b"]},
    }
    derivation = derivation_from_dict({"name": "out", "kind": kind, **examples[kind]})
    again = derivation_from_dict(json.loads(json.dumps(derivation.to_dict())))
    assert again == derivation


def test_a_registered_kind_must_have_a_kind() -> None:
    class Nameless:
        kind = ""

    with pytest.raises(ConfigError, match="non-empty string 'kind'"):
        register_derivation(Nameless)
    with pytest.raises(ConfigError, match="already registered to Copy"):

        class Other:
            kind = "copy"

        register_derivation(Other)


_WORD = st.text(alphabet="abcxyz", min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(words=st.lists(_WORD, max_size=6), order=st.randoms())
def test_sorted_tokens_ignore_word_order(words: list[str], order: Any) -> None:
    shuffled = list(words)
    order.shuffle(shuffled)
    rule = SortedTokens(name="o", column="a")
    left = _derive(rule, a=[" ".join(words)])
    right = _derive(rule, a=["  ".join(shuffled)])
    assert left == right
    assert left == [" ".join(sorted(set(words))) or None]


@settings(max_examples=60, deadline=None)
@given(first=st.lists(_WORD, min_size=1, max_size=3), last=_WORD)
def test_name_parts_of_both_layouts_agree(first: list[str], last: str) -> None:
    given_names = " ".join(first)
    packed = f"{last.upper()}, {given_names}"
    plain = f"{given_names} {last}"
    parts = [
        NamePart(name="f", column="n", part="first"),
        NamePart(name="s", column="n", part="last"),
    ]
    out = apply_derivations(pl.DataFrame({"n": [packed, plain]}), parts)
    assert out.get_column("f").to_list() == [given_names, given_names]
    assert out.get_column("s").str.to_lowercase().to_list() == [last, last]


# --------------------------------------------------------------------------- #
# in the config and the Linker
# --------------------------------------------------------------------------- #
_CONFIG = """
name = "people"
link_type = "link_and_dedupe"

[[derive]]
name = "split_first"
kind = "name_part"
column = "full_name"
part = "first"

[[derive]]
name = "split_last"
kind = "name_part"
column = "full_name"
part = "last"

[[derive]]
name = "first_name"
kind = "coalesce"
columns = ["first_name", "split_first"]

[[derive]]
name = "surname"
kind = "coalesce"
columns = ["surname", "split_last"]

[[derive]]
name = "surname_raw"
kind = "copy"
column = "surname"

[standardise]
surname = "name"

[blocking]
rules = [["surname"]]

[model]
training_rules = [["surname"]]
u_sample_size = 1000

[[comparisons]]
name = "first_name"
column = "first_name"
levels = [{ kind = "exact" }]

[[comparisons]]
name = "surname"
column = "surname"
levels = [{ kind = "exact" }]
"""


def _config(tmp_path: Path) -> LinkageConfig:
    path = tmp_path / "people.toml"
    path.write_text(_CONFIG)
    return LinkageConfig.from_toml(path)


def test_config_reads_writes_and_asks_only_for_source_columns(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert [d.kind for d in config.derive] == [
        "name_part",
        "name_part",
        "coalesce",
        "coalesce",
        "copy",
    ]
    assert config.columns == ()  # every compared column is derived
    assert config.derive_inputs == ("full_name", "first_name", "surname")
    again = LinkageConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again.derive == config.derive


def test_linker_derives_before_standardising_and_sources_may_lack_inputs(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    crm = pl.DataFrame(
        {"record_id": [1, 2], "first_name": ["Ann", "Bob"], "surname": ["O'Neil", "Li"]}
    )
    support = pl.DataFrame({"record_id": [1], "full_name": ["O'NEIL, Ann"]})
    prepared = Linker(config).prepare(
        [Source("crm", crm), Source("support", support)], keep_raw=True
    )
    records = prepared.records
    assert records.get_column("first_name").to_list() == ["Ann", "Bob", "Ann"]
    # standardised after deriving; the raw copy is kept beside it
    assert records.get_column("surname").to_list() == ["oneil", "li", "oneil"]
    assert records.get_column("surname_raw").to_list() == ["O'Neil", "Li", "O'NEIL"]
    assert prepared.raw is not None
    assert prepared.raw.get_column("surname").to_list() == ["O'Neil", "Li", "O'NEIL"]


def test_linker_refuses_a_derive_input_no_source_has(tmp_path: Path) -> None:
    config = _config(tmp_path)
    crm = pl.DataFrame({"record_id": [1], "first_name": ["Ann"], "surname": ["Li"]})
    with pytest.raises(SchemaError, match=r"reads column\(s\) \['full_name'\]"):
        Linker(config).prepare([Source("crm", crm)])


def test_hard_benchmark_config_fills_packed_names_and_nulls_placeholders() -> None:
    from pathlib import Path

    from er_toolkit.config import LinkageConfig
    from er_toolkit.io import Source
    from er_toolkit.pipeline import Linker

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "configs"
    config = LinkageConfig.from_toml(path / "compare_er_toolkit_hard.toml")
    again = LinkageConfig.from_dict(config.to_dict())
    assert again.derive == config.derive and again.placeholders == config.placeholders
    assert again.clustering == config.clustering
    assert config.clustering.min_linkage_probability == 0.4
    records = pl.DataFrame(
        {
            "record_id": ["a", "b", "c"],
            "entity_id": [1, 1, 2],
            "first_name": ["william", None, "ann"],
            "surname": ["smith", None, "lee"],
            "full_name": [None, "SMITH, Bill", None],
            "date_of_birth": ["1980-02-01", "1900-01-01", "1975-05-05"],
            "email": ["w@x.org", "test@test.com", "ann@y.org"],
            "phone": ["+442079460958", "+44000000000", "+442079460000"],
            "postcode": ["SW1A 1AA", "SW1A 1AA", "EC1A 1BB"],
            "city": ["london", "london", "london"],
        }
    )
    prepared = Linker(config).prepare([Source("customers", records)]).records
    assert prepared["surname"].to_list() == ["smith", "smith", "lee"]
    # the packed nickname reaches the same canonical first name
    assert prepared["first_name_canonical"].to_list() == ["william", "william", "ann"]
    assert prepared["name_key"].to_list() == ["smith william", "bill smith", "ann lee"]
    # shape rules: junk e-mail and phone are null; one 1900-01-01 is no placeholder
    assert prepared["email"].to_list() == ["w@x.org", None, "ann@y.org"]
    assert prepared["phone"][1] is None
    # the phone's last nine digits, whatever its country prefix; the junk
    # number's tail is a placeholder too
    assert prepared["phone_tail"].to_list() == ["079460958", None, "079460000"]


def test_hard_benchmark_household_is_one_piece_of_evidence() -> None:
    """Surname and place agree in one joint level; no phone still counts the postcode."""
    from pathlib import Path

    from er_toolkit.config import LinkageConfig
    from er_toolkit.io import Source
    from er_toolkit.pipeline import Linker

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "configs"
    config = LinkageConfig.from_toml(path / "compare_er_toolkit_hard.toml")
    household = next(c for c in config.comparisons if c.name == "household")
    labels = [level.label for level in household.levels]
    records = pl.DataFrame(
        {
            "record_id": ["a", "b", "c", "d", "e"],
            "entity_id": [1, 2, 3, 3, 4],
            "first_name": ["john", "mary", "ann", "ann", "bob"],
            "surname": ["smith", "smith", "lee", "lee", "ray"],
            "full_name": [None] * 5,
            "date_of_birth": ["1970-01-02", "1972-03-04", None, "1980-05-06", None],
            "email": ["j@x.org", "m@x.org", None, "a@y.org", None],
            # the same number, written with two country prefixes
            "phone": ["+442079460958", "+332079460958", None, None, None],
            "postcode": ["SW1A 1AA", "SW1A 1AA", "EC1A 1BB", "EC1A 1BB", None],
            "city": ["london", "london", "london", "london", None],
        }
    )
    prepared = Linker(config).prepare([Source("customers", records)]).records
    pairs = pl.DataFrame(
        {"_row_l": [0, 2, 0], "_row_r": [1, 3, 4]},
        schema={"_row_l": pl.UInt32, "_row_r": pl.UInt32},
    )
    gamma = Linker(config).compare(prepared, pairs)["gamma_household"].to_list()
    top = len(household.levels)

    def level(g: int) -> str:
        return labels[top - g]

    # one household: surname, phone (whatever its prefix) and postcode at once
    assert gamma[0] == top
    assert "phone_tail" in level(gamma[0]) and "postcode" in level(gamma[0])
    # no phones: the shared surname and postcode still agree, not null
    assert level(gamma[1]) == "(exact) & (postcode exact)"
    # nothing of the place known on one side and another surname: else
    assert gamma[2] == 0
