"""A blocking analysis: pairs per blocker, what each adds, reduction ratio and recall."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from er_toolkit import schema
from er_toolkit.schema import LinkType

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BlockingReport"]


@dataclass(frozen=True, eq=False)
class BlockingReport:
    """How blocking cut the comparisons down, and (with labels) what it kept.

    Made by :meth:`Linker.analyse_blocking <er_toolkit.Linker.analyse_blocking>`;
    it shows itself as a table in Jupyter.

    Attributes
    ----------
    table
        One row per blocker, in priority order: ``blocked_by``, ``pairs``
        (its own count) and, once the pairs are made, ``new_pairs`` (those
        no earlier blocker produced) and ``cumulative_pairs``; with labels
        also ``new_true_pairs`` and ``cumulative_recall``.
    n_records
        Records blocked.
    link_type
        ``"dedupe"``, ``"link"`` or ``"link_and_dedupe"``.
    possible_pairs
        Pairs a comparison of everything with everything would score.
    candidate_pairs
        Pairs the union of the blockers produced (None before blocking).
    recall
        Share of the true pairs among the candidates: pair completeness
        (None without labels).
    largest_blocks
        Per key blocker its largest blocks (``blocked_by``, ``_block_key``,
        ``records``, ``pairs``, ``purged``), when
        :func:`~er_toolkit.blocking.analyse_blocking` made the report.
    true_pairs
        Labelled true pairs (None without labels).

    Examples
    --------
    >>> table = pl.DataFrame({"blocked_by": ["surname"], "pairs": [10]})
    >>> report = BlockingReport(table, n_records=100, link_type="dedupe",
    ...                         possible_pairs=4950, candidate_pairs=10)
    >>> round(report.reduction_ratio, 4)
    0.998
    >>> report
    BlockingReport(dedupe, 100 records, 1 blocker: 10 candidate pairs of 4,950 (reduction ratio 0.998))
    """

    table: pl.DataFrame
    n_records: int
    link_type: LinkType
    possible_pairs: int
    candidate_pairs: int | None = None
    recall: float | None = None
    largest_blocks: pl.DataFrame | None = None
    true_pairs: int | None = None

    @property
    def rules(self) -> pl.DataFrame:
        """The per-blocker table (the same as :attr:`table`)."""
        return self.table

    @property
    def pair_completeness(self) -> float | None:
        """Share of true pairs the union of blockers keeps (None without labels)."""
        return self.recall

    def to_markdown(self) -> str:
        """Return the per-blocker table as markdown."""
        head = "| " + " | ".join(self.table.columns) + " |"
        rule = "|" + "---|" * len(self.table.columns)
        rows = [
            "| "
            + " | ".join(
                f"{v:.4f}"
                if isinstance(v, float)
                else f"{v:,}"
                if isinstance(v, int)
                else str(v)
                for v in row
            )
            + " |"
            for row in self.table.iter_rows()
        ]
        return "\n".join([head, rule, *rows])

    @property
    def reduction_ratio(self) -> float | None:
        """1 - candidate pairs / possible pairs (None before blocking)."""
        if self.candidate_pairs is None:
            return None
        return 1.0 - self.candidate_pairs / max(self.possible_pairs, 1)

    def chart(self) -> Figure:
        """Return the blocking chart (:func:`er_toolkit.charts.blocking_chart`)."""
        from er_toolkit.charts import blocking_chart

        return blocking_chart(self.table)

    def _headline(self) -> str:
        blockers = self.table.height
        head = (
            f"{self.link_type}, {self.n_records:,} records, {blockers} "
            f"blocker{'s' if blockers != 1 else ''}"
        )
        if self.candidate_pairs is None:
            own = int(self.table.get_column("pairs").sum())
            return f"{head}: {own:,} pairs before de-duplication"
        text = (
            f"{head}: {self.candidate_pairs:,} candidate pairs of "
            f"{self.possible_pairs:,} (reduction ratio {self.reduction_ratio:.4g})"
        )
        if self.recall is not None:
            text += f", recall {self.recall:.4f}"
        return text

    def __repr__(self) -> str:
        return f"BlockingReport({self._headline()})"

    def _repr_html_(self) -> str:
        from er_toolkit.display import html_summary

        facts: list[tuple[str, object]] = [
            ("link type", self.link_type),
            ("records", self.n_records),
            ("possible pairs", self.possible_pairs),
        ]
        if self.candidate_pairs is not None:
            facts += [
                ("candidate pairs", self.candidate_pairs),
                ("reduction ratio", self.reduction_ratio),
            ]
        if self.recall is not None:
            facts.append(("recall (pair completeness)", self.recall))
        table = self.table.with_columns(pl.col(schema.BLOCKED_BY).cast(pl.String))
        return html_summary(
            "Blocking report", facts, tables=[("per blocker, in priority order", table)]
        )
