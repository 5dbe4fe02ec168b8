"""The per-row standardisation and profile of er_toolkit 0.1 (before the speed-up).

Kept as the reference the fast, once-per-distinct-value code is tested
against: these functions standardise through each standardiser's expression
(row for row) and profile every row with plain group-bys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import SchemaError
from er_toolkit.standardise.base import BLANK, REASON, VALUE, Steps, _chain

ALL_SOURCES = "all"
PROFILE_SCHEMA = {
    "source": pl.String,
    "column": pl.String,
    "rows": pl.UInt32,
    "missing": pl.UInt32,
    "completeness": pl.Float64,
    "distinct": pl.UInt32,
    "uniqueness": pl.Float64,
    "invalid": pl.UInt32,
    "validity": pl.Float64,
    "invalid_reasons": pl.String,
    "length_min": pl.UInt32,
    "length_mean": pl.Float64,
    "length_max": pl.UInt32,
    "top_values": pl.String,
    "top_patterns": pl.String,
}
_NESTED = (pl.List, pl.Array, pl.Struct, pl.Object)


def _temp(column: str, index: int) -> str:
    return f"__standardise_{index}_{column}"


def apply_standardisers(
    frame: pl.DataFrame, steps: Steps, *, reasons: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The old apply_standardisers: each step's expression over every row."""
    chains = {column: _chain(column, spec) for column, spec in steps.items()}
    lazy = frame.lazy()
    for column, chain in chains.items():
        current = pl.col(column)
        for index, step in enumerate(chain):
            temp = _temp(column, index)
            lazy = lazy.with_columns(step.standardise(current).alias(temp))
            current = pl.col(temp).struct.field(VALUE)
    collected = lazy.collect()
    issue_frames = []
    finals: list[pl.Expr] = []
    extras: list[pl.Expr] = []
    for column, chain in chains.items():
        temps = [_temp(column, index) for index in range(len(chain))]
        for step, temp in zip(chain, temps, strict=True):
            issue_frames.append(
                collected.select(pl.col(temp).struct.field(REASON).alias("reason"))
                .drop_nulls()
                .group_by("reason")
                .agg(pl.len().cast(pl.UInt32).alias("count"))
                .select(
                    pl.lit(column).alias("column"),
                    pl.lit(step.kind).alias("standardiser"),
                    "reason",
                    "count",
                )
                .sort("count", "reason", descending=[True, False])
            )
            extras += [
                pl.col(temp).struct.field(part).alias(f"{column}_{part}")
                for part in step.parts
            ]
        finals.append(pl.col(temps[-1]).struct.field(VALUE).alias(column))
        if reasons:
            reason_fields = [pl.col(t).struct.field(REASON) for t in temps]
            extras.append(pl.coalesce(reason_fields).alias(f"{column}_reason"))
    standardised = collected.with_columns(finals).with_columns(extras)
    standardised = standardised.drop(
        [_temp(c, i) for c, chain in chains.items() for i in range(len(chain))]
    )
    schema_ = {"column": pl.String, "standardiser": pl.String, "reason": pl.String,
               "count": pl.UInt32}  # fmt: skip
    issues = pl.concat(
        [pl.DataFrame(schema=schema_), *issue_frames], how="vertical_relaxed"
    )
    return standardised, issues


def value_pattern(values: pl.Expr) -> pl.Expr:
    return (
        values.str.replace_all(r"[\p{Ll}\p{Lt}\p{Lm}\p{Lo}]", "a")
        .str.replace_all(r"\p{Lu}", "A")
        .str.replace_all(r"\p{N}", "9")
    )


_SRC: Final = "__profile_source"


def _reason(column: str) -> str:
    return f"__profile_reason_{column}"


def _top(frame: pl.LazyFrame, key: pl.Expr, top_n: int, name: str) -> pl.LazyFrame:
    counted = (
        frame.select(_SRC, key.alias("key"))
        .drop_nulls("key")
        .group_by(_SRC, "key")
        .agg(pl.len().alias("n"))
        .sort([_SRC, "n", "key"], descending=[False, True, False])
    )
    label = pl.format("{} ({})", pl.col("key"), pl.col("n"))
    return (
        counted.group_by(_SRC, maintain_order=True)
        .head(top_n)
        .group_by(_SRC, maintain_order=True)
        .agg(label.str.join("; ").alias(name))
    )


