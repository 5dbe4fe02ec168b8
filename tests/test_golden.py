"""Tests for er_toolkit.golden: survivorship rules, lineage, config."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from er_toolkit import golden
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.golden import (
    RULE_KINDS,
    TIE_BREAK,
    UNANIMOUS,
    BestQuality,
    GoldenConfig,
    Longest,
    Max,
    Min,
    MostComplete,
    MostFrequent,
    MostRecent,
    SourcePriority,
    SqlRule,
    SurvivorshipRule,
    build_golden,
    chain_from_dict,
    chain_to_dict,
    golden_lineage,
    rule_from_dict,
)
from er_toolkit.io import write_parquet_atomic


def one_cluster(
    values: list[Any],
    rules: Any,
    *,
    sources: list[str] | None = None,
    extra: dict[str, list[Any]] | None = None,
    dtype: Any = None,
) -> dict[str, Any]:
    """Master attribute ``x`` of one cluster of records "1".."n"; return its row."""
    n = len(values)
    records = pl.DataFrame(
        {
            "record_id": [str(i + 1) for i in range(n)],
            "source": sources or ["crm"] * n,
            "x": pl.Series(values, dtype=dtype, strict=False),
            **(extra or {}),
        }
    )
    clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    out = build_golden(records, clusters, {"x": rules}, default=None)
    assert out.height == 1
    row = out.row(0, named=True)
    return {
        "value": row["x"],
        "record": row["x__record_id"],
        "source": row["x__source"],
        "rule": row["x__rule"],
    }


TS = {"ts": ["2024-01-01", "2024-05-01", None, "2023-01-01"]}

CASES: list[tuple[str, list[Any], Any, dict[str, Any], tuple[Any, Any, Any]]] = [
    # id, values, rule, extra options for one_cluster, (value, record, rule)
    ("frequent", ["a", "b", "b"], MostFrequent(), {}, ("b", "2", "most_frequent")),
    ("frequent-tie", ["b", "a"], MostFrequent(), {}, ("b", "1", TIE_BREAK)),
    ("frequent-nulls", [None, None, "b"], MostFrequent(), {}, ("b", "3", UNANIMOUS)),
    ("frequent-blank", ["  ", "", "b"], MostFrequent(), {}, ("b", "3", UNANIMOUS)),
    ("all-null", [None, None], MostFrequent(), {}, (None, None, None)),
    ("agree", ["a", "a"], MostFrequent(), {}, ("a", "1", UNANIMOUS)),
    (
        "recent",
        ["a", "b", "c", "d"],
        MostRecent(timestamp="ts"),
        {"extra": TS},
        ("b", "2", "most_recent"),
    ),
    (
        "recent-null-value",
        ["a", None, "c", "d"],
        MostRecent(timestamp="ts"),
        {"extra": TS},
        ("a", "1", "most_recent"),
    ),
    (
        "recent-null-time-loses",
        ["a", "a", "c", None],
        MostRecent(timestamp="ts"),
        {"extra": {"ts": [None, None, "2000-01-01", "2024-01-01"]}},
        ("c", "3", "most_recent"),
    ),
    (
        "recent-tie-goes-to-frequent",
        ["b", "a", "a"],
        MostRecent(timestamp="ts"),
        {"extra": {"ts": [dt.date(2024, 1, 1)] * 3}},
        ("a", "2", TIE_BREAK),
    ),
    ("longest", ["ab", "abcd", "abc"], Longest(), {}, ("abcd", "2", "longest")),
    ("longest-tie", ["ba", "ab"], Longest(), {}, ("ba", "1", TIE_BREAK)),
    (
        "complete",
        ["a", "b", "c"],
        MostComplete(columns=("x", "y")),
        {"extra": {"y": [None, "y", "y"]}},
        ("b", "2", "most_complete"),
    ),
    (
        "source-priority",
        ["a", "b", "c"],
        SourcePriority(sources=("erp", "crm")),
        {"sources": ["web", "crm", "erp"]},
        ("c", "3", "source_priority"),
    ),
    (
        "source-unlisted-last",
        ["a", "b"],
        SourcePriority(sources=("erp",)),
        {"sources": ["crm", "web"]},
        ("a", "1", TIE_BREAK),
    ),
    (
        "source-priority-null-value",
        [None, "b"],
        SourcePriority(sources=("erp", "crm")),
        {"sources": ["erp", "crm"]},
        ("b", "2", UNANIMOUS),
    ),
    ("max", [3, 10, None, 2], Max(), {}, (10, "2", "max")),
    ("min", [3, 10, None, 2], Min(), {}, (2, "4", "min")),
    ("max-nan-missing", [1.0, math.nan], Max(), {}, (1.0, "1", UNANIMOUS)),
    ("max-text", ["apple", "pear"], Max(), {}, ("pear", "2", "max")),
    (
        "min-date",
        [dt.date(2020, 1, 2), dt.date(2019, 5, 1)],
        Min(),
        {},
        (dt.date(2019, 5, 1), "2", "min"),
    ),
    (
        "quality",
        ["a", "b", None],
        BestQuality(quality="q"),
        {"extra": {"q": [0.2, 0.5, 0.9]}},
        ("b", "2", "best_quality"),
    ),
    (
        "quality-null-and-nan-lose",
        ["a", "b", "c"],
        BestQuality(quality="q"),
        {"extra": {"q": [None, math.nan, 0.1]}},
        ("c", "3", "best_quality"),
    ),
    (
        "sql-select",
        ["jo@gmail.com", "jo@acme.com"],
        SqlRule(expression="x NOT LIKE '%gmail%'"),
        {},
        ("jo@acme.com", "2", "sql"),
    ),
    (
        "sql-lowest",
        ["bbb", "a", "cc"],
        SqlRule(expression="LENGTH(x)", prefer="lowest"),
        {},
        ("a", "2", "sql"),
    ),
    (
        "sql-window",
        ["a", "b", "b"],
        SqlRule(expression="COUNT(*) OVER (PARTITION BY cluster_id, x)"),
        {},
        ("b", "2", "sql"),
    ),
    (
        "sql-source",
        ["a", "b"],
        SqlRule(expression="CASE WHEN source = 'erp' THEN 1 ELSE 0 END"),
        {"sources": ["crm", "erp"]},
        ("b", "2", "sql"),
    ),
    (
        "chain-second-decides",
        ["a", "b", "c"],
        (MostRecent(timestamp="ts"), SourcePriority(sources=("erp",))),
        {"extra": {"ts": [1, 5, 5]}, "sources": ["erp", "crm", "erp"]},
        ("c", "3", "source_priority"),
    ),
    (
        "chain-first-decides",
        ["a", "b", "c"],
        [MostRecent(timestamp="ts"), SourcePriority(sources=("erp",))],
        {"extra": {"ts": [1, 9, 5]}, "sources": ["erp", "crm", "erp"]},
        ("b", "2", "most_recent"),
    ),
]


@pytest.mark.parametrize(
    ("values", "rule", "options", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rule_table(
    values: list[Any], rule: Any, options: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    got = one_cluster(values, rule, **options)
    value, record, decided = expected
    assert (got["value"], got["record"], got["rule"]) == (value, record, decided)
    if record is None:
        assert got["source"] is None
    else:
        sources = options.get("sources") or ["crm"] * len(values)
        assert got["source"] == sources[int(record) - 1]


def test_most_complete_keeps_address_parts_from_one_record() -> None:
    records = pl.DataFrame(
        {
            "record_id": ["1", "2", "3"],
            "source": "crm",
            "street": ["1 High St", "9 Low Rd", "9 Low Rd"],
            "city": ["Leeds", "York", None],
        }
    )
    clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    address = MostComplete(columns=("street", "city"))
    # Records 1 and 2 tie on completeness; most_frequent street would be 9 Low
    # Rd, but the parts must not mix: both come from record 1.
    out = build_golden(records, clusters, {"street": address, "city": address})
    assert out.select("street", "city", "street__record_id", "city__record_id").row(
        0
    ) == ("1 High St", "Leeds", "1", "1")


def test_tie_break_lowest_source_then_record_id() -> None:
    records = pl.DataFrame(
        {"record_id": ["2", "10", "1"], "source": ["web", "crm", "web"]}
    ).with_columns(x=pl.Series(["a", "b", "c"]))
    clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    out = build_golden(records, clusters, {"x": MostFrequent()})
    # All three values appear once: lowest source "crm" wins first.
    assert out.select("x", "x__record_id", "x__source").row(0) == ("b", "10", "crm")
    out = build_golden(
        records.filter(pl.col("source") == "web"),
        clusters.filter(pl.col("source") == "web"),
        {"x": MostFrequent()},
    )
    # Within one source, record ids compare as text: "1" < "2".
    assert out.select("x", "x__record_id").row(0) == ("c", "1")


def records_and_clusters() -> tuple[pl.DataFrame, pl.DataFrame]:
    records = pl.DataFrame(
        {
            "_row": [0, 1, 2, 3, 4],
            "record_id": ["a1", "a2", "b1", "b2", "c1"],
            "source": ["crm", "web", "crm", "crm", "web"],
            "name": ["ann lee", "ann lee", "bob ray", "rob ray", None],
            "email": ["a@x.org", "ann@y.org", None, "b@x.org", "c@z.org"],
            "updated": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), None, None, None],
        },
        schema_overrides={"_row": pl.UInt32},
    )
    clusters = pl.DataFrame(
        {
            "_row": [0, 1, 2, 3, 4],
            "record_id": ["a1", "a2", "b1", "b2", "c1"],
            "source": ["crm", "web", "crm", "crm", "web"],
            "cluster_id": ["crm:a1", "crm:a1", "crm:b1", "crm:b1", "web:c1"],
            "cluster_size": [2, 2, 2, 2, 1],
        },
        schema_overrides={"_row": pl.UInt32, "cluster_size": pl.UInt32},
    )
    return records, clusters


def test_default_rule_masters_every_feature_column_in_order() -> None:
    records, clusters = records_and_clusters()
    out = build_golden(records, clusters, {"email": MostRecent(timestamp="updated")})
    assert out.columns == [
        "cluster_id",
        *(
            c
            for a in ("email", "name", "updated")
            for c in (a, f"{a}__record_id", f"{a}__source", f"{a}__rule")
        ),
    ]
    assert out.get_column("cluster_id").to_list() == ["crm:a1", "crm:b1", "web:c1"]
    assert out.get_column("email").to_list() == ["ann@y.org", "b@x.org", "c@z.org"]
    assert out.get_column("name__rule").to_list() == [UNANIMOUS, TIE_BREAK, None]


def test_columns_choose_and_order_attributes() -> None:
    records, clusters = records_and_clusters()
    out = build_golden(records, clusters, columns=["name"])
    assert out.columns == [
        "cluster_id",
        "name",
        "name__record_id",
        "name__source",
        "name__rule",
    ]
    assert build_golden(records, clusters, default=None).columns == ["cluster_id"]


def test_join_on_row_and_on_ids_agree() -> None:
    records, clusters = records_and_clusters()
    rules = {"email": MostRecent(timestamp="updated")}
    by_row = build_golden(records, clusters, rules)
    by_ids = build_golden(records.drop("_row"), clusters, rules)
    assert_frame_equal(by_row, by_ids)
    int64 = build_golden(
        records.with_columns(pl.col("_row").cast(pl.Int64)), clusters, rules
    )
    assert_frame_equal(by_row, int64)


def test_lazy_inputs() -> None:
    records, clusters = records_and_clusters()
    assert_frame_equal(
        build_golden(records.lazy(), clusters.lazy()),
        build_golden(records, clusters),
    )


def test_cluster_ids_recompute_only_touched_clusters() -> None:
    records, clusters = records_and_clusters()
    full = build_golden(records, clusters)
    part = build_golden(records, clusters, cluster_ids=["web:c1", "crm:a1", "nope"])
    assert_frame_equal(part, full.filter(pl.col("cluster_id") != "crm:b1"))
    # the store may pass only the records of the touched clusters
    touched = clusters.filter(pl.col("cluster_id") == "crm:b1")
    only = build_golden(records.join(touched, on="_row", how="semi"), touched)
    assert_frame_equal(only, full.filter(pl.col("cluster_id") == "crm:b1"))
    empty = build_golden(records, clusters, cluster_ids=[])
    assert empty.height == 0 and empty.columns == full.columns


def test_raw_values_on_request() -> None:
    records, clusters = records_and_clusters()
    raw = records.select(
        "_row",
        "record_id",
        "source",
        name=pl.Series(["Ann Lee", "ANN LEE ", "Bob Ray", "Rob Ray", "  "]),
    )
    out = build_golden(records, clusters, columns=["name", "email"], raw=raw)
    std = build_golden(records, clusters, columns=["name", "email"])
    # the same records are chosen; only the shown value changes
    lineage = [c for c in out.columns if "__" in c]
    assert_frame_equal(out.select(lineage), std.select(lineage))
    assert out.get_column("name").to_list() == ["Ann Lee", "Bob Ray", None]
    # raw lacks email: it keeps the standardised value
    assert_frame_equal(out.select("email"), std.select("email"))
    # ids match whether or not raw has row numbers
    out_ids = build_golden(
        records, clusters, columns=["name", "email"], raw=raw.drop("_row")
    )
    assert_frame_equal(out, out_ids)


def test_golden_lineage_long_frame() -> None:
    records, clusters = records_and_clusters()
    out = build_golden(records, clusters, columns=["name", "updated"])
    long = golden_lineage(out)
    assert long.columns == [
        "cluster_id",
        "attribute",
        "value",
        "record_id",
        "source",
        "rule",
    ]
    assert long.height == out.height * 2
    assert long.row(0) == ("crm:a1", "name", "ann lee", "a1", "crm", UNANIMOUS)
    assert long.row(1) == ("crm:a1", "updated", "2024-01-01", "a1", "crm", TIE_BREAK)
    assert golden_lineage(out, attributes=[]).height == 0


def test_golden_frame_round_trips_through_parquet(tmp_path: Any) -> None:
    records, clusters = records_and_clusters()
    out = build_golden(records, clusters, {"email": MostRecent(timestamp="updated")})
    path = write_parquet_atomic(out, tmp_path / "golden.parquet")
    assert_frame_equal(pl.read_parquet(path), out)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("oldest", "Unknown survivorship rule 'oldest'; valid rules: best_quality"),
        ({"kind": "max"}, "Unknown survivorship rule None"),
        (
            {"rule": "max", "by": "x"},
            "Unknown option(s) ['by'] for survivorship rule 'max'; valid options: []",
        ),
        (
            {"rule": "most_recent"},
            "Survivorship rule 'most_recent' needs option(s) ['timestamp']",
        ),
        (
            {"rule": "source_priority", "sources": []},
            "must be a non-empty list of source names",
        ),
        (
            {"rule": "source_priority", "sources": ["a", "a"]},
            "lists ['a'] more than once",
        ),
        (
            {"rule": "most_complete", "columns": "x"},
            "must be a non-empty list of column names",
        ),
        (
            {"rule": "best_quality", "quality": ""},
            "'quality' parameter of BestQuality must be a column name",
        ),
        (
            {"rule": "sql", "expression": "LENGTH(x) +"},
            "not a SQL expression polars can compile",
        ),
        (
            {"rule": "sql", "expression": "SELECT 1"},
            "not a SQL expression polars can compile",
        ),
        (
            {"rule": "sql", "expression": "x; DROP TABLE t"},
            "not a SQL expression polars can compile",
        ),
        (
            {"rule": "sql", "expression": "nope(x)"},
            "not a SQL expression polars can compile",
        ),
        ({"rule": "sql", "expression": ""}, "must be a SQL expression"),
        (
            {"rule": "sql", "expression": "x", "prefer": "top"},
            "'prefer' parameter of SqlRule must be one of",
        ),
        (3, "must be a kind such as 'most_frequent'"),
    ],
)
def test_rule_from_dict_errors(declaration: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        rule_from_dict(declaration)
    assert message in str(info.value)


def test_sql_rule_never_runs_python() -> None:
    with pytest.raises(ConfigError):
        SqlRule(expression="__import__('os').system('true')")


def build_error(**kwargs: Any) -> str:
    records, clusters = records_and_clusters()
    args: dict[str, Any] = {"records": records, "clusters": clusters}
    args.update(kwargs)
    with pytest.raises((ConfigError, SchemaError)) as info:
        build_golden(**args)
    return str(info.value)


def test_build_errors() -> None:
    records, clusters = records_and_clusters()
    assert "records lacks column(s) ['phone']" in build_error(columns=["phone"])
    assert "records lacks column(s) ['seen']" in build_error(
        rules={"email": MostRecent(timestamp="seen")}
    )
    assert "records lacks column(s) ['zz']" in build_error(
        rules={"email": SqlRule(expression="zz > 1")}
    )
    assert "clusters lacks column(s) ['cluster_id']" in build_error(
        clusters=clusters.drop("cluster_id")
    )
    assert "have no survivorship rule and there is no default" in build_error(
        default=None, columns=["name"]
    )
    assert "which are not in 'columns'" in build_error(
        rules={"email": Max()}, columns=["name"]
    )
    assert "must be a SurvivorshipRule or a non-empty sequence" in build_error(
        rules={"email": "max"}
    )
    assert "must be a SurvivorshipRule or a non-empty sequence" in build_error(
        rules={"email": []}
    )
    assert "'default' must be a SurvivorshipRule or None" in build_error(
        default="most_frequent"
    )
    assert "Wrap one id in a list" in build_error(cluster_ids="crm:a1")
    assert "'columns' must be a list" in build_error(columns="name")
    missing = build_error(records=records.filter(pl.col("record_id") != "b2"))
    assert "1 cluster member(s) have no record in records" in missing
    missing_ids = build_error(records=records.drop("_row").head(3))
    assert "2 cluster member(s) have no record in records (matched on source" in (
        missing_ids
    )
    twice = pl.concat([clusters, clusters.head(1)])
    assert "must appear once in clusters" in build_error(clusters=twice)
    assert "must appear once in clusters" in build_error(
        records=pl.concat([records, records.head(1)]).drop("_row"),
        clusters=clusters.drop("_row"),
    )
    shuffled = records.with_columns(pl.col("_row").reverse())
    assert "point at a different (source, record_id)" in build_error(records=shuffled)
    listy = records.with_columns(tags=pl.Series([["a"], ["b"], [], [], []]))
    assert "ranks by a List(String) value, which cannot be ordered" in build_error(
        records=listy, rules={"tags": Max()}, default=None
    )
    clash = records.rename({"name": "email__rule"})
    assert "would hold column(s) ['email__rule'] twice" in build_error(records=clash)


def test_sql_rule_that_cannot_run() -> None:
    assert "cannot rank these records: arithmetic on dtypes str" in build_error(
        rules={"name": SqlRule(expression="name + 1")}, columns=["name"]
    )
    failed = build_error(
        rules={"name": SqlRule(expression="CAST(name AS INT)")}, columns=["name"]
    )
    assert "['sql'] of attribute 'name' failed on these records" in failed
    assert "ann" not in failed and "bob" not in failed


def test_messages_hold_no_values() -> None:
    records, _ = records_and_clusters()
    message = build_error(records=records.filter(pl.col("record_id") != "b2"))
    for value in ("ann lee", "a@x.org", "b2"):
        assert value not in message


# ---------------------------------------------------------------- config

ALL_RULES: list[SurvivorshipRule] = [
    MostFrequent(),
    MostRecent(timestamp="updated_at"),
    Longest(),
    MostComplete(columns=("street", "city")),
    SourcePriority(sources=("crm", "erp")),
    Max(),
    Min(),
    BestQuality(quality="score"),
    SqlRule(expression="LENGTH(email)", prefer="lowest"),
]


def test_registry_lists_every_rule() -> None:
    assert sorted(RULE_KINDS) == sorted(rule.kind for rule in ALL_RULES)


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.kind)
def test_rule_round_trip(rule: SurvivorshipRule) -> None:
    declaration = rule.to_dict()
    assert declaration["rule"] == rule.kind
    assert rule_from_dict(declaration) == rule
    assert isinstance(rule, SurvivorshipRule)


def test_chain_round_trip() -> None:
    chain = (MostRecent(timestamp="t"), SourcePriority(sources=("crm",)))
    assert chain_from_dict(chain_to_dict(chain)) == chain
    assert chain_from_dict("max") == (Max(),)
    with pytest.raises(ConfigError, match="non-empty list of rules"):
        chain_from_dict([])


TOML = """
[golden]
default = { rule = "source_priority", sources = ["crm", "erp"] }
values = "raw"
columns = ["email", "name", "phone"]

