"""The Linker: one object that ties a config to every stage, for notebooks and CLIs."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from er_toolkit import __version__, diagnostics, schema
from er_toolkit.blocking import block_pairs, count_rule_pairs
from er_toolkit.cluster import connected_components
from er_toolkit.compare import RecordEncoding, compare_pairs
from er_toolkit.config import LinkageConfig, SourceConfig
from er_toolkit.datasets import ENTITY_COLUMN, load_febrl
from er_toolkit.evaluate import (
    blocking_recall,
    cluster_metrics,
    pairwise_metrics,
    precision_recall_curve,
    true_pairs_from_entities,
    true_pairs_from_list,
)
from er_toolkit.exceptions import ModelFormatError, NotFittedError
from er_toolkit.io import Source, prepare_records, read_frame, write_json_atomic
from er_toolkit.score import ClassifierScorer, FellegiSunter, scorer_from_dict
from er_toolkit.score.validation import load_model_json, validate_linker_dict
from er_toolkit.standardise import profile_frame, profile_standardisation
from er_toolkit.training import labelled_pairs_from_list, training_pairs

log = logging.getLogger(__name__)

MODEL_FORMAT_VERSION = 1


def load_source(source: SourceConfig, *, base_dir: Path) -> Source:
    """Turn a ``[[sources]]`` declaration into a :class:`~er_toolkit.io.Source`."""
    if source.dataset is not None:
        frames = load_febrl(source.dataset)
        return Source(source.name, frames[source.part], id_column=source.id_column)
    path = Path(str(source.path))
    if not path.is_absolute():
        path = base_dir / path
    return Source(
        source.name,
        path,
        id_column=source.id_column,
        encoding=source.encoding or "utf8",
    )


class Linker:
    """Block, compare, score, cluster and evaluate under one config.

    Parameters
    ----------
    config
        The declarations: blocking, comparisons, model settings, threshold.

    Attributes
    ----------
    scorer_ : FellegiSunter or ClassifierScorer
        The fitted scorer (``[model] kind``).
    training_report_ : dict[str, float]
        For a classifier: training pairs, matches among them, and labelled
        matches blocking missed.
    timings_ : dict[str, float]
        Seconds spent in each stage of the last call of each stage.
    blocking_report_ : polars.DataFrame
        Pairs each blocking rule produces, from the last :meth:`block`.
    profile_ : polars.DataFrame
        With standardisation, the before-and-after data-quality profile of
        the last :meth:`records` call (see :meth:`profile`).
    """

    scorer_: FellegiSunter | ClassifierScorer

    def __init__(self, config: LinkageConfig) -> None:
        self.config = config
        self.timings_: dict[str, float] = {}

    # ------------------------------------------------------------- records
    def records(
        self, sources: Sequence[Source] | None = None, *, keep: Sequence[str] = ()
    ) -> pl.DataFrame:
        """Validate and stack the sources (the config's when none are given)."""
        start = time.perf_counter()
        if sources is None:
            sources = [
                load_source(s, base_dir=self.config.base_dir)
                for s in self.config.sources
            ]
        labels = [self.config.evaluation.entity_column or ENTITY_COLUMN]
        records = prepare_records(
            sources, columns=self.config.columns, keep=[*keep, *labels]
        )
        self.timings_["load"] = time.perf_counter() - start
        if self.config.standardise:
            start = time.perf_counter()
            raw = records
            records, self.profile_ = profile_standardisation(
                records, self.config.standardise
            )
            diagnostics.check_standardised(raw, records, self.config.standardise)
            self.timings_["standardise"] = time.perf_counter() - start
        diagnostics.check_compared_columns(
            records, self.config.comparisons, link_type=self.config.link_type
        )
        return records

    def profile(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return the data-quality profile of ``records``.

        After standardisation this is the before-and-after profile
        :meth:`records` made on the way; otherwise it is made now.
        """
        if self.config.standardise and hasattr(self, "profile_"):
            return self.profile_
        return profile_frame(
            records, columns=[c for c in self.config.columns if c in records.columns]
        )

    # -------------------------------------------------------------- stages
    def block(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return the candidate pairs (``_row_l``, ``_row_r``, ``blocked_by``)."""
        start = time.perf_counter()
        blockers = self.config.blocking.blockers()
        self.blocking_report_ = count_rule_pairs(
            records, blockers, link_type=self.config.link_type
        )
        pairs = block_pairs(
            records,
            blockers,
            link_type=self.config.link_type,
            max_pairs_per_rule=self.config.blocking.max_pairs_per_rule,
            on_explode=self.config.blocking.on_explode,  # type: ignore[arg-type]
            counts=self.blocking_report_,
        )
        self.timings_["block"] = time.perf_counter() - start
        return pairs

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
            raw_similarity = self.config.model.kind == "classifier"
        start = time.perf_counter()
        vectors = compare_pairs(
            records, pairs, self.config.comparisons, raw_similarity=raw_similarity
        )
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
        """Fit the scorer on ``records``.

        Parameters
        ----------
        records
            The records frame.
        candidate_pairs
            The blocked pairs (blocked here when not given).
        candidate_vectors
            Their comparison vectors (:meth:`compare`), when already made:
            Fellegi-Sunter training then reuses them.
        labels
            Fellegi-Sunter: true pairs (``_row_l``, ``_row_r``) to count m
            from; without them it is unsupervised. Classifier: true pairs
            (complete truth: every other candidate pair is a non-match), or
            reviewed pairs with an ``is_match`` column (only they train);
            without them the config's ``[training] labels_path``, else its
            ``[evaluation]`` labels.

        Returns
        -------
        Linker
            self, fitted. For a classifier, ``config.threshold`` becomes its
            chosen threshold (unless ``threshold_strategy = "fixed"``).
        """
        if candidate_vectors is not None:
            candidate_pairs = candidate_vectors
        if candidate_pairs is None:
            candidate_pairs = self.block(records)
        start = time.perf_counter()
        if self.config.model.kind == "classifier":
            self._fit_classifier(records, candidate_pairs, labels)
        else:
            self.scorer_ = self._fellegi_sunter().fit(
                records,
                candidate_pairs=candidate_pairs,
                candidate_vectors=candidate_vectors,
                labels=labels,
            )
        self.timings_["fit"] = time.perf_counter() - start
        diagnostics.check_fitted(self.scorer_)
        return self

    def _fellegi_sunter(self) -> FellegiSunter:
        m = self.config.model
        return FellegiSunter(
            self.config.comparisons,
            link_type=self.config.link_type,
            training_rules=m.training_rules or self.config.blocking.rules,
            deterministic_rules=m.deterministic_rules,
            deterministic_recall=m.deterministic_recall,
            probability_two_random_records_match=m.probability_two_random_records_match,
            u_sample_size=m.u_sample_size,
            max_iter=m.max_iter,
            max_pairs_per_session=m.max_pairs_per_session or None,
            seed=m.seed,
        )

    def labelled_pairs(self, records: pl.DataFrame) -> pl.DataFrame | None:
        """Return the ``[training] labels_path`` pairs, or None when not configured.

        Returns
        -------
        polars.DataFrame or None
            ``_row_l``, ``_row_r``, ``is_match`` (pairs labelled unsure are
            left out).
        """
        path_name = self.config.training.labels_path
        if path_name is None:
            return None
        path = Path(path_name)
        if not path.is_absolute():
            path = self.config.base_dir / path
        return labelled_pairs_from_list(
            records, read_frame(path, name="labels"), link_type=self.config.link_type
        )

    def _fit_classifier(
        self,
        records: pl.DataFrame,
        candidate_pairs: pl.DataFrame,
        labels: pl.DataFrame | None,
    ) -> None:
        m = self.config.model
        truth: pl.DataFrame | None = None
        reviewed: pl.DataFrame | None = None
        if labels is not None and schema.IS_MATCH in labels.columns:
            reviewed = labels
        elif labels is not None:
            truth = labels
        else:
            reviewed = self.labelled_pairs(records)
            if reviewed is None:
                truth = self.true_pairs(records)
        train = training_pairs(
            candidate_pairs, true_pairs=truth, labelled_pairs=reviewed
        )
        self.training_report_ = train.report
        if train.labelled_matches_missed_by_blocking:
            log.warning(
                "%d labelled match(es) are not among the candidate pairs: blocking "
                "missed them, so no threshold can link them",
                train.labelled_matches_missed_by_blocking,
            )
        stacked = (
            self._fellegi_sunter().fit(records, candidate_pairs=candidate_pairs)
            if m.stack
            else None
        )
        vectors = compare_pairs(records, train.pairs, self.config.comparisons)
        y = train.y
        validation = None
        fraction = self.config.training.validation_fraction
        if fraction:
            from sklearn.model_selection import train_test_split

            fit_rows, valid_rows = train_test_split(
                np.arange(y.size), test_size=fraction, stratify=y, random_state=m.seed
            )
            validation = (vectors[np.sort(valid_rows)], y[np.sort(valid_rows)])
            vectors, y = vectors[np.sort(fit_rows)], y[np.sort(fit_rows)]
        scorer = ClassifierScorer(
            self.config.comparisons,
            estimator=m.estimator,
            fellegi_sunter=stacked,
            calibration=m.calibration,  # type: ignore[arg-type]
            threshold_strategy=m.threshold_strategy,  # type: ignore[arg-type]
            target_precision=m.target_precision,
            threshold=self.config.threshold,
            cv=m.cv,
            seed=m.seed,
        ).fit(vectors, y, validation=validation)
        self.scorer_ = scorer
        if m.threshold_strategy != "fixed":
            self.config = replace(self.config, threshold=scorer.threshold_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "scorer_"):
            raise NotFittedError(
                "This Linker is not fitted yet; call fit(records) or Linker.load(path)."
            )

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
            ``explain=True``).
        """
        self._check_fitted()
        keep = pl.col(schema.MATCH_PROBABILITY) >= min_probability
        if candidate_vectors is not None:
            start = time.perf_counter()
            scored = self.scorer_.predict(candidate_vectors, explain=explain)
            self.timings_["score"] = time.perf_counter() - start
            scored = scored.filter(keep)
            return with_record_ids(scored, records) if record_ids else scored
        if candidate_pairs is None:
            candidate_pairs = self.block(records)
        size = chunk_size or max(candidate_pairs.height, 1)
        encoding = RecordEncoding(records)
        parts = []
        seconds = {"compare": 0.0, "score": 0.0}
        for offset in range(0, max(candidate_pairs.height, 1), size):
            chunk = candidate_pairs.slice(offset, size)
            start = time.perf_counter()
            vectors = compare_pairs(
                records,
                chunk,
                self.config.comparisons,
                encoding=encoding,
                raw_similarity=explain or self.config.model.kind == "classifier",
            )
            middle = time.perf_counter()
            parts.append(self.scorer_.predict(vectors, explain=explain).filter(keep))
            seconds["compare"] += middle - start
            seconds["score"] += time.perf_counter() - middle
        self.timings_.update(seconds)
        scored = pl.concat(parts)
        return with_record_ids(scored, records) if record_ids else scored

    def cluster(self, records: pl.DataFrame, scored: pl.DataFrame) -> pl.DataFrame:
        """Group records into entities at the config's threshold."""
        start = time.perf_counter()
        clustering = self.config.clustering
        clusters = connected_components(
            records,
            scored,
            threshold=self.config.threshold,
            prune_weak_links=clustering.prune_weak_links,
            keep_above=clustering.keep_above,
            min_prune_size=clustering.min_prune_size,
            max_cluster_size=clustering.max_cluster_size or None,
        )
        self.timings_["cluster"] = time.perf_counter() - start
        return clusters

    # ---------------------------------------------------------- evaluation
    def true_pairs(self, records: pl.DataFrame) -> pl.DataFrame | None:
        """Return the labelled true pairs, or None when the config names no labels."""
        ev = self.config.evaluation
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
    ) -> tuple[dict[str, float], pl.DataFrame]:
        """Measure pairs, clusters and blocking against the labels.

        Returns
        -------
        tuple
            The metrics, and the precision-recall curve.
        """
        predicted = scored.filter(
            pl.col(schema.MATCH_PROBABILITY) >= self.config.threshold
        )
        metrics: dict[str, float] = {}
        pairwise = pairwise_metrics(predicted, truth)
        metrics.update({f"pairwise_{k}": float(v) for k, v in pairwise.items()})
        metrics["blocking_recall"] = blocking_recall(candidate_pairs, truth)
        metrics["candidate_pairs"] = float(candidate_pairs.height)
        metrics["true_pairs"] = float(truth.height)
        entity = self.config.evaluation.entity_column
        if entity is not None:
            cm = cluster_metrics(
                clusters, records, entity_column=entity, link_type=self.config.link_type
            )
            metrics.update({k: float(v) for k, v in cm.items()})
        curve = precision_recall_curve(scored, truth, n_true=truth.height)
        return metrics, curve

    # --------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """Return config declarations and fitted scorer; no record values."""
        self._check_fitted()
        return {
            "format_version": MODEL_FORMAT_VERSION,
            "kind": "er_toolkit.Linker",
            "er_toolkit_version": __version__,
            "config": self.config.to_dict(with_sources=True),
            "scorer": self.scorer_.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Linker:
        """Rebuild a fitted linker from :meth:`to_dict`'s output."""
        validate_linker_dict(data)
        version = data.get("format_version") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("kind") != "er_toolkit.Linker":
            raise ModelFormatError(
                "Expected an er_toolkit model file (kind 'er_toolkit.Linker'); got "
                f"kind={data.get('kind') if isinstance(data, dict) else type(data)!r}."
            )
        if version != MODEL_FORMAT_VERSION:
            raise ModelFormatError(
                f"Model file format_version {version!r} cannot be read by er_toolkit "
                f"{__version__}, which reads format_version {MODEL_FORMAT_VERSION}."
            )
        linker = cls(LinkageConfig.from_dict(data["config"]))
        linker.scorer_ = scorer_from_dict(data["scorer"])
        return linker

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted linker to ``path`` as JSON."""
        return write_json_atomic(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Linker:
        """Read a linker written by :meth:`save` (every field checked first)."""
        return cls.from_dict(load_model_json(path))


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
