"""A self-contained HTML page: charts as inline PNG, tables, explained pairs, all escaped."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import os
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from er_toolkit import __version__
from er_toolkit.report.inputs import ExplainedPair, mask_value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SECTIONS: Final = (
    ("run", "Run"),
    ("metrics", "Metrics"),
    ("quality", "Data quality"),
    ("blocking", "Blocking"),
    ("model", "Model"),
    ("evaluation", "Evaluation"),
    ("clusters", "Clusters"),
    ("pairs", "Explained pairs"),
    ("other", "Other"),
    ("config", "Configuration"),
)
"""The report's sections, in order: (anchor, heading)."""

FIGURE_SECTIONS: Final = {
    "completeness": "quality",
    "profile": "quality",
    "blocking": "blocking",
    "match_weights": "model",
    "term_frequency": "model",
    "feature_importance": "model",
    "precision_recall_threshold_choice": "model",
    "precision_recall": "evaluation",
    "threshold": "evaluation",
    "match_weight_histogram": "evaluation",
    "cluster_sizes": "clusters",
    "unlinkable": "clusters",
}
"""Which section a chart of each name goes in; others go in "Other"."""

TABLE_SECTIONS: Final = {
    "profile": "quality",
    "blocking": "blocking",
    "blocking_report": "blocking",
    "match_weights": "model",
    "term_frequency": "model",
    "feature_importance": "model",
    "comparison_importance": "model",
    "em_sessions": "model",
}
"""Which section a table of each name goes in; others go in "Other"."""

SENSITIVE_COLUMNS: Final = ("top_values",)
"""Table columns that hold record values: hidden unless values are shown."""

