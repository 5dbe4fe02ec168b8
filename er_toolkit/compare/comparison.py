"""A Comparison: ordered levels over one column, compiled to gamma arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from er_toolkit.compare.engine import RecordEncoding
from er_toolkit.compare.kernel import TF_PREFIX, compare_encoded, tf
from er_toolkit.compare.levels import (
    DistanceLevel,
    ExactLevel,
    Level,
    ScoredLevel,
    SimilarityLevel,
    level_from_dict,
    level_to_dict,
)
from er_toolkit.compare.pair_values import ColumnEncoding, ValueKind
from er_toolkit.compare.text_levels import TfidfCosineLevel
from er_toolkit.exceptions import ConfigError, SchemaError

__all__ = ["TF_PREFIX", "Comparison", "term_frequencies", "tf"]


@dataclass(frozen=True)
class Comparison:
    """Ordered levels over one column, most similar first.

    A pair gets gamma ``len(levels)`` at the first level, counting down to 1
    at the last; 0 when no level applies ("else"); -1 when either value is
    null or blank. A comparison with a level that reads numbers or dates
    (``numeric_difference``, ``date_difference``, ``date_swap``) reads the
    column as numbers or dates for all its levels: a value that does not
    parse is null too, so ("2001-01-02", "not a date") is -1 even at an
    exact or edit-distance level of the same comparison.

    Parameters
    ----------
    name
        Used in column names (``gamma_<name>``, ``sim_<name>``).
    column
        The records column compared.
    levels
        The levels, most similar first.
    date_format
        ``strptime`` format of string dates, for date levels; ``None`` reads
        ISO ``YYYY-MM-DD``.
    """

    name: str
    column: str
    levels: tuple[Level, ...]
    date_format: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))
        if not self.levels:
            raise ConfigError(f"Comparison {self.name!r} needs at least one level.")
        if not self.name.isidentifier():
            raise ConfigError(
                f"A comparison's name must be an identifier (letters, digits, _); "
                f"got {self.name!r}."
            )
        tokenisers = {
            (lvl.tokens, lvl.q)
            for lvl in self.levels
            if isinstance(lvl, TfidfCosineLevel)
        }
        if len(tokenisers) > 1:
            raise ConfigError(
                f"The tfidf_cosine levels of comparison {self.name!r} must share "
                f"their tokens (one IDF per comparison); got {sorted(tokenisers)}. "
                "Split them into two comparisons."
            )

    @property
    def n_levels(self) -> int:
        """Number of non-null levels, the else level included."""
        return len(self.levels) + 1

    @property
    def level_labels(self) -> list[str]:
        """Label of each gamma value 0 .. ``len(levels)`` (else first)."""
        return ["else", *[lvl.label for lvl in reversed(self.levels)]]

    @property
    def tf_gamma(self) -> int | None:
        """The gamma value of the term-frequency adjusted exact level, if any."""
        for i, lvl in enumerate(self.levels):
            if isinstance(lvl, ExactLevel) and lvl.term_frequency:
                return len(self.levels) - i
        return None

    @property
    def similarity_level(self) -> ScoredLevel | None:
        """The first level with a raw similarity: the one ``sim_<name>`` reports."""
        for lvl in self.levels:
            if isinstance(lvl, ScoredLevel):
                return lvl
        return None

    @property
    def similarity_comparator(self) -> str | None:
        """What the raw similarity is: the string comparator, or the level kind; None if none."""
        lvl = self.similarity_level
        if lvl is None:
            return None
        if isinstance(lvl, (SimilarityLevel, DistanceLevel)):
            return lvl.comparator
        return lvl.kind

    @property
    def tfidf_tokens(self) -> tuple[str, int] | None:
        """The tokens (kind, q) of its TF-IDF levels, whose document frequencies it needs."""
        for lvl in self.levels:
            if isinstance(lvl, TfidfCosineLevel):
                return (lvl.tokens, lvl.q)
        return None

    @property
    def reads(self) -> frozenset[ValueKind]:
        """How the levels read the values (``"text"``, ``"number"``, ``"date"``)."""
        return frozenset(lvl.reads for lvl in self.levels)

    @property
    def cutoffs(self) -> tuple[dict[str, float], dict[str, int]]:
        """The loosest similarity and distance any level asks about, per comparator."""
        sims: dict[str, float] = {}
        dists: dict[str, int] = {}
        for lvl in self.levels:
            if isinstance(lvl, SimilarityLevel):
                sims[lvl.comparator] = min(
                    sims.get(lvl.comparator, 1.0), lvl.min_similarity
                )
            elif isinstance(lvl, DistanceLevel):
                dists[lvl.comparator] = max(
                    dists.get(lvl.comparator, 0), lvl.max_distance
                )
        return sims, dists

    def compare(
        self,
        records: pl.DataFrame,
        rows_l: np.ndarray,
        rows_r: np.ndarray,
        *,
        encoding: RecordEncoding | None = None,
        raw_similarity: bool = True,
        workers: int = -1,
    ) -> dict[str, np.ndarray]:
        """Return gamma (and sim, tf where they apply) arrays for the pairs.

        The polars engine's entry to :func:`~er_toolkit.compare.kernel.compare_encoded`:
        values come from the encoding of the whole records column, so each
        distinct value is encoded once for any number of pair sets.

        Parameters
        ----------
        records
            The records frame, indexed by ``_row``.
        rows_l, rows_r
            Row numbers of each pair's records.
        encoding
            Column encodings of ``records`` to reuse across calls.
        raw_similarity
            Return ``sim_<name>``; without it, comparators may stop early
            below the loosest threshold, which is faster (the gamma levels
            are the same).
        workers
            Threads each rapidfuzz call uses; -1 uses every core.

        Returns
        -------
        dict
            ``gamma_<name>`` (int8), and ``sim_<name>`` (float32) where the
            comparison has a string comparator and ``raw_similarity`` is set,
            ``tf_<name>`` (float32) where it has a term-frequency adjusted
            exact level.
        """
        if self.column not in records.columns:
            raise SchemaError(
                f"Comparison {self.name!r} needs column {self.column!r}; the records "
                f"have {records.columns}."
            )
        if encoding is None:
            encoding = RecordEncoding(records)
        column = encoding.column(self.column, date_format=self.date_format)
        return compare_encoded(
            self,
            column,
            rows_l,
            rows_r,
            term_frequency=(
                None if self.tf_gamma is None else column.term_frequency[rows_l]
            ),
            raw_similarity=raw_similarity,
            workers=workers,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration as a plain dict (JSON and TOML friendly)."""
        out: dict[str, Any] = {
            "name": self.name,
            "column": self.column,
            "levels": [level_to_dict(lvl) for lvl in self.levels],
        }
        if self.date_format is not None:
            out["date_format"] = self.date_format
        return out

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Comparison:
        """Build a comparison from :meth:`to_dict`'s output or a config table."""
        valid = {"name", "column", "levels", "date_format"}
        unknown = sorted(set(spec) - valid)
        if unknown:
            raise ConfigError(
                f"Unknown key(s) {unknown} in a comparison; valid keys are "
                f"{sorted(valid)}."
            )
        missing = [k for k in ("name", "levels") if k not in spec]
        if missing:
            raise ConfigError(f"A comparison needs {missing}; got {sorted(spec)}.")
        return cls(
            name=spec["name"],
            column=spec.get("column", spec["name"]),
            levels=tuple(level_from_dict(lvl) for lvl in spec["levels"]),
            date_format=spec.get("date_format"),
        )


def term_frequencies(values: pl.Series) -> np.ndarray:
    """Return each record's value frequency among the non-null values (NaN if null).

    Examples
    --------
    >>> term_frequencies(pl.Series(["a", "a", "b", None])).round(3).tolist()
    [0.667, 0.667, 0.333, nan]
    """
    return ColumnEncoding(values).term_frequency
