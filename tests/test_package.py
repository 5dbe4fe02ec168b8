"""The package top: the main classes exported, imported only when touched."""

from __future__ import annotations

import os
import subprocess
import sys

import er_toolkit


def test_every_exported_name_resolves_to_its_module():
    assert sorted(er_toolkit.__all__) == sorted(["__version__", *er_toolkit._EXPORTS])
    for name in er_toolkit.__all__:
        value = getattr(er_toolkit, name)
        if name == "__version__":
            assert isinstance(value, str)
            continue
        module = er_toolkit._EXPORTS[name]
        assert getattr(sys.modules[module], name) is value


def test_the_main_classes_are_exported():
    from er_toolkit import (  # noqa: F401 - importing is the test
        ClassifierScorer,
        EvaluationResult,
        FellegiSunter,
        LinkageConfig,
        Linker,
    )
    from er_toolkit.pipeline import Linker as Deep

    assert Linker is Deep


def test_unknown_names_raise_attribute_error():
    try:
        er_toolkit.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
    assert "Linker" in dir(er_toolkit)


def test_import_is_light():
    code = (
        "import sys, er_toolkit\n"
        "heavy = [m for m in ('polars', 'sklearn', 'mlflow', 'matplotlib', 'numpy')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "from er_toolkit import Linker\n"
        "print('polars' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["", "True"]


def test_a_training_job_imports_mlflow_sklearn_and_matplotlib_only_when_used():
    """The modules a training job imports load none of them (the report: charts only)."""
    heavy = ("mlflow", "sklearn", "matplotlib")
    code = (
        "import importlib, sys\n"
        "importlib.import_module(sys.argv[1])\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    found = {}
    for module in (
        "er_toolkit.pipeline",
        "er_toolkit.cli.train",
        "er_toolkit.track",
        "er_toolkit.track.setup",
        "er_toolkit.report",
    ):
        out = subprocess.run(
            [sys.executable, "-c", code, module],
            capture_output=True,
            text=True,
            check=True,
        )
        found[module] = out.stdout.strip()
    assert found == {
        "er_toolkit.pipeline": "",
        "er_toolkit.cli.train": "",
        "er_toolkit.track": "",
        "er_toolkit.track.setup": "",
        "er_toolkit.report": "matplotlib",  # it draws the charts
    }


def test_every_data_file_in_the_package_is_declared_package_data():
    """An installed package (not only the checkout) holds the data notebooks read."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    declared = tomllib.loads((root / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]["package-data"]
    package = root / "er_toolkit"
    data = [
        p
        for p in package.rglob("*")
        if p.is_file()
        and p.suffix not in (".py", ".pyc", ".typed")
        and "__pycache__" not in p.parts
    ]
    assert any(p.name == "customers.csv" for p in data)
    for path in data:
        relative = path.relative_to(root)
        owners = [
            (name, globs)
            for name, globs in declared.items()
            if relative.parts[: len(name.split("."))] == tuple(name.split("."))
        ]
        assert any(
            fnmatch.fnmatch(str(relative.relative_to(*name.split("."))), pattern)
            for name, globs in owners
            for pattern in globs
        ), f"{relative} is not declared in [tool.setuptools.package-data]"


def test_polars_allocator_is_told_to_free_promptly_unless_set():
    code = (
        "import os, sys\n"
        "import er_toolkit\n"
        "print(os.environ.get('_RJEM_MALLOC_CONF'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    run = [sys.executable, "-c", code]
    out = subprocess.run(run, capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == er_toolkit.POLARS_ALLOCATOR_CONF
    env["_RJEM_MALLOC_CONF"] = "dirty_decay_ms:2000"
    out = subprocess.run(run, capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "dirty_decay_ms:2000"  # the process's own wins
    late = "import polars, os, er_toolkit\nprint(os.environ.get('_RJEM_MALLOC_CONF'))\n"
    del env["_RJEM_MALLOC_CONF"]
    out = subprocess.run(
        [sys.executable, "-c", late],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    # too late to matter: left as polars set it
    assert er_toolkit.POLARS_ALLOCATOR_CONF not in out.stdout
