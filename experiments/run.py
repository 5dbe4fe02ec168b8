"""End-to-end evaluation of every labelled set, from its config alone; writes RESULTS.md.

Usage: ``python -m experiments.run [--sets febrl3 chicago_childcare ...]
[--labels 600] [--no-write]``.

Each row is a run of ``er_toolkit.train.train`` (what ``python -m
er_toolkit.train --config experiments/<set>.toml`` does, without MLflow)
under one protocol, written beside its figures:

- ``fs``: entity-id sets. Fellegi-Sunter trained without labels (u by
  random sampling, m and λ by EM); every record blocked, scored and
  clustered at the model's threshold; pairwise and cluster precision /
  recall / F1 against the entity ids over **all** records (true pairs
  blocking missed count against recall).
- ``al<N>``: entity-id sets. An :class:`~er_toolkit.active_learning.ActiveLearner`
  picks pairs to label (seed pairs by FS weight, then the least certain plus
  a few at random, 25 a round) and a scripted labeller answers from the
  entity ids, until N labels (each round it rescores a fixed random sample
  of at most 200,000 candidate pairs, where the uncertain ones are picked);
  then the config's classifier (stacked on FS)
  is trained on those labels only (``[training] labels_path``), its
  threshold the one of highest expected F1 over the candidate pairs, each
  a match with its FS probability (``threshold_on = "candidates"``), and
  the run is measured end to end as ``fs`` is. The estimator is chosen by
  that expected F1, never by the end-to-end score.
- ``split``: Magellan/DeepMatcher sets. The config's classifier is trained on
  the fixed train pairs, its threshold chosen on the valid pairs, and F1
  measured on the test pairs, each compared on exactly those pairs (the
  published protocol; ``[training] labels_path`` / ``validation_path``,
  ``[evaluation] test_pairs_path``). The estimator is chosen by valid F1.

Every set loads from its config alone: fodors_zagat's quote stripping and
the product sets' ``codes`` column of digit-holding tokens are ``[[derive]]``
tables there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.markdown import replace_section
from er_toolkit import schema
from er_toolkit.active_learning import ActiveLearner
from er_toolkit.config import LinkageConfig
from er_toolkit.io import Source
from er_toolkit.pairs import pair_key
from er_toolkit.pipeline import Linker
from er_toolkit.score.config import TrainingConfig
from er_toolkit.train import train

HERE = Path(__file__).resolve().parent
DATASETS = Path(
    os.environ.get("ER_SHARED_DATASETS", HERE.parent.parent / "shared" / "datasets")
)
SECTION = "## End to end, from the configs"
STORE = HERE / "run_results.json"
"""Every set's last rows, so that a run of some sets keeps the others'."""
SPLIT_ESTIMATORS = ("random_forest", "logistic_regression")
AL_ESTIMATORS = ("logistic_regression", "random_forest")
AL_SCORE_SAMPLE = 200_000
"""Candidate pairs the active learner rescores each round (a fixed random
sample; every pair where there are fewer): historical_figures' 1.4M would
make each of the 24 rounds score them all."""

THRESHOLD_ON_CANDIDATES = "threshold_on_candidates"
"""Set in an ``al`` row's metrics when its threshold was chosen on the
candidates (rows run before that chose it out of fold on the labels)."""

log = logging.getLogger("experiments.run")


@dataclass(frozen=True)
class DataSet:
    """One labelled set: its config, protocols and published figures."""

    name: str
    task: str
    protocols: tuple[str, ...]
    needs_shared: bool = True
    published: str = ""
    target: float | None = None


SETS: dict[str, DataSet] = {
    s.name: s
    for s in (
        DataSet("febrl3", "people, dedupe", ("fs", "al"), False, target=0.999),
        DataSet("febrl4", "people, link", ("fs", "al"), False, target=1.0),
        DataSet("customers", "customers, 4 sources", ("fs", "al"), False),
        DataSet("fake_1000", "people, dedupe", ("fs", "al"), target=0.98),
        DataSet(
            "historical_figures",
            "people, dedupe",
            ("fs", "al"),
            target=0.92,
            published="Splink 5: cluster F1 0.814 (8 rules)",
        ),
        DataSet(
            "chicago_childcare",
            "organisations, dedupe",
            ("fs", "al"),
            target=0.985,
            published="dedupe 3: F1 0.971 (600 labels); Splink 5: 0.849",
        ),
        DataSet(
            "fodors_zagat",
            "restaurants, link",
            ("fs", "al"),
            target=1.0,
            published="Magellan / DeepMatcher / Ditto 100 (their pair split)",
        ),
        DataSet(
            "dblp_acm",
            "citations, link",
            ("split",),
            target=0.99,
            published="Magellan 98.4 / DeepMatcher 98.4 / Ditto 98.99",
        ),
        DataSet(
            "amazon_google",
            "products, link",
            ("split",),
            target=0.78,
            published="Magellan 49.1 / DeepMatcher 69.3 / Ditto 75.58",
        ),
        DataSet(
            "abt_buy",
            "products (text), link",
            ("split",),
            target=0.90,
            published="Magellan 43.6 / DeepMatcher 62.8 / Ditto 89.33",
        ),
    )
}


@dataclass
class Row:
    """One protocol's outcome on one set."""

    name: str
    protocol: str
    estimator: str = ""
    labels: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    choice: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""
    not_run: str = ""
    """Why this protocol was not re-run (the row then shows no figure)."""
    one_to_one: str = "off"
    """The config's ``[clustering] one_to_one`` (scores only, never labels)."""


