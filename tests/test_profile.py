import subprocess
import sys

import polars as pl
import pytest

from er_toolkit.cli.profile import main, parse_standardise

CSV = """source,name,phone,dob
crm,Dr. Bill Smith,020 7946 0958,03/04/1980
crm,Liz Jones,n/a,31/02/1990
erp,  ,+1 415 555 2671,1975-01-01
"""


@pytest.fixture
def customers(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(CSV)
    return path


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "er_toolkit.profile", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_prints_a_profile(customers, tmp_path):
    output = tmp_path / "profile.parquet"
    result = cli("--input", customers, "--standardise", "phone=phone",
                 "--standardise", "dob=date", "--output", output)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "invalid_reasons" in result.stdout
    assert "unparseable_phone (1)" in result.stdout
    profile = pl.read_parquet(output)
    assert set(profile["stage"]) == {"before", "after"}
    assert (
        profile.filter(stage="before", source="crm", column="dob")["validity"].item()
        == 0.5
    )


def test_cli_missing_file_is_one_line_and_non_zero(tmp_path):
    result = cli("--input", tmp_path / "nope.csv")
    assert result.returncode == 2  # bad input: exit 2, as every CLI
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: --input: file")
    assert "does not exist" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--standardise", "phone=fone"], "Unknown standardiser kind 'fone'"),
        (["--standardise", "phone"], "--standardise takes COLUMN=KIND"),
        (["--standardise", "phone={bad"], "the JSON after '=' is not valid"),
        (["--standardise", "email=email"], r"missing column(s) ['email']"),
        (["--columns", "email"], r"missing column(s) ['email']"),
        (["--source-column", "system"], "--source-column 'system' is not a column"),
        (["--output", "p.xlsx"], "--output must end in .csv, .parquet or .pq"),
        (["--top-n", "0"], "--top-n must be at least 1"),
    ],
)
def test_bad_options_give_one_line_errors(customers, capsys, args, message):
    assert main(["--input", str(customers), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert err.strip().count("\n") == 0


def test_in_process_with_json_declaration_and_csv_output(customers, tmp_path, capsys):
    output = tmp_path / "p.csv"
    spec = 'phone={"kind": "phone", "default_region": "US"}'
    assert main(["--input", str(customers), "--standardise", spec,
                 "--columns", "phone", "--output", str(output)]) == 0  # fmt: skip
    profile = pl.read_csv(output)
    assert set(profile["column"]) == {"phone"}
    assert "+14155552671" in capsys.readouterr().out


def test_parse_standardise_chains_repeated_columns():
    assert parse_standardise(["x=text", "x=name"]) == {"x": ["text", "name"]}
