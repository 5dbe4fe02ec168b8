"""Output sets: every file of a run published together, or none of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from er_toolkit import io as er_io
from er_toolkit.exceptions import OutputError
from er_toolkit.io import (
    MANIFEST_FILE,
    publish_output_set,
    read_manifest,
    read_output_set,
)

ROOT = Path(__file__).resolve().parents[1]


def _frames(run: int, n: int = 5) -> dict[str, pl.DataFrame]:
    return {
        "scored_pairs.parquet": pl.DataFrame({"run": [run] * n, "x": list(range(n))}),
        "clusters.parquet": pl.DataFrame({"run": [run] * (n + 1)}),
    }


def _siblings(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir())


def test_publish_writes_every_file_and_a_manifest_last(tmp_path):
    out = tmp_path / "out"
    publish_output_set(out, _frames(1), metadata={"records": 5})
    assert sorted(p.name for p in out.iterdir()) == [
        "clusters.parquet",
        MANIFEST_FILE,
        "scored_pairs.parquet",
    ]
    manifest = read_manifest(out)
    assert manifest["files"]["scored_pairs.parquet"]["rows"] == 5
    assert manifest["files"]["clusters.parquet"]["rows"] == 6
    assert manifest["metadata"] == {"records": 5}
    frames = read_output_set(out)
    for name, frame in _frames(1).items():
        assert_frame_equal(frames[name], frame)
    assert _siblings(out) == ["out"]  # no lock, no temporary folder left


def test_republishing_replaces_the_whole_set(tmp_path):
    out = tmp_path / "out"
    publish_output_set(out, _frames(1))
    first = read_manifest(out)["run_id"]
    publish_output_set(
        out, {"scored_pairs.parquet": _frames(2)["scored_pairs.parquet"]}
    )
    assert read_manifest(out)["run_id"] != first
    assert sorted(p.name for p in out.iterdir()) == [
        MANIFEST_FILE,
        "scored_pairs.parquet",
    ]
    assert _siblings(out) == ["out"]


def test_an_error_between_files_keeps_the_old_set_and_leaves_nothing(
    tmp_path, monkeypatch
):
    out = tmp_path / "out"
    publish_output_set(out, _frames(1))
    real = pl.DataFrame.write_parquet
    calls = []

    def second_fails(self, file, *args, **kwargs):
        calls.append(file)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(self, file, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", second_fails)
    with pytest.raises(OSError, match="No space"):
        publish_output_set(out, _frames(2))
    monkeypatch.undo()
    frames = read_output_set(out)
    assert {f.get_column("run").unique().item() for f in frames.values()} == {1}
    assert _siblings(out) == ["out"]


def test_files_and_folder_are_fsynced_before_publishing(tmp_path, monkeypatch):
    synced: list[str] = []
    real = os.fsync

    def record(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", record)
    out = tmp_path / "out"
    publish_output_set(out, _frames(1))
    names = [Path(p).name for p in synced]
    for name in ("scored_pairs.parquet", "clusters.parquet", MANIFEST_FILE):
        assert name in names
    assert any(
        ".out.er-tmp-" in Path(p).name for p in synced
    )  # the folder, before rename
    assert str(tmp_path) in synced  # the parent, after it


def test_files_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        out = publish_output_set(tmp_path / "out", _frames(1))
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o750
    for path in out.iterdir():
        assert path.stat().st_mode & 0o777 == 0o640, path.name


def test_a_second_writer_gets_a_clear_error(tmp_path):
    out = tmp_path / "out"
    with (
        er_io._OutputLock(out.resolve()),
        pytest.raises(OutputError, match=r"being written by another run"),
    ):
        publish_output_set(out, _frames(2))
    publish_output_set(out, _frames(3))  # the lock is released with its holder
    assert read_manifest(out)["files"]


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import polars as pl
    from er_toolkit.io import publish_output_set

    out, run, pause = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    real = pl.DataFrame.write_parquet

    def slow(self, file, *args, **kwargs):
        real(self, file, *args, **kwargs)
        Path(str(out) + f".started-{run}").touch()
        release = Path(str(out) + f".release-{run}")
        for _ in range(int(pause * 20)):  # until released, at most `pause` s
            if release.exists():
                break
            time.sleep(0.05)

    pl.DataFrame.write_parquet = slow
    frames = {
        "scored_pairs.parquet": pl.DataFrame({"run": [run] * 3}),
        "clusters.parquet": pl.DataFrame({"run": [run] * 4}),
    }
    try:
        publish_output_set(out, frames)
    except Exception as exc:
        print(type(exc).__name__, exc)
        sys.exit(2)
    """
)


