"""Labelled training pairs for supervised scorers: from truth, pair lists and blocking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.evaluate import true_pairs_from_list
from er_toolkit.exceptions import LabelError, SchemaError
from er_toolkit.pairs import (
    is_match_expr,
    pair_key,
    rows_from_key,
    standard_pair_columns,
)
from er_toolkit.schema import LinkType

__all__ = [
    "TrainingPairs",
    "labelled_pairs_from_list",
    "split_validation",
    "training_pairs",
]

_KEY = schema.PAIR_KEY


def labelled_pairs_from_list(
    records: pl.DataFrame, labels: pl.DataFrame, *, link_type: LinkType
) -> pl.DataFrame:
    """Resolve a labelled pair list to row pairs, keeping both classes.

    Parameters
    ----------
    records
        The records frame (``_row``, ``record_id``, ``source``).
    labels
        ``record_id_l``, ``record_id_r``, ``is_match`` and optionally
        ``source_l`` / ``source_r``. ``is_match`` is read by
        :func:`er_toolkit.pairs.is_match_expr` (boolean, 0/1, or text such
        as ``y``/``n``, ``true``/``false``, ``match``/``non-match``);
        anything else (``unsure``, empty) leaves the pair unlabelled, and it
        is dropped.
        When a pair is listed more than once the last label wins.

    Returns
    -------
    polars.DataFrame
        ``_row_l`` < ``_row_r`` (UInt32) and ``is_match`` (Boolean).

    Raises
    ------
    SchemaError
        If a column is missing or an id is not in ``records``.

    Examples
    --------
    >>> records = pl.DataFrame({"_row": [0, 1, 2], "record_id": ["a", "b", "c"],
    ...                         "source": ["s", "s", "s"]})
    >>> labels = pl.DataFrame({"record_id_l": ["b", "a", "a"],
    ...                        "record_id_r": ["a", "c", "b"],
    ...                        "is_match": ["y", "unsure", "n"]})
    >>> labelled_pairs_from_list(records, labels, link_type="dedupe").rows()
    [(0, 1, False)]
    """
    labels = standard_pair_columns(labels)
    parsed = (
        labels.with_row_index("__order")
        .with_columns(is_match_expr(labels).alias("__label"))
        .filter(pl.col("__label").is_not_null())
    )
    # A pair listed more than once: its last label wins.
    ids = [
        pl.col(schema.RECORD_ID_L).cast(pl.String),
        pl.col(schema.RECORD_ID_R).cast(pl.String),
    ]
    if schema.SOURCE_L in labels.columns or link_type == "link":
        key = [
            *ids,
            *[
                pl.col(c)
                for c in (schema.SOURCE_L, schema.SOURCE_R)
                if c in labels.columns
            ],
        ]
    else:
        key = [pl.min_horizontal(ids), pl.max_horizontal(ids)]
    parsed = parsed.with_columns(
        pl.struct([k.alias(f"__k{i}") for i, k in enumerate(key)]).alias("__key")
    ).unique("__key", keep="last", maintain_order=True)
    parts = []
    for value in (True, False):
        chosen = parsed.filter(pl.col("__label") == value).drop(
            schema.IS_MATCH, "__label", "__key", "__order"
        )
        rows = true_pairs_from_list(records, chosen, link_type=link_type)
        parts.append(rows.with_columns(pl.lit(value).alias(schema.IS_MATCH)))
    return (
        pl.concat(parts)
        .unique([schema.ROW_L, schema.ROW_R], keep="first", maintain_order=True)
        .sort(schema.ROW_L, schema.ROW_R)
    )


@dataclass(frozen=True)
class TrainingPairs:
    """Labelled pairs to train a supervised scorer on.

    Attributes
    ----------
    pairs
        ``_row_l``, ``_row_r``, ``blocked_by`` (null for a labelled pair
        blocking did not produce).
    y
        Whether each pair is a match.
    labelled_matches_missed_by_blocking
        Labelled matches that are not among the candidate pairs (added to
        ``pairs`` so the scorer sees them, but clustering will never reach
        them: a blocking recall problem).
    """

    pairs: pl.DataFrame
    y: np.ndarray
    labelled_matches_missed_by_blocking: int

    @property
    def report(self) -> dict[str, float]:
        """Counts for logs and MLflow."""
        return {
            "training_pairs": float(self.pairs.height),
            "training_matches": float(self.y.sum()),
            "labelled_matches_missed_by_blocking": float(
                self.labelled_matches_missed_by_blocking
            ),
        }


def training_pairs(
    candidate_pairs: pl.DataFrame,
    *,
    true_pairs: pl.DataFrame | None = None,
    labelled_pairs: pl.DataFrame | None = None,
) -> TrainingPairs:
    """Label candidate pairs for training.

    Two kinds of labels, usable together:

    - ``true_pairs``, complete truth (every true pair, as from an entity-id
      column): every candidate pair is labelled, a match when it is in the
      truth; true pairs blocking missed are added as matches.
    - ``labelled_pairs``, partial labels (a reviewed pair list with
      ``is_match``, as from ``python -m er_toolkit.label``): only the listed
      pairs are labelled. They override the truth where both label a pair.

    Parameters
    ----------
    candidate_pairs
        The blocked pairs (``_row_l``, ``_row_r``, ``blocked_by``), so the
        scorer learns the distribution it will score.
    true_pairs
        ``_row_l``, ``_row_r`` of every true pair.
    labelled_pairs
        ``_row_l``, ``_row_r``, ``is_match``.

    Returns
    -------
    TrainingPairs
        The pairs, their labels and how many labelled matches blocking missed.

    Examples
    --------
    >>> cand = pl.DataFrame({"_row_l": [0, 0, 1], "_row_r": [1, 2, 2],
    ...                      "blocked_by": ["a", "a", "b"]})
    >>> truth = pl.DataFrame({"_row_l": [0, 3], "_row_r": [1, 4]})
    >>> t = training_pairs(cand, true_pairs=truth)
    >>> t.pairs.rows(), t.y.tolist(), t.labelled_matches_missed_by_blocking
    ([(0, 1, 'a'), (0, 2, 'a'), (1, 2, 'b'), (3, 4, None)], [True, False, False, True], 1)
    """
    if true_pairs is None and labelled_pairs is None:
        raise LabelError(
            "Training a supervised scorer needs labels: an entity-id column or a pair "
            "list ([evaluation] entity_column / pairs_path, or [training] "
            "labels_path); got none."
        )
    cand = candidate_pairs.select(
        pl.col(schema.ROW_L).cast(pl.UInt32),
        pl.col(schema.ROW_R).cast(pl.UInt32),
        (
            pl.col(schema.BLOCKED_BY)
            if schema.BLOCKED_BY in candidate_pairs.columns
            else pl.lit(None, pl.String).alias(schema.BLOCKED_BY)
        ),
    ).with_columns(pair_key())
    labels: list[pl.DataFrame] = []
    if true_pairs is not None:
        truth = true_pairs.select(pair_key()).unique()
        labelled = cand.join(
            truth.with_columns(pl.lit(True).alias(schema.IS_MATCH)), on=_KEY, how="left"
        ).with_columns(pl.col(schema.IS_MATCH).fill_null(False))
        missed = truth.join(cand, on=_KEY, how="anti")
        labels.append(labelled)
        labels.append(
            _from_keys(missed, is_match=True, dtype=cand.schema[schema.BLOCKED_BY])
        )
    if labelled_pairs is not None:
        if schema.IS_MATCH not in labelled_pairs.columns:
            raise SchemaError(
                f"labelled_pairs needs an {schema.IS_MATCH!r} column; its columns "
                f"are {labelled_pairs.columns}."
            )
        given = labelled_pairs.select(
            pair_key(), pl.col(schema.IS_MATCH).cast(pl.Boolean)
        ).unique(_KEY, keep="last")
        listed = given.join(
            cand.drop(schema.ROW_L, schema.ROW_R), on=_KEY, how="left"
        ).with_columns(rows_from_key())
        if labels:  # the reviewed labels override the truth
            labels = [f.join(given, on=_KEY, how="anti") for f in labels]
        labels.append(listed)
    columns = [schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY, schema.IS_MATCH, _KEY]
    everything = pl.concat([f.select(columns) for f in labels]).sort(
        pl.col(schema.BLOCKED_BY).is_null(), schema.ROW_L, schema.ROW_R
    )
    n_missed = everything.filter(
        pl.col(schema.IS_MATCH) & pl.col(schema.BLOCKED_BY).is_null()
    ).height
    if not candidate_pairs.height:
        n_missed = int(everything.get_column(schema.IS_MATCH).sum())
    return TrainingPairs(
        pairs=everything.select(schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY),
        y=everything.get_column(schema.IS_MATCH).to_numpy().astype(bool),
        labelled_matches_missed_by_blocking=n_missed,
    )


def _from_keys(
    keys: pl.DataFrame, *, is_match: bool, dtype: pl.DataType
) -> pl.DataFrame:
    return keys.with_columns(
        *rows_from_key(),
        pl.lit(None, dtype).alias(schema.BLOCKED_BY),
        pl.lit(is_match).alias(schema.IS_MATCH),
    )


def split_validation(
    n: int, y: np.ndarray, *, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (fit, validation) positions: a stratified, seeded hold-out.

    Examples
    --------
    >>> fit, valid = split_validation(8, np.array([1, 0] * 4), fraction=0.25, seed=0)
    >>> len(fit), len(valid)
    (6, 2)
    """
    from sklearn.model_selection import train_test_split

    fit_rows, valid_rows = train_test_split(
        np.arange(n), test_size=fraction, stratify=y, random_state=seed
    )
    return np.sort(fit_rows), np.sort(valid_rows)
