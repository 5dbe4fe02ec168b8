"""Progress bars: when they show, that each long stage has one, and that only one shows."""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path

import pytest

from er_toolkit.config import LinkageConfig
from er_toolkit.pipeline import Linker
from er_toolkit.progress import (
    CI_VARIABLES,
    ENV_VARIABLE,
    progress_bar,
    progress_context,
    progress_enabled,
)

DEDUPE_CONFIG = Path(__file__).parent / "data" / "people_dedupe.toml"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CI variables, no ER_TOOLKIT_PROGRESS, not in Jupyter."""
    for name in (*CI_VARIABLES, ENV_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, True, True),  # a terminal
        ({}, False, False),  # piped to a file or a log
        ({"CI": "true"}, True, False),  # CI, even on a terminal
        ({"GITHUB_ACTIONS": "true"}, True, False),
        ({"CI": "false"}, True, True),  # CI=false is not CI
        ({"CI": "true", ENV_VARIABLE: "1"}, False, True),  # the user's word wins
        ({ENV_VARIABLE: "0"}, True, False),
        ({ENV_VARIABLE: "off"}, True, False),
    ],
)
def test_when_bars_show(quiet_env, env, tty, expected):
    for name, value in env.items():
        quiet_env.setenv(name, value)
    quiet_env.setattr(sys, "stderr", _Terminal() if tty else io.StringIO())
    assert progress_enabled() is expected


def test_explicit_choice_and_context_win(quiet_env):
    quiet_env.setenv("CI", "true")
    assert progress_enabled(True) is True
    with progress_context(True):
        assert progress_enabled() is True
        assert progress_enabled(False) is False
        with progress_context(None):  # back to deciding
            assert progress_enabled() is False
    quiet_env.delenv("CI")
    quiet_env.setattr(sys, "stderr", _Terminal())
    with progress_context(False):
        assert progress_enabled() is False


def test_a_jupyter_kernel_shows_bars(quiet_env):
    shell = type("ZMQInteractiveShell", (), {})()
    ipython = types.SimpleNamespace(get_ipython=lambda: shell)
    quiet_env.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    quiet_env.setitem(sys.modules, "IPython", ipython)
    quiet_env.setattr(sys, "stderr", io.StringIO())  # a kernel's stderr is no tty
    assert progress_enabled() is True
    quiet_env.setenv("CI", "1")
    assert progress_enabled() is False


def test_only_the_outermost_bar_draws(capsys):
    with progress_context(True):
        with progress_bar(total=2, desc="outer") as outer:
            with progress_bar(total=5, desc="inner") as inner:
                inner.update(5)
            outer.update(2)
        assert outer.shown and not inner.shown
        assert (outer.n, inner.n) == (2, 5)
    err = capsys.readouterr().err
    assert "outer" in err
    assert "inner" not in err


def test_a_hidden_bar_counts_and_writes_nothing(capsys):
    with progress_context(False), progress_bar(total=3, desc="block") as bar:
        bar.update(3)
        bar.describe("rule")
    assert bar.n == 3 and not bar.shown
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def config() -> LinkageConfig:
    return LinkageConfig.from_toml(DEDUPE_CONFIG)


def _run(linker: Linker) -> None:
    records = linker.records()
    pairs = linker.block(records)
    vectors = linker.compare(records, pairs)
    linker.fit(records, candidate_pairs=pairs, candidate_vectors=vectors)
    scored = linker.predict(records, candidate_pairs=pairs)
    linker.cluster(records, scored)


@pytest.mark.filterwarnings("ignore::er_toolkit.exceptions.SuspiciousParametersWarning")
def test_every_long_stage_has_a_bar_and_progress_false_hides_them(config, capsys):
    _run(Linker(config, progress=True))
    err = capsys.readouterr().err
    for stage in ("prepare", "block", "compare", "fit", "predict", "cluster"):
        assert f"{stage}:" in err, stage
    assert "rule/s" in err or "rule]" in err  # blocking counts rules
    _run(Linker(config, progress=False))
    assert capsys.readouterr().err == ""


@pytest.mark.filterwarnings("ignore::er_toolkit.exceptions.SuspiciousParametersWarning")
def test_a_linker_without_a_choice_follows_the_caller(config, capsys):
    with progress_context(False):
        _run(Linker(config))
    assert capsys.readouterr().err == ""