# --------------------------------------------------------------------------- #
# protocols
# --------------------------------------------------------------------------- #
def _config(name: str) -> LinkageConfig:
    return LinkageConfig.from_toml(HERE / f"{name}.toml")


def _sources(
    data: DataSet, config: LinkageConfig, datasets: Path
) -> list[Source] | None:
    if not data.needs_shared:
        return None
    # config paths are relative to experiments/; honour a moved datasets folder
    return [
        Source(
            s.name,
            datasets / Path(str(s.path)).relative_to("../../shared/datasets"),
            id_column=s.id_column,
        )
        for s in config.sources
    ]


def _train(config: LinkageConfig, sources: list[Source] | None) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = train(config, log_mlflow=False, register=False, sources=sources)
    metrics = summary["metrics"]
    assert isinstance(metrics, dict)
    return {k: float(v) for k, v in metrics.items()}


def run_fs(config: LinkageConfig, sources: list[Source] | None) -> Row:
    """Unsupervised Fellegi-Sunter, end to end."""
    fs = replace(
        config,
        model=replace(config.model, kind="fellegi_sunter"),
        training=TrainingConfig(),
    )
    return Row(
        config.name,
        "fs",
        metrics=_train(fs, sources),
        one_to_one=config.clustering.one_to_one,
    )


def scripted_labels(
    config: LinkageConfig,
    sources: list[Source] | None,
    path: Path,
    *,
    budget: int,
    batch: int = 25,
) -> int:
    """Label ``budget`` pairs chosen by the active learner, answered from the truth."""
    linker = Linker(config)
    records = linker.records(sources)
    pairs = linker.block(records)
    truth = linker.true_pairs(records)
    assert truth is not None, f"{config.name}: no entity column to answer from"
    true_keys = set(truth.select(pair_key()).to_series().to_list())
    learner = ActiveLearner(
        linker,
        records,
        pairs,
        labels_path=path,
        n_uncertain=batch - batch // 5,
        n_random=batch // 5,
        estimator="logistic_regression",
        score_sample=AL_SCORE_SAMPLE,
    )
    labelled = 0
    while labelled < budget:
        proposed = learner.propose()
        if proposed.height == 0:
            break
        keys = proposed.select(pair_key()).to_series().to_list()
        rows = proposed.select(schema.ROW_L, schema.ROW_R).rows()
        for (lo, hi), key in zip(rows, keys, strict=True):
            if labelled >= budget:
                break
            learner.add_label(lo, hi, key in true_keys)
            labelled += 1
        learner.fit()
    log.info("%s: %s", config.name, learner.summary())
    return labelled


