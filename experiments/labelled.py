"""Fellegi-Sunter, classifier and stacked on every labelled set: held-out test F1.

Usage: ``python -m experiments.labelled [--sets fake_1000 dblp_acm ...]
[--estimators gradient_boosting random_forest logistic_regression]``.

For each set it fits an unsupervised Fellegi-Sunter model (FS), a classifier
on comparison features (``stack=false``) and the classifier stacked on FS
weights (``stack=true``), and measures pairwise F1 on a held-out test split:

- Magellan/DeepMatcher sets (dblp_acm, amazon_google, abt_buy): their fixed
  pair splits. The classifier trains on the train pairs, its threshold is
  chosen on the valid pairs, F1 is measured on the test pairs, all compared
  with ``compare_pairs`` on exactly those pairs, as the literature does.
  FS trains without labels on all records (its blocking gives the candidate
  pairs for λ); its F1 is reported at the config's threshold and at the
  threshold of best F1 on the valid pairs.
- Entity-id and perfect-mapping sets (fake_1000, historical_figures,
  chicago_childcare, fodors_zagat, FEBRL3, FEBRL4, customers): entities, not
  pairs, are split 50/50 (seeded). The classifier trains on the candidate
  pairs among train-entity records (true pairs blocking missed added, as
  ``Linker.fit`` does), its threshold chosen on out-of-fold predictions.
  F1 is measured over the candidate pairs among test-entity records, with
  every true test pair in the denominator (blocking misses count against
  recall). FS trains without labels on all records; its F1 is reported at
  the config's threshold and at the threshold of best F1 on the train pairs.

The classifier's estimator is chosen per set among ``--estimators`` by its
validation F1 (out-of-fold, or on valid pairs), never by test F1; every
estimator's test F1 is listed too. Writes the section "Fellegi-Sunter,
classifier and stacked: held-out test F1" of experiments/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.markdown import replace_section
from er_toolkit import schema
from er_toolkit.compare import compare_pairs
from er_toolkit.config import LinkageConfig
from er_toolkit.evaluate import blocking_recall, pair_key, pairwise_metrics
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker
from er_toolkit.score import ClassifierScorer, FellegiSunter
from er_toolkit.score.classifier import choose_threshold
from er_toolkit.score.labels import labelled_pairs_from_list, training_pairs

HERE = Path(__file__).resolve().parent
DATASETS = Path(
    os.environ.get("ER_SHARED_DATASETS", HERE.parent.parent / "shared" / "datasets")
)
ESTIMATORS = ("gradient_boosting", "random_forest", "logistic_regression")
SECTION = "## Fellegi-Sunter, classifier and stacked: held-out test F1"
STORE = HERE / "labelled_results.json"
"""Every set's last result, so that a run of some sets keeps the others' rows."""
ENTITY = "__entity"

log = logging.getLogger("experiments.labelled")


# --------------------------------------------------------------------------- #
# loaders: each returns the sources (or None: the config's own)
# --------------------------------------------------------------------------- #
def _unquote(frame: pl.DataFrame) -> pl.DataFrame:
    """Strip the single-quote wrapping and backslash escapes of fodors/zagat."""
    return frame.with_columns(
        pl.col(pl.String)
        .str.strip_chars()
        .str.replace(r"^'(.*)'$", "$1")
        .str.replace_all(r"\\'", "'")
    )


def load_fodors_zagat(datasets: Path) -> list[Source]:
    """Both restaurant files, with an entity column built from the mapping."""
    folder = datasets / "fodors_zagat"
    fodors = _unquote(pl.read_csv(folder / "fodors.csv", infer_schema=False))
    zagats = _unquote(pl.read_csv(folder / "zagats.csv", infer_schema=False))
    mapping = pl.read_csv(
        folder / "fodors-zagats_perfectMapping.csv", infer_schema=False
    )
    fodors = fodors.with_columns(("f" + pl.col("id")).alias("entity"))
    zagats = zagats.join(
        mapping.select(
            pl.col("zagats_id").alias("id"), ("f" + pl.col("fodors_id")).alias("entity")
        ),
        on="id",
        how="left",
    ).with_columns(pl.col("entity").fill_null("z" + pl.col("id")))
    return [
        Source("fodors", fodors, id_column="id"),
        Source("zagats", zagats, id_column="id"),
    ]


_CODE = re.compile(r"[a-z0-9\-/\.]*\d[a-z0-9\-/\.]*")


def _codes(*columns: str) -> pl.Expr:
    """Tokens holding a digit (model and version numbers), punctuation dropped."""
    text = pl.concat_str([pl.col(c).fill_null("") for c in columns], separator=" ")
    tokens = (
        text.str.to_lowercase()
        .str.extract_all(_CODE.pattern)
        .list.eval(pl.element().str.replace_all(r"[\-/\.]", ""))
        .list.eval(pl.element().filter(pl.element().str.len_chars() >= 3))
        .list.unique()
        .list.sort()
    )
    joined = tokens.list.join(" ")
    return pl.when(joined.str.len_chars() > 0).then(joined).alias("codes")


def _magellan(code_columns: Sequence[str]) -> Callable[[Path, str], list[Source]]:
    def load(datasets: Path, name: str) -> list[Source]:
        folder = datasets / name
        frames = []
        for table in ("tableA", "tableB"):
            frame = pl.read_csv(folder / f"{table}.csv", infer_schema=False)
            if code_columns:
                frame = frame.with_columns(_codes(*code_columns))
            frames.append(frame)
        cfg = LinkageConfig.from_toml(HERE / f"{name}.toml")
        return [
            Source(s.name, f, id_column="id")
            for s, f in zip(cfg.sources, frames, strict=True)
        ]

    return load


@dataclass(frozen=True)
class DataSet:
    """One labelled set: its config, split protocol and published figures."""

    name: str
    config: str
    task: str
    protocol: str  # "entities" or "pairs"
    needs_shared: bool = True
    loader: Callable[[Path], list[Source] | None] | None = None
    published: str = ""
    classifier_cv: int = 5
    max_train_pairs: int | None = None
    estimators: tuple[str, ...] | None = None  # None: every one asked for
    notes: tuple[str, ...] = field(default_factory=tuple)


def _pairs_loader(name: str, codes: Sequence[str]) -> Callable[[Path], list[Source]]:
    load = _magellan(codes)
    return lambda datasets: load(datasets, name)


SETS: dict[str, DataSet] = {
    s.name: s
    for s in (
        DataSet(
            "febrl3",
            "febrl3.toml",
            "people, dedupe",
            "entities",
            False,
            estimators=("gradient_boosting", "logistic_regression"),
        ),
        DataSet(
            "febrl4",
            "febrl4.toml",
            "people, link",
            "entities",
            False,
            estimators=("gradient_boosting", "logistic_regression"),
        ),
        DataSet(
            "customers",
            "customers.toml",
            "customers, 4 sources, link+dedupe",
            "entities",
            False,
            estimators=("gradient_boosting", "logistic_regression"),
        ),
        DataSet("fake_1000", "fake_1000.toml", "people, dedupe", "entities"),
        DataSet(
            "historical_figures",
            "historical_figures.toml",
            "people, dedupe",
            "entities",
            classifier_cv=3,
            max_train_pairs=150_000,
            estimators=("gradient_boosting", "logistic_regression"),
        ),
        DataSet(
            "chicago_childcare",
            "chicago_childcare.toml",
            "organisations, dedupe",
            "entities",
        ),
        DataSet(
            "fodors_zagat",
            "fodors_zagat.toml",
            "restaurants, link",
            "entities",
            loader=load_fodors_zagat,
            published="Magellan 100 / DeepMatcher 100 / Ditto 100 (fixed pair split)",
        ),
        DataSet(
            "dblp_acm",
            "dblp_acm.toml",
            "citations, link",
            "pairs",
            loader=_pairs_loader("dblp_acm", ()),
            published="Magellan 98.4 / DeepMatcher 98.4 / Ditto 98.99",
        ),
        DataSet(
            "amazon_google",
            "amazon_google.toml",
            "products, link",
            "pairs",
            loader=_pairs_loader("amazon_google", ("title",)),
            published="Magellan 49.1 / DeepMatcher 69.3 / Ditto 75.58",
        ),
        DataSet(
            "abt_buy",
            "abt_buy.toml",
            "products (text), link",
            "pairs",
            loader=_pairs_loader("abt_buy", ("name", "description")),
            published="Magellan 43.6 / DeepMatcher 62.8 / Ditto 89.33",
        ),
    )
}


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _f1_at(
    scored: pl.DataFrame, truth: pl.DataFrame, threshold: float
) -> dict[str, float]:
    predicted = scored.filter(pl.col(schema.MATCH_PROBABILITY) >= threshold)
    return {k: float(v) for k, v in pairwise_metrics(predicted, truth).items()}


def _is_true(pairs: pl.DataFrame, truth: pl.DataFrame) -> np.ndarray:
    """Whether each pair of ``pairs`` is among ``truth`` (either orientation)."""
    keys = truth.select(pair_key()).to_series()
    return pairs.select(pair_key().is_in(keys.implode())).to_series().to_numpy()


def _rows_mask(pairs: pl.DataFrame, keep: np.ndarray) -> np.ndarray:
    left = pairs.get_column(schema.ROW_L).to_numpy()
    right = pairs.get_column(schema.ROW_R).to_numpy()
    return keep[left] & keep[right]


def _fit_classifier(
    config: LinkageConfig,
    vectors: pl.DataFrame,
    y: np.ndarray,
    *,
    estimator: str,
    fs: FellegiSunter | None,
    cv: int,
    validation: tuple[pl.DataFrame, np.ndarray] | None,
) -> ClassifierScorer:
    m = config.model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ClassifierScorer(
            config.comparisons,
            estimator=estimator,
            fellegi_sunter=fs,
            calibration=m.calibration if m.kind == "classifier" else "isotonic",  # type: ignore[arg-type]
            threshold_strategy="max_f1",
            cv=cv,
            seed=m.seed,
        ).fit(vectors, y, validation=validation)


def _subsample(
    vectors: pl.DataFrame, y: np.ndarray, limit: int | None, seed: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """Keep at most ``limit`` training pairs, uniformly (class ratio kept)."""
    if limit is None or vectors.height <= limit:
        return vectors, y
    rows = np.sort(np.random.default_rng(seed).choice(y.size, limit, replace=False))
    return vectors[rows], y[rows]


@dataclass
class Result:
    """One set's outcome: the table row's values."""

    name: str
    task: str
    split: str = ""
    test_pairs: int = 0
    test_matches: int = 0
    blocking_recall: float | None = None
    blocking_note: str = ""
    fs_f1: float | None = None
    fs_tuned_f1: float | None = None
    classifier_f1: float | None = None
    stacked_f1: float | None = None
    estimator: str = ""
    per_estimator: dict[str, tuple[float, float, float, float]] = field(
        default_factory=dict
    )  # estimator -> (clf valid F1, clf test F1, stacked valid F1, stacked test F1)
    published: str = ""
    seconds: float = 0.0
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def _classifiers(
    result: Result,
    config: LinkageConfig,
    fs: FellegiSunter,
    train: tuple[pl.DataFrame, np.ndarray],
    validation: tuple[pl.DataFrame, np.ndarray] | None,
    test_vectors: pl.DataFrame,
    test_truth: pl.DataFrame,
    *,
    estimators: Sequence[str],
    cv: int,
) -> None:
    """Fit every estimator with and without FS; keep the validation-best."""
    best: tuple[float, str] | None = None
    for est in estimators:
        scores = []
        for stacked in (None, fs):
            scorer = _fit_classifier(
                config,
                *train,
                estimator=est,
                fs=stacked,
                cv=cv,
                validation=validation,
            )
            valid_f1 = float(
                scorer.validation_curve_.get_column("f1").max()  # type: ignore[arg-type]
            )
            test = _f1_at(scorer.predict(test_vectors), test_truth, scorer.threshold_)
            scores += [valid_f1, test["f1"]]
            log.info(
                "%s %s stack=%s: valid F1 %.4f, test P %.4f R %.4f F1 %.4f",
                result.name,
                est,
                stacked is not None,
                valid_f1,
                test["precision"],
                test["recall"],
                test["f1"],
            )
        result.per_estimator[est] = (scores[0], scores[1], scores[2], scores[3])
        key = max(scores[0], scores[2])
        if best is None or key > best[0]:
            best = (key, est)
    assert best is not None
    result.estimator = best[1]
    chosen = result.per_estimator[best[1]]
    result.classifier_f1, result.stacked_f1 = chosen[1], chosen[3]


# --------------------------------------------------------------------------- #
# protocols
# --------------------------------------------------------------------------- #
def _fit_fs(
    config: LinkageConfig, records: pl.DataFrame, candidates: pl.DataFrame
) -> FellegiSunter:
    fs_config = replace(
        config, model=replace(config.model, kind="fellegi_sunter", stack=True)
    )
    linker = Linker(fs_config).fit(records, candidate_pairs=candidates)
    assert isinstance(linker.scorer_, FellegiSunter)
    return linker.scorer_


def run_entities(
    data: DataSet,
    config: LinkageConfig,
    sources: list[Source] | None,
    *,
    estimators: Sequence[str],
    seed: int,
    result: Result,
) -> None:
    """Split entities 50/50; train on train-entity pairs, test on the rest."""
    linker = Linker(config)
    records = linker.records(sources)
    candidates = linker.block(records)
    truth = linker.true_pairs(records)
    assert truth is not None, f"{data.name}: the config names no entity column"
    entity_column = config.evaluation.entity_column
    assert entity_column is not None
    # A record without an entity id (a fodors record with no zagat partner) is
    # its own entity.
    entity = records.select(
        pl.col(entity_column)
        .cast(pl.String)
        .fill_null(pl.concat_str(pl.lit("\x00"), schema.SOURCE, schema.RECORD_ID))
    ).to_series()
    codes = entity.cast(pl.Categorical).to_physical().to_numpy()
    n_entities = int(codes.max()) + 1
    in_test_entity = np.random.default_rng(seed).permutation(n_entities) < (
        n_entities // 2
    )
    is_test = in_test_entity[codes]
    is_train = ~is_test

    fs = _fit_fs(config, records, candidates)
    vectors = compare_pairs(records, candidates, config.comparisons)
    train_cand = candidates.filter(_rows_mask(candidates, is_train))
    test_mask = _rows_mask(vectors, is_test)
    test_vectors = vectors.filter(test_mask)
    train_truth = truth.filter(_rows_mask(truth, is_train))
    test_truth = truth.filter(_rows_mask(truth, is_test))

    result.split = (
        f"entities 50/50 (seed {seed}): {int(is_train.sum()):,} train / "
        f"{int(is_test.sum()):,} test records"
    )
    result.test_pairs = test_vectors.height
    result.test_matches = test_truth.height
    result.blocking_recall = blocking_recall(
        candidates.filter(_rows_mask(candidates, is_test)), test_truth
    )

    # FS alone: at the config's threshold, and at the best threshold on train.
    fs_test = fs.predict(test_vectors)
    result.fs_f1 = _f1_at(fs_test, test_truth, config.threshold)["f1"]
    train_vec = vectors.filter(_rows_mask(vectors, is_train))
    train_y = _is_true(train_vec, train_truth)
    if train_y.any():
        fs_p = fs.predict(train_vec).get_column(schema.MATCH_PROBABILITY).to_numpy()
        tuned, _, _ = choose_threshold(train_y, fs_p, strategy="max_f1")
        result.fs_tuned_f1 = _f1_at(fs_test, test_truth, tuned)["f1"]
        result.details["fs_tuned_threshold"] = tuned

    # Classifier training pairs: train candidates (+ true pairs they missed),
    # as Linker.fit labels them.
    labelled = training_pairs(train_cand, true_pairs=train_truth)
    train_vectors = compare_pairs(records, labelled.pairs, config.comparisons)
    x, y = _subsample(train_vectors, labelled.y, data.max_train_pairs, seed)
    result.details["train_pairs"] = x.height
    result.details["train_matches"] = int(y.sum())
    result.details["train_matches_missed_by_blocking"] = (
        labelled.labelled_matches_missed_by_blocking
    )
    _classifiers(
        result,
        config,
        fs,
        (x, y),
        None,
        test_vectors,
        test_truth,
        estimators=estimators,
        cv=data.classifier_cv,
    )


def _split_pairs(
    records: pl.DataFrame, frame: pl.DataFrame, config: LinkageConfig
) -> pl.DataFrame:
    names = [s.name for s in config.sources]
    labels = frame.select(
        pl.col("ltable_id").alias(schema.RECORD_ID_L),
        pl.col("rtable_id").alias(schema.RECORD_ID_R),
        pl.lit(names[0]).alias(schema.SOURCE_L),
        pl.lit(names[1]).alias(schema.SOURCE_R),
        pl.col("label").alias(schema.IS_MATCH),
    )
    return labelled_pairs_from_list(records, labels, link_type=config.link_type)


def run_pairs(
    data: DataSet,
    config: LinkageConfig,
    sources: list[Source] | None,
    *,
    estimators: Sequence[str],
    seed: int,
    result: Result,
    datasets: Path,
) -> None:
    """The fixed Magellan train / valid / test pair splits."""
    linker = Linker(config)
    records = linker.records(sources)
    candidates = linker.block(records)
    folder = datasets / data.name
    splits = {
        part: _split_pairs(
            records, pl.read_csv(folder / f"{part}.csv", infer_schema=False), config
        )
        for part in ("train", "valid", "test")
    }
    vectors = {
        part: compare_pairs(records, pairs, config.comparisons)
        for part, pairs in splits.items()
    }
    ys = {
        part: pairs.get_column(schema.IS_MATCH).to_numpy().astype(bool)
        for part, pairs in splits.items()
    }
    test_truth = splits["test"].filter(pl.col(schema.IS_MATCH))
    result.split = "fixed pairs: " + " / ".join(
        f"{p} {splits[p].height:,}" for p in ("train", "valid", "test")
    )
    result.test_pairs = splits["test"].height
    result.test_matches = test_truth.height
    all_matches = pl.concat(
        [s.filter(pl.col(schema.IS_MATCH)) for s in splits.values()]
    )
    result.blocking_recall = blocking_recall(candidates, all_matches)
    result.blocking_note = (
        f"FS blocking only ({candidates.height:,} pairs; of all labelled matches); "
        "not used for test F1"
    )

    fs = _fit_fs(config, records, candidates)
    fs_test = fs.predict(vectors["test"])
    result.fs_f1 = _f1_at(fs_test, test_truth, config.threshold)["f1"]
    fs_valid = fs.predict(vectors["valid"]).get_column(schema.MATCH_PROBABILITY)
    tuned, _, _ = choose_threshold(ys["valid"], fs_valid.to_numpy(), strategy="max_f1")
    result.fs_tuned_f1 = _f1_at(fs_test, test_truth, tuned)["f1"]
    result.details["fs_tuned_threshold"] = tuned
    _classifiers(
        result,
        config,
        fs,
        (vectors["train"], ys["train"]),
        (vectors["valid"], ys["valid"]),
        vectors["test"],
        test_truth,
        estimators=estimators,
        cv=data.classifier_cv,
    )


def run_set(
    name: str,
    *,
    datasets: Path = DATASETS,
    estimators: Sequence[str] = ESTIMATORS,
    seed: int = 0,
) -> Result:
    """Run one set; failures are caught and returned in ``Result.error``."""
    data = SETS[name]
    result = Result(name=name, task=data.task, published=data.published)
    if data.estimators is not None:
        estimators = [e for e in estimators if e in data.estimators] or list(
            data.estimators
        )
    start = time.perf_counter()
    try:
        if data.needs_shared and not datasets.is_dir():
            raise FileNotFoundError(f"labelled datasets not found at {datasets}")
        config = LinkageConfig.from_toml(HERE / data.config)
        sources = data.loader(datasets) if data.loader is not None else None
        if sources is None and data.needs_shared:
            # the config's paths are relative to experiments/; honour a moved folder
            sources = [
                Source(
                    s.name,
                    datasets / Path(str(s.path)).relative_to("../../shared/datasets"),
                    id_column=s.id_column,
                )
                for s in config.sources
            ]
        if data.protocol == "pairs":
            run_pairs(
                data,
                config,
                sources,
                estimators=estimators,
                seed=seed,
                result=result,
                datasets=datasets,
            )
        else:
            run_entities(
                data, config, sources, estimators=estimators, seed=seed, result=result
            )
    except Exception as exc:  # the table says which set failed and why
        log.error("%s failed:\n%s", name, traceback.format_exc())
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - start
    return result


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _bold_best(values: list[float | None]) -> list[str]:
    known = [v for v in values if v is not None]
    top = max(known) if known else None
    return [
        f"**{_pct(v)}**" if v is not None and top is not None and v == top else _pct(v)
        for v in values
    ]


def table(results: Sequence[Result]) -> str:
    """The main table and the per-estimator table, in markdown."""
    head = (
        "| set | task | split | test pairs (matches) | blocking recall "
        "| FS F1 (config thr) | FS F1 (tuned thr) | classifier F1 | stacked F1 "
        "| estimator | published (test F1) | seconds |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for r in results:
        if r.error:
            rows.append(
                f"| {r.name} | {r.task} | failed: {r.error} | - | - | - | - | - | - "
                f"| - | {r.published or '-'} | {r.seconds:.0f} |"
            )
            continue
        fs, tuned, clf, stacked = _bold_best(
            [r.fs_f1, r.fs_tuned_f1, r.classifier_f1, r.stacked_f1]
        )
        recall = "-" if r.blocking_recall is None else f"{r.blocking_recall:.4f}"
        if r.blocking_note:
            recall += f" ({r.blocking_note})"
        rows.append(
            f"| {r.name} | {r.task} | {r.split} | {r.test_pairs:,} "
            f"({r.test_matches:,}) | {recall} | {fs} | {tuned} | {clf} | {stacked} "
            f"| {r.estimator} | {r.published or '-'} | {r.seconds:.0f} |"
        )
    per_head = (
        "| set | "
        + " | ".join(
            f"{e} classifier valid / test | {e} stacked valid / test"
            for e in ESTIMATORS
        )
        + " |\n|---|"
        + "---|---|" * len(ESTIMATORS)
    )
    per_rows = []
    for r in results:
        if r.error or not r.per_estimator:
            continue
        cells = []
        for e in ESTIMATORS:
            if e in r.per_estimator:
                cv, ct, sv, st = r.per_estimator[e]
                cells += [f"{_pct(cv)} / {_pct(ct)}", f"{_pct(sv)} / {_pct(st)}"]
            else:
                cells += ["-", "-"]
        per_rows.append(f"| {r.name} | " + " | ".join(cells) + " |")
    return head + "\n" + "\n".join(rows), per_head + "\n" + "\n".join(per_rows)


def section(results: Sequence[Result], args: argparse.Namespace) -> str:
    """The RESULTS.md section."""
    main_table, per_table = table(results)
    command = "python -m experiments.labelled"
    if args.estimators != list(ESTIMATORS):
        command += " --estimators " + " ".join(args.estimators)
    if args.seed:
        command += f" --seed {args.seed}"
    limits = []
    for r in results:
        data = SETS[r.name]
        said = []
        if data.estimators is not None:
            said.append("estimators " + ", ".join(data.estimators))
        if data.max_train_pairs is not None:
            said.append(
                f"at most {data.max_train_pairs:,} training pairs (uniform sample)"
            )
        if data.classifier_cv != 5:
            said.append(f"cv = {data.classifier_cv}")
        if said:
            limits.append(f"{r.name}: " + ", ".join(said))
    limit_note = (
        "- Kept short on this 2-core machine (in labelled.py's SETS): "
        + "; ".join(limits)
        + ".\n"
        if limits
        else ""
    )
    return f"""{SECTION}