_CSS: Final = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       color: #222; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 1rem 2rem 4rem; background: #fff; }
nav { font-size: 0.9rem; margin: 0.5rem 0 1.5rem; }
nav a { margin-right: 1rem; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 2px solid #2a7ab0; padding-bottom: 0.2rem; margin-top: 2.5rem; }
h3 { margin-top: 1.6rem; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #555; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: left;
         vertical-align: top; white-space: nowrap; }
th { background: #f0f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
.note { font-size: 0.9rem; color: #555; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
details { margin: 1rem 0; border: 1px solid #ddd; padding: 0.5rem 1rem; }
summary { cursor: pointer; font-weight: 600; }
"""

_CSP: Final = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""No scripts, no fetches: the page shows its inline images and styles only."""


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """Return ``fig`` rendered as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: object) -> str:
    if value is None:
        return '<td class="num"></td>'
    if isinstance(value, bool):
        return f"<td>{_e(value)}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, float):
        text = "NaN" if math.isnan(value) else f"{value:.6g}"
        return f'<td class="num">{_e(text)}</td>'
    return f"<td>{_e(value)}</td>"


def table_html(
    frame: pl.DataFrame,
    *,
    max_rows: int = 200,
    hidden: Sequence[str] = (),
) -> str:
    """Return ``frame`` as an escaped HTML table (at most ``max_rows`` rows).

    Parameters
    ----------
    frame
        The table.
    max_rows
        Rows shown; a note says how many more there are.
    hidden
        Columns whose cells are replaced by a note that values are hidden.

    Examples
    --------
    >>> print(table_html(pl.DataFrame({"a": ["<b>"], "n": [1234]})))
    <div class="scroll"><table><thead><tr><th>a</th><th>n</th></tr></thead><tbody><tr><td>&lt;b&gt;</td><td class="num">1,234</td></tr></tbody></table></div>
    """
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.head(max_rows).iter_rows():
        cells = [
            "<td><i>hidden</i></td>" if name in hidden else _cell(value)
            for name, value in zip(frame.columns, row, strict=True)
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f'<p class="note">{frame.height - max_rows:,} more rows not shown.</p>'
        if frame.height > max_rows
        else ""
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{more}"
    )


def _figure_html(name: str, fig: Figure) -> str:
    data = base64.b64encode(figure_png(fig)).decode("ascii")
    caption = _caption(name, fig)
    return (
        f'<figure id="chart-{_e(name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'
    )


def _caption(name: str, fig: Figure) -> str:
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    if not title and fig.axes:
        title = fig.axes[0].get_title().split("\n")[0]
    return title or name.replace("_", " ")


def _key_values(items: Mapping[str, object]) -> str:
    frame = pl.DataFrame(
        {"name": list(items), "value": [_plain(v) for v in items.values()]},
        schema={"name": pl.String, "value": pl.String},
    )
    return table_html(frame, max_rows=10_000)


def _plain(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _pair_html(
    i: int, pair: ExplainedPair, *, show_values: bool, key: bytes, figure: Figure | None
) -> str:
    s = pair.summary
    heading = (
        f"Pair {i}: {s.get('record_id_l')} ({s.get('source_l')}) and "
        f"{s.get('record_id_r')} ({s.get('source_r')}): {s.get('reason')}"
    )
    facts = {
        "match weight (bits)": s.get("match_weight"),
        "match probability": s.get("match_probability"),
        "true pair (labels)": "unknown" if s.get("is_match") is None else s["is_match"],
        "blocked by": s.get("blocked_by"),
    }
    comparisons = pair.comparisons
    if not show_values:
        comparisons = comparisons.with_columns(
            pl.Series(
                "value_l",
                [mask_value(v, key=key) for v in comparisons["value_l"]],
                pl.String,
            ),
            pl.Series(
                "value_r",
                [mask_value(v, key=key) for v in comparisons["value_r"]],
                pl.String,
            ),
        )
    if comparisons.get_column("column").equals(comparisons.get_column("comparison")):
        comparisons = comparisons.drop("column")
    comparisons = comparisons.rename(
        {
            "value_l": "left value",
            "value_r": "right value",
            "bf": "weight (bits)",
        }
    )
    parts = [
        f"<details open><summary>{_e(heading)}</summary>",
        _key_values(facts),
        table_html(comparisons, max_rows=1_000),
    ]
    if figure is not None:
        parts.append(_figure_html(f"pair-{i}", figure))
    parts.append("</details>")
    return "".join(parts)


def build_report(
    *,
    title: str,
    facts: Mapping[str, object] | None = None,
    config: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    timings: Mapping[str, float] | None = None,
    figures: Mapping[str, Figure] | None = None,
    tables: Mapping[str, pl.DataFrame] | None = None,
    explained: Sequence[ExplainedPair] = (),
    waterfalls: Sequence[Figure | None] = (),
    show_values: bool = False,
    max_table_rows: int = 200,
) -> str:
    """Return a self-contained HTML report of a run.

    Charts are embedded as base64 PNG, tables as HTML; every text that
    comes from data or config is escaped, and the page carries a content
    security policy that allows no scripts and no requests.

    Parameters
    ----------
    title
        The page heading.
    facts
        Short facts about the run (scorer, records, threshold, ...).
    config
        The config as a dict (``LinkageConfig.to_dict()``), shown as JSON.
    metrics
        Evaluation metrics.
    timings
        Seconds per stage.
    figures
        Charts by name; known names (:data:`FIGURE_SECTIONS`) go in their
        section, others in "Other".
    tables
        Tables by name, placed as :data:`TABLE_SECTIONS` says.
    explained
        Pairs to explain (:func:`er_toolkit.report.explain_sample`).
    waterfalls
        One waterfall chart (or None) per explained pair, in order.
    show_values
        Show record values in the explained pairs and in
        :data:`SENSITIVE_COLUMNS` of the tables. By default each value is
        masked (first character, length, and a tag equal for equal values
        within this report) and those columns are hidden.
    max_table_rows
        Rows shown per table.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = build_report(title="run <1>", metrics={"pairwise_f1": 0.99})
    >>> "run &lt;1&gt;" in page and "pairwise_f1" in page
    True
    """
    key = secrets.token_bytes(16)  # masks' tags; never written
    hidden = () if show_values else SENSITIVE_COLUMNS
    body: dict[str, list[str]] = {anchor: [] for anchor, _ in SECTIONS}
    if facts:
        body["run"].append(_key_values(facts))
    if metrics:
        body["metrics"].append(_key_values(dict(metrics)))
    if timings:
        body["metrics"].append("<h3>Seconds per stage</h3>")
        body["metrics"].append(_key_values({k: float(v) for k, v in timings.items()}))
    for name, fig in (figures or {}).items():
        body[FIGURE_SECTIONS.get(name, "other")].append(_figure_html(name, fig))
    for name, table in (tables or {}).items():
        section = TABLE_SECTIONS.get(name, "other")
        body[section].append(f"<h3>{_e(name.replace('_', ' '))}</h3>")
        body[section].append(table_html(table, max_rows=max_table_rows, hidden=hidden))
        if any(c in table.columns for c in hidden):
            body[section].append(
                '<p class="note">Columns of record values are hidden; build the report '
                "with show_values=True (--show-values) to show them.</p>"
            )
    if explained:
        body["pairs"].append(
            '<p class="note">'
            + (
                "Record values are shown as they are."
                if show_values
                else "Record values are masked: first character, length, and a tag "
                "that is equal for equal values within this report only. Build the "
                "report with show_values=True (--show-values) to show them."
            )
            + "</p>"
        )
        figs: list[Figure | None] = list(waterfalls)
        figs += [None] * (len(explained) - len(figs))
        for i, (pair, chart) in enumerate(zip(explained, figs, strict=False), start=1):
            body["pairs"].append(
                _pair_html(i, pair, show_values=show_values, key=key, figure=chart)
            )
    if config:
        body["config"].append(
            f"<pre>{_e(json.dumps(config, indent=2, default=str, ensure_ascii=False))}</pre>"
        )
    present = [(a, h) for a, h in SECTIONS if body[a]]
    nav = "".join(f'<a href="#{a}">{_e(h)}</a>' for a, h in present)
    sections = "".join(
        f'<section id="{a}"><h2>{_e(h)}</h2>{"".join(body[a])}</section>'
        for a, h in present
    )
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{_e(title)}</h1>"
        f'<p class="note">er_toolkit {_e(__version__)}, report made {_e(created)}</p>'
        f"<nav>{nav}</nav>{sections}</main></body></html>\n"
    )


def write_report(path: str | os.PathLike[str], report: str) -> Path:
    """Write an HTML report through a temporary file and a rename.

    Parameters
    ----------
    path
        The destination; its folder is created if missing.
    report
        The HTML, from :func:`build_report`.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(report)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def log_report(report: str, *, artifact_file: str = "report/report.html") -> None:
    """Log an HTML report to the active MLflow run as ``artifact_file``."""
    import mlflow

    mlflow.log_text(report, artifact_file)
