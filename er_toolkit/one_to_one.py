"""A one-to-one link constraint: each record links to at most one record of each other source."""

from __future__ import annotations

from typing import Final, Literal, get_args

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix, csgraph

from er_toolkit import schema
from er_toolkit.config_values import choice
from er_toolkit.exceptions import ConfigError, SchemaError

__all__ = [
    "ONE_TO_ONE_METHODS",
    "OneToOne",
    "one_to_one_links",
    "one_to_one_mask",
]

OneToOne = Literal["off", "greedy", "assignment"]
"""``greedy``: best link first; ``assignment``: the largest total weight."""
ONE_TO_ONE_METHODS: Final[tuple[OneToOne, ...]] = get_args(OneToOne)

_WEIGHT_CAP: Final = 60.0
"""Match weights (bits) are capped here: a probability of 1 is not infinite evidence."""
_MIN_WEIGHT: Final = 1e-6


def _ranks(score: np.ndarray) -> np.ndarray:
    """Rank links best first (highest score; ties by position): a strict order."""
    order = np.lexsort((np.arange(score.size), -score))
    rank = np.empty(score.size, dtype=np.int64)
    rank[order] = np.arange(score.size)
    return rank


def one_to_one_mask(
    slot_l: np.ndarray,
    slot_r: np.ndarray,
    score: np.ndarray,
) -> np.ndarray:
    """Return which links greedy best-first matching keeps.

    Links are taken best first (highest ``score``, ties by position); a link
    is kept when neither of its two slots (``slot_l[i]``, ``slot_r[i]``:
    integers naming "record r's link into source s") is taken yet. The same
    answer comes in rounds without a loop per link: every round keeps the
    links that are the best remaining link of both their slots (the best
    remaining link overall always is one), then drops the links those slots
    close.

    Examples
    --------
    >>> one_to_one_mask(np.array([0, 0, 1]), np.array([2, 3, 3]), np.array([0.9, 0.8, 0.7]))
    array([ True, False,  True])
    """
    m = score.size
    chosen = np.zeros(m, dtype=bool)
    if m == 0:
        return chosen
    _, slots = np.unique(np.concatenate([slot_l, slot_r]), return_inverse=True)
    left, right = slots[:m], slots[m:]
    rank = _ranks(np.asarray(score, dtype=np.float64))
    best = np.full(int(slots.max()) + 1, m, dtype=np.int64)
    closed = np.zeros(best.size, dtype=bool)
    active = np.arange(m)
    while active.size:
        al, ar, rk = left[active], right[active], rank[active]
        best[al] = m
        best[ar] = m
        np.minimum.at(best, al, rk)
        np.minimum.at(best, ar, rk)
        won = active[(best[al] == rk) & (best[ar] == rk)]
        chosen[won] = True
        closed[left[won]] = True
        closed[right[won]] = True
        active = active[~(closed[left[active]] | closed[right[active]])]
    return chosen