def _profile_column(frame: pl.LazyFrame, column: str, top_n: int) -> pl.LazyFrame:
    text = pl.col(column).cast(pl.String)
    present = text.is_not_null() & (text.str.strip_chars() != "")
    kept = text.filter(present)
    stats = frame.group_by(_SRC).agg(
        pl.len().cast(pl.UInt32).alias("rows"),
        (~present).sum().cast(pl.UInt32).alias("missing"),
        kept.n_unique().cast(pl.UInt32).alias("distinct"),
        kept.str.len_chars().min().cast(pl.UInt32).alias("length_min"),
        kept.str.len_chars().mean().alias("length_mean"),
        kept.str.len_chars().max().cast(pl.UInt32).alias("length_max"),
    )
    present_text = pl.when(present).then(text)
    frames = [
        _top(frame, present_text, top_n, "top_values"),
        _top(frame, value_pattern(present_text), top_n, "top_patterns"),
    ]
    reason = _reason(column)
    if reason in frame.collect_schema().names():
        is_invalid = pl.col(reason).is_not_null() & (pl.col(reason) != BLANK)
        invalid = frame.group_by(_SRC).agg(
            is_invalid.sum().cast(pl.UInt32).alias("invalid")
        )
        invalid_reason = pl.when(is_invalid).then(pl.col(reason))
        frames += [invalid, _top(frame, invalid_reason, 1_000, "invalid_reasons")]
    for extra in frames:
        stats = stats.join(extra, on=_SRC, how="left", maintain_order="left")
    present_n = pl.col("rows") - pl.col("missing")
    out = stats.with_columns(
        pl.lit(column).alias("column"),
        (present_n / pl.col("rows")).alias("completeness"),
        pl.when(present_n > 0).then(pl.col("distinct") / present_n).alias("uniqueness"),
    )
    if "invalid" in out.collect_schema().names():
        out = out.with_columns(
            pl.col("invalid").fill_null(0),
            pl.when(present_n > 0)
            .then(1 - pl.col("invalid").fill_null(0) / present_n)
            .alias("validity"),
        )
    columns = [
        pl.col(_SRC).alias("source"),
        *(
            pl.col(name).cast(dtype)
            if name in out.collect_schema().names()
            else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in PROFILE_SCHEMA.items()
            if name != "source"
        ),
    ]
    return out.select(columns)


def _with_source(frame: pl.DataFrame, source_column: str | None) -> pl.LazyFrame:
    lazy = frame.lazy()
    if source_column is not None and source_column in frame.columns:
        return lazy.with_columns(pl.col(source_column).cast(pl.String).alias(_SRC))
    return lazy.with_columns(pl.lit(ALL_SOURCES).alias(_SRC))


def _columns(
    frame: pl.DataFrame, columns: Sequence[str] | None, source_column: str | None
) -> list[str]:
    if columns is None:
        return [
            name
            for name, dtype in frame.schema.items()
            if name != source_column and not isinstance(dtype, _NESTED)
        ]
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise SchemaError(
            f"Cannot profile missing column(s) {missing}; valid columns: "
            f"{frame.columns}."
        )
    nested = [name for name in columns if isinstance(frame.schema[name], _NESTED)]
    if nested:
        raise SchemaError(
            f"Cannot profile nested column(s) {nested}; profile their fields "
            "after unnesting them."
        )
    return list(columns)


def _profile(lazy: pl.LazyFrame, columns: Sequence[str], top_n: int) -> pl.DataFrame:
    if not columns:
        return pl.DataFrame(schema=PROFILE_SCHEMA)
    parts = [_profile_column(lazy, column, top_n) for column in columns]
    profile = pl.concat(pl.collect_all(parts))
    order = pl.DataFrame({"column": list(columns)}).with_row_index("__order")
    return profile.join(order, on="column").sort("source", "__order").drop("__order")