[golden.attributes]
email = { rule = "most_recent", timestamp = "updated_at" }
phone = [{ rule = "sql", expression = "phone LIKE '+44%'" }, "longest"]
"""


def test_golden_config_from_toml_round_trips() -> None:
    config = GoldenConfig.from_dict(tomllib.loads(TOML)["golden"])
    assert config.default == SourcePriority(sources=("crm", "erp"))
    assert config.rules == {
        "email": (MostRecent(timestamp="updated_at"),),
        "phone": (SqlRule(expression="phone LIKE '+44%'"), Longest()),
    }
    assert config.columns == ("email", "name", "phone")
    assert config.values == "raw"
    assert GoldenConfig.from_dict(config.to_dict()) == config
    assert GoldenConfig.from_dict({}) == GoldenConfig()
    none = GoldenConfig.from_dict({"default": "none"})
    assert none.default is None
    assert GoldenConfig.from_dict(none.to_dict()) == none


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"rules": {}}, "Unknown key(s) ['rules'] in [golden]; valid keys are"),
        ({"format_version": 2}, "format_version 2 is not supported"),
        ({"values": "both"}, "'values' must be one of 'standardised', 'raw'"),
        ({"attributes": ["email"]}, "[golden.attributes] must be a table"),
        ({"columns": "email"}, "'columns' must be a list of column names"),
        ({"default": "nope"}, "Unknown survivorship rule 'nope'"),
        (
            {"attributes": {"email": {"rule": "max"}}, "columns": ["name"]},
            "not in [golden] 'columns'",
        ),
    ],
)
def test_golden_config_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        GoldenConfig.from_dict(spec)
    assert message in str(info.value)


def test_golden_config_build() -> None:
    records, clusters = records_and_clusters()
    config = GoldenConfig.from_dict(
        {
            "columns": ["name", "email"],
            "attributes": {"email": {"rule": "most_recent", "timestamp": "updated"}},
        }
    )
    assert_frame_equal(
        config.build(records, clusters),
        build_golden(
            records,
            clusters,
            {"email": MostRecent(timestamp="updated")},
            columns=["name", "email"],
        ),
    )
    raw_config = GoldenConfig.from_dict({"values": "raw", "columns": ["name"]})
    with pytest.raises(ConfigError, match="needs the records before standardisation"):
        raw_config.build(records, clusters)
    raw = records.with_columns(pl.col("name").str.to_uppercase())
    assert raw_config.build(records, clusters, raw=raw).item(0, "name") == "ANN LEE"
    # with values = "standardised" a raw frame is ignored
    assert GoldenConfig().build(records, clusters, raw=raw).item(0, "name") == "ann lee"


def test_all_exports_exist() -> None:
    for name in golden.__all__:
        assert hasattr(golden, name), name


# ---------------------------------------------------------------- properties


class _Desc:
    """Reverse the order of a value inside a sort key."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value