def _writer(out: Path, run: int, pause: float) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(out), str(run), str(pause)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    for _ in range(600):
        if path.exists():
            return
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_a_killed_run_leaves_the_old_set_and_the_next_run_cleans_up(tmp_path):
    out = tmp_path / "out"
    publish_output_set(out, _frames(1))
    proc = _writer(out, run=2, pause=60)
    _wait_for(Path(str(out) + ".started-2"), proc)  # one file written, one not
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    frames = read_output_set(out)  # still the whole first set
    assert {f.get_column("run").unique().item() for f in frames.values()} == {1}
    leftovers = [n for n in _siblings(out) if n.startswith(".out.er-")]
    assert leftovers  # a killed process cannot clean up after itself ...
    Path(str(out) + ".started-2").unlink()
    publish_output_set(out, _frames(3))  # ... the next run does
    assert _siblings(out) == ["out"]
    frames = read_output_set(out)
    assert {f.get_column("run").unique().item() for f in frames.values()} == {3}


def test_two_runs_at_once_one_publishes_the_other_is_refused(tmp_path):
    out = tmp_path / "out"
    first = _writer(out, run=1, pause=120)
    _wait_for(Path(str(out) + ".started-1"), first)  # holding the lock
    second = _writer(out, run=2, pause=0.0)
    err, _ = second.communicate(timeout=120)
    assert second.returncode == 2
    assert "OutputError" in err and "being written by another run" in err
    Path(str(out) + ".release-1").touch()
    first.communicate(timeout=120)
    assert first.returncode == 0
    frames = read_output_set(out)
    assert {f.get_column("run").unique().item() for f in frames.values()} == {1}


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (
            lambda t: (t / "out").mkdir() or (t / "out" / "notes.txt").write_text("x"),
            "not part of an er_toolkit output set",
        ),
        (lambda t: (t / "out").write_text("a file"), "exists and is not a folder"),
    ],
    ids=["foreign_files", "a_file"],
)
def test_targets_that_are_not_output_sets_are_refused(tmp_path, setup, match):
    setup(tmp_path)
    with pytest.raises(OutputError, match=match):
        publish_output_set(tmp_path / "out", _frames(1))
    assert (tmp_path / "out").exists()  # untouched


def test_files_added_to_an_output_set_are_never_deleted(tmp_path):
    out = publish_output_set(tmp_path / "out", _frames(1))
    (out / "my_notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match=r"holds 1 file\(s\) that are not part"):
        publish_output_set(out, _frames(2))
    assert (out / "my_notes.txt").read_text() == "keep me"


def test_the_working_folder_is_never_replaced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="working folder"):
        publish_output_set(".", _frames(1))
    with pytest.raises(OutputError, match="working folder"):
        publish_output_set(tmp_path.parent, _frames(1))


@pytest.mark.parametrize(
    "name", ["../x.parquet", ".hidden.parquet", MANIFEST_FILE, "x.exe"]
)
def test_file_names_must_be_plain(tmp_path, name):
    with pytest.raises(OutputError, match=r"plain \.parquet or \.csv names"):
        publish_output_set(tmp_path / "out", {name: pl.DataFrame({"a": [1]})})


def test_readers_refuse_incomplete_or_altered_sets(tmp_path):
    out = publish_output_set(tmp_path / "out", _frames(1))
    pl.DataFrame({"run": [9]}).write_parquet(out / "clusters.parquet")
    with pytest.raises(
        OutputError, match=r"'clusters.parquet' is not the one its manifest lists"
    ):
        read_output_set(out)
    (out / "clusters.parquet").unlink()
    with pytest.raises(OutputError, match=r"lacks its file 'clusters.parquet'"):
        read_output_set(out)
    (out / MANIFEST_FILE).unlink()
    with pytest.raises(OutputError, match="manifest"):
        read_output_set(out)
    (out / MANIFEST_FILE).write_text(json.dumps({"kind": "other"}))
    with pytest.raises(OutputError, match="holds no er_toolkit output set manifest"):
        read_output_set(out)
