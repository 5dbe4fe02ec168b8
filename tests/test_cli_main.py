"""``er-toolkit <verb>`` / ``python -m er_toolkit <verb>``: one home for every CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from er_toolkit import __version__
from er_toolkit.cli.main import VERBS, main

DATA = Path(__file__).parent / "data"


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"er-toolkit {__version__}"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert re.search(rf"^\s+{verb}\s", out, re.M), verb


@pytest.mark.parametrize(
    ("argv", "match"),
    [([], "give a verb"), (["trian"], "unknown verb 'trian'")],
)
def test_no_or_unknown_verb_is_one_line_and_exit_2(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_every_verb_module_has_a_main():
    import importlib

    for module, _ in VERBS.values():
        assert callable(importlib.import_module(module).main)


def test_a_verb_usage_error_is_one_line(capsys):
    assert main(["score", "--no-such-flag"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_train_through_the_dispatcher_prints_only_er_toolkit_lines(tmp_path):
    """MLflow's INFO lines, notices, progress bars and warnings stay out."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run(
        "-m",
        "er_toolkit",
        "train",
        "--config",
        DATA / "people_dedupe.toml",
        "--tracking-uri",
        uri,
        "--no-report",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "registered: models:/people_dedupe/1" in proc.stdout
    noise = ("INFO", "Successfully registered", "Created version", "Downloading")
    for line in (proc.stdout + proc.stderr).splitlines():
        assert not any(n in line for n in noise), line
        assert "\x1b[" not in line, line  # no colour-coded warnings


@pytest.mark.parametrize(
    "module", ["er_toolkit.train", "er_toolkit.score", "er_toolkit.label"]
)
def test_the_old_module_paths_still_run(tmp_path, module):
    proc = run("-m", module, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "usage: er-toolkit" in proc.stdout


def test_the_console_script_when_installed(tmp_path):
    script = Path(sys.executable).with_name("er-toolkit")
    if not script.exists():
        pytest.skip("er-toolkit console script not installed (pip install -e .)")
    proc = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"er-toolkit {__version__}"