def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _key(value: Any, *, descending: bool) -> tuple[Any, ...]:
    if _missing(value):
        return (1,)
    return (0, _Desc(value) if descending else value)


def _rule_key(rule: Any, row: dict[str, Any], freq: int) -> tuple[Any, ...]:
    x = None if _missing(row["x"]) else row["x"]
    if isinstance(rule, MostFrequent):
        return _key(freq, descending=True)
    if isinstance(rule, MostRecent):
        return _key(row[rule.timestamp], descending=True)
    if isinstance(rule, Longest):
        return _key(None if x is None else len(x), descending=True)
    if isinstance(rule, SourcePriority):
        sources = list(rule.sources)
        position = sources.index(row["source"]) if row["source"] in sources else None
        return _key(position, descending=False)
    if isinstance(rule, Max):
        return _key(x, descending=True)
    if isinstance(rule, Min):
        return _key(x, descending=False)
    if isinstance(rule, BestQuality):
        return _key(row[rule.quality], descending=True)
    raise AssertionError(rule)


def oracle(
    rows: list[dict[str, Any]], chain: tuple[Any, ...]
) -> dict[str, tuple[Any, ...]]:
    """Golden x per cluster, the slow obvious way: sort each cluster's records."""
    out: dict[str, tuple[Any, ...]] = {}
    for cluster in sorted({r["cluster_id"] for r in rows}):
        members = [r for r in rows if r["cluster_id"] == cluster]
        present = [None if _missing(r["x"]) else r["x"] for r in members]
        counts = {v: present.count(v) for v in present}

        def full_key(i: int, *, members=members, present=present, counts=counts):
            r = members[i]
            freq = counts[present[i]]
            return (
                present[i] is None,
                *(_rule_key(rule, r, freq) for rule in chain),
                -freq,
                r["source"],
                r["record_id"],
            )

        order = sorted(range(len(members)), key=full_key)
        win = order[0]
        if present[win] is None:
            out[cluster] = (None, None, None, None)
            continue
        runner = next(
            (i for i in order if present[i] is not None and present[i] != present[win]),
            None,
        )
        if runner is None:
            decided = UNANIMOUS
        else:
            decided = TIE_BREAK
            freq_w, freq_r = counts[present[win]], counts[present[runner]]
            for rule in chain:
                if _rule_key(rule, members[win], freq_w) != _rule_key(
                    rule, members[runner], freq_r
                ):
                    decided = rule.kind
                    break
        w = members[win]
        out[cluster] = (w["x"], w["record_id"], w["source"], decided)
    return out