`{command}` (pairwise F1 in %, on a held-out test split; best of a row in
bold). A run with `--sets` re-runs those sets and keeps the other rows
(experiments/labelled_results.json).

- **Magellan/DeepMatcher sets** (dblp_acm, amazon_google, abt_buy): the fixed
  pair splits. Classifier trained on the train pairs, threshold of best F1 on
  the valid pairs, F1 on the test pairs, all compared on exactly those pairs
  (as the published figures are). FS is trained without labels on all
  records of both tables (its blocking gives the candidate pairs for λ and
  EM); its F1 is given at the config's threshold (0.5) and at the threshold
  of best F1 on the valid pairs.
- **Entity-id and perfect-mapping sets**: entities (not pairs) split 50/50,
  seeded. Classifier trained on the candidate pairs among train-entity
  records (plus the true pairs blocking missed, as `Linker.fit` does),
  threshold of best out-of-fold F1. Test F1 is over the candidate pairs among
  test-entity records with every true test pair counted (recall is bound by
  the blocking recall shown). FS is trained without labels on all records;
  F1 at the config's threshold and at the threshold of best F1 on the train
  pairs.
- **Classifier** = `ClassifierScorer(stack=false)` on gamma levels and raw
  similarities; **stacked** = the same plus the FS per-comparison log2 Bayes
  factors and match weight. The estimator (of {", ".join(ESTIMATORS)}) is
  chosen per set by validation F1 (valid pairs, or out of fold), never by
  test F1; every estimator's valid / test F1 is in the second table.
