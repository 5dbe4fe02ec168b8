"""Hypothesis fuzzing of the readers, config parsing and model loading.

Whatever the bytes or the values, the outcome is a result or an
``ErToolkitError`` with a one-line message that quotes no record value;
never another exception, and never a silently wrong result (a file read
back has every record once; a model that loads has usable probabilities).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from er_toolkit.blocking import Blocker
from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import ErToolkitError, InputFormatError, ModelFormatError
from er_toolkit.io import read_frame
from er_toolkit.pipeline import Linker

DATA = Path(__file__).parent / "data"
FUZZ = settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MARK = "QZJX"
"""Every generated cell starts with this: a message holding it echoes a value."""

cells = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00\r"
    ),
    max_size=12,
).map(lambda s: MARK + s)
plain_cells = st.text(alphabet="abcdefghij ,;'", max_size=8).map(lambda s: MARK + s)


def _check_error(exc: ErToolkitError) -> None:
    message = str(exc)
    assert "\n" not in message
    assert MARK not in message, message


def _write_csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


# ----------------------------------------------------------------- readers
@FUZZ
@given(content=st.binary(max_size=400))
def test_any_bytes_read_or_fail_cleanly(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "x.csv"
    path.write_bytes(content)
    try:
        frame = read_frame(path)
    except ErToolkitError as exc:
        _check_error(exc)
    else:
        assert isinstance(frame, pl.DataFrame)


@FUZZ
@given(
    header=st.lists(
        st.text("abcdefgh", min_size=1, max_size=5), min_size=1, max_size=5, unique=True
    ),
    data=st.data(),
    blank_after=st.lists(st.integers(0, 30), max_size=4),
    crlf=st.booleans(),
)
def test_well_formed_csv_reads_back_every_record_once(
    tmp_path_factory, header, data, blank_after, crlf
):
    rows = data.draw(
        st.lists(
            st.lists(cells, min_size=len(header), max_size=len(header)),
            min_size=1,
            max_size=30,
        )
    )
    lines = _write_csv([header]).splitlines(keepends=True)
    body = "".join(_write_csv([r]) for r in rows)
    records = [_write_csv([r]) for r in rows]
    for k in sorted(set(blank_after), reverse=True):  # blank lines between records
        records.insert(min(k, len(records)), "\n")
    text = lines[0] + "".join(records)
    assert body  # rows exist
    if crlf:
        text = text.replace("\n", "\r\n")
    path = tmp_path_factory.mktemp("fuzz") / "x.csv"
    path.write_bytes(text.encode("utf-8"))
    frame = read_frame(path)
    assert frame.columns == header
    expected = [tuple(None if v == "" else v for v in r) for r in rows]
    got = [
        tuple(v.replace("\r\n", "\n") if crlf and v else v for v in r)
        for r in frame.rows()
    ]
    assert got == expected


@FUZZ
@given(
    width=st.integers(2, 6),
    data=st.data(),
)
def test_a_ragged_row_is_named_by_its_line(tmp_path_factory, width, data):
    n = data.draw(st.integers(1, 25))
    rows = [
        data.draw(st.lists(plain_cells, min_size=width, max_size=width))
        for _ in range(n)
    ]
    bad = data.draw(st.integers(0, n - 1))
    fields = data.draw(st.integers(1, width + 3).filter(lambda k: k != width))
    rows[bad] = (rows[bad] * 3)[:fields]
    text = _write_csv([[f"c{i}" for i in range(width)], *rows])
    path = tmp_path_factory.mktemp("fuzz") / "x.csv"
    path.write_text(text)
    with pytest.raises(InputFormatError) as info:
        read_frame(path)
    _check_error(info.value)
    assert f"line {bad + 2} has {fields} field(s) but the header has {width}" in str(
        info.value
    )


@FUZZ
@given(data=st.data())
def test_bad_utf8_is_named_by_its_offset(tmp_path_factory, data):
    rows = data.draw(
        st.lists(st.lists(plain_cells, min_size=2, max_size=2), min_size=1, max_size=20)
    )
    raw = _write_csv([["a", "b"], *rows]).encode()
    at = data.draw(st.integers(0, len(raw) - 1))
    bad = raw[:at] + b"\xff" + raw[at:]
    path = tmp_path_factory.mktemp("fuzz") / "x.csv"
    path.write_bytes(bad)
    with pytest.raises(InputFormatError) as info:
        read_frame(path)
    _check_error(info.value)
    line = raw[:at].count(b"\n") + 1
    assert f"first bad byte is at offset {at} (line {line})" in str(info.value)


@FUZZ
@given(cut=st.integers(0, 10_000), flip=st.integers(0, 10_000))
def test_damaged_parquet_reads_or_fails_cleanly(tmp_path_factory, cut, flip):
    folder = tmp_path_factory.mktemp("fuzz")
    good = folder / "good.parquet"
    pl.DataFrame(
        {"id": [f"{MARK}{i}" for i in range(300)], "v": np.arange(300)}
    ).write_parquet(good)
    raw = bytearray(good.read_bytes())
    raw = raw[: len(raw) - cut % len(raw)] if cut % 3 else raw
    if raw:
        raw[flip % len(raw)] ^= 0xFF
    path = folder / "bad.parquet"
    path.write_bytes(bytes(raw))
    try:
        frame = read_frame(path)
    except ErToolkitError as exc:
        _check_error(exc)
    else:
        assert isinstance(frame, pl.DataFrame)


# ------------------------------------------------------------------ configs
BASE = tomllib.loads((DATA / "people_dedupe.toml").read_text())


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(-2, 2), max_size=2),
    st.just([[]]),
    st.just({"kind": "exact"}),
)


def _mutate(
    spec: dict[str, Any], path: tuple[Any, ...], value: Any, delete: bool
) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    node = out
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


CONFIG_PATHS = [p for p in _paths(BASE) if p[0] != "blocking"]
"""Every leaf and table of the config; [blocking] is validated by the blocking
plug-ins (their own tests), so it is left out here."""


@FUZZ
@given(path=st.sampled_from(CONFIG_PATHS), value=values, delete=st.booleans())
def test_any_config_value_parses_or_fails_cleanly(path, value, delete):
    spec = _mutate(BASE, path, value, delete)
    try:
        config = LinkageConfig.from_dict(spec)
    except ErToolkitError as exc:
        assert "\n" not in str(exc).strip()
    else:
        # what parses is in range: no silently meaningless settings
        m = config.model
        assert m.max_iter >= 1 and m.u_sample_size >= 1
        assert 0 <= config.threshold <= 1 and math.isfinite(config.threshold)
        # rules are blocker plug-ins; a keyed one never has no keys (cross product)
        assert all(isinstance(r, Blocker) for r in m.training_rules)
        assert all(getattr(r, "keys", ("key",)) for r in m.training_rules)


@FUZZ
@given(text=st.text(max_size=200))
def test_any_toml_text_parses_or_fails_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "c.toml"
    path.write_text(text)
    with contextlib.suppress(ErToolkitError):
        LinkageConfig.from_toml(path)


# ------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def model_dict() -> dict[str, Any]:
    config = LinkageConfig.from_toml(DATA / "people_dedupe.toml")
    config = replace(config, model=replace(config.model, u_sample_size=5_000))
    linker = Linker(config)
    linker.fit(linker.records())
    return linker.to_dict()


@FUZZ
@given(data=st.data(), value=values, delete=st.booleans())
def test_any_model_value_loads_usable_or_fails_cleanly(model_dict, data, value, delete):
    paths = [
        p
        for p in _paths(model_dict)
        if p[0] == "scorer" or p[:2] == ("config", "threshold")
    ]
    path = data.draw(st.sampled_from(paths))
    spec = _mutate(model_dict, path, value, delete)
    spec = json.loads(json.dumps(spec))  # as a file would hold it
    try:
        linker = Linker.from_dict(spec)
    except ModelFormatError as exc:
        assert "\n" not in str(exc)
        return
    scorer = linker.scorer_
    lam = scorer.probability_two_random_records_match_
    assert 0 < lam < 1 and math.isfinite(lam)
    for table in (scorer.m_, scorer.u_):
        for row in table.values():
            assert np.all(np.isfinite(row)) and np.all((row > 0) & (row < 1))
            assume(abs(row.sum() - 1) < 1e-6)
