"""The Linker: one object that ties a config to every stage, for notebooks and CLIs."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from er_toolkit import __version__, diagnostics, schema
from er_toolkit.blocking import BlockingReport, ExactRule, key_expr
from er_toolkit.blocking.union import explode_message
from er_toolkit.config import LinkageConfig
from er_toolkit.datasets import ENTITY_COLUMN
from er_toolkit.engines.base import Engine, Frame, as_engine
from er_toolkit.evaluate import (
    EvaluationResult,
    blocking_recall,
    cluster_metrics,
    pairwise_metrics,
    precision_recall_curve,
    true_pairs_from_entities,
    true_pairs_from_list,
)
from er_toolkit.exceptions import BlockingError, ModelFormatError
from er_toolkit.io import (
    Source,
    load_source,
    read_frame,
    write_json_atomic,
)
from er_toolkit.memory import release_freed_memory
from er_toolkit.pairs import pair_count_expr
from er_toolkit.progress import progress_bar, progress_context
from er_toolkit.score import LinkageData, Scorer, scorer_from_dict
from er_toolkit.score.labels import labelled_pairs_from_list
from er_toolkit.score.validation import load_model_json, validate_linker_dict
from er_toolkit.standardise import apply_standardisers

log = logging.getLogger(__name__)

MODEL_FORMAT_VERSION = 2
READABLE_MODEL_VERSIONS = (1, 2)
SCREEN_SAMPLE_ROWS = 100_000
"""Rows the fail-fast screen of the blocking rules counts on big inputs."""
SCREEN_MARGIN = 0.5
"""Share of ``max_pairs_per_rule`` over which a sampled screen counts a rule exactly."""
SCREEN_SEED = 0x5C12
COLLECT_AFTER_ROWS = 50_000
"""Records from which standardising is followed by a full garbage collection.

