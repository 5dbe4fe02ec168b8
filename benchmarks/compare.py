r"""Side-by-side benchmark: er_toolkit, Splink 5 on DuckDB and recordlinkage.

Usage::

    python -m benchmarks.compare --sizes 10000 100000 1000000 \
        --tools er_toolkit splink recordlinkage --time-limit 1800 --seed 0 \
        --out benchmarks/out [--results-md benchmarks/RESULTS.md] [--data hard]

For each size, synthetic customers (:func:`benchmarks.synthetic.generate_customers`,
four source systems, ground-truth ``entity_id``; ``--data hard`` for its
``difficulty="hard"``: households, twins, namesakes, hard duplicates and
placeholders) are generated and standardised
once by :mod:`benchmarks.compare_prepare` and written to Parquet; that is not
timed. Every tool then deduplicates all records in its own subprocess
(:mod:`benchmarks.compare_tools`) with the same blocking rules, comparison
levels, unsupervised training and match-probability threshold. A subprocess
that passes the time limit is killed and recorded as ``timeout`` (with the
stage it was in); one killed by the kernel or raising ``MemoryError`` as
``oom``; any other failure as ``error: <last line>``. Nothing is skipped
silently: after a timeout or oom, larger sizes of that tool are recorded as
``skipped`` with the reason, unless ``--no-skip`` is given.

Per run: wall time per stage and in total, peak resident memory (the larger of
the process's own ``ru_maxrss`` and the polled RSS of its process tree),
candidate pairs, compared-and-scored pairs per second, pairwise precision /
recall / F1 of the pairs at the threshold, and cluster precision / recall /
F1, B-cubed and the largest cluster (:func:`er_toolkit.evaluate.cluster_metrics`).

Writes ``results.json`` (all runs, merged with earlier ones by data, tool,
size, seed and threshold), ``results.md`` (a table per data and size) and
``time_vs_records.png`` (log-log) under ``--out``; ``--results-md`` also
writes the tables, the machine and the command into that markdown file, in
a section of their own for hard data.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import psutil

from benchmarks.compare_prepare import INPUTS, prepare, prepared_path
from benchmarks.compare_tools import DEFAULT_TOOLS, STAGE_ORDER, TOOLS
from benchmarks.markdown import replace_section
from benchmarks.synthetic import DIFFICULTIES
from er_toolkit.evaluate import (
    cluster_metrics,
    pairwise_metrics,
    true_pairs_from_entities,
)

ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.1
#: Columns of the stage-time part of the tables (``table_stages_s``). ``predict``
#: is compare + score: Splink's ``predict()`` does both in one query, so it has
#: only that column; er_toolkit and recordlinkage time them apart.
TABLE_STAGES = (
    "load",
    "standardise",
    "block",
    "compare",
    "train",
    "score",
    "predict",
    "cluster",
    "evaluate",
    "mlflow",
)
TABLE_STAGE_TITLES = {"predict": "compare+score s"}
SECTION = "## Side-by-side: er_toolkit, Splink, recordlinkage"
SECTION_HARD = "## Side-by-side on hard data: er_toolkit, Splink, recordlinkage"


def data_of(run: dict[str, Any]) -> str:
    """Return the generator difficulty of a run (older runs: ``"standard"``)."""
    return str(run.get("data", "standard"))


def input_of(run: dict[str, Any]) -> str:
    """Return what a run read: ``"raw"`` or ``"clean"`` (older runs: ``"clean"``)."""
    return str(run.get("input", "clean"))


def label_of(run: dict[str, Any]) -> str:
    """Return the table's name of a run: ``"splink (raw)"``, ``"er_toolkit (clean)"``."""
    return f"{run['tool']} ({input_of(run)})"


