"""The frames the charts and the report read, made from a fitted Linker and its run."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.compare import Comparison, compare_pairs
from er_toolkit.compare.pair_values import ColumnEncoding
from er_toolkit.evaluate import pair_key
from er_toolkit.exceptions import SchemaError

if TYPE_CHECKING:
    from er_toolkit.pipeline import Linker
    from er_toolkit.score import ClassifierScorer, FellegiSunter

_KEY: Final = "__pair_key"
MASK: Final = "•"


# --------------------------------------------------------------------------- #
# masking
# --------------------------------------------------------------------------- #
def mask_value(value: object, *, key: bytes) -> str | None:
    """Hide a record value: keep its first character and length, add a keyed tag.

    The tag is the first 4 hex digits of an HMAC-SHA256 of the value under
    ``key``: equal values get equal tags within one report (so a reader sees
    which values agree), and without the key the tag reveals nothing.

    Parameters
    ----------
    value
        The value (None stays None).
    key
        A secret made once per report (``secrets.token_bytes(16)``) and never
        written anywhere.

    Examples
    --------
    >>> masked = mask_value("Smith", key=b"k")
    >>> masked[:6], len(masked), masked == mask_value("Smith", key=b"k")
    ('S•••• ', 11, True)
    >>> mask_value("Smith", key=b"k") == mask_value("Smyth", key=b"k")
    False
    """
    if value is None:
        return None
    text = str(value)
    if not text:
        return ""
    tag = hmac.new(key, text.encode(), "sha256").hexdigest()[:4]
    return f"{text[0]}{MASK * (len(text) - 1)} #{tag}"


def mask_column(values: pl.Series, *, key: bytes) -> pl.Series:
    """Return ``values`` masked with :func:`mask_value`, as a String series."""
    return pl.Series(
        values.name,
        [mask_value(v, key=key) for v in values.cast(pl.String).to_list()],
        dtype=pl.String,
    )


# --------------------------------------------------------------------------- #
# blocking
# --------------------------------------------------------------------------- #
def label_pairs(pairs: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Add ``is_match``: whether each pair (``_row_l``, ``_row_r``) is a true pair.

    Examples
    --------
    >>> pairs = pl.DataFrame({"_row_l": [0, 0], "_row_r": [1, 2]})
    >>> truth = pl.DataFrame({"_row_l": [1], "_row_r": [0]})
    >>> label_pairs(pairs, truth).get_column("is_match").to_list()
    [True, False]
    """
    true = truth.select(pair_key()).unique().with_columns(pl.lit(True).alias("__t"))
    return (
        pairs.with_columns(pair_key())
        .join(true, on=_KEY, how="left", maintain_order="left")
        .with_columns(pl.col("__t").fill_null(False).alias(schema.IS_MATCH))
        .drop(_KEY, "__t")
    )