Below it the standardisers' reference cycles are small, and a collection
(which walks every Python object of the process, most of a second in a job
that has just trained on a million records) would cost more than it frees:
a model scoring a few records standardises them too.
"""

__all__ = ["Linker", "PreparedRecords", "load_source", "with_record_ids"]


@dataclass(frozen=True)
class PreparedRecords:
    """The records of a run and their data-quality profile.

    Attributes
    ----------
    records
        The records frame (``_row``, ``record_id``, ``source``, features),
        standardised when the config says so.
    profile
        The data-quality profile: before and after standardisation when the
        config standardises, else of the records as they are.
    raw
        With ``keep_raw=True``, the records before standardisation (with
        the config's ``[[derive]]`` columns), for golden records of raw
        values.
    placeholders
        The placeholder values found and set to null (``[placeholders]``;
        :func:`~er_toolkit.placeholders.find_placeholders`), or None when
        the config searches for none.
    """

    records: Frame
    profile: pl.DataFrame
    raw: Frame | None = None
    placeholders: pl.DataFrame | None = None


class Linker:
    """Block, compare, score, cluster and evaluate under one config.

    The Linker orchestrates: each method calls one stage and returns what it
    returns. What a stage learns lives on the fitted scorer (``scorer_``),
    including the decision threshold (``threshold_``); the config stays as
    it was declared.

    Parameters
    ----------
    config
        The declarations: blocking, comparisons, model settings, threshold.
    n_jobs
        Threads for comparing, scoring and scikit-learn; ``None`` takes the
        config's ``n_jobs`` (and when that is unset, every core).
    engine
        Where the stages run: an engine (``PolarsEngine()``,
        ``SparkEngine(spark)`` on any SparkSession), a kind (``"spark"``),
        or ``None`` for the config's ``[engine]`` (polars unless it says
        otherwise). With Spark, records, pairs, scores and clusters are
        Spark DataFrames; profiles, reports and metrics stay polars.
    progress
        Progress bars for the long stages (prepare, block, compare, fit,
        predict, cluster, golden): ``False`` never, ``True`` always,
        ``None`` in terminals and notebooks but not in CI or when output is
        not a terminal (see :mod:`er_toolkit.progress`).

    Attributes
    ----------
    scorer_ : Scorer
        The fitted scorer (``[model] kind``).
    timings_ : dict[str, float]
        Seconds spent in each stage of the last call of each stage.
    """

    scorer_: Scorer

    def __init__(
        self,
        config: LinkageConfig,
        *,
        n_jobs: int | None = None,
        engine: Engine | str | None = None,
        progress: bool | None = None,
    ) -> None:
        self.config = config
        self.n_jobs = config.n_jobs if n_jobs is None else n_jobs
        self.engine = as_engine(config.engine if engine is None else engine)
        self.progress = progress
        self.timings_: dict[str, float] = {}
        # the per-rule pair counts of the last block(), for blocking_report
        self._block_counts: tuple[weakref.ref[Any], tuple, pl.DataFrame] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the kept block counts (a weak reference does not pickle)."""
        state = dict(self.__dict__)
        state["_block_counts"] = None
        return state

    def _progress(self) -> contextlib.AbstractContextManager[None]:
        """Return this linker's progress choice for a stage (none: the caller's)."""
        if self.progress is None:
            return contextlib.nullcontext()
        return progress_context(self.progress)

    @contextlib.contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """Time a one-step stage (cluster, golden) and show it as a bar."""
        start = time.perf_counter()
        with self._progress(), progress_bar(total=1, desc=name) as bar:
            yield
            bar.update()
        release_freed_memory()
        self.timings_[name] = time.perf_counter() - start

    def __repr__(self) -> str:
        state = (
            f"fitted {type(self.scorer_).__name__}, threshold {self.threshold_:.4g}"
            if hasattr(self, "scorer_")
            else "not fitted"
        )
        return (
            f"Linker({self.config.name!r}, {self.config.link_type}, "
            f"{len(self.config.comparisons)} comparisons, {state})"
        )

    def _repr_html_(self) -> str:
        from er_toolkit.display import html_summary

        config = self.config
        facts: list[tuple[str, object]] = [
            ("link type", config.link_type),
            (
                "sources",
                ", ".join(s.name for s in config.sources) or "given to prepare",
            ),
            ("standardised columns", ", ".join(config.standardise) or "none"),
            ("blockers", ", ".join(b.name for b in config.blocking.blockers)),
            ("comparisons", ", ".join(c.name for c in config.comparisons)),
            ("model", config.model.kind),
        ]
        warnings: list[str] = []
        details: list[tuple[str, str]] = []
        if hasattr(self, "scorer_"):
            facts.append(("threshold", self.threshold_))
            scorer_html = getattr(self.scorer_, "_repr_html_", None)
            if scorer_html is not None:
                details.append((f"fitted {type(self.scorer_).__name__}", scorer_html()))
            flagged = getattr(self.scorer_, "_suspicious_lines", None)
            if flagged is not None:
                warnings.extend(flagged())
        else:
            facts.append(("state", "not fitted"))
        tables = []
        if self.timings_:
            tables.append(
                (
                    "seconds per stage (last call of each)",
                    pl.DataFrame(
                        {
                            "stage": list(self.timings_),
                            "seconds": list(self.timings_.values()),
                        }
                    ),
                )
            )
        return html_summary(
            f"Linker {config.name!r}",
            facts,
            warnings=warnings,
            tables=tables,
            details=details,
        )

    # ------------------------------------------------------------- records
    def prepare(
        self,
        sources: Sequence[Source] | None = None,
        *,
        keep: Sequence[str] = (),
        keep_raw: bool = False,
    ) -> PreparedRecords:
        """Validate, stack, derive and standardise the sources; profile their quality.

        The config's ``[[derive]]`` columns are made first (sources may lack
        the columns only they read), then its ``[standardise]`` steps run,
        then its ``[placeholders]`` are found and set to null (counted in
        the profile's ``placeholders`` column, on its "after" rows).

        Parameters
        ----------
        sources
            The sources; the config's ``[[sources]]`` when not given.
        keep
            Columns to carry along where present (beside the label column).
        keep_raw
            Also return the records before standardisation.

        Returns
        -------
        PreparedRecords
            The records and their data-quality profile.
        """
        records, profile, raw, found = self._prepare(
            sources, keep=keep, keep_raw=keep_raw, profile=True
        )
        assert profile is not None  # asked for
        return PreparedRecords(records, profile, raw, placeholders=found)

    def _prepare(
        self,
        sources: Sequence[Source] | None,
        *,
        keep: Sequence[str],
        keep_raw: bool,
        profile: bool,
    ) -> tuple[Frame, pl.DataFrame | None, Frame | None, pl.DataFrame | None]:
        """:meth:`prepare`; without the profile (None) when ``profile`` is False."""
        steps = 1 + bool(self.config.derive) + bool(self.config.standardise)
        steps += bool(self.config.placeholders.columns)
        with self._progress(), progress_bar(total=steps, desc="prepare") as bar:
            bar.describe("load")
            start = time.perf_counter()
            if sources is None:
                sources = [
                    load_source(s, base_dir=self.config.base_dir)
                    for s in self.config.sources
                ]
            labels = [self.config.evaluation.entity_column or ENTITY_COLUMN]
            records = self.engine.prepare_records(
                sources,
                columns=self.config.columns,
                keep=[*keep, *labels, *self.config.derive_inputs],
            )
            self.timings_["load"] = time.perf_counter() - start
            bar.update()
            if self.config.derive:
                bar.describe("derive")
                start = time.perf_counter()
                records = self.engine.derive(records, self.config.derive)
                self.timings_["derive"] = time.perf_counter() - start
                bar.update()
            raw = records
            if self.config.standardise:
                if isinstance(records, pl.DataFrame):
                    self._refuse_exploding_rules(records)
                bar.describe("standardise")
                start = time.perf_counter()
                records, quality = self.engine.standardise(
                    records, self.config.standardise, profile=profile
                )
                diagnostics.check_standardised(
                    self.engine.sample_here(raw),
                    self.engine.sample_here(records),
                    self.config.standardise,
                    # polars: the profile holds the same counts, of every row
                    profile=quality if isinstance(records, pl.DataFrame) else None,
                )
                # The per-value standardisers leave reference cycles (tens
                # of MB at 1M records) that the next full collection, often
                # never in a polars-heavy job, would free: free them now,
                # before the later stages stack their frames on top.
                if (
                    not isinstance(records, pl.DataFrame)
                    or records.height >= COLLECT_AFTER_ROWS
                ):
                    gc.collect()
                release_freed_memory()
                self.timings_["standardise"] = time.perf_counter() - start
                bar.update()
            else:
                quality = self.profile(records) if profile else None
            found = None
            if self.config.placeholders.columns:
                bar.describe("placeholders")
                start = time.perf_counter()
                records, quality, found = self._null_placeholders(records, quality)
                self.timings_["placeholders"] = time.perf_counter() - start
                bar.update()
        diagnostics.check_compared_columns(
            self.engine.sample_here(records),
            self.config.comparisons,
            link_type=self.config.link_type,
        )
        return records, quality, raw if keep_raw else None, found

    def _null_placeholders(
        self, records: Frame, profile: pl.DataFrame | None
    ) -> tuple[Frame, pl.DataFrame | None, pl.DataFrame]:
        """Find the placeholders, null them, count them in the profile (if any)."""
        config = self.config.placeholders
        found = self.engine.find_placeholders(records, config)
        if profile is not None:
            counts = self.engine.placeholder_counts(records, found, config.columns)
            profile = profile.join(counts, on=["source", "column"], how="left")
            present = pl.col("placeholders").fill_null(0)
            if "stage" in profile.columns:
                present = pl.when(pl.col("stage") == "after").then(present)
            profile = profile.with_columns(
                present.cast(pl.UInt32).alias("placeholders")
            )
        for (column,), part in found.group_by("column", maintain_order=True):
            # counts only: a frequent value may still be someone's real one
            log.info(
                "[placeholders] %s: %d value(s) in %d record(s) set to null",
                column,
                part.height,
                int(part.get_column("records").sum()),
            )
        return self.engine.null_placeholders(records, found), profile, found

    def _refuse_exploding_rules(self, records: pl.DataFrame) -> None:
        """Refuse a blocking rule over ``max_pairs_per_rule`` before standardising.

        :meth:`block` would refuse it only after the whole input was
        standardised. A cheap screen counts each rule's pairs on its raw key
        values (trimmed and lower-cased; a standardiser's output read as its
        input column); only a rule the screen puts over the limit is counted
        exactly, on its key columns standardised alone (each standardiser
        reads only its own column, so they are the values :meth:`block`
        sees), and refused with :meth:`block`'s message when the exact count
        is over. A rule the screen misses is refused by :meth:`block` as
        before, so results never change.
        Over ``2 * SCREEN_SAMPLE_ROWS`` records the screen counts a seeded
        sample of :data:`SCREEN_SAMPLE_ROWS` rows and compares it, scaled up,
        with :data:`SCREEN_MARGIN` of the limit.
        """
        blocking = self.config.blocking
        limit = blocking.max_pairs_per_rule
        if limit is None or blocking.on_explode != "raise":
            return
        source_of = {
            f"{column}_{part}": column
            for column, steps in self.config.standardise.items()
            for step in steps
            for part in step.parts
        }
        link_type = self.config.link_type
        carried = [c for c in (schema.ROW, schema.SOURCE) if c in records.columns]
        rules: list[tuple[ExactRule, dict[str, str]]] = []
        for blocker in blocking.compile():
            if not isinstance(blocker, ExactRule):
                continue
            inputs = {c: source_of.get(c, c) for c in blocker.columns}
            if set(inputs.values()) <= set(records.columns):
                rules.append((blocker, inputs))

        def screened(raw: str) -> pl.Expr:
            value = pl.col(raw)
            if records.schema[raw] == pl.String:
                value = value.str.strip_chars().str.to_lowercase().replace("", None)
            return value.alias(f"__screen_{raw}")

        # Each input column screened once, however many rules read it, and
        # each key (column or prefix) hashed once, however many rules use it;
        # a rule's blocks are then counted on one integer per record. A hash
        # collision can only merge two blocks, so the screen never counts
        # fewer pairs than the screened keys give. Big inputs are screened on
        # a seeded sample of rows: each pair is in it with chance
        # m(m-1) / n(n-1), so its count scaled up estimates the whole one; a
        # rule within a margin of the limit is counted exactly.
        raws = dict.fromkeys(raw for _, inputs in rules for raw in inputs.values())
        sample, screen_limit = records, float(limit)
        rows, size = records.height, SCREEN_SAMPLE_ROWS
        if rows > 2 * size:
            rng = np.random.default_rng(SCREEN_SEED)
            taken = np.sort(rng.choice(rows, size=size, replace=False))
            sample = records.select(*carried, *raws)[taken]
            screen_limit *= SCREEN_MARGIN * size * (size - 1) / (rows * (rows - 1))
        screens = sample.select(*carried, *[screened(raw) for raw in raws])
        named = screens.select(
            *carried,
            *[
                pl.col(f"__screen_{raw}").alias(c)
                for c, raw in {c: r for _, i in rules for c, r in i.items()}.items()
            ],
        )
        specs = dict.fromkeys(k for blocker, _ in rules for k in blocker.keys)

        def hashed(spec: str) -> pl.Expr:
            key = key_expr(spec)
            return pl.when(key.is_not_null()).then(key.hash()).alias(spec)

        hashes = named.select(*carried, *[hashed(k) for k in specs])
        link = link_type == "link" and schema.SOURCE in records.columns
        for blocker, inputs in rules:
            parts = [pl.col(k) for k in blocker.keys]
            key = parts[0] if len(parts) == 1 else pl.struct(parts).hash()
            known = pl.all_horizontal(p.is_not_null() for p in parts)
            screen = hashes.select(
                pl.when(known).then(key).alias("__key"),
                *([pl.col(schema.SOURCE)] if link else []),
            )
            counted = _screened_pairs(
                screen, link=link, max_block_size=blocker.max_block_size
            )
            if counted <= screen_limit:
                continue
            used = set(inputs.values())
            steps = {c: s for c, s in self.config.standardise.items() if c in used}
            keyed, _ = apply_standardisers(records, steps)
            n = blocker.count_pairs(keyed, link_type=link_type)
            if n > limit:
                raise BlockingError(explode_message(blocker.name, n, limit))

    def records(
        self, sources: Sequence[Source] | None = None, *, keep: Sequence[str] = ()
    ) -> pl.DataFrame:
        """Return the validated, stacked and standardised records (see :meth:`prepare`).

        The same records as ``prepare(sources, keep=keep).records``, without
        the data-quality profile, which costs more than standardising a
        small batch (a model scoring a few records).
        """
        return self._prepare(sources, keep=keep, keep_raw=False, profile=False)[0]

    def profile(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return the data-quality profile of ``records`` as they are."""
        return self.engine.profile(records, columns=self.config.columns)

    # -------------------------------------------------------------- stages
    def block(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return the candidate pairs (``_row_l``, ``_row_r``, ``blocked_by``)."""
        start = time.perf_counter()
        blockers = self.config.blocking.compile()
        counts = self.engine.count_rule_pairs(
            records, blockers, link_type=self.config.link_type
        )
        with self._progress():
            pairs = self.engine.block(
                records,
                blockers,
                link_type=self.config.link_type,
                max_pairs_per_rule=self.config.blocking.max_pairs_per_rule,
                on_explode=self.config.blocking.on_explode,
                counts=counts,
            )
        self._keep_block_counts(records, counts)
        release_freed_memory()
        self.timings_["block"] = time.perf_counter() - start
        return pairs

    def blocking_report(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return how many pairs each blocking rule produces (``blocked_by``, ``pairs``).

        See :meth:`analyse_blocking` for what the union keeps, the
        reduction ratio and recall. The counts of the last :meth:`block`
        of the same records frame are returned as they are (a copy), not
        counted again.
        """
        blockers = self.config.blocking.compile()
        kept = self._block_counts
        if kept is not None and kept[0]() is records:
            _, key, counts = kept
            if key == self._block_counts_key(records, blockers):
                return counts.clone()
        return self.engine.count_rule_pairs(
            records, blockers, link_type=self.config.link_type
        )

    def _keep_block_counts(self, records: Frame, counts: pl.DataFrame) -> None:
        """Keep :meth:`block`'s per-rule counts for a report on the same records.

        The records are referenced weakly, so the counts never keep a frame
        alive; a frame that cannot be referenced so keeps nothing.
        """
        try:
            ref = weakref.ref(records)
        except TypeError:
            self._block_counts = None
            return
        blockers = self.config.blocking.compile()
        self._block_counts = (ref, self._block_counts_key(records, blockers), counts)

    def _block_counts_key(self, records: Frame, blockers: Sequence[Any]) -> tuple:
        """Return what kept counts must match: link type, rules, the frame's shape."""
        shape = (
            (records.height, tuple(records.columns))
            if isinstance(records, pl.DataFrame)
            else None
        )
        return (self.config.link_type, tuple(b.name for b in blockers), shape)

    def analyse_blocking(
        self,
        records: pl.DataFrame,
        candidate_pairs: pl.DataFrame | None = None,
        *,
        truth: pl.DataFrame | None = None,
    ) -> BlockingReport:
        """Report each blocker's pairs, what it adds to the union, and recall.

        Parameters
        ----------
        records
            The records frame.
        candidate_pairs
            The blocked pairs (:meth:`block`); without them only each
            blocker's own count (made without making the pairs).
        truth
            True pairs (:meth:`true_pairs`), for each blocker's new true
            pairs and the running recall.

        Returns
        -------
        BlockingReport
            The table, the reduction ratio and the recall; a table in Jupyter.
        """
        from er_toolkit.report.inputs import blocking_summary

        engine = self.engine
        counts = self.blocking_report(records)
        recall = None
        if candidate_pairs is None:
            table = counts
        else:
            candidate_pairs = engine.collect(
                candidate_pairs, columns=[schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY]
            )
            table = blocking_summary(counts, candidate_pairs, truth=truth)
            if truth is not None:
                recall = blocking_recall(candidate_pairs, truth)
        return BlockingReport(
            table,
            n_records=engine.height(records),
            link_type=self.config.link_type,
            possible_pairs=engine.total_pairs(records, link_type=self.config.link_type),
            candidate_pairs=None if candidate_pairs is None else candidate_pairs.height,
            recall=recall,
        )

    def _unfitted_scorer(self) -> Scorer:
        config = self.config
        return config.model.scorer(
            config.comparisons,
            link_type=config.link_type,
            threshold=config.threshold,
            default_training_rules=config.blocking.exact_rules,
            validation_fraction=config.training.validation_fraction,
            n_jobs=self.n_jobs,
        )

    def compare(
        self,
        records: pl.DataFrame,
        pairs: pl.DataFrame,
        *,
        raw_similarity: bool | None = None,
    ) -> pl.DataFrame:
        """Return the comparison vectors of ``pairs``.

        ``raw_similarity`` (the ``sim_`` columns) defaults to what the scorer
        reads: a classifier needs them; Fellegi-Sunter needs only the gamma
        levels, which comparators find faster when they may stop early.
        """
        if raw_similarity is None:
            scorer = (
                self.scorer_ if hasattr(self, "scorer_") else self._unfitted_scorer()
            )
            raw_similarity = scorer.needs_similarities
        start = time.perf_counter()
        with self._progress():
            vectors = self.engine.compare(
                records,
                pairs,
                self.config.comparisons,
                raw_similarity=raw_similarity,
                workers=self.n_jobs,
            )
        release_freed_memory()
        self.timings_["compare"] = time.perf_counter() - start
        return vectors

    def fit(
        self,
        records: pl.DataFrame,
        *,
        candidate_pairs: pl.DataFrame | None = None,
        candidate_vectors: pl.DataFrame | None = None,
        labels: pl.DataFrame | None = None,
    ) -> Linker:
        """Fit the scorer the config declares on ``records``.

        Parameters
        ----------
        records
            The records frame.
        candidate_pairs
            The blocked pairs (blocked here when not given).
        candidate_vectors
            Their comparison vectors (:meth:`compare`), when already made:
            training then reuses them.
        labels
            True pairs (``_row_l``, ``_row_r``), or reviewed pairs with an
            ``is_match`` column. Without them the config's ``[training]
            labels_path``; a supervised scorer with neither trains on the
            ``[evaluation]`` labels (complete truth). Fellegi-Sunter without
            labels is unsupervised: it never reads the evaluation labels.

        Returns
        -------
        Linker
            self, fitted; ``scorer_.threshold_`` is the decision threshold.
        """
        if candidate_vectors is not None and candidate_pairs is None:
            candidate_pairs = candidate_vectors.select(
                c
                for c in (schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY)
                if c in candidate_vectors.columns
            )
        if candidate_pairs is None:
            candidate_pairs = self.block(records)
        start = time.perf_counter()
        scorer = self._unfitted_scorer()
        if labels is None:
            labels = self.labelled_pairs(records)
        truth = (
            self.true_pairs(records) if labels is None and scorer.supervised else None
        )
        with self._progress():
            self.scorer_ = scorer.fit_linkage(
                LinkageData(
                    records=records,
                    candidate_pairs=candidate_pairs,
                    link_type=self.config.link_type,
                    candidate_vectors=candidate_vectors,
                    labels=labels,
                    truth=truth,
                    n_jobs=self.n_jobs,
                    engine=self.engine,
                    validation=self.validation_pairs(records),
                )
            )
        release_freed_memory()
        self.timings_["fit"] = time.perf_counter() - start
        diagnostics.check_fitted(self.scorer_)
        return self

    def _pair_list(
        self, path_name: str | None, records: pl.DataFrame
    ) -> pl.DataFrame | None:
        if path_name is None:
            return None
        path = Path(path_name)
        if not path.is_absolute():
            path = self.config.base_dir / path
        return labelled_pairs_from_list(
            self.engine.collect(
                records, columns=[schema.ROW, schema.RECORD_ID, schema.SOURCE]
            ),
            read_frame(path, name="labels"),
            link_type=self.config.link_type,
        )

    def validation_pairs(self, records: pl.DataFrame) -> pl.DataFrame | None:
        """Return the ``[training] validation_path`` pairs (``is_match``), or None."""
        return self._pair_list(self.config.training.validation_path, records)

    def test_pairs(self, records: pl.DataFrame) -> pl.DataFrame | None:
        """Return the ``[evaluation] test_pairs_path`` pairs (``is_match``), or None."""
        return self._pair_list(self.config.evaluation.test_pairs_path, records)

    def labelled_pairs(self, records: pl.DataFrame) -> pl.DataFrame | None:
        """Return the ``[training] labels_path`` pairs, or None when not configured.

        Returns
        -------
        polars.DataFrame or None
            ``_row_l``, ``_row_r``, ``is_match`` (pairs labelled unsure are
            left out).
        """
        return self._pair_list(self.config.training.labels_path, records)

    def _check_fitted(self) -> None:
        if not hasattr(self, "scorer_"):
            # made on first use: it is also scikit-learn's, imported then
            from er_toolkit.exceptions import NotFittedError

            raise NotFittedError(
                "This Linker is not fitted yet; call fit(records) or Linker.load(path)."
            )

    @property
    def threshold_(self) -> float:
        """The fitted scorer's decision threshold (match probability)."""
        self._check_fitted()
        return float(self.scorer_.threshold_)

    def predict(
        self,
        records: pl.DataFrame,
        *,
        candidate_pairs: pl.DataFrame | None = None,
        candidate_vectors: pl.DataFrame | None = None,
        explain: bool = False,
        chunk_size: int | None = None,
        min_probability: float = 0.0,
        record_ids: bool = True,
    ) -> pl.DataFrame:
        """Score every candidate pair of ``records``.

        Pass ``candidate_vectors`` (from :meth:`compare`) to score pairs
        already compared, e.g. those :meth:`fit` was given.

        Parameters
        ----------
        records
            The records frame.
        candidate_pairs, candidate_vectors
            The pairs to score (blocked here when neither is given).
        explain
            Add each comparison's contribution and gamma level.
        chunk_size
            Compare and score this many pairs at a time, so memory holds one
            chunk's comparison vectors, not all of them.
        min_probability
            Keep only pairs scoring at least this; with ``chunk_size`` this
            bounds memory by the pairs worth keeping.
        record_ids
            Add ``record_id_l/_r`` and ``source_l/_r``; without them the pairs
            carry row numbers only (much less memory on large runs).

        Returns
        -------
        polars.DataFrame
            ``_row_l``, ``_row_r``, ``record_id_l``, ``record_id_r``,
            ``source_l``, ``source_r``, ``blocked_by``, ``match_weight``,
            ``match_probability`` (and per-comparison contributions with
            ``explain=True``). Record ids keep their input type.
        """
        self._check_fitted()
        engine = self.engine
        if candidate_vectors is not None:
            # scoring given vectors ends the compare-fit-score run that the
            # engine's kept encoding served: drop it before scoring allocates
            engine.release_compare()
            start = time.perf_counter()
            scored = engine.predict(
                self.scorer_,
                candidate_vectors,
                explain=explain,
                min_probability=min_probability,
            )
            release_freed_memory()
            self.timings_["score"] = time.perf_counter() - start
            return engine.with_record_ids(scored, records) if record_ids else scored
        if candidate_pairs is None:
            candidate_pairs = self.block(records)
        with self._progress():
            scored = engine.score(
                records,
                candidate_pairs,
                self.config.comparisons,
                self.scorer_,
                explain=explain,
                raw_similarity=explain or self.scorer_.needs_similarities,
                chunk_size=chunk_size,
                min_probability=min_probability,
                workers=self.n_jobs,
                timings=self.timings_,
            )
        release_freed_memory()
        return engine.with_record_ids(scored, records) if record_ids else scored

    def cluster(
        self,
        records: pl.DataFrame,
        scored: pl.DataFrame,
        *,
        threshold: float | None = None,
    ) -> pl.DataFrame:
        """Group records into entities at ``threshold`` (the scorer's ``threshold_``)."""
        clustering = self.config.clustering
        cut = self.threshold_ if threshold is None else threshold
        with self._stage("cluster"):
            if clustering.one_to_one != "off":
                scored = self.one_to_one(records, scored, threshold=cut)
            clusters = self.engine.connected_components(
                records,
                scored,
                threshold=cut,
                prune_weak_links=clustering.prune_weak_links,
                keep_above=clustering.keep_above,
                min_prune_size=clustering.min_prune_size,
                max_cluster_size=clustering.max_cluster_size,
                linkage=clustering.linkage,
                not_compared=clustering.not_compared,
                min_linkage_probability=clustering.min_linkage_probability,
            )
        return clusters

    def one_to_one(
        self,
        records: pl.DataFrame,
        scored: pl.DataFrame,
        *,
        threshold: float | None = None,
    ) -> pl.DataFrame:
        """Drop the links ``[clustering] one_to_one`` rules out (scores only, never labels).

        See :func:`~er_toolkit.one_to_one.one_to_one_links`; the same
        constraint :meth:`cluster` applies, for pairs scored elsewhere (a
        fixed test split). Runs on collected frames.
        """
        from er_toolkit.one_to_one import one_to_one_links

        cut = self.threshold_ if threshold is None else threshold
        return one_to_one_links(
            self.engine.collect(records, columns=[schema.ROW, schema.SOURCE]),
            self.engine.collect(scored),
            threshold=cut,
            method=self.config.clustering.one_to_one,
        )

    def golden(
        self,
        records: pl.DataFrame,
        clusters: pl.DataFrame,
        *,
        raw: pl.DataFrame | None = None,
        cluster_ids: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Return one golden record per cluster, by the config's ``[golden]`` rules.

        Parameters
        ----------
        records, clusters
            The records and their clusters (:meth:`cluster`).
        raw
            The records before standardisation (``prepare(keep_raw=True)``);
            needed when ``[golden] values = "raw"``.
        cluster_ids
            Rebuild only these clusters.

        Returns
        -------
        polars.DataFrame
            ``cluster_id``, each mastered attribute and its lineage
            (``<attribute>__record_id``, ``__source``, ``__rule``).
        """
        with self._stage("golden"):
            golden = self.engine.golden(
                self.config.golden, records, clusters, raw=raw, cluster_ids=cluster_ids
            )
        return golden

    # ---------------------------------------------------------- evaluation
    def true_pairs(self, records: pl.DataFrame) -> pl.DataFrame | None:
        """Return the labelled true pairs, or None when the config names no labels."""
        ev = self.config.evaluation
        ids = [schema.ROW, schema.RECORD_ID, schema.SOURCE]
        if ev.entity_column is not None or ev.pairs_path is not None:
            records = self.engine.collect(
                records,
                columns=[*ids, *([ev.entity_column] if ev.entity_column else [])],
            )
        if ev.entity_column is not None:
            return true_pairs_from_entities(
                records, entity_column=ev.entity_column, link_type=self.config.link_type
            )
        if ev.pairs_path is not None:
            path = Path(ev.pairs_path)
            if not path.is_absolute():
                path = self.config.base_dir / path
            return true_pairs_from_list(
                records,
                read_frame(path, name="labels"),
                link_type=self.config.link_type,
            )
        return None

    def evaluate(
        self,
        records: pl.DataFrame,
        *,
        candidate_pairs: pl.DataFrame,
        scored: pl.DataFrame,
        clusters: pl.DataFrame,
        truth: pl.DataFrame,
        threshold: float | None = None,
    ) -> EvaluationResult:
        """Measure pairs, clusters and blocking against the labels.

        With another engine than polars, the frames are collected here
        first: evaluation is for labelled benchmark sets.

        Returns
        -------
        EvaluationResult
            The metrics (``result["pairwise_f1"]``), the precision-recall
            curve and the threshold; it unpacks as ``metrics, curve =
            linker.evaluate(...)``, as the ``(metrics, curve)`` tuple of
            earlier releases did.
        """
        collect = self.engine.collect
        entity = self.config.evaluation.entity_column
        records = collect(
            records,
            columns=None
            if entity is None
            else [schema.ROW, schema.RECORD_ID, schema.SOURCE, entity],
        )
        candidate_pairs, scored, clusters = (
            collect(candidate_pairs),
            collect(scored),
            collect(clusters),
        )
        cut = self.threshold_ if threshold is None else threshold
        predicted = scored.filter(pl.col(schema.MATCH_PROBABILITY) >= cut)
        metrics: dict[str, float] = {}
        pairwise = pairwise_metrics(predicted, truth)
        metrics.update({f"pairwise_{k}": float(v) for k, v in pairwise.items()})
        metrics["blocking_recall"] = blocking_recall(candidate_pairs, truth)
        metrics["candidate_pairs"] = float(candidate_pairs.height)
        metrics["true_pairs"] = float(truth.height)
        if entity is not None:
            cm = cluster_metrics(
                clusters, records, entity_column=entity, link_type=self.config.link_type
            )
            metrics.update({k: float(v) for k, v in cm.items()})
        curve = precision_recall_curve(scored, truth, n_true=truth.height)
        release_freed_memory()
        return EvaluationResult(metrics, curve, threshold=float(cut))

    # --------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """Return config declarations and fitted scorer; no record values."""
        self._check_fitted()
        return {
            "format_version": MODEL_FORMAT_VERSION,
            "kind": "er_toolkit.Linker",
            "er_toolkit_version": __version__,
            # engine-neutral: the engine is how a model runs, not the model
            "config": {
                k: v
                for k, v in self.config.to_dict(with_sources=True).items()
                if k != "engine"
            },
            "scorer": self.scorer_.to_dict(),
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, engine: Engine | str | None = None
    ) -> Linker:
        """Rebuild a fitted linker from :meth:`to_dict`'s output, to run on ``engine``."""
        validate_linker_dict(data)
        version = data.get("format_version") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("kind") != "er_toolkit.Linker":
            raise ModelFormatError(
                "Expected an er_toolkit model file (kind 'er_toolkit.Linker'); got "
                f"kind={data.get('kind') if isinstance(data, dict) else type(data)!r}."
            )
        if version not in READABLE_MODEL_VERSIONS:
            raise ModelFormatError(
                f"Model file format_version {version!r} cannot be read by er_toolkit "
                f"{__version__}, which reads format_version "
                f"{list(READABLE_MODEL_VERSIONS)}."
            )
        linker = cls(LinkageConfig.from_dict(data["config"]), engine=engine)
        scorer_data = data["scorer"]
        linker.scorer_ = scorer_from_dict(scorer_data)
        if "threshold" not in scorer_data.get("params", {}):
            # format 1 kept a Fellegi-Sunter threshold in the config only
            linker.scorer_.threshold_ = linker.config.threshold
        return linker

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted linker to ``path`` as JSON (atomically)."""
        return write_json_atomic(self.to_dict(), path)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, engine: Engine | str | None = None
    ) -> Linker:
        """Read a linker written by :meth:`save`, to run on ``engine`` (polars by default)."""
        return cls.from_dict(load_model_json(path), engine=engine)


def _screened_pairs(
    screen: pl.DataFrame, *, link: bool, max_block_size: int | None
) -> int:
    """Count the pairs of records sharing ``__key`` (null: no key), across sources when ``link``.

    As :meth:`ExactRule.count_pairs <er_toolkit.blocking.ExactRule.count_pairs>`
    counts them, blocks over ``max_block_size`` records left out.
    """
    keyed = screen.lazy().drop_nulls("__key")
    n = pl.col("__n")
    if link:
        per = (
            keyed.group_by("__key", schema.SOURCE)
            .agg(pl.len().cast(pl.Int64).alias("__n"))
            .group_by("__key")
            .agg(n.sum(), (n * n).sum().alias("__sq"))
        )
        pairs = pair_count_expr(n, pl.col("__sq"))
    else:
        per = keyed.group_by("__key").agg(pl.len().cast(pl.Int64).alias("__n"))
        pairs = pair_count_expr(n)
    if max_block_size is not None:
        per = per.filter(n <= max_block_size)
    return int(per.select(pairs.sum()).collect().item() or 0)


def with_record_ids(pairs: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """Add ``record_id_l/_r`` and ``source_l/_r`` to a frame of row pairs."""
    ids = records.select(schema.ROW, schema.RECORD_ID, schema.SOURCE)
    out = pairs.join(
        ids.rename(
            {
                schema.ROW: schema.ROW_L,
                schema.RECORD_ID: schema.RECORD_ID_L,
                schema.SOURCE: schema.SOURCE_L,
            }
        ),
        on=schema.ROW_L,
        how="left",
        maintain_order="left",
    ).join(
        ids.rename(
            {
                schema.ROW: schema.ROW_R,
                schema.RECORD_ID: schema.RECORD_ID_R,
                schema.SOURCE: schema.SOURCE_R,
            }
        ),
        on=schema.ROW_R,
        how="left",
        maintain_order="left",
    )
    first = [
        schema.ROW_L,
        schema.ROW_R,
        schema.RECORD_ID_L,
        schema.RECORD_ID_R,
        schema.SOURCE_L,
        schema.SOURCE_R,
    ]
    return out.select(*first, pl.exclude(first))