SOURCES = ["crm", "erp", "web"]
RULE_STRATEGY = st.sampled_from(
    [
        MostFrequent(),
        MostRecent(timestamp="ts"),
        Longest(),
        SourcePriority(sources=("web", "crm")),
        Max(),
        Min(),
        BestQuality(quality="q"),
    ]
)


@st.composite
def mastering_inputs(
    draw: st.DrawFn,
) -> tuple[pl.DataFrame, pl.DataFrame, tuple[Any, ...]]:
    ids = draw(
        st.lists(
            st.tuples(st.sampled_from(SOURCES), st.integers(0, 12)),
            min_size=1,
            max_size=30,
            unique=True,
        )
    )
    # Hypothesis favours short lists; pad half the examples to 15+ records so
    # clusters often hold rival values that only the tie-break separates.
    if draw(st.booleans()):
        ids += draw(
            st.lists(
                st.tuples(st.sampled_from(SOURCES), st.integers(13, 30)),
                min_size=15,
                max_size=25,
                unique=True,
            )
        )
    n = len(ids)
    values = draw(
        st.lists(
            st.sampled_from(["a", "b", "cc", "ab", " ", None]), min_size=n, max_size=n
        )
    )
    ts = draw(st.lists(st.one_of(st.none(), st.integers(0, 1)), min_size=n, max_size=n))
    q = draw(
        st.lists(
            st.one_of(st.none(), st.just(math.nan), st.sampled_from([0.1, 0.5])),
            min_size=n,
            max_size=n,
        )
    )
    cluster = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    chain = tuple(draw(st.lists(RULE_STRATEGY, min_size=1, max_size=2)))
    records = pl.DataFrame(
        {
            "_row": list(range(n)),
            "record_id": [str(i) for _, i in ids],
            "source": [s for s, _ in ids],
            "x": pl.Series(values, dtype=pl.String),
            "ts": pl.Series(ts, dtype=pl.Int64),
            "q": pl.Series(q, dtype=pl.Float64),
        },
        schema_overrides={"_row": pl.UInt32},
    )
    clusters = records.select(
        "_row", "record_id", "source", cluster_id=pl.Series([f"k{c}" for c in cluster])
    )
    return records, clusters, chain