def blocking_summary(
    blocking_report: pl.DataFrame,
    candidate_pairs: pl.DataFrame,
    *,
    truth: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Return the pairs each blocker produces and adds, with running totals.

    Parameters
    ----------
    blocking_report
        ``Linker.blocking_report(records)`` (``blocked_by``, ``pairs``), blockers in
        priority order.
    candidate_pairs
        The blocked pairs, ``blocked_by`` naming each pair's first producer.
    truth
        True pairs; adds how many each blocker finds first and the running
        recall.

    Returns
    -------
    polars.DataFrame
        ``blocked_by``, ``pairs``, ``new_pairs``, ``cumulative_pairs`` and,
        with ``truth``, ``new_true_pairs`` and ``cumulative_recall``.

    Examples
    --------
    >>> report = pl.DataFrame({"blocked_by": ["a", "b"], "pairs": [2, 2]})
    >>> pairs = pl.DataFrame({"_row_l": [0, 0, 1], "_row_r": [1, 2, 2],
    ...                       "blocked_by": ["a", "a", "b"]})
    >>> truth = pl.DataFrame({"_row_l": [0, 1, 3], "_row_r": [1, 2, 4]})
    >>> blocking_summary(report, pairs, truth=truth).rows()
    [('a', 2, 2, 2, 1, 0.3333333333333333), ('b', 2, 1, 3, 1, 0.6666666666666666)]
    """
    for frame, columns, name in (
        (blocking_report, (schema.BLOCKED_BY, "pairs"), "blocking_report"),
        (candidate_pairs, (schema.BLOCKED_BY,), "candidate_pairs"),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise SchemaError(
                f"blocking_summary: {name} lacks column(s) {missing}; its columns "
                f"are {frame.columns}."
            )
    by = pl.col(schema.BLOCKED_BY).cast(pl.String)
    new = candidate_pairs.group_by(by).agg(pl.len().cast(pl.Int64).alias("new_pairs"))
    out = (
        blocking_report.select(by, pl.col("pairs").cast(pl.Int64))
        .join(new, on=schema.BLOCKED_BY, how="left", maintain_order="left")
        .with_columns(pl.col("new_pairs").fill_null(0))
        .with_columns(pl.col("new_pairs").cum_sum().alias("cumulative_pairs"))
    )
    if truth is None:
        return out
    n_true = truth.select(pair_key()).n_unique()
    found = (
        label_pairs(candidate_pairs.select(schema.ROW_L, schema.ROW_R, by), truth)
        .filter(pl.col(schema.IS_MATCH))
        .group_by(schema.BLOCKED_BY)
        .agg(pl.len().cast(pl.Int64).alias("new_true_pairs"))
    )
    return (
        out.join(found, on=schema.BLOCKED_BY, how="left", maintain_order="left")
        .with_columns(pl.col("new_true_pairs").fill_null(0))
        .with_columns(
            (pl.col("new_true_pairs").cum_sum() / max(n_true, 1)).alias(
                "cumulative_recall"
            )
        )
    )


# --------------------------------------------------------------------------- #
# term frequencies
# --------------------------------------------------------------------------- #
def term_frequency_table(
    records: pl.DataFrame,
    fellegi_sunter: FellegiSunter,
    *,
    common: int = 8,
    rare: int = 4,
    mask_key: bytes | None = None,
) -> pl.DataFrame:
    """Return the adjusted exact-agreement weight of common and of rarer values.

    For each term-frequency adjusted exact level (named ``<comparison>
    (<column>)`` where a comparison has several), an exact
    agreement on a value held by a share f of the records weighs
    ``log2(m / f)`` (f at least 1 / records) instead of the level's
    ``log2(m / u)``. The most common values are listed one by one; the rest
    are grouped by how many records hold each, so the rarest (most
    identifying) values are never named.

    Parameters
    ----------
    records
        The records the model scores.
    fellegi_sunter
        The fitted model.
    common
        How many of the most common values to list per comparison.
    rare
        How many groups of rarer values (those held by 1, 2, ... records) to
        keep.
    mask_key
        When given, values are masked with :func:`mask_value` under this key.

    Returns
    -------
    polars.DataFrame
        ``comparison``, ``value`` (null for a group), ``values`` (how many
        values the row stands for), ``count`` (records holding each),
        ``frequency``, ``weight`` and ``base_weight`` (bits).

    Examples
    --------
    >>> from er_toolkit.compare import Comparison, ExactLevel
    >>> from er_toolkit.score import FellegiSunter
    >>> name = Comparison("name", "name", (ExactLevel(term_frequency=True),))
    >>> fs = FellegiSunter([name])
    >>> fs.m_, fs.u_ = {"name": np.array([0.1, 0.9])}, {"name": np.array([0.9, 0.1])}
    >>> fs.n_records_ = 4
    >>> records = pl.DataFrame({"name": ["ann", "ann", "bob", "cy"]})
    >>> table = term_frequency_table(records, fs, common=1)
    >>> table.select("value", "values", "count", pl.col("weight").round(2)).rows()
    [('ann', 1, 2, 0.85), (None, 2, 1, 1.85)]
    """
    parts: list[pl.DataFrame] = []
    n_records = max(int(getattr(fellegi_sunter, "n_records_", records.height)), 1)
    levels = [
        (comp, top, column, len(comp.tf_levels) > 1)
        for comp in fellegi_sunter.comparisons
        for top, _, column in comp.tf_levels
        if column in records.columns
    ]
    for comp, top, column, several in levels:
        m = float(fellegi_sunter.m_[comp.name][top])
        u = float(fellegi_sunter.u_[comp.name][top])
        strings = ColumnEncoding(records.get_column(column)).strings
        counts = (
            strings.drop_nulls()
            .value_counts(name="count")
            .rename({strings.name: "value"})
            .select(pl.col("value").cast(pl.String), pl.col("count").cast(pl.Int64))
            .sort(["count", "value"], descending=[True, False])
        )
        present = max(int(counts.get_column("count").sum() or 0), 1)
        listed = counts.head(common).with_columns(pl.lit(1, pl.Int64).alias("values"))
        grouped = (
            counts.slice(common)
            .group_by("count")
            .agg(pl.len().cast(pl.Int64).alias("values"))
            .sort("count")
            .head(rare)
            .sort("count", descending=True)
            .select(pl.lit(None, pl.String).alias("value"), "count", "values")
        )
        if mask_key is not None:
            listed = listed.with_columns(
                mask_column(listed.get_column("value"), key=mask_key)
            )
        frame = pl.concat([listed, grouped])
        freq = frame.get_column("count").to_numpy() / present
        parts.append(
            frame.select(
                pl.lit(f"{comp.name} ({column})" if several else comp.name).alias(
                    "comparison"
                ),
                "value",
                "values",
                "count",
                pl.Series("frequency", freq),
                pl.Series(
                    "weight", np.log2(m) - np.log2(np.maximum(freq, 1.0 / n_records))
                ),
                pl.lit(float(np.log2(m) - np.log2(u))).alias("base_weight"),
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={
                "comparison": pl.String,
                "value": pl.String,
                "values": pl.Int64,
                "count": pl.Int64,
                "frequency": pl.Float64,
                "weight": pl.Float64,
                "base_weight": pl.Float64,
            }
        )
    return pl.concat(parts)


# --------------------------------------------------------------------------- #
# classifier importance per comparison
# --------------------------------------------------------------------------- #
def comparison_importance(
    scorer: ClassifierScorer,
    vectors: pl.DataFrame,
    y: Sequence[bool] | np.ndarray | pl.Series,
    *,
    n_repeats: int = 3,
    max_rows: int = 5_000,
    seed: int = 0,
) -> pl.DataFrame:
    """Permutation importance of each comparison: all its features at once.

    Each comparison's gamma level, raw similarity and Fellegi-Sunter
    contribution are shuffled together (one permutation of the rows) and,
    when the classifier is stacked, ``fs_match_weight`` is recomputed with
    the shuffled contribution, so a field's evidence cannot hide in the
    stacked weight as it does when features are permuted one at a time.

    Parameters
    ----------
    scorer
        A fitted classifier.
    vectors
        Comparison vectors of labelled pairs (with ``sim_`` columns).
    y
        Whether each pair is a match.
    n_repeats
        Permutations per comparison.
    max_rows
        Measure on a seeded sample of at most this many pairs.
    seed
        Seed of the sample and the permutations.

    Returns
    -------
    polars.DataFrame
        ``comparison``, ``importance`` (mean drop in average precision) and
        ``std``, most important first.
    """
    from sklearn.metrics import average_precision_score

    from er_toolkit.score.classifier import FS_WEIGHT

    target = np.asarray(y, dtype=bool)
    if target.size != vectors.height:
        raise SchemaError(
            f"comparison_importance needs one label per pair; got {target.size} "
            f"labels for {vectors.height} pairs."
        )
    rng = np.random.default_rng(seed)
    if vectors.height > max_rows:
        rows = np.sort(rng.choice(vectors.height, size=max_rows, replace=False))
        vectors, target = vectors[rows], target[rows]
    names = list(scorer.feature_names_)
    X = scorer.features(vectors).select(names).to_numpy().astype(np.float64)
    empty = pl.DataFrame(
        schema={"comparison": pl.String, "importance": pl.Float64, "std": pl.Float64}
    )
    if target.all() or not target.any():
        return empty

    def score(matrix: np.ndarray) -> float:
        return float(
            average_precision_score(target, scorer.model_.predict_proba(matrix)[:, 1])
        )

    base = score(X)
    fs_at = names.index(FS_WEIGHT) if FS_WEIGHT in names else None
    out = []
    for comp in scorer.comparisons:
        own = [schema.gamma(comp.name), schema.sim(comp.name), schema.bf(comp.name)]
        cols = [names.index(n) for n in own if n in names]
        if not cols:
            continue
        bf_at = names.index(own[2]) if own[2] in names else None
        drops = []
        for _ in range(n_repeats):
            perm = rng.permutation(X.shape[0])
            shuffled = X.copy()
            shuffled[:, cols] = X[perm][:, cols]
            if fs_at is not None and bf_at is not None:
                shuffled[:, fs_at] = X[:, fs_at] - X[:, bf_at] + X[perm, bf_at]
            drops.append(base - score(shuffled))
        out.append(
            {
                "comparison": comp.name,
                "importance": float(np.mean(drops)),
                "std": float(np.std(drops)),
            }
        )
    if not out:
        return empty
    return pl.DataFrame(out).sort("importance", descending=True)


# --------------------------------------------------------------------------- #
# records compared with themselves
# --------------------------------------------------------------------------- #
def self_match_scores(
    linker: Linker,
    records: pl.DataFrame,
    *,
    max_records: int | None = 100_000,
    seed: int = 0,
) -> pl.DataFrame:
    """Score each record against itself: the most a copy of it could weigh.

    Parameters
    ----------
    linker
        A fitted linker.
    records
        The records (with ``_row``).
    max_records
        Score a seeded sample of at most this many records (None: all).
    seed
        Seed of the sample.

    Returns
    -------
    polars.DataFrame
        ``_row``, ``record_id``, ``source``, ``match_weight``,
        ``match_probability``, one row per record scored.
    """
    rows = records.select(schema.ROW, schema.RECORD_ID, schema.SOURCE)
    if max_records is not None and rows.height > max_records:
        rows = rows.sample(max_records, seed=seed).sort(schema.ROW)
    pairs = rows.select(
        pl.col(schema.ROW).alias(schema.ROW_L), pl.col(schema.ROW).alias(schema.ROW_R)
    )
    vectors = compare_pairs(
        records,
        pairs,
        linker.config.comparisons,
        raw_similarity=linker.scorer_.needs_similarities,
        workers=linker.n_jobs,
    )
    scored = linker.scorer_.predict(vectors)
    return rows.with_columns(
        scored.get_column(schema.MATCH_WEIGHT),
        scored.get_column(schema.MATCH_PROBABILITY),
    )


# --------------------------------------------------------------------------- #
# explained pairs
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class ExplainedPair:
    """One pair, why it was picked, and how each comparison scored it.

    Attributes
    ----------
    summary
        ``record_id_l``, ``record_id_r``, ``source_l``, ``source_r``,
        ``blocked_by``, ``match_weight``, ``match_probability``,
        ``is_match`` (None without labels) and ``reason``.
    comparisons
        One row per comparison: ``comparison``, ``column``, ``value_l``,
        ``value_r`` (raw: mask before showing), ``level``, ``similarity``
        and ``bf`` (its Fellegi-Sunter contribution, bits; null without one).
    explained
        The pair's row of ``predict(..., explain=True)``, for
        :func:`er_toolkit.charts.waterfall_chart`.
    """

    summary: dict[str, Any]
    comparisons: pl.DataFrame
    explained: dict[str, Any] = field(default_factory=dict)


def _pick(
    scored: pl.DataFrame,
    *,
    threshold: float,
    n: int,
    seed: int,
) -> pl.DataFrame:
    """Choose up to ``n`` pairs worth explaining, each with a ``reason``."""
    p = schema.MATCH_PROBABILITY
    predicted = pl.col(p) >= threshold
    k = max(1, -(-n // (6 if schema.IS_MATCH in scored.columns else 4)))
    above = scored.filter(predicted)
    below = scored.filter(~predicted)

    def some(frame: pl.DataFrame, salt: int) -> pl.DataFrame:
        return frame.sample(min(frame.height, 4 * k), seed=seed + salt)

    groups: list[tuple[str, pl.DataFrame]] = []
    if schema.IS_MATCH in scored.columns:
        truth = pl.col(schema.IS_MATCH)
        groups += [
            (
                "false match: above the threshold, not a true pair",
                above.filter(~truth).top_k(4 * k, by=p),
            ),
            (
                "missed match: a true pair below the threshold",
                below.filter(truth).top_k(4 * k, by=p),
            ),
        ]
    groups += [
        ("just above the threshold", above.bottom_k(4 * k, by=p).sort(p)),
        ("just below the threshold", below.top_k(4 * k, by=p)),
        ("a match, at random", some(above, 0)),
        ("a non-match, at random", some(below, 1)),
    ]
    chosen: list[tuple[int, int, str]] = []
    seen: set[tuple[int, int]] = set()
    queues = [
        (reason, group.select(schema.ROW_L, schema.ROW_R).rows())
        for reason, group in groups
    ]
    # round after round, up to k from each group in the first; then fill up to n
    for quota in (k, n):
        for reason, queue in queues:
            taken = 0
            while queue and taken < quota and len(chosen) < n:
                row = queue.pop(0)
                if row not in seen:
                    seen.add(row)
                    chosen.append((row[0], row[1], reason))
                    taken += 1
    return pl.DataFrame(
        chosen,
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32, "reason": pl.String},
        orient="row",
    )


def explain_sample(
    linker: Linker,
    records: pl.DataFrame,
    scored: pl.DataFrame,
    *,
    truth: pl.DataFrame | None = None,
    n: int = 12,
    seed: int = 0,
) -> list[ExplainedPair]:
    """Pick up to ``n`` scored pairs worth a look and explain each comparison.

    With labels it takes false and missed matches first; then pairs just
    above and just below the threshold, and matches and non-matches at
    random.

    Parameters
    ----------
    linker
        The fitted linker.
    records
        The records.
    scored
        Its scored pairs (``_row_l``, ``_row_r``, ``match_probability``).
    truth
        True pairs, to find false and missed matches.
    n
        How many pairs at most.
    seed
        Seed of the random picks.

    Returns
    -------
    list of ExplainedPair
        Values are raw: the report masks them unless asked not to.
    """
    threshold = linker.threshold_
    frame = scored.select(schema.ROW_L, schema.ROW_R, schema.MATCH_PROBABILITY)
    if truth is not None:
        frame = label_pairs(frame, truth)
    picked = _pick(frame, threshold=threshold, n=n, seed=seed)
    if picked.height == 0:
        return []
    keep = [c for c in (schema.BLOCKED_BY,) if c in scored.columns]
    if truth is not None:
        picked = label_pairs(picked, truth)
    pairs = picked.join(
        scored.select(schema.ROW_L, schema.ROW_R, *keep),
        on=[schema.ROW_L, schema.ROW_R],
        how="left",
        maintain_order="left",
    )
    comparisons: Sequence[Comparison] = linker.config.comparisons
    vectors = compare_pairs(
        records, pairs, comparisons, raw_similarity=True, workers=linker.n_jobs
    )
    explained = linker.scorer_.predict(vectors, explain=True)
    ids = records.select(schema.ROW, schema.RECORD_ID, schema.SOURCE)
    out = []
    for i in range(pairs.height):
        vec = vectors.row(i, named=True)
        exp = explained.row(i, named=True)
        left = records.row(int(vec[schema.ROW_L]), named=True)
        right = records.row(int(vec[schema.ROW_R]), named=True)
        lines = []
        for comp in comparisons:
            gamma = vec[schema.gamma(comp.name)]
            lines.append(
                {
                    "comparison": comp.name,
                    "column": comp.column,
                    "value_l": None
                    if left.get(comp.column) is None
                    else str(left[comp.column]),
                    "value_r": None
                    if right.get(comp.column) is None
                    else str(right[comp.column]),
                    "level": "null"
                    if gamma == schema.NULL_LEVEL
                    else comp.level_labels[gamma],
                    "similarity": vec.get(schema.sim(comp.name)),
                    "bf": exp.get(schema.bf(comp.name)),
                }
            )
        summary = {
            schema.RECORD_ID_L: ids.item(int(vec[schema.ROW_L]), schema.RECORD_ID),
            schema.RECORD_ID_R: ids.item(int(vec[schema.ROW_R]), schema.RECORD_ID),
            schema.SOURCE_L: ids.item(int(vec[schema.ROW_L]), schema.SOURCE),
            schema.SOURCE_R: ids.item(int(vec[schema.ROW_R]), schema.SOURCE),
            schema.BLOCKED_BY: None if not keep else str(vec[schema.BLOCKED_BY]),
            schema.MATCH_WEIGHT: exp[schema.MATCH_WEIGHT],
            schema.MATCH_PROBABILITY: exp[schema.MATCH_PROBABILITY],
            schema.IS_MATCH: None,
            "reason": vec["reason"],
        }
        if truth is not None:
            summary[schema.IS_MATCH] = bool(vec[schema.IS_MATCH])
        out.append(
            ExplainedPair(
                summary=summary,
                comparisons=pl.DataFrame(
                    lines,
                    schema={
                        "comparison": pl.String,
                        "column": pl.String,
                        "value_l": pl.String,
                        "value_r": pl.String,
                        "level": pl.String,
                        "similarity": pl.Float64,
                        "bf": pl.Float64,
                    },
                ),
                explained=exp,
            )
        )
    return out