def run_al(
    config: LinkageConfig,
    sources: list[Source] | None,
    *,
    budget: int,
    keep_labels: Path | None = None,
) -> Row:
    """Classifier on at most ``budget`` actively learned labels, end to end.

    The threshold is chosen on the candidate pairs (``threshold_on =
    "candidates"``: the expected F1 of every candidate, each a match with
    its Fellegi-Sunter probability), not on the labels: the learner picks
    uncertain pairs, so a threshold fitted to them is too low for the
    population. ``keep_labels`` is a folder to copy the labels to.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.csv"
        n = scripted_labels(config, sources, path, budget=budget)
        if keep_labels is not None:
            keep_labels.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, keep_labels / f"{config.name}_labels.csv")
        runs = {}
        for estimator in AL_ESTIMATORS:
            cls = replace(
                config,
                model=replace(
                    config.model,
                    kind="classifier",
                    estimator=estimator,  # type: ignore[arg-type]
                    stack=True,
                    threshold_strategy="max_f1",
                    threshold_on="candidates",
                ),
                training=TrainingConfig(labels_path=str(path)),
            )
            runs[estimator] = _train(cls, sources)
    choice = {e: m.get("validation_f1", m.get("cv_f1", 0.0)) for e, m in runs.items()}
    best = max(choice, key=lambda e: choice[e])
    runs[best][THRESHOLD_ON_CANDIDATES] = 1.0
    return Row(
        config.name,
        f"al{budget}",
        estimator=best,
        labels=n,
        metrics=runs[best],
        choice=choice,
        one_to_one=config.clustering.one_to_one,
    )


def run_split(config: LinkageConfig, sources: list[Source] | None) -> Row:
    """The fixed Magellan split: train, threshold on valid, test F1."""
    runs = {}
    for estimator in SPLIT_ESTIMATORS:
        cls = replace(
            config,
            model=replace(config.model, kind="classifier", estimator=estimator),  # type: ignore[arg-type]
        )
        runs[estimator] = _train(cls, sources)
    # valid F1 under [clustering] one_to_one when the config has it (train.py's valid_f1)
    choice = {e: m.get("valid_f1", m["validation_f1"]) for e, m in runs.items()}
    best = max(choice, key=lambda e: choice[e])
    return Row(
        config.name,
        "split",
        estimator=best,
        metrics=runs[best],
        choice=choice,
        one_to_one=config.clustering.one_to_one,
    )


def run_set(
    name: str,
    *,
    datasets: Path = DATASETS,
    budget: int = 600,
    skip: Mapping[str, str] | None = None,
    keep_labels: Path | None = None,
) -> list[Row]:
    """Run one set's protocols; a failure becomes a row with its error.

    ``skip`` maps a protocol (``"fs"``, ``"al"``, ``"split"``) to the reason it
    is not run; its row then says so instead of showing a figure.
    """
    data = SETS[name]
    rows = []
    for protocol in data.protocols:
        if skip and protocol in skip:
            shown = f"al{budget}" if protocol == "al" else protocol
            rows.append(Row(name, shown, labels=budget, not_run=skip[protocol]))
            log.info("%s %s: not run (%s)", name, shown, skip[protocol])
            continue
        start = time.perf_counter()
        try:
            if data.needs_shared and not datasets.is_dir():
                raise FileNotFoundError(f"labelled datasets not found at {datasets}")
            config = _config(name)
            sources = _sources(data, config, datasets)
            if protocol == "fs":
                row = run_fs(config, sources)
            elif protocol == "al":
                row = run_al(config, sources, budget=budget, keep_labels=keep_labels)
            else:
                row = run_split(config, sources)
        except Exception as exc:  # the table says which set failed and why
            log.error("%s %s failed:\n%s", name, protocol, traceback.format_exc())
            row = Row(name, protocol, error=f"{type(exc).__name__}: {exc}")
        row.seconds = time.perf_counter() - start
        log.info("%s %s: %s (%.0f s)", name, row.protocol, _headline(row), row.seconds)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #
def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _headline(row: Row) -> str:
    m = row.metrics
    if row.not_run:
        return "not run"
    if row.error:
        return "failed"
    if row.protocol == "split":
        return f"test F1 {_f(m.get('test_f1'))}"
    return f"cluster F1 {_f(m.get('cluster_f1'))}"


PROTOCOLS = {
    "fs": "FS unsupervised, end to end over all records",
    "split": "fixed split: train on train, threshold on valid, F1 on test pairs",
}


def _protocol(row: Row) -> str:
    if row.protocol.startswith("al"):
        where = (
            "threshold by expected F1 over the candidates (FS-weighted)"
            if row.metrics.get(THRESHOLD_ON_CANDIDATES)
            else "threshold out of fold"
        )
        text = (
            f"classifier on {row.labels} labels picked by active learning (answered "
            f"from the truth), {where}; end to end over all records"
        )
    else:
        text = PROTOCOLS[row.protocol]
    if row.one_to_one != "off":
        on = "the test pairs" if row.protocol == "split" else "the links"
        text += (
            f"; one-to-one link constraint ({row.one_to_one}) on {on}: scores "
            "only, never labels"
        )
    return text


def table(rows: Sequence[Row]) -> str:
    """The results table, in markdown."""
    head = (
        "| set | protocol | estimator (chosen by) | headline F1 | P | R | pairwise F1 "
        "(P / R) | blocking recall (pairs) | target | published | seconds |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    out = []
    for r in rows:
        data = SETS[r.name]
        target = "-" if data.target is None else f"{data.target:g}"
        if r.not_run:
            out.append(
                f"| {r.name} | {_protocol(r)} | - | not re-run with today's code: "
                f"{r.not_run} | | | | | {target} | {data.published or '-'} | - |"
            )
            continue
        if r.error:
            out.append(
                f"| {r.name} | {_protocol(r)} | - | failed: {r.error} | | | | | "
                f"{target} | {data.published or '-'} | {r.seconds:.0f} |"
            )
            continue
        m = r.metrics
        chosen = "-"
        if r.estimator:
            if r.protocol == "split":
                by = "valid F1"
                if r.one_to_one != "off":
                    by = "valid F1, one-to-one"
            elif m.get(THRESHOLD_ON_CANDIDATES):
                by = "expected F1 over the candidates"
            else:
                by = "out-of-fold F1 on the labels"
            scores = ", ".join(f"{e} {v:.3f}" for e, v in r.choice.items())
            chosen = f"{r.estimator} ({by}: {scores})"
        if r.protocol == "split":
            head_f1 = f"**{_f(m.get('test_f1'))}** (test pairs)"
            p, rec = _f(m.get("test_precision")), _f(m.get("test_recall"))
        else:
            head_f1 = f"**{_f(m.get('cluster_f1'))}** (cluster)"
            p, rec = _f(m.get("cluster_precision")), _f(m.get("cluster_recall"))
        pairwise = (
            f"{_f(m.get('pairwise_f1'))} ({_f(m.get('pairwise_precision'))} / "
            f"{_f(m.get('pairwise_recall'))})"
        )
        blocking = (
            f"{_f(m.get('blocking_recall'), 4)} ({int(m.get('candidate_pairs', 0)):,})"
        )
        out.append(
            f"| {r.name} | {_protocol(r)} | {chosen} | {head_f1} | {p} | {rec} | "
            f"{pairwise} | {blocking} | {target} | {data.published or '-'} | "
            f"{r.seconds:.0f} |"
        )
    return head + "\n" + "\n".join(out)


def section(rows: Sequence[Row], budget: int) -> str:
    """The RESULTS.md section."""
    return f"""{SECTION}