@settings(max_examples=80, deadline=None)
@given(mastering_inputs(), st.randoms(use_true_random=False))
def test_golden_matches_oracle_and_ignores_row_order(
    inputs: tuple[pl.DataFrame, pl.DataFrame, tuple[Any, ...]], rng: Any
) -> None:
    records, clusters, chain = inputs
    out = build_golden(records, clusters, {"x": chain}, default=None)

    # one row per cluster, sorted by id
    assert out.get_column("cluster_id").to_list() == sorted(
        clusters.get_column("cluster_id").unique().to_list()
    )
    # the brute-force answer
    expected = oracle(records.join(clusters, on="_row").to_dicts(), chain)
    got = {
        row[0]: tuple(row[1:])
        for row in out.select(
            "cluster_id", "x", "x__record_id", "x__source", "x__rule"
        ).iter_rows()
    }
    assert got == expected
    # every golden value is the value of the record its lineage names
    named = out.join(
        records,
        left_on=["x__source", "x__record_id"],
        right_on=["source", "record_id"],
        how="left",
        suffix="_record",
    )
    present = named.filter(pl.col("x").is_not_null())
    assert (present.get_column("x") == present.get_column("x_record")).all()
    assert out.filter(pl.col("x").is_null()).get_column(
        "x__record_id"
    ).null_count() == (out.filter(pl.col("x").is_null()).height)
    # input order never matters, nor does joining on ids instead of _row
    order = list(range(records.height))
    rng.shuffle(order)
    shuffled_records = records[order]
    rng.shuffle(order)
    shuffled_clusters = clusters[order]
    again = build_golden(
        shuffled_records.drop("_row"),
        shuffled_clusters.drop("_row"),
        {"x": chain},
        default=None,
    )
    assert_frame_equal(out, again)