def _assignment_mask(
    left: np.ndarray, right: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Keep the links of a largest-total-weight matching, one component at a time."""
    # scipy.optimize only here: importing it costs a job that never asks for
    # "assignment" a few tenths of a second
    from scipy.optimize import linear_sum_assignment

    m = weight.size
    chosen = np.zeros(m, dtype=bool)
    if m == 0:
        return chosen
    lu, li = np.unique(left, return_inverse=True)
    ru, ri = np.unique(right, return_inverse=True)
    n_l = lu.size
    graph = coo_matrix(
        (np.ones(m), (li, n_l + ri)), shape=(n_l + ru.size, n_l + ru.size)
    )
    _, comp = csgraph.connected_components(graph, directed=False)
    link_comp = comp[li]
    order = np.argsort(link_comp, kind="stable")
    bounds = np.flatnonzero(np.diff(link_comp[order])) + 1
    for links in np.split(order, bounds):
        if links.size == 1:
            chosen[links] = True
            continue
        rows, rpos = np.unique(li[links], return_inverse=True)
        cols, cpos = np.unique(ri[links], return_inverse=True)
        # unlinked cells cost more than leaving both records unmatched
        cost = np.zeros((rows.size, cols.size))
        cost[rpos, cpos] = -weight[links]
        r, c = linear_sum_assignment(cost)
        cell = np.full((rows.size, cols.size), -1, dtype=np.int64)
        cell[rpos, cpos] = links
        picked = cell[r, c]
        chosen[picked[picked >= 0]] = True
    return chosen


def one_to_one_links(
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    *,
    threshold: float,
    method: OneToOne = "greedy",
    score_column: str = schema.MATCH_PROBABILITY,
) -> pl.DataFrame:
    """Drop the links a one-to-one constraint rules out; other pairs stay as they are.

    A link is a pair scored at or above ``threshold``. Each record may keep
    at most one link to the records of each other source (and one to its
    own source, where pairs within a source exist), which is right when
    every source holds each entity once (two restaurant guides, two shops'
    catalogues). It uses the scores only, never labels.

    ``method``: ``"greedy"`` keeps links best first (highest score), each
    while neither record already holds a link to the other's source;
    ``"assignment"`` keeps, within each group of linked records, the links
    of the matching with the largest total match weight (log2 odds of the
    probability, capped at 60 bits, at least 1e-6; scipy's
    ``linear_sum_assignment``): two good links can then beat one best one. ``assignment`` needs every
    link between two sources. ``"off"`` returns ``pairs`` unchanged.

    Parameters
    ----------
    records
        ``_row`` and ``source`` of every record the pairs name.
    pairs
        ``_row_l``, ``_row_r`` and ``score_column``.
    threshold
        Pairs scored at least this are links.
    method
        One of :data:`ONE_TO_ONE_METHODS`.
    score_column
        ``match_probability`` or ``match_weight``.

    Returns
    -------
    polars.DataFrame
        ``pairs`` without the links the constraint drops, in their order.

    Raises
    ------
    ConfigError
        If ``method`` is not one of :data:`ONE_TO_ONE_METHODS`, or
        ``assignment`` meets links within one source.
    SchemaError
        If a frame lacks a column or a pair names a row ``records`` lacks.

    Examples
    --------
    >>> records = pl.DataFrame({"_row": [0, 1, 2], "source": ["a", "b", "b"]})
    >>> pairs = pl.DataFrame(
    ...     {"_row_l": [0, 0], "_row_r": [1, 2], "match_probability": [0.7, 0.9]}
    ... )
    >>> one_to_one_links(records, pairs, threshold=0.5).rows()
    [(0, 2, 0.9)]
    """
    choice(method, "one_to_one", ONE_TO_ONE_METHODS)
    if method == "off":
        return pairs
    for frame, columns, name in (
        (records, (schema.ROW, schema.SOURCE), "records"),
        (pairs, (schema.ROW_L, schema.ROW_R, score_column), "pairs"),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise SchemaError(
                f"{name} lack column(s) {missing} that a one-to-one constraint "
                f"needs; found {frame.columns}."
            )
    if pairs.height == 0:
        return pairs
    sources = records.select(
        pl.col(schema.ROW).cast(pl.Int64),
        pl.col(schema.SOURCE).cast(pl.String).cast(pl.Categorical).to_physical(),
    )
    row = sources.get_column(schema.ROW).to_numpy()
    code_of = np.full(int(row.max()) + 1 if row.size else 0, -1, dtype=np.int64)
    code_of[row] = sources.get_column(schema.SOURCE).to_numpy()
    n_codes = int(code_of.max()) + 1 if code_of.size else 1
    score = pl.col(score_column).cast(pl.Float64)
    numbered = pairs.with_row_index("_link")
    links = numbered.filter(score.is_not_nan() & (score >= threshold)).select(
        "_link",
        pl.col(schema.ROW_L).cast(pl.Int64),
        pl.col(schema.ROW_R).cast(pl.Int64),
        score,
    )
    if links.height == 0:
        return pairs
    left = links.get_column(schema.ROW_L).to_numpy()
    right = links.get_column(schema.ROW_R).to_numpy()
    if (
        max(left.max(), right.max()) >= code_of.size
        or ((code_of[left] < 0) | (code_of[right] < 0)).any()
    ):
        raise SchemaError(
            "pairs refer to rows the records frame lacks; score the pairs of "
            "these same records."
        )
    values = links.get_column(score_column).to_numpy()
    if method == "greedy":
        keep = one_to_one_mask(
            left * n_codes + code_of[right], right * n_codes + code_of[left], values
        )
    else:
        if (code_of[left] == code_of[right]).any():
            raise ConfigError(
                "one_to_one = 'assignment' matches the records of two sources; "
                "found links within one source. Use 'greedy'."
            )
        if score_column == schema.MATCH_PROBABILITY:
            p = np.clip(values, 1e-300, 1.0)
            with np.errstate(divide="ignore"):
                weight = np.log2(p) - np.log2(np.clip(1.0 - p, 0.0, 1.0))
        else:
            weight = values
        # rows of one source on one side, whichever column of the pair they are in
        swap = code_of[left] > code_of[right]
        side_a = (
            np.where(swap, right, left) * n_codes + code_of[np.where(swap, left, right)]
        )
        side_b = (
            np.where(swap, left, right) * n_codes + code_of[np.where(swap, right, left)]
        )
        # a link below 0 bits (a threshold under 0.5) is still a link: barely worth it
        weight = np.clip(weight, _MIN_WEIGHT, _WEIGHT_CAP)
        keep = _assignment_mask(side_a, side_b, weight)
    dropped = links.get_column("_link").filter(pl.Series(~keep))
    return numbered.filter(~pl.col("_link").is_in(dropped.implode())).drop("_link")
