"""Small, escaped HTML summaries for Jupyter (``_repr_html_``) and short text reprs.

Every value is escaped; record values never reach these summaries (they
show declarations, counts, probabilities and metrics).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Final

import polars as pl

__all__ = ["format_value", "html_summary", "html_table"]

_STYLE: Final = (
    "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;"
    "line-height:1.35;max-width:60em"
)
_TABLE: Final = "border-collapse:collapse;margin:4px 0 8px 0"
_CELL: Final = "padding:2px 10px 2px 0;text-align:left;vertical-align:top"
_NUM: Final = (
    "padding:2px 10px 2px 0;text-align:right;font-variant-numeric:tabular-nums"
)
_WARN: Final = "color:#9a3412;background:#fff7ed;padding:3px 6px;margin:4px 0"


def format_value(value: object) -> str:
    """Write a number the way a reader scans it: 1,234 and 0.9988 and 2.1e-06.

    Examples
    --------
    >>> format_value(1234), format_value(0.99876543), format_value(2.1e-6)
    ('1,234', '0.9988', '2.1e-06')
    >>> format_value(None), format_value("x")
    ('', 'x')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2g}"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _e(value: object) -> str:
    return html.escape(format_value(value))


def html_table(frame: pl.DataFrame, *, max_rows: int = 40) -> str:
    """Return ``frame`` as a small escaped HTML table (at most ``max_rows`` rows).

    Examples
    --------
    >>> print(html_table(pl.DataFrame({"a": ["<b>"]})))  # doctest: +ELLIPSIS
    <table ...><thead><tr><th ...>a</th></tr></thead><tbody><tr><td ...>&lt;b&gt;</td></tr></tbody></table>
    """
    numeric = [dtype.is_numeric() for dtype in frame.dtypes]
    head = "".join(
        f'<th style="{_NUM if n else _CELL}">{html.escape(c)}</th>'
        for c, n in zip(frame.columns, numeric, strict=True)
    )
    rows = []
    for row in frame.head(max_rows).iter_rows():
        cells = "".join(
            f'<td style="{_NUM if n else _CELL}">{_e(v)}</td>'
            for v, n in zip(row, numeric, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    more = frame.height - max_rows
    if more > 0:
        rows.append(
            f'<tr><td colspan="{frame.width}" style="{_CELL}"><i>… {more:,} more '
            "rows</i></td></tr>"
        )
    return (
        f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def html_summary(
    title: str,
    facts: Sequence[tuple[str, object]] = (),
    *,
    tables: Sequence[tuple[str, pl.DataFrame]] = (),
    warnings: Sequence[str] = (),
    details: Sequence[tuple[str, str]] = (),
) -> str:
    """Return a titled block: a fact list, warnings, tables, and folded extras.

    Parameters
    ----------
    title
        The heading (the object's kind and name).
    facts
        (label, value) pairs, shown as a two-column list.
    tables
        (caption, frame) pairs.
    warnings
        Lines shown highlighted (suspicious parameters, missing labels).
    details
        (summary, HTML) pairs shown folded; the HTML is inserted as given,
        so it must already be escaped.

    Examples
    --------
    >>> out = html_summary("Linker <x>", [("link type", "dedupe")])
    >>> "Linker &lt;x&gt;" in out and "dedupe" in out
    True
    """
    parts = [f'<div style="{_STYLE}"><b>{html.escape(title)}</b>']
    if facts:
        rows = "".join(
            f'<tr><td style="{_CELL};color:#555">{html.escape(label)}</td>'
            f'<td style="{_CELL}">{_e(value)}</td></tr>'
            for label, value in facts
        )
        parts.append(f'<table style="{_TABLE}"><tbody>{rows}</tbody></table>')
    parts.extend(f'<div style="{_WARN}">⚠ {html.escape(w)}</div>' for w in warnings)
    for caption, frame in tables:
        parts.append(f"<div><i>{html.escape(caption)}</i></div>{html_table(frame)}")
    for summary, inner in details:
        parts.append(
            f"<details><summary>{html.escape(summary)}</summary>{inner}</details>"
        )
    parts.append("</div>")
    return "".join(parts)