@settings(max_examples=30, deadline=None)
@given(mastering_inputs(), st.data())
def test_cluster_ids_subset_equals_full_rows(
    inputs: tuple[pl.DataFrame, pl.DataFrame, tuple[Any, ...]], data: st.DataObject
) -> None:
    records, clusters, chain = inputs
    ids = sorted(clusters.get_column("cluster_id").unique().to_list())
    touched = data.draw(st.lists(st.sampled_from(ids), unique=True))
    full = build_golden(records, clusters, {"x": chain})
    part = build_golden(records, clusters, {"x": chain}, cluster_ids=touched)
    assert_frame_equal(part, full.filter(pl.col("cluster_id").is_in(touched)))


@settings(max_examples=40, deadline=None)
@given(mastering_inputs())
def test_row_lineage_stored_and_read_back_equals_id_lineage(
    inputs: tuple[pl.DataFrame, pl.DataFrame, tuple[Any, ...]],
) -> None:
    """lineage="rows", encoded as the master store keeps it and decoded, is lineage="ids"."""
    from er_toolkit.master.tables import decode_golden, encode_golden

    records, clusters, chain = inputs
    by_ids = build_golden(records, clusters, {"x": chain})
    by_rows = build_golden(records, clusters, {"x": chain}, lineage="rows")
    assert "x__row" in by_rows.columns and "x__record_id" not in by_rows.columns
    stored, names = encode_golden(by_rows, ["tie_break"])
    assert names[0] == "tie_break"  # known names keep their codes
    assert_frame_equal(
        decode_golden(stored, records.select("_row", "source", "record_id"), names),
        by_ids,
    )


def test_row_lineage_needs_rows() -> None:
    records, clusters = records_and_clusters()
    with pytest.raises(SchemaError, match="lineage='rows'"):
        build_golden(
            records.drop("_row"), clusters.drop("_row", strict=False), lineage="rows"
        )
