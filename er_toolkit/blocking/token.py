"""Token and q-gram blocking: pair records that share any token of a text column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import (
    check_block_size,
    check_column,
    check_int,
    check_name,
    register_blocker,
)
from er_toolkit.blocking.keys import KeyedBlocks
from er_toolkit.tokens import TOKEN, TokenKind, check_tokens, explode_tokens


@register_blocker
@dataclass(frozen=True)
class TokenBlocker(KeyedBlocks):
    """Pair records whose ``column`` shares at least one token ("any shared token").

    Declared as ``[[blocking.blockers]] kind = "token"`` with ``column``
    (and optionally ``tokens``, ``q``, ``min_length``, ``max_block_size``,
    ``name``). A key blocker: each distinct token of a record is one of its
    keys, so stored records can be paired by a join.

    A token held by very many records (``"the"``, ``"inc"``, ``"ltd"``)
    pairs nearly everything and says little; ``max_block_size`` purges such
    stop tokens by their frequency: a token held by more records than that
    pairs none of them (the records still pair through their rarer tokens).

    Parameters
    ----------
    column
        The text column whose tokens are the keys.
    tokens
        ``"word"`` (runs of letters and digits, lower-cased) or ``"qgram"``
        (every ``q`` consecutive characters).
    q
        The q-gram length (``tokens = "qgram"`` only).
    min_length
        Word tokens shorter than this are no keys (ignored for q-grams).
    max_block_size
        Tokens held by more records than this pair none; None: no limit.
    name
        The blocker's name in ``blocked_by``.

    Examples
    --------
    >>> recs = pl.DataFrame(
    ...     {"_row": [0, 1, 2, 3], "org": ["Acme Corp", "ACME Ltd", "Beta Ltd", "Zeta Ltd"]},
    ...     schema_overrides={"_row": pl.UInt32},
    ... )
    >>> sorted(TokenBlocker("org").block(recs, link_type="dedupe").rows())
    [(0, 1), (1, 2), (1, 3), (2, 3)]
    >>> TokenBlocker("org", max_block_size=2).block(recs, link_type="dedupe").rows()
    [(0, 1)]
    """

    kind: ClassVar[str] = "token"
    column: str
    tokens: TokenKind = "word"
    q: int = 3
    min_length: int = 1
    max_block_size: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        check_column(self.column, "TokenBlocker")
        check_tokens(self.tokens, self.q, "TokenBlocker")
        check_int(self.min_length, "min_length", "TokenBlocker", minimum=1)
        check_block_size(self.max_block_size, "TokenBlocker")
        check_name(self.name, "TokenBlocker")
        if not self.name:
            object.__setattr__(self, "name", self._default_name)

    @property
    def _default_name(self) -> str:
        what = "token" if self.tokens == "word" else f"qgram{self.q}"
        return f"{what}({self.column})"

    @property
    def columns(self) -> tuple[str, ...]:
        """The column the blocker reads."""
        return (self.column,)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration (options at their defaults left out).

        Examples
        --------
        >>> TokenBlocker("org", tokens="qgram", q=4).to_dict()
        {'kind': 'token', 'column': 'org', 'tokens': 'qgram', 'q': 4}
        """
        out: dict[str, Any] = {"kind": self.kind, "column": self.column}
        if self.tokens != "word":
            out["tokens"] = self.tokens
        if self.q != 3:
            out["q"] = self.q
        if self.min_length != 1:
            out["min_length"] = self.min_length
        if self.max_block_size is not None:
            out["max_block_size"] = self.max_block_size
        if self.name != self._default_name:
            out["name"] = self.name
        return out

    def block_keys(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return ``_row`` and ``_block_key``: each distinct token of each record.

        Examples
        --------
        >>> recs = pl.DataFrame({"_row": [0, 1], "org": ["a b a", None]})
        >>> sorted(TokenBlocker("org").block_keys(recs).rows())
        [(0, 'a'), (0, 'b')]
        """
        exploded = explode_tokens(
            records.lazy().select(pl.col(schema.ROW).cast(pl.UInt32), self.column),
            self.column,
            tokens=self.tokens,
            q=self.q,
        )
        if self.tokens == "word" and self.min_length > 1:
            exploded = exploded.filter(pl.col(TOKEN).str.len_chars() >= self.min_length)
        return (
            exploded.select(schema.ROW, pl.col(TOKEN).alias(schema.BLOCK_KEY))
            .unique(maintain_order=True)
            .collect()
        )
