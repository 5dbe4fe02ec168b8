"""One tool's run in the side-by-side benchmark; the runner starts it as a subprocess.

``python -m benchmarks.compare_tools TOOL --data FILE --workdir DIR [--threshold P]
[--input raw|clean]``

TOOL is ``er_toolkit``, ``er_toolkit_hard``, ``splink`` or ``recordlinkage``;
``er_toolkit_hard`` is er_toolkit with the config made for hard customer data
(:data:`ER_TOOLKIT_HARD_CONFIG`: derived name columns, placeholders, swapped
and initial name levels, one location comparison), on standardised records
only. FILE is a prepared
Parquet file (:mod:`benchmarks.compare_prepare`). The run writes to DIR:

``progress.json``
    After every stage: the stage timings so far and the stage now running,
    so that a run killed at the time limit still says how far it got.
``result.json``
    Stage timings (seconds), candidate and predicted pair counts, the peak
    resident memory this process saw (``ru_maxrss``), settings and versions.
``pairs.parquet``
    ``unique_id_l``, ``unique_id_r``: the pairs scored at or above the
    threshold.
``clusters.parquet``
    ``unique_id``, ``cluster_id``: every record once.

With ``--input raw`` FILE holds the records as the sources wrote them
(:func:`benchmarks.compare_prepare.prepare` writes both files): er_toolkit
then standardises them inside its clock (:data:`ER_TOOLKIT_RAW_CONFIG`); the
other tools read them as they are. er_toolkit's run is the whole job of
``er_toolkit.train`` (evaluation and MLflow logging included), see
:func:`run_er_toolkit`.

Only the stages are timed; reading the counts and writing the outputs are
not. Splink and recordlinkage block with :data:`BLOCKING_RULES`; er_toolkit
with :data:`ER_TOOLKIT_BLOCKING`, rules that scale to 10M records (a third key
on each name rule, and first name with surname alone only in blocks of at most
30 records: block purging, which the other two tools do not offer). Every tool
uses the same
comparison levels (benchmarks/configs/compare_er_toolkit.toml, mirrored below), the same
training rules and the same threshold. The prior (λ) and the clustering are each
tool's own recommended practice: er_toolkit estimates λ from its EM sessions and
prunes weak links; Splink estimates λ from deterministic rules
(:data:`SPLINK_DETERMINISTIC_RULES`). What is equivalent, and what is each
tool's natural counterpart, is listed in ``benchmarks/README_compare.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
ER_TOOLKIT_CONFIG = HERE / "configs" / "compare_er_toolkit.toml"
#: The same model on raw records: standardisation in er_toolkit's clock.
ER_TOOLKIT_RAW_CONFIG = HERE / "configs" / "compare_er_toolkit_raw.toml"
#: er_toolkit set up for hard customers (households, swapped and packed names,
#: placeholders); it reads the standardised records (``--input clean``).
ER_TOOLKIT_HARD_CONFIG = HERE / "configs" / "compare_er_toolkit_hard.toml"

#: Splink's and recordlinkage's blocking rules for prediction (er_toolkit
#: syntax: ``col[:n]`` is a prefix). At 10M records first_name&surname alone
#: makes 1.59 billion pairs; er_toolkit uses :data:`ER_TOOLKIT_BLOCKING`.
BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("first_name", "surname"),
    ("surname", "date_of_birth"),
    ("first_name", "date_of_birth"),
    ("email",),
    ("phone",),
    ("postcode", "surname[:2]"),
)
#: er_toolkit's blocking rules (benchmarks/configs/compare_er_toolkit.toml):
#: each rule's keys and its ``max_block_size`` (None: no purging). Pairs grow
#: near-linearly with the records: 0.23M at 100k, 3.5M at 1M (BLOCKING_RULES:
#: 0.33M and 20M).
ER_TOOLKIT_BLOCKING: tuple[tuple[tuple[str, ...], int | None], ...] = (
    (("first_name", "surname", "date_of_birth[:4]"), None),
    (("first_name", "surname", "postcode[:4]"), None),
    (("first_name", "surname"), 30),
    (("surname", "date_of_birth"), None),
    (("first_name", "date_of_birth"), None),
    (("email",), None),
    (("phone",), None),
    (("postcode", "surname[:2]", "first_name[:1]"), None),
)
#: Blocking rules of the EM training sessions. No postcode session: the pairs
#: sharing a postcode are mostly households (same surname and address, other
#: people), and EM learns them as matches.
TRAINING_RULES: tuple[tuple[str, ...], ...] = (
    ("first_name", "surname"),
    ("date_of_birth",),
    ("email",),
)
#: Splink's prior (probability two random records match): its documented
#: ``estimate_probability_two_random_records_match`` with these rules and
#: recall. er_toolkit estimates λ from its EM sessions instead (its default,
#: ``lambda_method_ == "sessions"``), so its config has no deterministic rules.
SPLINK_DETERMINISTIC_RULES: tuple[tuple[str, ...], ...] = (
    ("first_name", "surname", "date_of_birth"),
    ("email",),
)
SPLINK_DETERMINISTIC_RECALL = 0.7
#: Random pairs for the u estimates (er_toolkit and Splink).
U_SAMPLE_PAIRS = 1_000_000
#: EM iteration cap (er_toolkit's default; Splink's default is 25).
MAX_ITER = 100
MODEL_SEED = 42
COLUMNS = (
    "unique_id",
    "first_name",
    "surname",
    "date_of_birth",
    "email",
    "phone",
    "postcode",
    "city",
)
TOOLS = ("er_toolkit", "er_toolkit_hard", "splink", "recordlinkage")
#: The tools a run compares unless told otherwise.
DEFAULT_TOOLS = ("er_toolkit", "splink", "recordlinkage")


class Clock:
    """Stage timer that also writes ``progress.json`` after every stage."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.stages: dict[str, float] = {}
        self.substages: dict[str, float] = {}

    def _progress(self, running: str | None) -> None:
        data = {"stages_s": self.stages, "running": running}
        tmp = self.workdir / "progress.json.tmp"
        tmp.write_text(json.dumps(data))
        tmp.replace(self.workdir / "progress.json")

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` body as stage ``name`` (times add up if repeated)."""
        self._progress(name)
        start = time.perf_counter()
        yield
        self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start
        self._progress(None)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _rule_name(rule: tuple[str, ...]) -> str:
    return "&".join(rule)


# --------------------------------------------------------------------------- #
# er_toolkit
# --------------------------------------------------------------------------- #
def run_er_toolkit(
    data: Path,
    workdir: Path,
    threshold: float,
    clock: Clock,
    *,
    raw: bool = False,
    config_path: Path | None = None,
) -> dict:
    """Run the whole training job, as ``er_toolkit.train`` does, every stage timed.

    Load (and, on raw records, standardise: :data:`ER_TOOLKIT_RAW_CONFIG`),
    block, compare once, fit (u sampling, EM, λ from the sessions), score,
    cluster, evaluate against the ``entity_id`` labels and log the run to
    MLflow (a SQLite tracking store in a temporary folder, no model
    registration), as ``er_toolkit.train --no-report --no-register`` does. The
    candidate vectors are computed once by ``Linker.compare`` and passed to
    both ``fit`` and ``predict``.
    """
    import dataclasses
    import tempfile

    from er_toolkit.config import LinkageConfig
    from er_toolkit.io import Source
    from er_toolkit.pipeline import Linker
    from er_toolkit.track.setup import TrackingSetup

    path = config_path or (ER_TOOLKIT_RAW_CONFIG if raw else ER_TOOLKIT_CONFIG)
    config = dataclasses.replace(LinkageConfig.from_toml(path), threshold=threshold)
    # MLflow 3 refuses a file: store for new runs; a SQLite file in a
    # temporary folder (artifacts beside it) is the local equivalent. As
    # er_toolkit.train does, MLflow is imported and the store opened (a new
    # SQLite store runs MLflow's schema migrations, seconds) in a background
    # thread started with the job; what the job still waits for when it logs
    # is in the mlflow stage (and in mlflow_setup_wait_s).
    store = tempfile.TemporaryDirectory(prefix="er_toolkit_mlflow_")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(store.name) / 'mlflow.db'}"
    setup = TrackingSetup.start(
        config.experiment,
        artifact_location=(Path(store.name) / "artifacts").as_uri(),
    )
    with clock.stage("load"):
        linker = Linker(config)
        prepared = linker.prepare([Source("customers", data)], keep=["unique_id"])
        records = prepared.records
    # Linker.prepare times loading and standardising apart.
    if "standardise" in linker.timings_:
        moved = linker.timings_["standardise"]
        clock.stages["load"] -= moved
        clock.stages["standardise"] = moved
    with clock.stage("block"):
        pairs = linker.block(records)
    with clock.stage("compare"):
        vectors = linker.compare(records, pairs)
    with clock.stage("train"):
        linker.fit(records, candidate_pairs=pairs, candidate_vectors=vectors)
    with clock.stage("score"):
        scored = linker.predict(records, candidate_vectors=vectors, record_ids=False)
    n_candidates = vectors.height
    del vectors
    with clock.stage("cluster"):
        clusters = linker.cluster(records, scored)
    with clock.stage("evaluate"):
        truth = linker.true_pairs(records)
        metrics: dict[str, float] = {"candidate_pairs": float(pairs.height)}
        scorer_report = linker.scorer_.report()
        metrics.update(scorer_report.metrics)
        if truth is not None:
            measured, _curve = linker.evaluate(
                records,
                candidate_pairs=pairs,
                scored=scored,
                clusters=clusters,
                truth=truth,
            )
            metrics.update(measured)
        del truth
    clock.substages = dict(linker.timings_)
    with store, clock.stage("mlflow"):
        began = time.perf_counter()
        setup.wait()
        wait_s = time.perf_counter() - began
        from er_toolkit.track import log_training_run

        tables = {
            "blocking_report": linker.blocking_report(records),
            **scorer_report.tables,
        }
        log_training_run(
            linker,
            records=records,
            metrics=metrics,
            figures={},
            tables=tables,
            profile=prepared.profile,
            register=False,
            params=dict(scorer_report.params),
            tags=dict(scorer_report.tags),
            setup=setup,
        )

    ids = records.select("_row", "unique_id")
    predicted = (
        scored.lazy()
        .filter(pl.col("match_probability") >= threshold)
        .select("_row_l", "_row_r")
        .join(
            ids.lazy().rename({"_row": "_row_l", "unique_id": "unique_id_l"}),
            on="_row_l",
        )
        .join(
            ids.lazy().rename({"_row": "_row_r", "unique_id": "unique_id_r"}),
            on="_row_r",
        )
        .select("unique_id_l", "unique_id_r")
        .collect()
    )
    predicted.write_parquet(workdir / "pairs.parquet")
    clusters.join(ids, on="_row").select("unique_id", "cluster_id").write_parquet(
        workdir / "clusters.parquet"
    )
    scorer = linker.scorer_
    return {
        "candidate_pairs": n_candidates,
        "mlflow_setup_wait_s": wait_s,
        "scored_pairs": scored.height,
        "predicted_pairs": predicted.height,
        "compare_score_s": clock.stages["compare"] + clock.stages["score"],
        "lambda": float(scorer.probability_two_random_records_match_),
        "lambda_method": scorer.lambda_method_,
        "lambda_estimates": [
            float(x) for x in getattr(scorer, "lambda_estimates_", [])
        ],
        "em_sessions": [
            {
                k: s[k]
                for k in (
                    "rule",
                    "pairs",
                    "pairs_trained",
                    "iterations",
                    "converged",
                    "match_share",
                )
                if k in s
            }
            for s in scorer.sessions_
        ],
        "settings": {
            "config": str(path.relative_to(HERE.parent)),
            "max_pairs_per_session": config.model.max_pairs_per_session,
            "prune_weak_links": config.clustering.prune_weak_links,
        },
    }


# --------------------------------------------------------------------------- #
# Splink 5 on DuckDB
# --------------------------------------------------------------------------- #
def _splink_block(rule: tuple[str, ...]) -> Any:
    from splink import block_on

    parts = []
    for column in rule:
        if "[:" in column:
            name, _, width = column.partition("[:")
            parts.append(f"substr({name}, 1, {int(width.rstrip(']'))})")
        else:
            parts.append(column)
    return block_on(*parts)


def splink_settings() -> Any:
    """Return the Splink settings equivalent to benchmarks/configs/compare_er_toolkit.toml."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    def name(col: str) -> Any:
        return cl.CustomComparison(
            output_column_name=col,
            comparison_levels=[
                cll.NullLevel(col),
                cll.ExactMatchLevel(col, term_frequency_adjustments=True),
                cll.JaroWinklerLevel(col, 0.92),
                cll.JaroWinklerLevel(col, 0.80),
                cll.ElseLevel(),
            ],
        )

    def edits(col: str, distance: int) -> Any:
        return cl.CustomComparison(
            output_column_name=col,
            comparison_levels=[
                cll.NullLevel(col),
                cll.ExactMatchLevel(col),
                cll.DamerauLevenshteinLevel(col, distance),
                cll.ElseLevel(),
            ],
        )

    def exact(col: str) -> Any:
        return cl.CustomComparison(
            output_column_name=col,
            comparison_levels=[
                cll.NullLevel(col),
                cll.ExactMatchLevel(col),
                cll.ElseLevel(),
            ],
        )

    dob = "date_of_birth"

    def part(side: str, start: int, length: int) -> str:
        return f"substr({dob}_{side}, {start}, {length})"

    swapped = (
        f"{part('l', 1, 4)} = {part('r', 1, 4)} "
        f"AND {part('l', 6, 2)} = {part('r', 9, 2)} "
        f"AND {part('l', 9, 2)} = {part('r', 6, 2)} "
        f"AND {part('l', 6, 2)} <> {part('l', 9, 2)}"
    )
    date_of_birth = cl.CustomComparison(
        output_column_name=dob,
        comparison_levels=[
            cll.NullLevel(dob),
            cll.ExactMatchLevel(dob),
            cll.CustomLevel(swapped, label_for_charts="day/month swapped"),
            cll.DamerauLevenshteinLevel(dob, 1),
            cll.AbsoluteDateDifferenceLevel(
                dob,
                input_is_string=True,
                threshold=366,
                metric="day",
                datetime_format="%Y-%m-%d",
            ),
            cll.ElseLevel(),
        ],
    )
    city = cl.CustomComparison(
        output_column_name="city",
        comparison_levels=[
            cll.NullLevel("city"),
            cll.ExactMatchLevel("city", term_frequency_adjustments=True),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[
            _splink_block(r) for r in BLOCKING_RULES
        ],
        comparisons=[
            name("first_name"),
            name("surname"),
            date_of_birth,
            exact("email"),
            edits("phone", 1),
            edits("postcode", 1),
            city,
        ],
        max_iterations=MAX_ITER,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _scalar(con: Any, sql: str) -> Any:
    """Run ``sql`` and return its single value, leaving no result pending.

    DuckDB 2 refuses new work on a connection whose last result was not read
    to the end, so fetch everything rather than ``fetchone()``.
    """
    return con.execute(sql).fetchall()[0][0]


def run_splink(data: Path, workdir: Path, threshold: float, clock: Clock) -> dict:
    """Splink's unsupervised flow: prior, u by sampling, EM per rule, predict, cluster."""
    import duckdb
    from splink import DuckDBAPI, Linker

    settings = splink_settings()
    with clock.stage("load"):
        con = duckdb.connect()
        cols = ", ".join(COLUMNS)
        con.execute(
            f"CREATE TABLE customers AS SELECT {cols} FROM read_parquet(?)",
            [str(data)],
        ).fetchall()
        db_api = DuckDBAPI(con)
        table = db_api.register("customers")
        linker = Linker(table, settings, log_level=logging.WARNING)
    with clock.stage("train"):
        linker.training.estimate_probability_two_random_records_match(
            [_splink_block(r) for r in SPLINK_DETERMINISTIC_RULES],
            recall=SPLINK_DETERMINISTIC_RECALL,
        )
        linker.training.estimate_u_using_random_sampling(
            max_pairs=U_SAMPLE_PAIRS, seed=MODEL_SEED
        )
        for rule in TRAINING_RULES:
            linker.training.estimate_parameters_using_expectation_maximisation(
                _splink_block(rule)
            )
    with clock.stage("block"):
        blocked = linker.inference.compute_blocked_pairs_for_predict()
    candidates = _scalar(con, f"SELECT count(*) FROM {blocked.physical_name}")
    with clock.stage("predict"):
        predictions = linker.inference.predict()
    with clock.stage("cluster"):
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )

    pred = predictions.physical_name
    con.execute(
        f"COPY (SELECT unique_id_l, unique_id_r FROM {pred} "
        f"WHERE match_probability >= {threshold!r}) TO ? (FORMAT parquet)",
        [str(workdir / "pairs.parquet")],
    ).fetchall()
    con.execute(
        f"COPY (SELECT unique_id, cluster_id FROM {clusters.physical_name}) "
        "TO ? (FORMAT parquet)",
        [str(workdir / "clusters.parquet")],
    ).fetchall()
    scored = _scalar(con, f"SELECT count(*) FROM {pred}")
    n_pred = _scalar(
        con, f"SELECT count(*) FROM {pred} WHERE match_probability >= {threshold!r}"
    )
    lam = linker._settings_obj._probability_two_random_records_match
    return {
        "candidate_pairs": int(candidates),
        "scored_pairs": int(scored),
        "predicted_pairs": int(n_pred),
        "compare_score_s": clock.stages["predict"],
        "lambda": float(lam),
        "settings": {
            "duckdb_threads": _scalar(con, "SELECT current_setting('threads')"),
            "duckdb_memory_limit": _scalar(
                con, "SELECT current_setting('memory_limit')"
            ),
        },
    }


# --------------------------------------------------------------------------- #
# recordlinkage
# --------------------------------------------------------------------------- #
def _damerau_levenshtein(s1: Any, s2: Any) -> Any:
    """Edit distance per pair (-1 where either side is missing), with jellyfish."""
    import numpy as np
    import pandas as pd
    from jellyfish import damerau_levenshtein_distance

    out = [
        damerau_levenshtein_distance(a, b)
        if isinstance(a, str) and isinstance(b, str)
        else -1
        for a, b in zip(s1.to_numpy(), s2.to_numpy(), strict=True)
    ]
    return pd.Series(np.asarray(out, dtype=np.int64), index=s1.index)


def run_recordlinkage(
    data: Path, workdir: Path, threshold: float, clock: Clock, n_jobs: int = 2
) -> dict:
    """Index (Block per rule, union), Compare, ECM, threshold, connected components."""
    import numpy as np
    import pandas as pd
    import recordlinkage as rl
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    with clock.stage("load"):
        df = pd.read_parquet(data, columns=list(COLUMNS)).set_index("unique_id")
        df["surname_2"] = df["surname"].str[:2]
        df["dob_date"] = pd.to_datetime(
            df["date_of_birth"], format="%Y-%m-%d", errors="coerce"
        )
        df["dob_days"] = (df["dob_date"] - pd.Timestamp("1970-01-01")).dt.days
    with clock.stage("block"):
        indexer = rl.Index()
        for rule in BLOCKING_RULES:
            indexer.block([c.replace("surname[:2]", "surname_2") for c in rule])
        pairs = indexer.index(df)

    def levels(frame: pd.DataFrame) -> pd.DataFrame:
        """One 0/1 feature per comparison level, cumulative: "at this level or better".

        ECM (with its standard 'jaro' start) takes binary features only, so
        each level of the other tools' comparisons becomes an indicator that
        the pair reaches that level or a better one. A null side sets no
        indicator: recordlinkage has no neutral null level, so a missing value
        counts as disagreement. (Exclusive one-hot levels gave pairwise F1
        0.25 at 10k records, one feature per comparison 0.66, these 0.61.)
        """
        out: dict[str, np.ndarray] = {}

        def add(name: str, conditions: list[np.ndarray]) -> None:
            reached = np.zeros(len(frame), dtype=bool)
            for k, cond in enumerate(conditions):
                reached |= cond
                out[f"{name}_{k}"] = reached.astype(np.int8)

        for col in ("first_name", "surname"):
            exact = frame[f"{col}_exact"].to_numpy() == 1
            jw = frame[f"{col}_jw"].to_numpy()
            add(col, [exact, jw >= 0.92, jw >= 0.80])
        date = frame["dob_date"].to_numpy()
        dob_dl = frame["dob_dl"].to_numpy()
        add(
            "date_of_birth",
            [
                date == 1,
                date == 0.5,
                (dob_dl >= 0) & (dob_dl <= 1),
                frame["dob_days"].to_numpy() == 1,
            ],
        )
        add("email", [frame["email_exact"].to_numpy() == 1])
        for col, k in (("phone", 1), ("postcode", 1)):
            dl = frame[f"{col}_dl"].to_numpy()
            add(col, [frame[f"{col}_exact"].to_numpy() == 1, (dl >= 0) & (dl <= k)])
        add("city", [frame["city_exact"].to_numpy() == 1])
        return pd.DataFrame(out, index=frame.index)

    with clock.stage("compare"):
        compare = rl.Compare(n_jobs=n_jobs)
        for col in ("first_name", "surname"):
            compare.exact(col, col, missing_value=-1, label=f"{col}_exact")
            compare.string(
                col, col, method="jarowinkler", missing_value=-1, label=f"{col}_jw"
            )
        compare.date(
            "dob_date",
            "dob_date",
            swap_month_day=0.5,
            swap_months=False,
            missing_value=-1,
            label="dob_date",
        )
        compare.compare_vectorized(
            _damerau_levenshtein, "date_of_birth", "date_of_birth", label="dob_dl"
        )
        compare.numeric(
            "dob_days",
            "dob_days",
            method="step",
            offset=366,
            missing_value=-1,
            label="dob_days",
        )
        for col in ("email", "phone", "postcode", "city"):
            compare.exact(col, col, missing_value=-1, label=f"{col}_exact")
        for col in ("phone", "postcode"):
            compare.compare_vectorized(
                _damerau_levenshtein, col, col, label=f"{col}_dl"
            )
        raw = compare.compute(pairs, df)
        features = levels(raw)
    with clock.stage("train"):
        ecm = rl.ECMClassifier(binarize=None)
        ecm.fit(features)
    with clock.stage("score"):
        probability = ecm.prob(features)
        matches = probability.index[probability.to_numpy() >= threshold]
    clock.substages = {
        "compare": clock.stages["compare"],
        "score": clock.stages["score"],
    }
    with clock.stage("cluster"):
        ids = df.index.to_numpy()
        position = pd.Series(np.arange(len(ids)), index=ids)
        left = position.loc[matches.get_level_values(0)].to_numpy()
        right = position.loc[matches.get_level_values(1)].to_numpy()
        graph = coo_matrix(
            (np.ones(len(left), dtype=np.int8), (left, right)),
            shape=(len(ids), len(ids)),
        )
        _, labels = connected_components(graph, directed=False)

    pl.DataFrame(
        {
            "unique_id_l": matches.get_level_values(0).to_numpy(),
            "unique_id_r": matches.get_level_values(1).to_numpy(),
        }
    ).write_parquet(workdir / "pairs.parquet")
    pl.DataFrame(
        {"unique_id": ids, "cluster_id": labels.astype(np.int64)}
    ).write_parquet(workdir / "clusters.parquet")
    prior = float(np.exp(ecm.kernel.class_log_prior_[1]))
    return {
        "candidate_pairs": len(pairs),
        "scored_pairs": len(features),
        "predicted_pairs": len(matches),
        "compare_score_s": clock.stages["compare"] + clock.stages["score"],
        "lambda_in_candidates": prior,
        "settings": {
            "n_jobs": n_jobs,
            "ecm_init": "jaro",
            "features": list(features.columns),
        },
    }


RUNNERS: dict[str, Callable[[Path, Path, float, Clock], dict]] = {
    "er_toolkit": run_er_toolkit,
    "splink": run_splink,
    "recordlinkage": run_recordlinkage,
}

#: Stages of each tool, in the order it runs them.
_ER_TOOLKIT_STAGES = (
    "load",
    "standardise",
    "block",
    "compare",
    "train",
    "score",
    "cluster",
    "evaluate",
    "mlflow",
)
STAGE_ORDER: dict[str, tuple[str, ...]] = {
    "er_toolkit": _ER_TOOLKIT_STAGES,
    "er_toolkit_hard": _ER_TOOLKIT_STAGES,
    "splink": ("load", "train", "block", "predict", "cluster"),
    "recordlinkage": ("load", "block", "compare", "train", "score", "cluster"),
}


def main(argv: list[str] | None = None) -> int:
    """Run one tool on one prepared file; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument(
        "--input",
        choices=("raw", "clean"),
        default="clean",
        help="raw records (er_toolkit standardises them in its clock) or the "
        "prepared, standardised ones",
    )
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    clock = Clock(args.workdir)
    start = time.perf_counter()
    data = args.data.resolve()
    if args.tool == "er_toolkit":
        extra = run_er_toolkit(
            data, args.workdir, args.threshold, clock, raw=args.input == "raw"
        )
    elif args.tool == "er_toolkit_hard":
        if args.input == "raw":
            parser.error("er_toolkit_hard reads standardised records: --input clean")
        extra = run_er_toolkit(
            data,
            args.workdir,
            args.threshold,
            clock,
            config_path=ER_TOOLKIT_HARD_CONFIG,
        )
    else:
        extra = RUNNERS[args.tool](data, args.workdir, args.threshold, clock)
    result = {
        "tool": args.tool,
        "input": args.input,
        "stages_s": clock.stages,
        "substages_s": clock.substages,
        "total_s": sum(clock.stages.values()),
        "in_process_s": time.perf_counter() - start,
        # Linux reports kilobytes.
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "versions": {
            "python": platform.python_version(),
            "er_toolkit": _version("er_toolkit"),
            "splink": _version("splink"),
            "duckdb": _version("duckdb"),
            "recordlinkage": _version("recordlinkage"),
            "polars": _version("polars"),
            "pandas": _version("pandas"),
        },
        "pid": os.getpid(),
        **extra,
    }
    (args.workdir / "result.json").write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
