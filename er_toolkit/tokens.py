"""Tokens of text values (words, q-grams) and a stable hash, for blockers and comparators."""

from __future__ import annotations

from typing import Final, Literal, get_args

import numpy as np
import polars as pl

from er_toolkit.exceptions import ConfigError

TokenKind = Literal["word", "qgram"]
TOKEN_KINDS: Final[tuple[TokenKind, ...]] = get_args(TokenKind)
TOKEN: Final = "_token"
"""The column :func:`explode_tokens` writes."""
WORD_PATTERN: Final = r"\w+"
"""What a word token is: a run of letters, digits or underscores."""

_FNV_OFFSET: Final = np.uint64(0xCBF29CE484222325)
_FNV_PRIME: Final = np.uint64(0x100000001B3)


def check_tokens(tokens: object, q: object, owner: str) -> None:
    """Raise a ConfigError unless ``tokens`` is a token kind and ``q`` an int >= 1."""
    if tokens not in TOKEN_KINDS:
        raise ConfigError(
            f"The 'tokens' of {owner} must be one of {list(TOKEN_KINDS)}; got "
            f"{tokens!r}."
        )
    if isinstance(q, bool) or not isinstance(q, int) or q < 1:
        raise ConfigError(f"The 'q' of {owner} must be an int >= 1; got {q!r}.")


def normalised_text(expr: pl.Expr) -> pl.Expr:
    """Lower-case, trim and collapse runs of white space; blank becomes null."""
    text = (
        expr.cast(pl.String)
        .str.to_lowercase()
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return pl.when(text.str.len_chars() > 0).then(text)


def explode_tokens(
    frame: pl.LazyFrame | pl.DataFrame,
    column: str,
    *,
    tokens: TokenKind = "word",
    q: int = 3,
) -> pl.LazyFrame:
    """Return one row per token occurrence of ``column``, the other columns kept.

    Parameters
    ----------
    frame
        Any frame holding ``column``.
    column
        A text column; it is replaced by :data:`TOKEN`.
    tokens
        ``"word"``: runs of letters and digits (:data:`WORD_PATTERN`) of the
        lower-cased value; ``"qgram"``: every ``q`` consecutive characters
        of the lower-cased value (white space collapsed), or the whole value
        when it is shorter than ``q``.
    q
        The q-gram length.

    Returns
    -------
    polars.LazyFrame
        The other columns and :data:`TOKEN`; null values and values without
        a token have no row. A token occurring twice in a value has two.

    Examples
    --------
    >>> f = pl.DataFrame({"i": [0, 1], "v": ["Acme  Corp", None]})
    >>> explode_tokens(f, "v").collect().rows()
    [(0, 'acme'), (0, 'corp')]
    >>> explode_tokens(f, "v", tokens="qgram", q=4).collect().get_column("_token").to_list()
    ['acme', 'cme ', 'me c', 'e co', ' cor', 'corp']
    """
    check_tokens(tokens, q, "explode_tokens")
    lazy = frame.lazy()
    others = [c for c in lazy.collect_schema().names() if c != column]
    text = normalised_text(pl.col(column))
    if tokens == "word":
        return (
            lazy.select(*others, text.str.extract_all(WORD_PATTERN).alias(TOKEN))
            .explode(TOKEN)
            .drop_nulls(TOKEN)
        )
    length = text.str.len_chars().cast(pl.Int64)
    starts = pl.int_ranges(0, (length - q + 1).clip(lower_bound=1))
    return (
        lazy.select(*others, text.alias(TOKEN), starts.alias("_start"))
        .drop_nulls(TOKEN)
        .explode("_start")
        .select(*others, pl.col(TOKEN).str.slice(pl.col("_start"), q))
    )


def stable_hash(values: pl.Series | np.ndarray | list[str]) -> np.ndarray:
    """Return the 64-bit FNV-1a hash of each string's UTF-8 bytes.

    The same on every machine, process and release (polars' own ``hash``
    is not promised to be), so keys built from it can be stored. Computed
    column by column of the bytes with numpy, for all strings at once.

    Examples
    --------
    >>> [hex(h) for h in stable_hash(["", "a"])]
    ['0xcbf29ce484222325', '0xaf63dc4c8601ec8c']
    """
    strings = (
        pl.Series(values, dtype=pl.String)
        if not isinstance(values, pl.Series)
        else values
    )
    if strings.null_count():
        raise ConfigError("stable_hash needs strings without nulls.")
    n = len(strings)
    out = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    if n == 0:
        return out
    encoded = np.char.encode(np.asarray(strings.to_list(), dtype=str), "utf-8")
    lengths = np.char.str_len(encoded)
    width = int(lengths.max()) if n else 0
    if width == 0:
        return out
    raw = np.frombuffer(encoded.tobytes(), dtype=np.uint8).reshape(n, encoded.itemsize)
    with np.errstate(over="ignore"):
        for j in range(width):
            live = lengths > j
            mixed = (out[live] ^ raw[live, j].astype(np.uint64)) * _FNV_PRIME
            out[live] = mixed
    return out