def profile_frame(
    frame: pl.DataFrame,
    *,
    source_column: str | None = schema.SOURCE,
    columns: Sequence[str] | None = None,
    validity: Steps | None = None,
    top_n: int = 5,
) -> pl.DataFrame:
    names = _columns(frame, columns, source_column)
    lazy = _with_source(frame, source_column)
    if validity:
        unknown = [column for column in validity if column not in frame.columns]
        if unknown:
            raise SchemaError(
                f"Cannot check the validity of missing column(s) {unknown}; valid "
                f"columns: {frame.columns}."
            )
        steps = {column: validity[column] for column in validity if column in names}
        checked, _ = apply_standardisers(frame.select(list(steps)), steps, reasons=True)
        lazy = pl.concat(
            [
                lazy,
                checked.lazy().select(
                    pl.col(f"{c}_reason").alias(_reason(c)) for c in steps
                ),
            ],
            how="horizontal",
        )
    return _profile(lazy, names, top_n)


def profile_standardisation(
    frame: pl.DataFrame,
    steps: Steps,
    *,
    source_column: str | None = schema.SOURCE,
    top_n: int = 5,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    standardised, _ = apply_standardisers(frame, steps, reasons=True)
    reason_columns = [f"{column}_reason" for column in steps]
    names = _columns(frame, None, source_column)
    before_lazy = pl.concat(
        [
            _with_source(frame, source_column),
            standardised.lazy().select(
                pl.col(f"{c}_reason").alias(_reason(c)) for c in steps
            ),
        ],
        how="horizontal",
    )
    standardised = standardised.drop(reason_columns)
    after_names = _columns(standardised, None, source_column)
    before = _profile(before_lazy, names, top_n)
    after = _profile(_with_source(standardised, source_column), after_names, top_n)
    profile = pl.concat(
        [
            before.select(pl.lit("before").alias("stage"), pl.all()),
            after.select(pl.lit("after").alias("stage"), pl.all()),
        ]
    )
    return standardised, profile


# --- the text helpers of 0.1, without the ASCII shortcuts -------------------

_FOLDS = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o",
    "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D",
    "þ": "th", "Þ": "TH", "\u0131": "i",
}  # fmt: skip


def fold_accents(values: pl.Expr) -> pl.Expr:
    decomposed = values.str.normalize("NFKD").str.replace_all(r"\p{M}+", "")
    return decomposed.str.replace_many(_FOLDS).str.normalize("NFC")


def nfkc(values: pl.Expr, *, fold: bool = False) -> pl.Expr:
    text = values.str.normalize("NFKC")
    return fold_accents(text) if fold else text


def null_if_empty(values: pl.Expr) -> pl.Expr:
    return pl.when(values.str.len_bytes() > 0).then(values)


def collapse_spaces(values: pl.Expr) -> pl.Expr:
    return values.str.replace_all(r"\s+", " ").str.strip_chars()


def address_rules(values: pl.Expr) -> pl.Expr:
    from er_toolkit.standardise.addresses import ABBREVIATIONS
    from er_toolkit.standardise.base import as_text
    from er_toolkit.standardise.text import APOSTROPHES

    text = fold_accents(as_text(values).str.normalize("NFKC")).str.to_lowercase()
    text = text.str.replace_all(APOSTROPHES, "")
    text = text.str.replace_all(r"(\d)\s*[-\u2010-\u2015]\s*(\d)", "${1}\x00${2}")
    text = text.str.replace_all(r"[^\p{L}\p{N}/\x00]+", " ").str.replace_all(
        "\x00", "-"
    )
    text = collapse_spaces(text.str.replace_all(r"\s*/\s*", "/"))
    words = text.str.split(" ").list.eval(pl.element().replace(ABBREVIATIONS))
    return null_if_empty(words.list.join(" "))


def standardise_with_old_helpers(standardiser, values: pl.Series) -> pl.DataFrame:
    """The standardiser's results for ``values`` with 0.1's text helpers."""
    import er_toolkit.standardise.addresses as addresses
    import er_toolkit.standardise.dates as dates
    import er_toolkit.standardise.names as names
    import er_toolkit.standardise.postcodes as postcodes
    import er_toolkit.standardise.text as text

    patches = [
        (module, name, replacement)
        for module in (addresses, dates, names, postcodes, text)
        for name, replacement in (
            ("nfkc", nfkc),
            ("null_if_empty", null_if_empty),
            ("fold_accents", fold_accents),
            ("address_rules", address_rules),
        )
        if hasattr(module, name)
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    try:
        for module, name, replacement in patches:
            setattr(module, name, replacement)
        return standardiser._standardise_distinct(values)
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