# --------------------------------------------------------------------------- #
# machine
# --------------------------------------------------------------------------- #
def machine() -> dict[str, Any]:
    """Describe this machine: cores, memory, CPU model, OS, Python."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cores": cores or os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def machine_line(m: dict[str, Any]) -> str:
    """One line: '2 cores, 23.4 GiB, <cpu>, <os>, Python x.y'."""
    return (
        f"{m['cores']} cores, {m['memory_gib']} GiB memory, {m['cpu'] or 'unknown CPU'}, "
        f"{m['os']}, Python {m['python']}"
    )


# --------------------------------------------------------------------------- #
# one tool, one size
# --------------------------------------------------------------------------- #
def _tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and all its descendants (0 once gone)."""
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def run_tool(
    tool: str,
    data: Path,
    workdir: Path,
    *,
    threshold: float,
    time_limit: float,
    input: str = "clean",
) -> dict[str, Any]:
    """Run one tool in a subprocess under a time limit; return its raw record.

    The record holds ``status`` (``ok``, ``timeout``, ``oom`` or
    ``error: ...``), ``wall_s`` (the subprocess's wall time, interpreter start
    and imports included), ``peak_rss_mb`` and, when the tool finished, what
    it wrote to ``result.json``; after a timeout, the stages it finished and
    the one it was in.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("result.json", "progress.json", "pairs.parquet", "clusters.parquet"):
        (workdir / name).unlink(missing_ok=True)
    log_path = workdir / "log.txt"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.compare_tools",
        tool,
        "--data",
        str(data),
        "--workdir",
        str(workdir),
        "--threshold",
        repr(threshold),
        "--input",
        input,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    if tool.startswith("er_toolkit"):
        # as `import er_toolkit` sets it when polars is not yet imported (the
        # tool process imports polars first)
        from er_toolkit import POLARS_ALLOCATOR_CONF

        env.setdefault("_RJEM_MALLOC_CONF", POLARS_ALLOCATOR_CONF)
    peak = 0
    timed_out = False
    start = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        try:
            ps = psutil.Process(child.pid)
        except psutil.Error:  # already gone
            ps = None
        while child.poll() is None:
            if time.perf_counter() - start > time_limit:
                timed_out = True
                # The child leads its own process group (start_new_session), so
                # this ends it and any workers it started, and nothing else.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                break
            if ps is not None:
                peak = max(peak, _tree_rss(ps))
            time.sleep(POLL_S)
    wall = time.perf_counter() - start
    log_text = log_path.read_text(errors="replace")
    record: dict[str, Any] = {"wall_s": wall, "log": str(log_path)}
    result_path = workdir / "result.json"
    if timed_out:
        record["status"] = "timeout"
    elif child.returncode == 0 and result_path.exists():
        record["status"] = "ok"
        record.update(json.loads(result_path.read_text()))
    elif (
        child.returncode == -signal.SIGKILL
        or "MemoryError" in log_text
        or ("Out of Memory" in log_text)
    ):
        record["status"] = "oom"
    else:
        record["status"] = f"error: {_last_line(log_text)}"
    if record["status"] != "ok":
        progress = workdir / "progress.json"
        if progress.exists():
            state = json.loads(progress.read_text())
            record["stages_s"] = state.get("stages_s", {})
            record["stopped_in_stage"] = state.get("running")
    own = float(record.get("ru_maxrss_mb") or 0.0)
    record["peak_rss_mb"] = max(own, peak / 2**20)
    return record


# --------------------------------------------------------------------------- #
# evaluation
# --------------------------------------------------------------------------- #
def load_truth(data: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return the records (``_row``, ``entity_id``) and their true pairs."""
    records = pl.read_parquet(data, columns=["unique_id", "entity_id"]).with_columns(
        pl.col("unique_id").cast(pl.UInt32).alias("_row")
    )
    truth = true_pairs_from_entities(
        records, entity_column="entity_id", link_type="dedupe"
    )
    return records, truth


def evaluate(
    workdir: Path, records: pl.DataFrame, truth: pl.DataFrame
) -> dict[str, Any]:
    """Pairwise and cluster metrics of a finished run's outputs."""
    pairs = pl.read_parquet(workdir / "pairs.parquet").select(
        pl.col("unique_id_l").cast(pl.UInt32).alias("_row_l"),
        pl.col("unique_id_r").cast(pl.UInt32).alias("_row_r"),
    )
    clusters = pl.read_parquet(workdir / "clusters.parquet").select(
        pl.col("unique_id").cast(pl.UInt32).alias("_row"),
        pl.col("cluster_id").cast(pl.String),
    )
    if clusters.height != records.height:
        raise ValueError(
            f"{workdir}: clusters list {clusters.height} records, expected {records.height}"
        )
    pw = pairwise_metrics(pairs, truth)
    out: dict[str, Any] = {f"pairwise_{k}": v for k, v in pw.items()}
    out.update(
        cluster_metrics(
            clusters, records, entity_column="entity_id", link_type="dedupe"
        )
    )
    out["true_pairs"] = truth.height
    return out


