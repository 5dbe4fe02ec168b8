"""Bad input, as an attacker or a careless user gives it, against every CLI and the API.

Each case asserts the error class, exit code 2, a one-line message, and that
no record value is echoed; the success cases assert that no record is lost
or duplicated. The CLIs run in-process (``main(argv)``) except a few run as
subprocesses, which also checks the real stderr has no traceback.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from er_toolkit import cli as er_cli
from er_toolkit.cli import label as label_cli
from er_toolkit.cli import profile as profile_cli
from er_toolkit.cli import score as score_cli
from er_toolkit.cli import train as train_cli
from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import (
    ConfigError,
    DuplicateIdError,
    EmptyInputError,
    ErToolkitError,
    InputFormatError,
    LabelError,
    ModelFormatError,
    OutputError,
    SchemaError,
)
from er_toolkit.io import (
    Source,
    prepare_records,
    publish_output_set,
    read_frame,
    read_output_set,
)
from er_toolkit.pipeline import Linker
from er_toolkit.score import ClassifierScorer, FellegiSunter

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
PEOPLE = DATA / "people.csv"
SENTINELS = ("Zebedeexq", "Quillonmarsh", "19121212", "55512345")
"""Values put into the bad rows: none may appear in any message."""

ARGPARSE = SystemExit  # a usage error: argparse's own exit, no ErToolkitError


# --------------------------------------------------------------------------- #
# fixtures: a small people file, a trained model, config helpers
# --------------------------------------------------------------------------- #
HEADER = PEOPLE.read_text().splitlines()[0]
ROWS = PEOPLE.read_text().splitlines()[1:121]
COLUMNS = HEADER.split(",")


def _row(**values: str) -> str:
    """A CSV row of the people file with the sentinels in its name and dob."""
    base = {c: "" for c in COLUMNS}
    base.update(
        rec_id="rec-evil-0",
        given_name=SENTINELS[0],
        surname=SENTINELS[1],
        date_of_birth=SENTINELS[2],
        soc_sec_id=SENTINELS[3],
        entity_id="99999",
    )
    base.update(values)
    return ",".join(base[c] for c in COLUMNS)


def _csv(*extra: str, header: str = HEADER, rows: list[str] | None = None) -> str:
    body = ROWS if rows is None else rows
    return "\n".join([header, *body, *extra]) + "\n"


def _base_config() -> dict[str, Any]:
    spec = tomllib.loads((DATA / "people_dedupe.toml").read_text())
    spec["sources"][0]["path"] = str(PEOPLE)
    spec["model"]["u_sample_size"] = 20_000
    return spec


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        inner = ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items())
        return "{ " + inner + " }"
    raise TypeError(type(v))


def to_toml(spec: dict[str, Any]) -> str:
    """A small TOML writer for config dicts (tables, arrays of tables, scalars)."""
    lines, tables, arrays = [], [], []
    for key, value in spec.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif (
            key in ("sources", "comparisons")
            and isinstance(value, list)
            and value
            and all(isinstance(x, dict) for x in value)
        ):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables:
        lines.append(f"[{key}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
    for key, items in arrays:
        for item in items:
            lines.append(f"[[{key}]]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    config = LinkageConfig.from_dict(_base_config(), base_dir=DATA)
    linker = Linker(config)
    linker.fit(linker.records())
    return linker.save(folder / "people.json")


@pytest.fixture(scope="module")
def model_dict(model_file) -> dict[str, Any]:
    return json.loads(model_file.read_text())


@dataclass
class Env:
    """Where a case's files go, and the shared model."""

    tmp: Path
    model: Path
    model_dict: dict[str, Any]

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def people(self, name: str = "people.csv", *extra: str, **kw: Any) -> Path:
        return self.write(name, _csv(*extra, **kw))

    def config(self, change: Callable[[dict[str, Any]], Any] | None = None) -> Path:
        spec = _base_config()
        if change is not None:
            change(spec)
        return self.write("config.toml", to_toml(spec))

    def model_with(self, change: Callable[[dict[str, Any]], Any]) -> Path:
        data = json.loads(json.dumps(self.model_dict))
        change(data)
        return self.write("model.json", json.dumps(data))

    def parquet(self, name: str, frame: pl.DataFrame | pa.Table) -> Path:
        path = self.tmp / name
        if isinstance(frame, pa.Table):
            import pyarrow.parquet as pq

            pq.write_table(frame, path)
        else:
            frame.write_parquet(path)
        return path


@pytest.fixture
def env(tmp_path, model_file, model_dict, monkeypatch) -> Env:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return Env(tmp_path, model_file, model_dict)


# --------------------------------------------------------------------------- #
# running a CLI in-process, recording the class of the error it reports
# --------------------------------------------------------------------------- #
@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    error: type[BaseException] | None


MAINS = {
    "score": score_cli,
    "train": train_cli,
    "label": label_cli,
    "profile": profile_cli,
}


def run_main(which: str, argv: list[str], capsys, monkeypatch) -> Result:
    module = MAINS[which]
    seen: list[type[BaseException]] = []
    real = er_cli.run_cli

    def recording(job):
        def wrapped():
            try:
                return job()
            except BaseException as exc:
                seen.append(type(exc))
                raise

        return real(wrapped)

    monkeypatch.setattr(module, "run_cli", recording)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    capsys.readouterr()
    try:
        code = module.main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
        seen.append(SystemExit)
    out = capsys.readouterr()
    return Result(code, out.out, out.err, seen[0] if seen else None)


def assert_one_line_error(result: Result, error: type, match: str) -> str:
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    assert result.error is not None and issubclass(result.error, error), result.error
    assert re.search(match, lines[0]), lines[0]
    for value in SENTINELS:
        assert value not in result.stderr and value not in result.stdout, value
    return lines[0]


# --------------------------------------------------------------------------- #
# the cases: (id, cli, argv builder, error class, message pattern)
# --------------------------------------------------------------------------- #
def score(
    input_builder: Callable[[Env], Any], *extra: str
) -> Callable[[Env], list[str]]:
    def argv(env: Env) -> list[str]:
        inputs = input_builder(env)
        inputs = inputs if isinstance(inputs, list) else [inputs]
        args = ["--model", str(env.model)]
        for path in inputs:
            args += ["--input", str(path)]
        return [*args, "--output", str(env.tmp / "out"), *extra]

    return argv


def score_model(model_builder: Callable[[Env], Path]) -> Callable[[Env], list[str]]:
    def argv(env: Env) -> list[str]:
        return [
            "--model",
            str(model_builder(env)),
            "--input",
            str(env.people()),
            "--output",
            str(env.tmp / "out"),
        ]

    return argv


def train(change: Callable[[dict[str, Any]], Any] | None = None, *extra: str):
    def argv(env: Env) -> list[str]:
        return ["--config", str(env.config(change)), "--no-register", *extra]

    return argv


def train_file(builder: Callable[[Env], Path], *extra: str):
    return lambda env: ["--config", str(builder(env)), *extra]


def profile(builder: Callable[[Env], Any], *extra: str):
    return lambda env: ["--input", str(builder(env)), *extra]


def label(change=None, *extra: str):
    return lambda env: ["--config", str(env.config(change)), *extra]


def _set(path: str, value: Any):
    """Set a dotted path (``model.max_iter``; ``comparisons.0.levels``) in a config."""

    def change(spec: dict[str, Any]) -> None:
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        node = spec
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def _levels(i: int, levels: list[dict[str, Any]]):
    return _set(f"comparisons.{i}.levels", levels)


def _utf16(env: Env) -> Path:
    return env.write("u16.csv", _csv().encode("utf-16"))