- fodors_zagat's published figures are on DeepMatcher's fixed pair split,
  which is not shipped here: ours is an entity split of the perfect mapping,
  scored end to end over blocked pairs, so it is comparable only roughly.
{limit_note}
{main_table}

Per estimator (validation F1 / test F1, %):

{per_table}
"""


def load_store(path: Path = STORE) -> dict[str, Result]:
    """The stored results, by set name (empty when none)."""
    if not path.exists():
        return {}
    out = {}
    for name, raw in json.loads(path.read_text()).items():
        raw["per_estimator"] = {k: tuple(v) for k, v in raw["per_estimator"].items()}
        out[name] = Result(**raw)
    return out


def save_store(results: dict[str, Result], path: Path = STORE) -> None:
    """Write the stored results."""
    path.write_text(
        json.dumps({k: dataclasses.asdict(v) for k, v in results.items()}, indent=1)
    )


def write_results(text: str, path: Path = HERE / "RESULTS.md") -> None:
    """Insert or replace the section, keeping the others."""
    replace_section(path, SECTION, text, title="Experiment results")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument(
        "--estimators", nargs="+", choices=ESTIMATORS, default=list(ESTIMATORS)
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenMP/BLAS threads for scikit-learn (1 is fastest on small sets "
        "and on a shared machine; 0 leaves the library default)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the table only")
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
        log.info("running %s", name)
        r = run_set(name, estimators=args.estimators, seed=args.seed)
        log.info(
            "%s: FS %s / tuned %s, classifier %s, stacked %s (%s), %.0f s %s",
            name,
            _pct(r.fs_f1),
            _pct(r.fs_tuned_f1),
            _pct(r.classifier_f1),
            _pct(r.stacked_f1),
            r.estimator,
            r.seconds,
            r.error,
        )
        if args.no_write:
            print(table([r])[0])
            continue
        stored[name] = r
        save_store(stored)
        rows = [stored[n] for n in SETS if n in stored]
        write_results(section(rows, args))
    if not args.no_write:
        print(f"wrote {HERE / 'RESULTS.md'} and {STORE}")


if __name__ == "__main__":
    main()