def finish_record(
    raw: dict[str, Any],
    *,
    tool: str,
    n: int,
    seed: int,
    threshold: float,
    time_limit: float,
    command: str,
    data: str = "standard",
    input: str = "clean",
) -> dict[str, Any]:
    """Add identity, derived figures and the table's stage view to a raw record."""
    stages = dict(raw.get("stages_s") or {})
    view = {
        "load": stages.get("load"),
        "standardise": stages.get("standardise"),
        "block": stages.get("block"),
        "compare": stages.get("compare"),
        "train": stages.get("train"),
        "score": stages.get("score"),
        # er_toolkit and recordlinkage compare before they train (the vectors
        # feed training); their compare + score is the counterpart of Splink's
        # predict.
        "predict": stages.get("predict")
        if "predict" in stages
        else (
            stages["compare"] + stages["score"]
            if "compare" in stages and "score" in stages
            else None
        ),
        "cluster": stages.get("cluster"),
        "evaluate": stages.get("evaluate"),
        "mlflow": stages.get("mlflow"),
    }
    rec = {
        "tool": tool,
        "data": data,
        "input": input,
        "n_records": n,
        "seed": seed,
        "threshold": threshold,
        "time_limit_s": time_limit,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        **{k: v for k, v in raw.items() if k != "input"},
        "stages_s": stages,
        "stage_order": list(STAGE_ORDER[tool]),
        "table_stages_s": view,
    }
    if raw.get("status") == "ok":
        rec["total_s"] = sum(stages.values())
        cs = raw.get("compare_score_s") or 0.0
        rec["pairs_per_s"] = raw["candidate_pairs"] / cs if cs else None
    return rec


