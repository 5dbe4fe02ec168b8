"""Tests of er_toolkit.io: reading inputs, preparing records, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from er_toolkit import schema
from er_toolkit.exceptions import (
    DuplicateIdError,
    EmptyInputError,
    InputFormatError,
    SchemaError,
)
from er_toolkit.io import Source, prepare_records, read_frame, write_parquet_atomic

# --------------------------------------------------------------------------- #
# read_frame
# --------------------------------------------------------------------------- #


def test_read_csv_reads_every_column_as_string(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,name,age\n1,ann,30\n2,bob,\n")
    out = read_frame(path)
    assert out.columns == ["id", "name", "age"]
    assert out.schema == {"id": pl.String, "name": pl.String, "age": pl.String}
    assert out.rows() == [("1", "ann", "30"), ("2", "bob", None)]


def test_read_csv_keeps_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "zip.csv"
    path.write_text("id,zip\n007,01234\n")
    assert read_frame(str(path)).row(0) == ("007", "01234")


def test_read_csv_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "UPPER.CSV"
    path.write_text("a,b\nx,y\n")
    assert read_frame(path).rows() == [("x", "y")]


def test_read_tsv_splits_on_tabs_not_commas(tmp_path: Path) -> None:
    path = tmp_path / "people.tsv"
    path.write_text("id\tname\n1\tsmith, ann\n2\tjones\n")
    out = read_frame(path)
    assert out.columns == ["id", "name"]
    assert out.get_column("name").to_list() == ["smith, ann", "jones"]


def test_read_txt_is_comma_separated(tmp_path: Path) -> None:
    path = tmp_path / "people.txt"
    path.write_text("id,name\n1,ann\n")
    assert read_frame(path).rows() == [("1", "ann")]


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_read_parquet_keeps_dtypes(tmp_path: Path, suffix: str) -> None:
    frame = pl.DataFrame(
        {"id": [1, 2, 3], "score": [0.5, None, 1.5], "name": ["a", "b", None]}
    )
    path = tmp_path / f"data{suffix}"
    frame.write_parquet(path)
    assert_frame_equal(read_frame(path), frame)


def test_read_polars_dataframe_is_returned_as_is() -> None:
    frame = pl.DataFrame({"id": [1, 2], "x": ["a", "b"]})
    assert_frame_equal(read_frame(frame), frame)


def test_read_lazyframe_is_collected() -> None:
    lazy = pl.LazyFrame({"id": [1, 2, 3]}).filter(pl.col("id") > 1)
    out = read_frame(lazy)
    assert isinstance(out, pl.DataFrame)
    assert out.get_column("id").to_list() == [2, 3]


def test_read_pandas_dataframe() -> None:
    frame = pd.DataFrame({"id": [10, 20], "name": ["ann", "bob"]})
    out = read_frame(frame)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["id", "name"]
    assert out.rows() == [(10, "ann"), (20, "bob")]


def test_read_arrow_table() -> None:
    table = pa.table({"id": [1, 2], "name": ["ann", None]})
    out = read_frame(table)
    assert isinstance(out, pl.DataFrame)
    assert out.rows() == [(1, "ann"), (2, None)]


def test_unknown_suffix_names_expected_and_got(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("{}")
    with pytest.raises(
        InputFormatError, match=r"expected a file ending in \.csv.*got 'data\.json'"
    ):
        read_frame(path)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(InputFormatError, match=r"nowhere\.csv.*does not exist"):
        read_frame(path)


def test_error_messages_use_the_given_name(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match=r"^crm: file .* does not exist"):
        read_frame(tmp_path / "nope.parquet", name="crm")


@pytest.mark.parametrize(
    ("obj", "got"),
    [
        ([1, 2, 3], "list"),
        ({"id": [1]}, "dict"),
        (42, "int"),
        (pa.array([1, 2]), "Int64Array"),
        (pd.Series([1, 2]), "Series"),
    ],
)
def test_unsupported_object_names_expected_and_got(obj: object, got: str) -> None:
    with pytest.raises(
        InputFormatError,
        match=rf"^input: expected a path to a CSV or Parquet file.*; got {got}\.$",
    ):
        read_frame(obj)


def test_empty_csv_raises_empty_input(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(EmptyInputError, match=r"empty\.csv.*is empty"):
        read_frame(path)


def test_header_only_csv_gives_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("id,name\n")
    out = read_frame(path)
    assert out.height == 0
    assert out.columns == ["id", "name"]


# --------------------------------------------------------------------------- #
# prepare_records
# --------------------------------------------------------------------------- #


def test_prepare_records_stacks_sources_in_order() -> None:
    left = pl.DataFrame({"cust_id": [7, 3], "name": ["ann", "bob"]})
    right = pl.DataFrame({"record_id": ["a", "b", "c"], "name": ["x", None, "z"]})
    out = prepare_records(
        [Source("crm", left, id_column="cust_id"), Source("erp", right)],
        columns=["name"],
    )
    assert out.columns == [schema.ROW, schema.RECORD_ID, schema.SOURCE, "name"]
    assert out.schema[schema.ROW] == pl.UInt32
    assert out.schema[schema.RECORD_ID] == pl.String
    assert out.schema[schema.SOURCE] == pl.String
    assert out.get_column(schema.ROW).to_list() == [0, 1, 2, 3, 4]
    assert out.get_column(schema.RECORD_ID).to_list() == ["7", "3", "a", "b", "c"]
    assert out.get_column(schema.SOURCE).to_list() == ["crm", "crm"] + ["erp"] * 3
    assert out.get_column("name").to_list() == ["ann", "bob", "x", None, "z"]


def test_prepare_records_order_follows_source_list() -> None:
    a = pl.DataFrame({"record_id": ["a1"]})
    b = pl.DataFrame({"record_id": ["b1", "b2"]})
    out = prepare_records([Source("b", b), Source("a", a)])
    assert out.get_column(schema.SOURCE).to_list() == ["b", "b", "a"]
    assert out.get_column(schema.RECORD_ID).to_list() == ["b1", "b2", "a1"]


def test_prepare_records_reads_files(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("id,name\n001,ann\n002,bob\n")
    out = prepare_records([Source("file", path, id_column="id")], columns=["name"])
    assert out.get_column(schema.RECORD_ID).to_list() == ["001", "002"]


def test_id_column_also_used_as_feature_is_kept() -> None:
    frame = pl.DataFrame({"id": [1, 2], "x": ["a", "b"]})
    out = prepare_records([Source("s", frame, id_column="id")], columns=["id", "x"])
    assert out.get_column(schema.RECORD_ID).to_list() == [1, 2]  # ids keep their type
    assert out.get_column("id").to_list() == [1, 2]
    assert out.get_column("x").to_list() == ["a", "b"]


def test_record_id_listed_in_columns_keeps_its_type() -> None:
    frame = pl.DataFrame({"record_id": [1, 2], "x": ["a", "b"]})
    out = prepare_records([Source("s", frame)], columns=["record_id", "x"])
    assert out.schema[schema.RECORD_ID] == pl.Int64
    assert out.get_column(schema.RECORD_ID).to_list() == [1, 2]


@pytest.mark.parametrize(
    ("columns", "keep", "clash"),
    [(["source"], [], "source"), ([], ["_row"], "_row"), ([], ["record_id"], "")],
)
def test_reserved_names_in_columns_or_keep_raise(
    columns: list[str], keep: list[str], clash: str
) -> None:
    frame = pl.DataFrame({"id": [1], "source": ["s"], "_row": [9], "record_id": ["r"]})
    clash = clash or "record_id"
    with pytest.raises(SchemaError, match=rf"\['{clash}'\].*clash"):
        prepare_records(
            [Source("s", frame, id_column="id")], columns=columns, keep=keep
        )


def test_missing_id_column_names_it_and_lists_columns() -> None:
    frame = pl.DataFrame({"name": ["ann"], "dob": ["2000"]})
    with pytest.raises(
        SchemaError,
        match=r"source 'crm' lacks column\(s\) \['cust_id'\]; "
        r"its columns are \['name', 'dob'\]",
    ):
        prepare_records([Source("crm", frame, id_column="cust_id")])


def test_missing_feature_column_names_it() -> None:
    good = pl.DataFrame({"record_id": ["1"], "name": ["a"], "dob": ["x"]})
    bad = pl.DataFrame({"record_id": ["1"], "name": ["a"]})
    with pytest.raises(SchemaError, match=r"source 'erp' lacks column\(s\) \['dob'\]"):
        prepare_records(
            [Source("crm", good), Source("erp", bad)], columns=["name", "dob"]
        )


def test_duplicate_ids_within_a_source_are_named() -> None:
    frame = pl.DataFrame({"record_id": ["a", "b", "a", "c", "c", "d"]})
    with pytest.raises(
        DuplicateIdError, match=r"2 id\(s\) repeat, e\.g\. \['a', 'c'\]"
    ):
        prepare_records([Source("s", frame)])


def test_duplicate_integer_ids_are_named() -> None:
    frame = pl.DataFrame({"k": [5, 5, 6]})
    with pytest.raises(DuplicateIdError, match=r"source 's'.*'k'.*\[5\]"):
        prepare_records([Source("s", frame, id_column="k")])


def test_same_id_in_two_sources_is_fine() -> None:
    a = pl.DataFrame({"record_id": ["1", "2"]})
    b = pl.DataFrame({"record_id": ["2", "1"]})
    out = prepare_records([Source("a", a), Source("b", b)])
    assert out.height == 4
    assert out.select(schema.RECORD_ID, schema.SOURCE).rows() == [
        ("1", "a"),
        ("2", "a"),
        ("2", "b"),
        ("1", "b"),
    ]


def test_null_id_raises_schema_error() -> None:
    frame = pl.DataFrame({"record_id": ["a", None, None]})
    with pytest.raises(SchemaError, match=r"'record_id' has 2 null value\(s\)"):
        prepare_records([Source("s", frame)])


def test_empty_source_raises() -> None:
    good = pl.DataFrame({"record_id": ["a"]})
    empty = pl.DataFrame({"record_id": []}, schema={"record_id": pl.String})
    with pytest.raises(EmptyInputError, match=r"source 'b' holds no records"):
        prepare_records([Source("a", good), Source("b", empty)])


def test_header_only_csv_source_raises(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("record_id,name\n")
    with pytest.raises(EmptyInputError, match=r"source 'h' holds no records"):
        prepare_records([Source("h", path)])


def test_no_sources_raises() -> None:
    with pytest.raises(EmptyInputError, match="at least one source"):
        prepare_records([])


def test_duplicate_source_names_raise() -> None:
    frame = pl.DataFrame({"record_id": ["a"]})
    with pytest.raises(SchemaError, match=r"unique.*\['x', 'y', 'x'\]"):
        prepare_records([Source("x", frame), Source("y", frame), Source("x", frame)])


def test_keep_columns_carried_when_present() -> None:
    a = pl.DataFrame({"record_id": ["1", "2"], "name": ["a", "b"], "label": [10, 11]})
    b = pl.DataFrame({"record_id": ["3"], "name": ["c"], "other": ["x"]})
    out = prepare_records(
        [Source("a", a), Source("b", b)], columns=["name"], keep=["label", "absent"]
    )
    assert out.columns == [schema.ROW, schema.RECORD_ID, schema.SOURCE, "name", "label"]
    assert out.get_column("label").to_list() == [10, 11, None]
    # Columns neither required nor kept are dropped.
    assert "other" not in out.columns


def test_prepare_records_does_not_mutate_inputs() -> None:
    pl_frame = pl.DataFrame({"id": [2, 1], "name": ["b", "a"], "extra": [1, 2]})
    pl_before = pl_frame.clone()
    pd_frame = pd.DataFrame({"record_id": [5, 6], "name": ["x", "y"]})
    pd_before = pd_frame.copy(deep=True)
    prepare_records(
        [Source("p", pl_frame, id_column="id"), Source("q", pd_frame)],
        columns=["name"],
    )
    assert_frame_equal(pl_frame, pl_before)
    pd.testing.assert_frame_equal(pd_frame, pd_before)


# --------------------------------------------------------------------------- #
# write_parquet_atomic
# --------------------------------------------------------------------------- #


def test_write_parquet_atomic_round_trip(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "_row": pl.Series([0, 1, 2], dtype=pl.UInt32),
            "name": ["a", None, "c"],
            "w": [1.5, -2.0, None],
        }
    )
    target = tmp_path / "nested" / "dir" / "out.parquet"
    written = write_parquet_atomic(frame, target)
    assert written == target
    assert_frame_equal(pl.read_parquet(target), frame)
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.parquet"]


def test_write_parquet_atomic_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    write_parquet_atomic(pl.DataFrame({"a": [1]}), str(target))
    write_parquet_atomic(pl.DataFrame({"b": ["x", "y"]}), str(target))
    assert_frame_equal(pl.read_parquet(target), pl.DataFrame({"b": ["x", "y"]}))
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_write_parquet_atomic_failure_keeps_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.parquet"
    old = pl.DataFrame({"a": [1, 2, 3]})
    write_parquet_atomic(old, target)

    def broken_write(self: pl.DataFrame, file: object, *args: object, **kw: object):
        Path(str(file)).write_bytes(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomic(pl.DataFrame({"a": [9]}), target)
    monkeypatch.undo()
    assert_frame_equal(pl.read_parquet(target), old)
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