def _bad_utf8(env: Env) -> Path:
    text = _csv(_row(given_name="Zebedeexq\udcff"))
    return env.write("bad.csv", text.encode("utf-8", "surrogateescape"))


def _pq(frame: pl.DataFrame) -> Callable[[Env], Path]:
    return lambda env: env.parquet("ids.parquet", frame)


def _truncated_parquet(env: Env) -> Path:
    path = env.parquet("full.parquet", read_frame(env.people()))
    return env.write("trunc.parquet", path.read_bytes()[: path.stat().st_size // 2])


def _evil_classifier(env: Env) -> Path:
    """A classifier model whose estimator runs code: refused, never run."""
    marker = env.tmp / "ran"
    import skops.io as sio

    args = (f"open({str(marker)!r}, 'w').write('x')", {})
    inner = json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps(args))).read("schema.json"))
    node = {
        "__class__": "runstring",
        "__module__": "numpy.testing._private.utils",
        "__loader__": "ConstructorFromReduceNode",
        "content": inner,
        "protocol": inner.pop("protocol"),
        "_skops_version": inner.pop("_skops_version"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(node))
    payload = buffer.getvalue()
    data = json.loads(json.dumps(env.model_dict))
    data["config"]["model"].update(
        kind="classifier",
        estimator="logistic_regression",
        stack=False,
        calibration="sigmoid",
        threshold_strategy="max_f1",
        cv=2,
    )
    data["scorer"] = {
        "format_version": 1,
        "kind": "ClassifierScorer",
        "comparisons": data["config"]["comparisons"],
        "params": {
            "estimator": "logistic_regression",
            "calibration": "sigmoid",
            "threshold_strategy": "max_f1",
            "target_precision": None,
            "threshold": 0.5,
            "cv": 2,
            "seed": 0,
        },
        "fellegi_sunter": None,
        "fitted": {
            "threshold": 0.5,
            "threshold_reason": "x",
            "cv_metrics": {},
            "feature_names": [],
            "feature_importances": [],
            "feature_importances_std": [],
            "n_train": 10,
            "n_train_matches": 5,
            "estimator_skops": base64.b64encode(payload).decode(),
        },
    }
    return env.write("evil.json", json.dumps(data))


def _m_row(d: dict[str, Any]) -> list[float]:
    return d["scorer"]["fitted"]["m_"]["given_name"]


def _link_model(d: dict[str, Any]) -> None:
    d["config"]["link_type"] = "link"
    d["scorer"]["link_type"] = "link"
    d["config"]["sources"].append(dict(d["config"]["sources"][0], name="other"))


def _locked(env: Env) -> list[str]:
    from er_toolkit import io as er_io

    lock = er_io._OutputLock((env.tmp / "out").resolve())
    lock.__enter__()
    env.locks.append(lock)  # type: ignore[attr-defined]
    return score(lambda e: e.people())(env)


CASES: list[tuple[str, str, Callable[[Env], list[str]], type, str]] = [
    # ---- readers, through score --input -----------------------------------
    (
        "csv_missing",
        "score",
        score(lambda e: e.tmp / "nope.csv"),
        InputFormatError,
        r"does not exist",
    ),
    (
        "csv_is_folder",
        "score",
        score(lambda e: e.tmp),
        InputFormatError,
        r"is a folder; expected a file",
    ),
    (
        "csv_empty",
        "score",
        score(lambda e: e.write("e.csv", "")),
        EmptyInputError,
        r"is empty",
    ),
    (
        "csv_blank_lines_only",
        "score",
        score(lambda e: e.write("e.csv", "\n\n\n")),
        EmptyInputError,
        r"is empty",
    ),
    (
        "csv_header_only",
        "score",
        score(lambda e: e.write("h.csv", HEADER + "\n")),
        EmptyInputError,
        r"holds no records",
    ),
    (
        "csv_short_row",
        "score",
        score(lambda e: e.people("s.csv", _row().rsplit(",", 3)[0])),
        InputFormatError,
        r"line 122 has 9 field\(s\) but the header has 12",
    ),
    (
        "csv_long_row",
        "score",
        score(lambda e: e.people("l.csv", _row() + ",extra,more")),
        InputFormatError,
        r"line 122 has 14 field\(s\) but the header has 12",
    ),
    (
        "csv_short_row_middle",
        "score",
        score(
            lambda e: e.write(
                "m.csv", _csv(rows=[*ROWS[:5], "rec-x,Zebedeexq", *ROWS[5:]])
            )
        ),
        InputFormatError,
        r"line 7 has 2 field",
    ),
    (
        "csv_truncated_last_line",
        "score",
        score(lambda e: e.write("t.csv", _csv().rstrip("\n") + "\nrec-9,Zebedeexq")),
        InputFormatError,
        r"line 122 has 2 field",
    ),
    (
        "csv_unclosed_quote",
        "score",
        score(lambda e: e.people("q.csv", _row(given_name='"Zebedeexq'))),
        InputFormatError,
        r"quoted field opened on line 122 is never closed",
    ),
    (
        "csv_stray_quote",
        "score",
        score(lambda e: e.people("q2.csv", _row(given_name='Zebe"deexq'))),
        InputFormatError,
        r"line 122",
    ),
    (
        "csv_bad_utf8",
        "score",
        score(_bad_utf8),
        InputFormatError,
        r"not valid UTF-8: the first bad byte is at offset \d+ \(line 122\)",
    ),
    (
        "csv_utf16",
        "score",
        score(_utf16),
        InputFormatError,
        r"is UTF-16 text, not a CSV file",
    ),
    (
        "csv_is_parquet",
        "score",
        score(lambda e: e.write("p.csv", b"PAR1" + b"\x00" * 50)),
        InputFormatError,
        r"is a Parquet file, not a CSV",
    ),
    (
        "csv_is_zip",
        "score",
        score(lambda e: e.write("z.csv", b"PK\x03\x04" + b"\x00" * 50)),
        InputFormatError,
        r"is a zip archive",
    ),
    (
        "csv_is_gzip",
        "score",
        score(lambda e: e.write("g.csv", b"\x1f\x8b\x08\x00" + b"\x00" * 20)),
        InputFormatError,
        r"gzip",
    ),
    (
        "csv_nul_bytes",
        "score",
        score(lambda e: e.write("n.csv", (_csv() + "rec-z,\x00\x00\n").encode())),
        InputFormatError,
        r"holds a NUL byte at offset \d+ \(line 122\): binary data",
    ),
    (
        "csv_duplicate_header",
        "score",
        score(
            lambda e: e.write(
                "d.csv", _csv(header=HEADER.replace("surname", "given_name"))
            )
        ),
        InputFormatError,
        r"names column 'given_name' more than once",
    ),
    (
        "csv_semicolons",
        "score",
        score(
            lambda e: e.write(
                "semi.csv",
                "\n".join(r.replace(",", ";") for r in _csv().splitlines()) + "\n",
            )
        ),
        SchemaError,
        r"is that the separator",
    ),
    (
        "csv_unknown_suffix",
        "score",
        score(lambda e: e.write("people.json", "{}")),
        InputFormatError,
        r"expected a file ending in \.csv",
    ),
    (
        "csv_xlsx",
        "score",
        score(lambda e: e.write("people.xlsx", b"PK\x03\x04")),
        InputFormatError,
        r"expected a file ending in",
    ),
    (
        "csv_no_id_column",
        "score",
        score(
            lambda e: e.write("noid.csv", _csv(header=HEADER.replace("rec_id", "id")))
        ),
        SchemaError,
        r"lacks column\(s\) \['rec_id'\]",
    ),
    (
        "csv_no_model_column",
        "score",
        score(
            lambda e: e.write(
                "nocol.csv", _csv(header=HEADER.replace("surname", "family"))
            )
        ),
        SchemaError,
        r"lacks column\(s\) \['surname'\]",
    ),
    (
        "csv_null_id",
        "score",
        score(lambda e: e.people("nid.csv", _row(rec_id=""))),
        SchemaError,
        r"has 1 null value",
    ),
    (
        "csv_blank_id",
        "score",
        score(lambda e: e.people("bid.csv", _row(rec_id='"   "'))),
        SchemaError,
        r"has 1 blank value",
    ),
    (
        "csv_duplicate_id",
        "score",
        score(lambda e: e.people("dup.csv", _row(rec_id=ROWS[0].split(",")[0]))),
        DuplicateIdError,
        r"must be unique within the source; 1 id\(s\) repeat",
    ),
    (
        "csv_unknown_encoding",
        "score",
        score(lambda e: e.people(), "--encoding", "klingon"),
        InputFormatError,
        r"Unknown encoding 'klingon'",
    ),
    (
        "csv_wrong_encoding",
        "score",
        score(
            lambda e: e.people("zoe.csv", _row(given_name="Zoë")), "--encoding", "ascii"
        ),
        InputFormatError,
        r"is not valid ascii: the first bad byte is at offset \d+",
    ),
    (
        "parquet_truncated",
        "score",
        score(_truncated_parquet),
        InputFormatError,
        r"not a readable Parquet file: it is truncated or corrupt",
    ),
    (
        "parquet_random",
        "score",
        score(lambda e: e.write("r.parquet", os.urandom(2000))),
        InputFormatError,
        r"not a readable Parquet file",
    ),
    (
        "parquet_empty",
        "score",
        score(lambda e: e.write("e.parquet", b"")),
        InputFormatError,
        r"not a readable Parquet file",
    ),
    (
        "parquet_is_csv",
        "score",
        score(lambda e: e.write("c.parquet", _csv())),
        InputFormatError,
        r"not a readable Parquet file",
    ),
    (
        "parquet_nan_id",
        "score",
        score(
            _pq(
                read_frame(PEOPLE)
                .head(50)
                .with_columns(
                    pl.Series("rec_id", [float("nan")] + [float(i) for i in range(49)])
                )
            )
        ),
        SchemaError,
        r"1 NaN or infinite value",
    ),
    (
        "parquet_inf_id",
        "score",
        score(
            _pq(
                read_frame(PEOPLE)
                .head(50)
                .with_columns(
                    pl.Series("rec_id", [float("inf")] + [float(i) for i in range(49)])
                )
            )
        ),
        SchemaError,
        r"NaN or infinite",
    ),
    (
        "parquet_list_id",
        "score",
        score(
            _pq(
                read_frame(PEOPLE)
                .head(50)
                .with_columns(pl.Series("rec_id", [[i] for i in range(50)]))
            )
        ),
        SchemaError,
        r"holds List\(Int64\) values",
    ),
    (
        "parquet_struct_id",
        "score",
        score(
            _pq(
                read_frame(PEOPLE)
                .head(50)
                .with_columns(pl.struct(a=pl.int_range(50)).alias("rec_id"))
            )
        ),
        SchemaError,
        r"holds Struct",
    ),
    (
        "parquet_binary_id",
        "score",
        score(
            _pq(
                read_frame(PEOPLE)
                .head(50)
                .with_columns(pl.Series("rec_id", [b"x%d" % i for i in range(50)]))
            )
        ),
        SchemaError,
        r"holds Binary values",
    ),
    (
        "parquet_null_ids",
        "score",
        score(
            _pq(
                read_frame(PEOPLE)
                .head(50)
                .with_columns(pl.lit(None, dtype=pl.String).alias("rec_id"))
            )
        ),
        SchemaError,
        r"50 null value",
    ),
    (
        "parquet_header_only",
        "score",
        score(_pq(read_frame(PEOPLE).head(0))),
        EmptyInputError,
        r"holds no records",
    ),
    (
        "parquet_list_column",
        "score",
        score(
            _pq(
                read_frame(PEOPLE)
                .head(50)
                .with_columns(pl.col("given_name").str.split(" "))
            )
        ),
        SchemaError,
        r"column\(s\) 'given_name' \(List\(String\)\) hold nested, binary or object values",
    ),
    (
        "parquet_struct_column",
        "score",
        score(
            _pq(
                read_frame(PEOPLE)
                .head(50)
                .with_columns(pl.struct("surname", "state").alias("surname"))
            )
        ),
        SchemaError,
        r"'surname' \(Struct",
    ),
    (
        "parquet_binary_column",
        "score",
        score(
            _pq(
                read_frame(PEOPLE)
                .head(50)
                .with_columns(pl.col("suburb").cast(pl.Binary))
            )
        ),
        SchemaError,
        r"'suburb' \(Binary\)",
    ),
    # ---- model files, through score --model ---------------------------------
    (
        "model_missing",
        "score",
        score_model(lambda e: e.tmp / "nope.json"),
        ModelFormatError,
        r"Model file .* does not exist",
    ),
    (
        "model_folder",
        "score",
        score_model(lambda e: e.tmp),
        ModelFormatError,
        r"is a folder",
    ),
    (
        "model_parquet",
        "score",
        score_model(lambda e: e.parquet("m.parquet", pl.DataFrame({"a": [1]}))),
        ModelFormatError,
        r"is a Parquet file, not a text file",
    ),
    (
        "model_pickle",
        "score",
        score_model(lambda e: e.write("m.pkl", b"\x80\x04\x95\x10\x00\x00")),
        ModelFormatError,
        r"is a Python pickle",
    ),
    (
        "model_zip",
        "score",
        score_model(lambda e: e.write("m.skops", b"PK\x03\x04\x14\x00")),
        ModelFormatError,
        r"is a zip archive",
    ),
    (
        "model_sqlite",
        "score",
        score_model(lambda e: e.write("m.db", b"SQLite format 3\x00" + b"\x00" * 30)),
        ModelFormatError,
        r"SQLite database",
    ),
    (
        "model_not_json",
        "score",
        score_model(lambda e: e.write("m.json", "model = 1")),
        ModelFormatError,
        r"is not JSON",
    ),
    (
        "model_bad_utf8",
        "score",
        score_model(lambda e: e.write("m.json", b'{"a": "\xff"}')),
        ModelFormatError,
        r"not valid UTF-8 text: the first bad byte is at offset 7",
    ),
    (
        "model_deep",
        "score",
        score_model(lambda e: e.write("m.json", "[" * 200_000 + "]" * 200_000)),
        ModelFormatError,
        r"nests too deeply|is not JSON",
    ),
    (
        "model_list",
        "score",
        score_model(lambda e: e.write("m.json", "[]")),
        ModelFormatError,
        r"a JSON object of kind 'er_toolkit.Linker'\); got a JSON list",
    ),
    (
        "model_newer",
        "score",
        score_model(lambda e: e.model_with(lambda d: d.update(format_version=3))),
        ModelFormatError,
        r"is 3, newer than the 2 this er_toolkit reads",
    ),
    (
        "model_no_version",
        "score",
        score_model(lambda e: e.model_with(lambda d: d.pop("format_version"))),
        ModelFormatError,
        r"'format_version' must be one of \[1, 2\]",
    ),
    (
        "model_kind",
        "score",
        score_model(lambda e: e.model_with(lambda d: d.update(kind="splink"))),
        ModelFormatError,
        r"'kind' must be 'er_toolkit.Linker'",
    ),
    (
        "model_no_config",
        "score",
        score_model(lambda e: e.model_with(lambda d: d.pop("config"))),
        ModelFormatError,
        r"'config' is missing",
    ),
    (
        "model_no_scorer",
        "score",
        score_model(lambda e: e.model_with(lambda d: d.pop("scorer"))),
        ModelFormatError,
        r"'scorer' is missing",
    ),
    (
        "model_m_above_one",
        "score",
        score_model(lambda e: e.model_with(lambda d: _m_row(d).__setitem__(0, 1.7))),
        ModelFormatError,
        r"'scorer.fitted.m_.given_name\[0\]' must be a number in \(0, 1\)",
    ),
    (
        "model_m_nan",
        "score",
        score_model(
            lambda e: e.model_with(lambda d: _m_row(d).__setitem__(1, float("nan")))
        ),
        ModelFormatError,
        r"m_.given_name\[1\]' must be a finite number",
    ),
    (
        "model_m_infinity",
        "score",
        score_model(
            lambda e: e.model_with(lambda d: _m_row(d).__setitem__(1, float("inf")))
        ),
        ModelFormatError,
        r"must be a finite number",
    ),
    (
        "model_m_sum",
        "score",
        score_model(
            lambda e: e.model_with(
                lambda d: d["scorer"]["fitted"]["m_"].__setitem__(
                    "given_name", [0.25, 0.25, 0.25, 0.2]
                )
            )
        ),
        ModelFormatError,
        r"must sum to 1",
    ),
    (
        "model_m_length",
        "score",
        score_model(lambda e: e.model_with(lambda d: _m_row(d).append(0.0))),
        ModelFormatError,
        r"must be a list of 4 probabilities",
    ),
    (
        "model_u_missing_row",
        "score",
        score_model(
            lambda e: e.model_with(lambda d: d["scorer"]["fitted"]["u_"].pop("state"))
        ),
        ModelFormatError,
        r"'scorer.fitted.u_' must be one row per comparison",
    ),
    (
        "model_lambda_zero",
        "score",
        score_model(
            lambda e: e.model_with(
                lambda d: d["scorer"]["fitted"].update(
                    probability_two_random_records_match_=0
                )
            )
        ),
        ModelFormatError,
        r"fitted.probability_two_random_records_match_' must be a number in \(0, 1\)",
    ),
    (
        "model_lambda_nan",
        "score",
        score_model(
            lambda e: e.model_with(
                lambda d: d["scorer"]["fitted"].update(
                    probability_two_random_records_match_=float("nan")
                )
            )
        ),
        ModelFormatError,
        r"fitted.probability_two_random_records_match_' must be a finite number",
    ),
    (
        "model_lambda_string",
        "score",
        score_model(
            lambda e: e.model_with(
                lambda d: d["scorer"]["fitted"].update(
                    probability_two_random_records_match="0.01"
                )
            )
        ),
        ModelFormatError,
        r"probability_two_random_records_match'",
    ),
    (
        "model_threshold",
        "score",
        score_model(
            lambda e: e.model_with(lambda d: d["config"].update(threshold=1.5))
        ),
        ModelFormatError,
        r"'config'.*threshold.*\[0, 1\]",
    ),
    (
        "model_comparisons_differ",
        "score",
        score_model(
            lambda e: e.model_with(
                lambda d: d["scorer"]["comparisons"][0]["levels"][1].update(
                    min_similarity=0.5
                )
            )
        ),
        ModelFormatError,
        r"differs from 'config.comparisons'",
    ),
    (
        "model_link_type_differs",
        "score",
        score_model(
            lambda e: e.model_with(lambda d: d["scorer"].update(link_type="link"))
        ),
        ModelFormatError,
        r"'scorer.link_type' is 'link' but 'config.link_type' is 'dedupe'",
    ),
    (
        "model_level_kind",
        "score",
        score_model(
            lambda e: e.model_with(
                lambda d: [
                    c["levels"][0].update(kind="fuzzy")
                    for c in (
                        d["config"]["comparisons"][0],
                        d["scorer"]["comparisons"][0],
                    )
                ]
            )
        ),
        ModelFormatError,
        r"'config'.*'kind' must be one of",
    ),
    (
        "model_max_iter",
        "score",
        score_model(
            lambda e: e.model_with(lambda d: d["scorer"]["params"].update(max_iter=0))
        ),
        ModelFormatError,
        r"'scorer.params.max_iter' must be an integer >= 1",
    ),
    (
        "model_n_records",
        "score",
        score_model(
            lambda e: e.model_with(lambda d: d["scorer"]["fitted"].update(n_records=-1))
        ),
        ModelFormatError,
        r"n_records",
    ),
    (
        "model_evil_estimator",
        "score",
        score_model(_evil_classifier),
        ModelFormatError,
        r"runstring.*refusing to load it",
    ),
    # ---- score options --------------------------------------------------------
    (
        "model_url",
        "score",
        score_model(lambda e: "http://169.254.169.254/latest/meta-data"),
        ModelFormatError,
        r"other URLs are not fetched",
    ),
    (
        "model_file_url",
        "score",
        score_model(lambda e: "file:///etc/passwd"),
        ModelFormatError,
        r"other URLs are not fetched",
    ),
    (
        "score_threshold_nan",
        "score",
        score(lambda e: e.people(), "--threshold", "nan"),
        ConfigError,
        r"threshold must be a number; got NaN",
    ),
    (
        "score_threshold_high",
        "score",
        score(lambda e: e.people(), "--threshold", "2"),
        ConfigError,
        r"threshold on 'match_probability' must be in \[0, 1\]; got 2.0",
    ),
    (
        "score_threshold_word",
        "score",
        score(lambda e: e.people(), "--threshold", "high"),
        ARGPARSE,
        r"argument --threshold: invalid float value",
    ),
    (
        "score_no_model_option",
        "score",
        lambda e: ["--input", str(e.people()), "--output", "out"],
        ARGPARSE,
        r"the following arguments are required: --model",
    ),
    (
        "score_unknown_option",
        "score",
        score(lambda e: e.people(), "--frobnicate"),
        ARGPARSE,
        r"unrecognized arguments: --frobnicate",
    ),
    (
        "score_names_count",
        "score",
        score(lambda e: e.people(), "--source-name", "a", "--source-name", "b"),
        ConfigError,
        r"1 --input file\(s\) but 2 --source-name",
    ),
    (
        "score_link_one_input",
        "score",
        lambda e: [
            "--model",
            str(e.model_with(_link_model)),
            "--input",
            str(e.people()),
            "--output",
            "out",
        ],
        ConfigError,
        r"links sources, so it needs at least two --input files",
    ),
    (
        "score_id_column_missing",
        "score",
        score(lambda e: e.people(), "--id-column", "cust_no"),
        SchemaError,
        r"lacks column\(s\) \['cust_no'\]",
    ),
    (
        "score_output_foreign",
        "score",
        lambda e: (
            (e.tmp / "out").mkdir(),
            (e.tmp / "out" / "keep.txt").write_text("x"),
            score(lambda e2: e2.people())(e),
        )[-1],
        OutputError,
        r"holds 1 file\(s\) that are not part of an er_toolkit output set",
    ),
    (
        "score_output_file",
        "score",
        lambda e: (e.write("out", "x"), score(lambda e2: e2.people())(e))[-1],
        OutputError,
        r"exists and is not a folder",
    ),
    (
        "score_output_cwd",
        "score",
        lambda e: [*score(lambda e2: e2.people())(e)[:-1], "."],
        OutputError,
        r"is the working folder",
    ),
    (
        "score_output_locked",
        "score",
        _locked,
        OutputError,
        r"being written by another run",
    ),
    (
        "score_tracking_uri",
        "score",
        score(lambda e: e.people(), "--tracking-uri", "ftp://host/x"),
        ConfigError,
        r"scheme 'ftp', which MLflow cannot track to",
    ),
    # ---- configs, through train --------------------------------------------
    (
        "config_missing",
        "train",
        train_file(lambda e: e.tmp / "nope.toml"),
        ConfigError,
        r"does not exist",
    ),
    (
        "config_folder",
        "train",
        train_file(lambda e: e.tmp),
        ConfigError,
        r"is a folder; expected a file",
    ),
    (
        "config_binary",
        "train",
        train_file(lambda e: e.write("c.toml", b"PAR1\x00\x00")),
        ConfigError,
        r"is a Parquet file, not a text file",
    ),
    (
        "config_bad_utf8",
        "train",
        train_file(lambda e: e.write("c.toml", b'name = "\xff"\n')),
        ConfigError,
        r"not valid UTF-8 text: the first bad byte is at offset 8",
    ),
    (
        "config_not_toml",
        "train",
        train_file(lambda e: e.write("c.toml", "name = \n")),
        ConfigError,
        r"is not valid TOML",
    ),
    (
        "config_max_iter_zero",
        "train",
        train(_set("model.max_iter", 0)),
        ConfigError,
        r"'\[model\] max_iter' must be an integer >= 1; got 0",
    ),
    (
        "config_max_iter_string",
        "train",
        train(_set("model.max_iter", "100")),
        ConfigError,
        r"'\[model\] max_iter' must be an integer >= 1; got '100'",
    ),
    (
        "config_max_iter_float",
        "train",
        train(_set("model.max_iter", 10.5)),
        ConfigError,
        r"'\[model\] max_iter' must be an integer >= 1; got 10.5",
    ),
    (
        "config_u_sample_zero",
        "train",
        train(_set("model.u_sample_size", 0)),
        ConfigError,
        r"'\[model\] u_sample_size' must be an integer >= 1; got 0",
    ),
    (
        "config_u_sample_negative",
        "train",
        train(_set("model.u_sample_size", -5)),
        ConfigError,
        r"'\[model\] u_sample_size' must be an integer >= 1; got -5",
    ),
    (
        "config_session_cap_negative",
        "train",
        train(_set("model.max_pairs_per_session", -1)),
        ConfigError,
        r"'\[model\] max_pairs_per_session' must be an integer >= 1, or \"none\" for no limit; got -1",
    ),
    (
        "config_seed_negative",
        "train",
        train(_set("model.seed", -1)),
        ConfigError,
        r"'\[model\] seed' must be an integer in \[0, 4294967295\]; got -1",
    ),
    (
        "config_seed_huge",
        "train",
        train(_set("model.seed", 2**40)),
        ConfigError,
        r"'\[model\] seed' must be an integer in \[0, 4294967295\]; got 1099511627776",
    ),
    (
        "config_recall_zero",
        "train",
        train(_set("model.deterministic_recall", 0.0)),
        ConfigError,
        r"'\[model\] deterministic_recall' must be a number in \(0, 1\]; got 0.0",
    ),
    (
        "config_lambda_one",
        "train",
        train(_set("model.probability_two_random_records_match", 1.0)),
        ConfigError,
        r"'\[model\] probability_two_random_records_match' must be a number in \(0, 1\); got 1.0",
    ),
    (
        "config_lambda_nan",
        "train",
        train(_set("model.probability_two_random_records_match", float("nan"))),
        ConfigError,
        r"'\[model\] probability_two_random_records_match' must be a number in \(0, 1\); got nan",
    ),
    (
        "config_training_rules_strings",
        "train",
        train(_set("model.training_rules", ["given_name", "surname"])),
        ConfigError,
        r"\[model\] training_rules number 1 to be a blocker table \(with 'kind'\) or a list of column names; got str",
    ),
    (
        "config_deterministic_empty_rule",
        "train",
        train(_set("model.deterministic_rules", [[]])),
        ConfigError,
        r"In \[model\] deterministic_rules number 1: The 'keys' of ExactRule must be a non-empty list.*; got \(\)",
    ),
    (
        "config_threshold_high",
        "train",
        train(_set("threshold", 2.0)),
        ConfigError,
        r"'threshold' must be a number in \[0, 1\]; got 2.0",
    ),
    (
        "config_threshold_nan",
        "train",
        train(_set("threshold", float("nan"))),
        ConfigError,
        r"'threshold' must be a number in \[0, 1\]; got nan",
    ),
    (
        "config_threshold_string",
        "train",
        train(_set("threshold", "high")),
        ConfigError,
        r"'threshold' must be a number in \[0, 1\]; got 'high'",
    ),
    (
        "config_keep_above",
        "train",
        train(_set("clustering", {"keep_above": 2})),
        ConfigError,
        r"'\[clustering\] keep_above' must be a number in \[0, 1\]; got 2",
    ),
    (
        "config_max_cluster_negative",
        "train",
        train(_set("clustering", {"max_cluster_size": -3})),
        ConfigError,
        r"'\[clustering\] max_cluster_size' must be an integer >= 1, or \"none\" for no limit; got -3",
    ),
    (
        "config_levels_out_of_order",
        "train",
        train(
            _levels(
                0,
                [
                    {"kind": "similarity", "min_similarity": 0.8},
                    {"kind": "similarity", "min_similarity": 0.92},
                ],
            )
        ),
        ConfigError,
        r"level 2 \(jaro_winkler >= 0.92\) can never be reached: level 1",
    ),
    (
        "config_exact_after_similarity",
        "train",
        train(
            _levels(
                1, [{"kind": "similarity", "min_similarity": 0.9}, {"kind": "exact"}]
            )
        ),
        ConfigError,
        r"level 2 \(exact\) can never be reached",
    ),
    (
        "config_distance_out_of_order",
        "train",
        train(
            _levels(
                9,
                [
                    {"kind": "exact"},
                    {
                        "kind": "distance",
                        "comparator": "damerau_levenshtein",
                        "max_distance": 2,
                    },
                    {
                        "kind": "distance",
                        "comparator": "damerau_levenshtein",
                        "max_distance": 1,
                    },
                ],
            )
        ),
        ConfigError,
        r"damerau_levenshtein <= 1\) can never be reached",
    ),
    (
        "config_duplicate_level",
        "train",
        train(_levels(7, [{"kind": "exact"}, {"kind": "exact"}])),
        ConfigError,
        r"level 2 \(exact\) can never be reached",
    ),
    (
        "config_date_days_out_of_order",
        "train",
        train(
            _levels(
                8,
                [
                    {"kind": "date_difference", "max_days": 30},
                    {"kind": "date_difference", "max_days": 10},
                ],
            )
        ),
        ConfigError,
        r"within 10 days\) can never be reached",
    ),
    (
        "config_date_format_directive",
        "train",
        train(_set("comparisons.8.date_format", "%Y%m%Q")),
        ConfigError,
        r"unknown directive\(s\) \['%Q'\]",
    ),
    (
        "config_date_format_no_year",
        "train",
        train(_set("comparisons.8.date_format", "%m%d")),
        ConfigError,
        r"does not give a whole date",
    ),
    (
        "config_date_format_no_directive",
        "train",
        train(_set("comparisons.8.date_format", "yyyymmdd")),
        ConfigError,
        r"does not give a whole date",
    ),
    (
        "config_date_format_hour_only",
        "train",
        train(_set("comparisons.8.date_format", "%Y%m%d %H")),
        ConfigError,
        r"is not a valid format",
    ),
    (
        "config_date_format_trailing_percent",
        "train",
        train(_set("comparisons.8.date_format", "%Y%m%d%")),
        ConfigError,
        r"unknown directive",
    ),
    (
        "config_comparisons_table",
        "train",
        train(_set("comparisons", {"name": "x"})),
        ConfigError,
        r"comparisons must be an array of tables",
    ),
    (
        "config_model_string",
        "train",
        train(_set("model", "classifier")),
        ConfigError,
        r"\[model\] must be a table",
    ),
    (
        "config_blocking_string",
        "train",
        train(_set("blocking", "given_name")),
        ConfigError,
        r"\[blocking\] must be a table",
    ),
    (
        "config_levels_empty",
        "train",
        train(_levels(0, [])),
        ConfigError,
        r"levels must be a non-empty array",
    ),
    (
        "config_levels_strings",
        "train",
        train(_set("comparisons.0.levels", ["exact"])),
        ConfigError,
        r"levels must be a non-empty array of tables",
    ),
    (
        "config_min_similarity_string",
        "train",
        train(_levels(0, [{"kind": "similarity", "min_similarity": "0.9"}])),
        ConfigError,
        r"'min_similarity' of a 'similarity' level must be a float",
    ),
    (
        "config_term_frequency_string",
        "train",
        train(_levels(0, [{"kind": "exact", "term_frequency": "yes"}])),
        ConfigError,
        r"'term_frequency' of a 'exact' level must be a bool",
    ),
    (
        "config_max_distance_float",
        "train",
        train(_levels(6, [{"kind": "distance", "max_distance": 1.5}])),
        ConfigError,
        r"'max_distance' of a 'distance' level must be an int",
    ),
    (
        "config_level_kind",
        "train",
        train(_levels(0, [{"kind": "soundex"}])),
        ConfigError,
        r"level's 'kind' must be one of",
    ),
    (
        "config_comparison_name_number",
        "train",
        train(_set("comparisons.0.name", 5)),
        ConfigError,
        r"name must be a string; got 5",
    ),
    (
        "config_source_part",
        "train",
        train(_set("sources.0.part", 3)),
        ConfigError,
        r"part must be an integer in \[0, 1\]",
    ),
    (
        "config_source_dataset",
        "train",
        train(
            lambda s: (
                s["sources"][0].update(dataset="febrl9", path=None)
                or s["sources"][0].pop("path")
            )
        ),
        ConfigError,
        r"dataset must be one of",
    ),
    (
        "config_source_encoding",
        "train",
        train(_set("sources.0.encoding", "klingon")),
        ConfigError,
        r"encoding must be a codec Python knows",
    ),
    (
        "config_source_missing_file",
        "train",
        train(_set("sources.0.path", "/nonexistent/people.csv"), "--no-mlflow"),
        InputFormatError,
        r"does not exist",
    ),
    (
        "config_source_ragged",
        "train",
        lambda e: train(
            _set("sources.0.path", str(e.people("r.csv", _row() + ",x"))), "--no-mlflow"
        )(e),
        InputFormatError,
        r"line 122 has 13 field",
    ),
    (
        "config_format_newer",
        "train",
        train(_set("format_version", 3)),
        ConfigError,
        r"format_version 3, written by a newer er_toolkit; .* reads format_version 1 to 2",
    ),
    (
        "config_name_empty",
        "train",
        train(_set("name", "  ")),
        ConfigError,
        r"'name' must be a non-empty string",
    ),
    (
        "config_name_slash",
        "train",
        train(_set("name", "crm/prod")),
        ConfigError,
        r"cannot be an MLflow registered model name: it holds '/'",
    ),
    (
        "config_name_colon",
        "train",
        train(_set("name", "crm:v2")),
        ConfigError,
        r"it holds ':'",
    ),
    (
        "config_name_percent",
        "train",
        train(_set("name", "100%")),
        ConfigError,
        r"it holds '%'",
    ),
    (
        "config_name_dots",
        "train",
        train(_set("name", "..")),
        ConfigError,
        r"not a plain name",
    ),
    (
        "config_experiment_long",
        "train",
        train(_set("experiment", "x" * 600)),
        ConfigError,
        r"'experiment' must be a non-empty string of at most 500",
    ),
    (
        "config_unknown_key",
        "train",
        train(_set("model.max_iterations", 5)),
        ConfigError,
        r"Unknown key\(s\) \['max_iterations'\] in \[model\]",
    ),
    (
        "config_classifier_cv",
        "train",
        train(lambda s: s["model"].update(kind="classifier", cv=1)),
        ConfigError,
        r"'\[model\] cv' must be an integer >= 2; got 1",
    ),
    (
        "train_tracking_uri",
        "train",
        train(None, "--tracking-uri", "s3://bucket/mlruns"),
        ConfigError,
        r"scheme 's3', which MLflow cannot track to",
    ),
    (
        "train_tracking_sqlite_relative",
        "train",
        train(None, "--tracking-uri", "sqlite://mlflow.db"),
        ConfigError,
        r"an SQLite URI is sqlite:///",
    ),
    (
        "train_env_tracking_uri",
        "train",
        lambda e: (
            os.environ.__setitem__("MLFLOW_TRACKING_URI", "gopher://x"),
            train()(e),
        )[-1],
        ConfigError,
        r"scheme 'gopher'",
    ),
    (
        "train_save_folder",
        "train",
        lambda e: train(None, "--no-mlflow", "--save", str(e.tmp))(e),
        ConfigError,
        r"--save .* is a folder; give a file name",
    ),
    (
        "train_save_under_file",
        "train",
        lambda e: train(
            None, "--no-mlflow", "--save", str(e.write("f.txt", "x") / "m.json")
        )(e),
        ConfigError,
        r"is a file, not a folder",
    ),
    ("train_no_config", "train", lambda e: [], ARGPARSE, r"required: --config"),
    # ---- profile ----------------------------------------------------------------
    (
        "profile_missing",
        "profile",
        profile(lambda e: e.tmp / "x.csv"),
        InputFormatError,
        r"does not exist",
    ),
    (
        "profile_ragged",
        "profile",
        profile(lambda e: e.people("r.csv", _row() + ",x")),
        InputFormatError,
        r"line 122 has 13 field",
    ),
    (
        "profile_bad_utf8",
        "profile",
        profile(_bad_utf8),
        InputFormatError,
        r"not valid UTF-8",
    ),
    (
        "profile_top_n",
        "profile",
        profile(lambda e: e.people(), "--top-n", "0"),
        ConfigError,
        r"--top-n must be at least 1",
    ),
    (
        "profile_standardise_spec",
        "profile",
        profile(lambda e: e.people(), "--standardise", "phone"),
        ConfigError,
        r"--standardise takes COLUMN=KIND",
    ),
    (
        "profile_standardise_json",
        "profile",
        profile(lambda e: e.people(), "--standardise", "x={bad"),
        ConfigError,
        r"is not valid",
    ),
    (
        "profile_output_suffix",
        "profile",
        profile(lambda e: e.people(), "--output", "p.json"),
        InputFormatError,
        r"--output must end in",
    ),
    (
        "profile_source_column",
        "profile",
        profile(lambda e: e.people(), "--source-column", "system"),
        ConfigError,
        r"--source-column 'system' is not a column",
    ),
    (
        "profile_parquet_corrupt",
        "profile",
        profile(lambda e: e.write("r.parquet", b"PAR1garbage")),
        InputFormatError,
        r"not a readable Parquet",
    ),
    # ---- label ------------------------------------------------------------------
    (
        "label_batch",
        "label",
        label(None, "--batch", "0", "--labels", "l.csv"),
        ConfigError,
        r"--batch must be >= 1",
    ),
    (
        "label_missing_config",
        "label",
        lambda e: ["--config", str(e.tmp / "no.toml"), "--labels", "l.csv"],
        ConfigError,
        r"does not exist",
    ),
    (
        "label_bad_config",
        "label",
        label(_set("model.max_iter", -1), "--labels", "l.csv"),
        ConfigError,
        r"'\[model\] max_iter' must be an integer >= 1; got -1",
    ),
    (
        "label_no_labels_path",
        "label",
        label(None),
        ConfigError,
        r"Where should the labels go",
    ),
    (
        "label_ragged_labels",
        "label",
        lambda e: label(
            None,
            "--labels",
            str(e.write("l.csv", "record_id_l,record_id_r,is_match\nrec-1,rec-2\n")),
        )(e),
        InputFormatError,
        r"line 2 has 2 field\(s\) but the header has 3",
    ),
    (
        "label_labels_columns",
        "label",
        lambda e: label(None, "--labels", str(e.write("l.csv", "a,b\n1,2\n")))(e),
        LabelError,
        r"lacks column\(s\)",
    ),
]


@pytest.fixture
def locks(env):
    env.locks = []  # type: ignore[attr-defined]
    yield
    for lock in env.locks:  # type: ignore[attr-defined]
        lock.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("which", "argv", "error", "match"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_input_is_one_line_and_exit_2(
    env, locks, capsys, monkeypatch, which, argv, error, match
):
    result = run_main(which, argv(env), capsys, monkeypatch)
    assert_one_line_error(result, error, match)
    assert not (env.tmp / "ran").exists()  # nothing from a model file ran
    assert not (env.tmp / "out" / "scored_pairs.parquet").exists()
    assert not [p for p in env.tmp.iterdir() if ".er-tmp-" in p.name]


def test_there_are_at_least_a_hundred_cases():
    assert len(CASES) >= 100
    assert len({c[0] for c in CASES}) == len(CASES)
    assert {c[1] for c in CASES} == set(MAINS)


# --------------------------------------------------------------------------- #
# the Python API: the same mechanisms, the error classes directly
# --------------------------------------------------------------------------- #
API_CASES: list[tuple[str, Callable[[Env], Any], type, str]] = [
    (
        "read_ragged",
        lambda e: read_frame(e.people("r.csv", _row() + ",x")),
        InputFormatError,
        r"line 122 has 13",
    ),
    (
        "read_bad_utf8_offset",
        lambda e: read_frame(_bad_utf8(e)),
        InputFormatError,
        r"offset \d+ \(line 122\)",
    ),
    ("read_folder", lambda e: read_frame(e.tmp), InputFormatError, r"is a folder"),
    (
        "read_unknown_encoding",
        lambda e: read_frame(e.people(), encoding="klingon"),
        InputFormatError,
        r"Unknown encoding",
    ),
    (
        "read_pandas_mixed",
        lambda e: read_frame(pd.DataFrame({"id": [1, "Zebedeexq", 3.5]})),
        InputFormatError,
        r"column 'id' could not be converted",
    ),
    (
        "read_pandas_mixed_other",
        lambda e: read_frame(pd.DataFrame({"ok": [1, 2], "dob": [SENTINELS[2], 5]})),
        InputFormatError,
        r"column 'dob' could not be converted",
    ),
    (
        "read_unsupported_object",
        lambda e: read_frame({"id": [1]}),
        InputFormatError,
        r"got dict",
    ),
    (
        "read_lazy_failure",
        lambda e: read_frame(
            pl.LazyFrame({"a": ["Zebedeexq"]}).select(pl.col("a").cast(pl.Int64))
        ),
        InputFormatError,
        r"could not be collected \(InvalidOperationError\)",
    ),
    (
        "prepare_list_ids",
        lambda e: prepare_records(
            [Source("s", pl.DataFrame({"record_id": [[1], [2]]}))]
        ),
        SchemaError,
        r"holds List\(Int64\) values",
    ),
    (
        "prepare_object_ids",
        lambda e: prepare_records(
            [
                Source(
                    "s",
                    pl.DataFrame(
                        {"record_id": [object(), object()]},
                        schema={"record_id": pl.Object},
                    ),
                )
            ]
        ),
        SchemaError,
        r"holds Object values",
    ),
    (
        "prepare_nan_ids",
        lambda e: prepare_records(
            [Source("s", pl.DataFrame({"record_id": [1.0, float("nan")]}))]
        ),
        SchemaError,
        r"NaN",
    ),
    (
        "prepare_blank_ids",
        lambda e: prepare_records(
            [Source("s", pl.DataFrame({"record_id": ["a", " "]}))]
        ),
        SchemaError,
        r"1 blank value",
    ),
    (
        "prepare_arrow_struct_ids",
        lambda e: prepare_records(
            [Source("s", pa.table({"record_id": [{"a": 1}, {"a": 2}]}))]
        ),
        SchemaError,
        r"holds Struct",
    ),
    (
        "prepare_dup_int_ids",
        lambda e: prepare_records([Source("s", pl.DataFrame({"record_id": [1, 1]}))]),
        DuplicateIdError,
        r"repeat",
    ),
    (
        "config_out_of_order_api",
        lambda e: LinkageConfig.from_dict(
            _base_config()
            | {
                "comparisons": [
                    {
                        "name": "n",
                        "levels": [
                            {"kind": "distance", "max_distance": 1},
                            {"kind": "distance", "max_distance": 1},
                        ],
                    }
                ]
            }
        ),
        ConfigError,
        r"level 2 .* can never be reached",
    ),
    (
        "config_date_format_api",
        lambda e: LinkageConfig.from_dict(
            _base_config()
            | {
                "comparisons": [
                    {
                        "name": "d",
                        "date_format": "%d/%m",
                        "levels": [{"kind": "date_difference", "max_days": 3}],
                    }
                ]
            }
        ),
        ConfigError,
        r"does not give a whole date",
    ),
    (
        "linker_load_nan",
        lambda e: Linker.load(
            e.model_with(lambda d: _m_row(d).__setitem__(0, float("nan")))
        ),
        ModelFormatError,
        r"must be a finite number",
    ),
    (
        "fs_load_newer",
        lambda e: FellegiSunter.load(
            e.write(
                "fs.json", json.dumps(e.model_dict["scorer"] | {"format_version": 3})
            )
        ),
        ModelFormatError,
        r"is 3, newer",
    ),
    (
        "fs_load_missing_key",
        lambda e: FellegiSunter.load(
            e.write(
                "fs.json",
                json.dumps(
                    {k: v for k, v in e.model_dict["scorer"].items() if k != "fitted"}
                ),
            )
        ),
        ModelFormatError,
        r"'fitted' is missing",
    ),
    (
        "fs_load_binary",
        lambda e: FellegiSunter.load(e.write("fs.json", b"\x80\x05\x95")),
        ModelFormatError,
        r"Python pickle",
    ),
    (
        "classifier_load_binary",
        lambda e: ClassifierScorer.load(e.write("c.json", b"PK\x03\x04")),
        ModelFormatError,
        r"zip archive",
    ),
    (
        "publish_foreign_folder",
        lambda e: (
            (e.tmp / "o").mkdir(),
            (e.tmp / "o" / "x").write_text(""),
            publish_output_set(e.tmp / "o", {"a.parquet": pl.DataFrame({"a": [1]})}),
        )[-1],
        OutputError,
        r"not part of an er_toolkit output set",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [c[1:] for c in API_CASES],
    ids=[c[0] for c in API_CASES],
)
def test_api_bad_input_raises_one_line_errors(env, call, error, match):
    with pytest.raises(error, match=match) as info:
        call(env)
    assert isinstance(info.value, ErToolkitError)
    message = str(info.value)
    assert "\n" not in message
    for value in SENTINELS:
        assert value not in message
    # no chained library error that would print record values with the traceback
    assert (
        info.value.__suppress_context__
        or info.value.__context__ is None
        or isinstance(info.value.__context__, ErToolkitError)
    )


# --------------------------------------------------------------------------- #
# runs that succeed: no record lost or duplicated
# --------------------------------------------------------------------------- #
def _ids(rows: list[str]) -> list[str]:
    return [r.split(",")[0] for r in rows]


SUCCESS = [
    (
        "blank_lines",
        lambda e: e.write(
            "b.csv",
            "\n"
            + HEADER
            + "\n\n"
            + "\n".join(ROWS[:60])
            + "\n\n\n"
            + "\n".join(ROWS[60:])
            + "\n\n",
        ),
        [],
        _ids(ROWS),
    ),
    (
        "crlf_and_bom",
        lambda e: e.write("c.csv", ("\ufeff" + _csv()).replace("\n", "\r\n").encode()),
        [],
        _ids(ROWS),
    ),
    (
        "no_final_newline",
        lambda e: e.write("n.csv", _csv().rstrip("\n")),
        [],
        _ids(ROWS),
    ),
    (
        "quoted_newlines",
        lambda e: e.write(
            "q.csv", _csv(_row(rec_id="rec-q-1", address_1='"12 high st\nflat 2"'))
        ),
        [],
        [*_ids(ROWS), "rec-q-1"],
    ),
    (
        "windows_1252",
        lambda e: e.write(
            "w.csv", _csv(_row(rec_id="rec-w-1", given_name="Zoë")).encode("cp1252")
        ),
        ["--encoding", "windows-1252"],
        [*_ids(ROWS), "rec-w-1"],
    ),
    (
        "utf8_lossy",
        lambda e: _bad_utf8(e),
        ["--encoding", "utf8-lossy"],
        [*_ids(ROWS), "rec-evil-0"],
    ),
    ("utf16_declared", lambda e: _utf16(e), ["--encoding", "utf-16"], _ids(ROWS)),
    (
        "parquet_int_ids",
        lambda e: e.parquet(
            "i.parquet",
            read_frame(e.people()).with_columns(pl.int_range(pl.len()).alias("rec_id")),
        ),
        [],
        [str(i) for i in range(len(ROWS))],
    ),
]


@pytest.mark.parametrize(
    ("build", "extra", "expected"),
    [c[1:] for c in SUCCESS],
    ids=[c[0] for c in SUCCESS],
)
def test_runs_that_succeed_keep_every_record_once(
    env, capsys, monkeypatch, build, extra, expected
):
    path = build(env)
    out = env.tmp / "out"
    argv = [
        "--model",
        str(env.model),
        "--input",
        str(path),
        "--output",
        str(out),
        *extra,
    ]
    result = run_main("score", argv, capsys, monkeypatch)
    assert result.code == 0, result.stderr
    frames = read_output_set(out)  # checked against its manifest
    clusters = frames["clusters.parquet"]
    ids = [str(i) for i in clusters.get_column("record_id").to_list()]
    assert sorted(ids) == sorted(expected)  # none lost, none duplicated
    assert clusters.get_column("record_id").is_unique().all()
    pairs = frames["scored_pairs.parquet"]
    paired = set(pairs.get_column("record_id_l")) | set(pairs.get_column("record_id_r"))
    assert {str(i) for i in paired} <= set(ids)
    assert "Traceback" not in result.stderr


def test_long_values_are_capped_reported_and_every_record_kept(
    env, capsys, monkeypatch
):
    long = "x" * 20_000
    rows = [
        *ROWS[:40],
        *[
            _row(rec_id=f"rec-long-{i}", address_1=long + str(i), given_name="ann")
            for i in range(10)
        ],
    ]
    path = env.write("long.csv", _csv(rows=rows))
    argv = [
        "--model",
        str(env.model),
        "--input",
        str(path),
        "--output",
        str(env.tmp / "out"),
    ]
    result = run_main("score", argv, capsys, monkeypatch)
    assert result.code == 0, result.stderr
    assert re.search(
        r"warning: column 'address_1': 10 distinct value\(s\) \(10 record\(s\)\) longer than 1,000 characters are compared on their first 1,000",
        result.stderr,
    ), result.stderr
    ids = read_output_set(env.tmp / "out")["clusters.parquet"].get_column("record_id")
    assert sorted(ids.to_list()) == sorted(_ids(rows))


def test_unparseable_dates_warn_in_the_summary(env, capsys, monkeypatch):
    rows = [
        ",".join(
            v if i != COLUMNS.index("date_of_birth") else "31/12/1999"
            for i, v in enumerate(r.split(","))
        )
        for r in ROWS
    ]
    path = env.write("dates.csv", _csv(rows=rows))
    argv = [
        "--model",
        str(env.model),
        "--input",
        str(path),
        "--output",
        str(env.tmp / "out"),
    ]
    result = run_main("score", argv, capsys, monkeypatch)
    assert result.code == 0, result.stderr
    assert re.search(
        r"warning: comparison 'date_of_birth': 120 of 120 non-blank values .* do not parse as dates under date_format '%Y%m%d'",
        result.stderr,
    ), result.stderr
    assert "31/12/1999" not in result.stderr


def test_one_training_record_warns(env, capsys, monkeypatch):
    path = env.write("one.csv", _csv(rows=ROWS[:1]))
    config = env.config(_set("sources.0.path", str(path)))
    result = run_main(
        "train", ["--config", str(config), "--no-mlflow"], capsys, monkeypatch
    )
    assert "only 1 record(s): there are no pairs to compare" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.code in (0, 2)
    if result.code == 2:
        assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_model_name_is_checked_before_any_work(env, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("records were read before the name was checked")

    monkeypatch.setattr(Linker, "records", never)
    result = run_main("train", train(_set("name", "a/b"))(env), capsys, monkeypatch)
    assert_one_line_error(result, ConfigError, r"it holds '/'")


# --------------------------------------------------------------------------- #
# a few as real processes: the real stderr, no traceback
# --------------------------------------------------------------------------- #
SUBPROCESS = [
    "csv_short_row",
    "csv_bad_utf8",
    "model_m_nan",
    "model_evil_estimator",
    "config_max_iter_zero",
    "profile_top_n",
    "score_threshold_word",
]


@pytest.mark.parametrize("case", SUBPROCESS)
def test_cli_processes_print_one_line_and_exit_2(env, case):
    (_, which, argv, _, match) = next(c for c in CASES if c[0] == case)
    module = {
        "score": "er_toolkit.score",
        "train": "er_toolkit.train",
        "profile": "er_toolkit.profile",
        "label": "er_toolkit.label",
    }[which]
    proc = subprocess.run(
        [sys.executable, "-m", module, *argv(env)],
        cwd=env.tmp,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert re.search(match, lines[0])
    assert not any(v in proc.stderr for v in SENTINELS)


def test_an_unexpected_error_is_one_line_and_exit_1(env, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise pl.exceptions.ComputeError(f"could not parse `{SENTINELS[0]}`")

    monkeypatch.setattr(score_cli, "load_linker", boom)
    result = run_main("score", score(lambda e: e.people())(env), capsys, monkeypatch)
    assert result.code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: unexpected ComputeError; this is a bug in er_toolkit. Rerun with "
        "ER_TOOLKIT_DEBUG=1 for the traceback and report it."
    ]