# --------------------------------------------------------------------------- #
# outputs
# --------------------------------------------------------------------------- #
def merge_runs(path: Path, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge ``runs`` into the runs already in ``path`` (same key: replaced)."""

    def key(r: dict[str, Any]) -> tuple:
        return (
            data_of(r),
            r["tool"],
            input_of(r),
            r["n_records"],
            r["seed"],
            r["threshold"],
        )

    old: list[dict[str, Any]] = []
    if path.exists():
        try:
            old = json.loads(path.read_text()).get("runs", [])
        except json.JSONDecodeError:
            old = []
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in runs})
    order = {t: i for i, t in enumerate(TOOLS)}
    kinds = {d: i for i, d in enumerate(DIFFICULTIES)}
    return sorted(
        merged.values(),
        key=lambda r: (
            kinds.get(data_of(r), 99),
            r["n_records"],
            r["seed"],
            order.get(r["tool"], 99),
            input_of(r) != "raw",
        ),
    )


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and spec.endswith("%"):
        return format(value, spec)
    return format(value, spec)


def _status_cell(r: dict[str, Any]) -> str:
    status = r["status"]
    if status == "timeout":
        where = r.get("stopped_in_stage")
        return f"timeout > {r['time_limit_s']:g}s" + (f" (in {where})" if where else "")
    if status.startswith("error"):
        return status.replace("|", "\\|")[:120]
    return status


def _lambda_cell(r: dict[str, Any]) -> str:
    """λ and how it was found (recordlinkage's is the match share of its candidates)."""
    if r.get("lambda") is not None:
        method = r.get("lambda_method")
        if method is None and r["tool"] == "splink":
            method = "deterministic"
        return f"{r['lambda']:.3g}" + (f" ({method})" if method else "")
    if r.get("lambda_in_candidates") is not None:
        return f"{r['lambda_in_candidates']:.3g} (ECM, in candidates)"
    return "-"


def _ratio(a: Any, b: Any) -> float | None:
    if a is None or b is None or not b:
        return None
    return float(a) / float(b)


def ratio_table(
    runs: Sequence[dict[str, Any]],
    tool: str = "er_toolkit",
    other: str = "splink",
    *,
    tool_input: str = "raw",
    other_input: str = "raw",
) -> str:
    """One row per size with both ``tool`` and ``other``: time, memory and accuracy.

    Ratios are ``tool / other``. When ``other`` timed out, its time is only
    bounded (more than the limit), so the time ratios are written as ``<``.
    Empty string when no size has both tools.
    """
    by_key: dict[tuple, dict[tuple[str, str], dict[str, Any]]] = {}
    for r in runs:
        key = (r["n_records"], r["seed"], r["threshold"])
        by_key.setdefault(key, {})[(r["tool"], input_of(r))] = r
    rows = []
    for (n, _seed, _threshold), tools in sorted(by_key.items()):
        a, b = tools.get((tool, tool_input)), tools.get((other, other_input))
        if a is None or b is None or a["status"] != "ok":
            continue
        b_ok = b["status"] == "ok"
        if not b_ok and b["status"] != "timeout":
            continue
        bound = "" if b_ok else "< "

        def time_ratio(field: str, a=a, b=b, b_ok=b_ok, bound=bound) -> str:
            den = b.get(field) if b_ok else b.get("time_limit_s")
            value = _ratio(a.get(field), den)
            return "-" if value is None else f"{bound}{value:.2f}"

        rss = _ratio(a.get("peak_rss_mb"), b.get("peak_rss_mb"))
        cells = [
            f"{n:,}",
            _status_cell(b) if not b_ok else "ok",
            f"{a['wall_s']:.1f} / "
            + (f"{b['wall_s']:.1f}" if b_ok else f"> {b['time_limit_s']:g}"),
            time_ratio("wall_s"),
            time_ratio("total_s"),
            f"{a['peak_rss_mb']:,.0f} / {b['peak_rss_mb']:,.0f}",
            "-" if rss is None else f"{rss:.2f}" + ("" if b_ok else " (at kill)"),
            f"{a['cluster_f1']:.4f} / " + (f"{b['cluster_f1']:.4f}" if b_ok else "-"),
            f"{a['largest_cluster']:,} / "
            + (f"{b['largest_cluster']:,}" if b_ok else "-"),
            f"{a['pairs_per_s']:,.0f} / "
            + (f"{b['pairs_per_s']:,.0f}" if b_ok and b.get("pairs_per_s") else "-"),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    if not rows:
        return ""
    tool = f"{tool} ({tool_input})"
    other = f"{other} ({other_input})"
    columns = [
        "records",
        f"{other} status",
        "wall s",
        "wall ratio",
        "stage-total ratio",
        "peak RSS MiB",
        "RSS ratio",
        "cluster F1",
        "largest cluster",
        "pairs/s (compare+score)",
    ]
    return (
        f"### {tool} against {other}\n\n"
        f"Pairs of values are {tool} / {other}; ratios are {tool} ÷ {other} "
        "(below 1: "
        f"{tool} is faster or smaller). Wall is the tool's whole subprocess "
        "(interpreter start and imports included); stage total is the sum of the "
        "timed stages.\n\n"
        "| "
        + " | ".join(columns)
        + " |\n"
        + "|"
        + "---|" * len(columns)
        + "\n"
        + "\n".join(rows)
        + "\n"
    )


def markdown_tables(runs: Sequence[dict[str, Any]]) -> str:
    """One markdown table per (data, size, seed): time per stage, memory, pairs, accuracy.

    Runs on more than one kind of data get a ``## <data> data`` heading per kind.
    """
    kinds = [d for d in DIFFICULTIES if any(data_of(r) == d for r in runs)]
    if len(kinds) > 1:
        return "\n".join(
            f"## {d} data\n\n" + markdown_tables([r for r in runs if data_of(r) == d])
            for d in kinds
        )
    titles = [TABLE_STAGE_TITLES.get(s, f"{s} s") for s in TABLE_STAGES]
    columns = [
        "tool",
        "status",
        *titles,
        "total s",
        "wall s",
        "peak RSS MiB",
        "candidate pairs",
        "pairs/s",
        "λ",
        "pairwise P",
        "pairwise R",
        "pairwise F1",
        "cluster P",
        "cluster R",
        "cluster F1",
        "B³ F1",
        "largest cluster",
    ]
    header = "| " + " | ".join(columns) + " |\n" + "|" + "---|" * len(columns)
    blocks = []
    keys = sorted({(r["n_records"], r["seed"], r["threshold"]) for r in runs})
    for n, seed, threshold in keys:
        rows = []
        for r in runs:
            if (r["n_records"], r["seed"], r["threshold"]) != (n, seed, threshold):
                continue
            st = r.get("table_stages_s") or {}
            ok = r["status"] == "ok"
            cells = [
                label_of(r),
                _status_cell(r),
                *[_fmt(st.get(s), ".2f") for s in TABLE_STAGES],
                _fmt(r.get("total_s"), ".2f") if ok else "-",
                _fmt(r.get("wall_s"), ".1f"),
                _fmt(r.get("peak_rss_mb"), ",.0f") if r.get("peak_rss_mb") else "-",
                _fmt(r.get("candidate_pairs"), ",d") if ok else "-",
                _fmt(r.get("pairs_per_s"), ",.0f") if ok else "-",
                _lambda_cell(r) if ok else "-",
            ]
            for k in (
                "pairwise_precision",
                "pairwise_recall",
                "pairwise_f1",
                "cluster_precision",
                "cluster_recall",
                "cluster_f1",
                "bcubed_f1",
            ):
                cells.append(_fmt(r.get(k), ".4f") if ok else "-")
            cells.append(_fmt(r.get("largest_cluster"), ",d") if ok else "-")
            rows.append("| " + " | ".join(cells) + " |")
        true_pairs = next(
            (
                r["true_pairs"]
                for r in runs
                if r.get("true_pairs") and r["n_records"] == n and r["seed"] == seed
            ),
            None,
        )
        hard = " on hard data" if kinds and kinds[0] != "standard" else ""
        title = f"### {n:,} records{hard} (seed {seed}, threshold {threshold:g})"
        if true_pairs:
            title += f"\n\n{true_pairs:,} true pairs."
        blocks.append(f"{title}\n\n{header}\n" + "\n".join(rows))
    for tool_input, other_input in (
        ("raw", "raw"),
        ("raw", "clean"),
        ("clean", "clean"),
    ):
        ratios = ratio_table(runs, tool_input=tool_input, other_input=other_input)
        if ratios:
            blocks.append(ratios.rstrip("\n"))
    return "\n\n".join(blocks) + "\n"


def plot(runs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Log-log plot of total time against records, one line per tool.

    Finished runs are dots joined by a line; a timeout is an ``x`` at its
    time limit.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib ships with the bench extra
        print("matplotlib is not installed; no plot", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, tool in enumerate(TOOLS):
        colour = f"C{i}"
        for kind in INPUTS:
            style = "-" if kind == "raw" else "--"
            mine = [r for r in runs if r["tool"] == tool and input_of(r) == kind]
            name = f"{tool} ({kind})"
            ok = sorted(
                (r["n_records"], r["total_s"])
                for r in mine
                if r["status"] == "ok" and r.get("total_s")
            )
            if ok:
                xs, ys = zip(*ok, strict=True)
                ax.plot(xs, ys, "o" + style, color=colour, label=name)
            bad = [
                (r["n_records"], r["time_limit_s"])
                for r in mine
                if r["status"] == "timeout"
            ]
            if bad:
                xs, ys = zip(*bad, strict=True)
                ax.plot(
                    xs, ys, "x", color=colour, markersize=10, label=f"{name} timeout"
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("records")
    ax.set_ylabel("total time (s, all stages)")
    ax.set_title("Deduplication time against records")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_results_md(
    path: Path,
    runs: Sequence[dict[str, Any]],
    *,
    command: str,
    mach: dict[str, Any],
    data: str = "standard",
) -> None:
    """Write (or replace) the side-by-side section of ``data`` in a results file.

    Standard data has the section :data:`SECTION`, hard data
    :data:`SECTION_HARD`; each holds only its own runs.
    """
    runs = [r for r in runs if data_of(r) == data]
    heading = SECTION if data == "standard" else SECTION_HARD
    about = (
        ""
        if data == "standard"
        else 'The data is the generator\'s `difficulty="hard"`: a quarter of the '
        "customers share an address with another (households with one surname, "
        "a landline and sometimes an e-mail), twins, junior/senior pairs of one "
        "name, namesakes in one city; duplicates with married names and moves, "
        "new phones, swapped names, initials, transliterations; placeholders "
        "(test@test.com, 0000000000, 1900-01-01) shared by unrelated records; "
        "more date and phone formats; and a support desk with one packed name "
        'field (`full_name`, "SMITH, John"), whose `first_name` and `surname` '
        "are null (only the `er_toolkit_hard` row's config splits it). The "
        "`er_toolkit_hard` row is er_toolkit with the config made for such data "
        "(`benchmarks/configs/compare_er_toolkit_hard.toml`: derived name columns, "
        "placeholders, swapped / initial / transliterated name levels, one location "
        "comparison over phone, postcode and city); every other row keeps the "
        "shared set-up. "
    )
    dates = sorted({r["date"][:10] for r in runs})
    commands = list(dict.fromkeys([*(r["command"] for r in runs), command]))
    made_by = "; ".join(f"`{c}`" for c in commands)
    section = (
        f"{heading}\n\n"
        f"Produced by {made_by} ({', '.join(dates)}) on {machine_line(mach)}.\n\n"
        + about
        + "Synthetic customers from four source systems (`benchmarks/synthetic.py`). "
        "Rows marked `(raw)` read the records as the sources wrote them: er_toolkit "
        "standardises them inside its clock and its run is the whole training job "
        "(load, standardise, block, compare, train, score, cluster, evaluate, MLflow "
        "logging to a local SQLite store made before the clock starts); Splink and "
        "recordlinkage read them as they are. Rows marked `(clean)` read the same "
        "records standardised once by er_toolkit outside every clock (each tool's "
        "best case). Each tool deduplicates in "
        "its own process with the same six blocking rules, the same comparison levels, "
        "the same EM training rules and a match-probability threshold of "
        f"{runs[0]['threshold'] if runs else 0.9:g}; labels are read only to evaluate. "
        "The prior λ is each tool's own: er_toolkit from its EM sessions, Splink from "
        "deterministic rules (recall 0.7), recordlinkage by ECM; er_toolkit prunes weak "
        "links when clustering. Stage times are wall seconds (Splink trains before it "
        "blocks and compares and scores in one `predict()`; er_toolkit and recordlinkage "
        "compare once, before training, and reuse the vectors to score, so "
        "compare+score is their counterpart of Splink's predict). Peak RSS is the "
        "whole process, interpreter and imports included. See "
        "`benchmarks/README_compare.md` for the set-ups and what they do not make equal.\n\n"
        + markdown_tables(runs)
    )
    replace_section(path, heading, section, title="Benchmark results")


# --------------------------------------------------------------------------- #
# main
# --------------------------------------------------------------------------- #
def _parse_limits(items: Sequence[str]) -> dict[str, float]:
    out = {}
    for item in items:
        tool, sep, value = item.partition("=")
        if not sep or tool not in TOOLS:
            raise SystemExit(
                f"--tool-time-limit wants TOOL=SECONDS with TOOL in {TOOLS}; got {item!r}"
            )
        out[tool] = float(value)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--tools",
        nargs="+",
        choices=TOOLS,
        default=list(DEFAULT_TOOLS),
        help="er_toolkit_hard: er_toolkit with the config for hard customer data "
        "(benchmarks/configs/compare_er_toolkit_hard.toml), on standardised "
        f"records only (default: {' '.join(DEFAULT_TOOLS)})",
    )
    parser.add_argument(
        "--time-limit", type=float, default=1800.0, help="seconds per tool and size"
    )
    parser.add_argument(
        "--tool-time-limit",
        action="append",
        default=[],
        metavar="TOOL=SECONDS",
        help="override --time-limit for one tool (repeatable)",
    )
    parser.add_argument("--seed", type=int, default=0, help="data generator seed")
    parser.add_argument(
        "--data",
        choices=DIFFICULTIES,
        default="standard",
        help="generator difficulty: standard, or hard (households, look-alikes, "
        "hard duplicates, placeholders)",
    )
    parser.add_argument(
        "--inputs",
        nargs="+",
        choices=INPUTS,
        default=list(INPUTS),
        help="raw: the records as the sources wrote them (er_toolkit standardises "
        "them in its clock, the others read them as they are); clean: the records "
        "standardised once by er_toolkit outside every clock (default: both)",
    )
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: OUT/data")
    parser.add_argument("--results-md", type=Path, default=None)
    parser.add_argument(
        "--no-skip",
        action="store_true",
        help="run larger sizes of a tool even after it timed out or ran out of memory",
    )
    args = parser.parse_args(argv)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    command = "python -m benchmarks.compare " + shlex.join(argv_list)
    limits = _parse_limits(args.tool_time_limit)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    data_dir = args.data_dir or out / "data"
    mach = machine()
    runs: list[dict[str, Any]] = []
    failed: dict[tuple[str, str], str] = {}
    results_json = out / "results.json"

    for n in sorted(args.sizes):
        data = prepare(n, args.seed, data_dir, data=args.data)
        records, truth = load_truth(data)
        for tool, kind in [(t, k) for t in args.tools for k in args.inputs]:
            if tool == "er_toolkit_hard" and kind == "raw":
                continue  # its config reads standardised records
            limit = limits.get(tool, args.time_limit)
            source = prepared_path(data_dir, n, args.seed, data=args.data, input=kind)
            ident = dict(
                tool=tool,
                n=n,
                seed=args.seed,
                threshold=args.threshold,
                time_limit=limit,
                command=command,
                data=args.data,
                input=kind,
            )
            if (tool, kind) in failed and not args.no_skip:
                raw: dict[str, Any] = {"status": f"skipped: {failed[tool, kind]}"}
                rec = finish_record(raw, **ident)
            else:
                tag = "" if args.data == "standard" else f"{args.data}_"
                raw_tag = "raw_" if kind == "raw" else ""
                workdir = out / "runs" / f"{tool}_{raw_tag}{tag}n{n}_seed{args.seed}"
                print(
                    f"[{n:,}] {tool} ({kind}): running (limit {limit:g}s)", flush=True
                )
                raw = run_tool(
                    tool,
                    source,
                    workdir,
                    threshold=args.threshold,
                    time_limit=limit,
                    input=kind,
                )
                rec = finish_record(raw, **ident)
                if rec["status"] == "ok":
                    rec.update(evaluate(workdir, records, truth))
                elif rec["status"] in ("timeout", "oom"):
                    failed[tool, kind] = f"{rec['status']} at {n:,} records"
            runs.append(rec)
            summary = (
                f"total {rec['total_s']:.1f}s, RSS {rec['peak_rss_mb']:,.0f} MiB, "
                f"pairs {rec['candidate_pairs']:,}, pairwise F1 {rec['pairwise_f1']:.4f}, "
                f"cluster F1 {rec['cluster_f1']:.4f}, largest cluster {rec['largest_cluster']}"
                if rec["status"] == "ok"
                else rec["status"]
            )
            print(f"[{n:,}] {tool} ({kind}): {summary}", flush=True)
            all_runs = merge_runs(results_json, runs)
            results_json.write_text(
                json.dumps({"machine": mach, "runs": all_runs}, indent=2, default=str)
            )

    all_runs = merge_runs(results_json, runs)
    (out / "results.md").write_text(
        f"Machine: {machine_line(mach)}\n\n" + markdown_tables(all_runs)
    )
    png = plot(all_runs, out / "time_vs_records.png")
    if args.results_md is not None:
        write_results_md(
            args.results_md, all_runs, command=command, mach=mach, data=args.data
        )
    print(markdown_tables(runs))
    print(f"wrote {results_json}, {out / 'results.md'}" + (f", {png}" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