`python -m experiments.run` (this table; `--sets NAME ...` re-runs some sets
and keeps the other rows, from experiments/run_results.json). Every row is
`er_toolkit.train.train` on the set's config, as `python -m er_toolkit.train
--config experiments/<set>.toml` runs it (no MLflow), under the protocol in
its row:

- **FS unsupervised**: Fellegi-Sunter without labels (u sampled, m and λ by
  EM), blocking, scoring and clustering every record at the model's
  threshold. The headline is **cluster** F1: pairwise precision / recall of
  the pairs the clusters imply against the entity ids over *all* records
  (true pairs blocking missed count against recall). The pairwise column is
  the scored candidate pairs at the threshold, same truth.
- **classifier on {budget} labels**: the active learner
  (`er_toolkit.active_learning.ActiveLearner`, 25 pairs a round: seeds by
  FS weight, then the 20 least certain and 5 at random; the least certain
  among a fixed random sample of at most 200,000 candidate pairs, which it
  rescores each round) picks the pairs and a script answers from the entity ids; the classifier (stacked on FS) is
  trained on those labels only and measured end to end as FS is. Its
  threshold is the one of highest *expected* F1 over every candidate pair,
  each a match with its Fellegi-Sunter probability (`[model] threshold_on
  = "candidates"`; rows whose protocol says "out of fold" chose it on
  out-of-fold predictions of the labels, which the learner picks among
  uncertain pairs, so it came out too low for the population). The
  estimator is chosen by that expected F1 (out-of-fold F1 on the labels
  in the older rows), never by the end-to-end score. dedupe 3's 0.971 on chicago_childcare was measured this way, with
  600 labels.
- **fixed split** (Magellan/DeepMatcher sets): trained on the train pairs,
  threshold on the valid pairs, F1 on the test pairs, each compared on
  exactly those pairs, as the published figures are. The estimator is chosen
  by valid F1. End-to-end figures over the config's blocking are not
  comparable (the full truth is not known), so they are left out.
- **one-to-one link constraint** (rows that say so; `[clustering]
  one_to_one = "greedy"` in the config): where each source holds each entity
  once (the two restaurant guides, the two tables of a Magellan set), each
  record keeps at most one link into the other source, best score first
  (`er_toolkit.one_to_one`). It reads the scores only, never labels: on
  the clusters end to end, and on the test pairs of a fixed split (its
  `valid_f1` under the constraint chooses the estimator; the threshold is
  still the one chosen on the valid pairs without it).
- fodors_zagat's published figures are on a pair split not shipped here;
  ours is end to end over both files against the perfect mapping.

{table(rows)}
"""


def load_store(path: Path = STORE) -> dict[str, list[Row]]:
    """The stored rows, by set name."""
    if not path.exists():
        return {}
    return {
        name: [Row(**row) for row in rows]
        for name, rows in json.loads(path.read_text()).items()
    }


def save_store(rows: dict[str, list[Row]], path: Path = STORE) -> None:
    """Write the stored rows."""
    path.write_text(
        json.dumps(
            {k: [dataclasses.asdict(r) for r in v] for k, v in rows.items()}, indent=1
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--labels", type=int, default=600)
    parser.add_argument(
        "--skip",
        nargs=2,
        action="append",
        default=[],
        metavar=("PROTOCOL", "REASON"),
        help="leave a protocol (fs, al, split) of the sets run out, its row "
        "saying why (repeatable)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument(
        "--keep-labels",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy each set's active-learning labels to DIR/<set>_labels.csv",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenMP/BLAS threads for scikit-learn (0 leaves the library default)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True
    )
    for noisy in ("er_toolkit", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads)
    stored = load_store()
    for name in args.sets:
        rows = run_set(
            name, budget=args.labels, skip=dict(args.skip), keep_labels=args.keep_labels
        )
        if args.no_write:
            print(table(rows))
            continue
        stored[name] = rows
        save_store(stored)
        every = [r for n in SETS if n in stored for r in stored[n]]
        replace_section(
            HERE / "RESULTS.md",
            SECTION,
            section(every, args.labels),
            title="Experiment results",
        )
    if not args.no_write:
        print(f"wrote {HERE / 'RESULTS.md'} and {STORE}")


if __name__ == "__main__":
    main()
