"""Phonetic blocking: pair records whose names sound alike (NYSIIS, Metaphone, Soundex)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, get_args

import jellyfish
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import (
    check_block_size,
    check_column,
    check_name,
    register_blocker,
)
from er_toolkit.blocking.keys import KeyedBlocks
from er_toolkit.exceptions import ConfigError

PhoneticAlgorithm = Literal["nysiis", "metaphone", "soundex", "match_rating"]
PHONETIC_ALGORITHMS: Final[tuple[PhoneticAlgorithm, ...]] = get_args(PhoneticAlgorithm)
_ENCODERS: Final[dict[str, Callable[[str], str]]] = {
    "nysiis": jellyfish.nysiis,
    "metaphone": jellyfish.metaphone,
    "soundex": jellyfish.soundex,
    "match_rating": jellyfish.match_rating_codex,
}


def phonetic_codes(values: pl.Series, algorithm: PhoneticAlgorithm) -> pl.Series:
    """Return the phonetic code of each value (jellyfish), null where it has no letters.

    Only letters are encoded (digits, punctuation and spaces are dropped
    first), and each distinct value is encoded once.

    Examples
    --------
    >>> phonetic_codes(pl.Series(["Smith", "Smyth", "123", None]), "metaphone").to_list()
    ['SM0', 'SM0', None, None]
    """
    if algorithm not in _ENCODERS:
        raise ConfigError(
            f"A phonetic algorithm must be one of {list(PHONETIC_ALGORITHMS)}; got "
            f"{algorithm!r}."
        )
    letters = values.cast(pl.String).str.replace_all(r"[^\p{L}]", "")
    letters = pl.select(pl.when(letters.str.len_chars() > 0).then(letters)).to_series()
    distinct = letters.drop_nulls().unique()
    encode = _ENCODERS[algorithm]
    codes = pl.Series([encode(v) for v in distinct.to_list()], dtype=pl.String)
    out = letters.replace_strict(distinct, codes, default=None, return_dtype=pl.String)
    return pl.select(pl.when(out.str.len_chars() > 0).then(out)).to_series()


@register_blocker
@dataclass(frozen=True)
class PhoneticBlocker(KeyedBlocks):
    """Pair records whose ``column`` has the same phonetic code.

    Declared as ``[[blocking.blockers]] kind = "phonetic"`` with ``column``
    (and optionally ``algorithm``, ``per_word``, ``max_block_size``,
    ``name``). The codes come from jellyfish: ``"metaphone"`` (the
    default), ``"nysiis"`` (New York State Identification and Intelligence
    System), ``"soundex"`` or ``"match_rating"`` (the Match Rating Approach
    codex).
    A key blocker, so stored records can be paired by a join of codes.

    Parameters
    ----------
    column
        The name column.
    algorithm
        The phonetic code.
    per_word
        Encode each word of the value on its own, and pair records sharing
        any word's code (``"Anne-Marie Smith"`` and ``"Marie Smyth"``);
        without it the value's letters are encoded as one word.
    max_block_size
        Codes held by more records than this pair none; None: no limit.
    name
        The blocker's name in ``blocked_by``.

    Examples
    --------
    >>> recs = pl.DataFrame(
    ...     {"_row": [0, 1, 2], "surname": ["Smith", "Smyth", "Jones"]},
    ...     schema_overrides={"_row": pl.UInt32},
    ... )
    >>> PhoneticBlocker("surname").block(recs, link_type="dedupe").rows()
    [(0, 1)]
    """

    kind: ClassVar[str] = "phonetic"
    column: str
    algorithm: PhoneticAlgorithm = "metaphone"
    per_word: bool = False
    max_block_size: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        check_column(self.column, "PhoneticBlocker")
        if self.algorithm not in PHONETIC_ALGORITHMS:
            raise ConfigError(
                f"The 'algorithm' of PhoneticBlocker must be one of "
                f"{list(PHONETIC_ALGORITHMS)}; got {self.algorithm!r}."
            )
        if not isinstance(self.per_word, bool):
            raise ConfigError(
                f"The 'per_word' of PhoneticBlocker must be true or false; got "
                f"{self.per_word!r}."
            )
        check_block_size(self.max_block_size, "PhoneticBlocker")
        check_name(self.name, "PhoneticBlocker")
        if not self.name:
            object.__setattr__(self, "name", self._default_name)

    @property
    def _default_name(self) -> str:
        return f"{self.algorithm}({self.column})"

    @property
    def columns(self) -> tuple[str, ...]:
        """The column the blocker reads."""
        return (self.column,)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration (options at their defaults left out).

        Examples
        --------
        >>> PhoneticBlocker("surname", algorithm="nysiis").to_dict()
        {'kind': 'phonetic', 'column': 'surname', 'algorithm': 'nysiis'}
        """
        out: dict[str, Any] = {"kind": self.kind, "column": self.column}
        if self.algorithm != "metaphone":
            out["algorithm"] = self.algorithm
        if self.per_word:
            out["per_word"] = True
        if self.max_block_size is not None:
            out["max_block_size"] = self.max_block_size
        if self.name != self._default_name:
            out["name"] = self.name
        return out

    def block_keys(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return ``_row`` and ``_block_key`` (the codes), records without letters left out.

        Examples
        --------
        >>> recs = pl.DataFrame({"_row": [0], "n": ["Anne Smith"]})
        >>> PhoneticBlocker("n", per_word=True).block_keys(recs).rows()
        [(0, 'AN'), (0, 'SM0')]
        """
        rows = records.select(pl.col(schema.ROW).cast(pl.UInt32), self.column)
        if self.per_word:
            rows = rows.with_columns(
                pl.col(self.column).cast(pl.String).str.split(" ")
            ).explode(self.column)
        codes = phonetic_codes(rows.get_column(self.column), self.algorithm)
        return (
            rows.select(schema.ROW)
            .with_columns(codes.alias(schema.BLOCK_KEY))
            .drop_nulls(schema.BLOCK_KEY)
            .unique(maintain_order=True)
        )
