"""Personal names: accents, case, punctuation, titles, suffixes, nicknames."""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar, Final

import polars as pl

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise.base import (
    RAW,
    REASON,
    VALUE,
    add_reason,
    as_text,
    columnwise,
    columnwise_frame,
    options_dict,
)
from er_toolkit.standardise.text import (
    APOSTROPHES,
    collapse_spaces,
    nfkc,
    null_if_empty,
)

TITLES: Final[tuple[str, ...]] = (
    "mr", "mrs", "ms", "miss", "mx", "master", "dr", "doctor", "prof",
    "professor", "sir", "dame", "lord", "lady", "rev", "revd", "reverend", "fr",
    "father", "hon", "capt", "captain", "col", "maj", "major", "lt", "sgt",
    "herr", "frau", "mme", "mlle", "madame", "mademoiselle", "monsieur", "sra",
    "srta", "dra", "don", "dona",
)  # fmt: skip
"""Titles removed from the start of a name (lower case, without dots)."""

SUFFIXES: Final[tuple[str, ...]] = (
    "jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "phd",
    "md", "dds", "esq", "obe", "mbe", "cbe", "kbe", "qc", "kc", "jp", "mp",
)  # fmt: skip
"""Suffixes removed from the end of a name (lower case, without dots)."""

NICKNAMES_FILE: Final = "nicknames.csv"


@functools.cache
def nickname_table() -> dict[str, str]:
    """Return the shipped nickname table: nickname → canonical given name.

    Both sides are lower case without accents. The table holds common English
    nicknames (Bill → william, Liz → elizabeth) and some German, French and
    Spanish ones (Sepp → josef, Paco → francisco).

    Examples
    --------
    >>> table = nickname_table()
    >>> table["bill"], table["liz"], table["paco"]
    ('william', 'elizabeth', 'francisco')
    """
    data = (
        resources.files("er_toolkit.standardise")
        .joinpath("data")
        .joinpath(NICKNAMES_FILE)
    )
    rows = csv.DictReader(io.StringIO(data.read_text(encoding="utf-8")))
    return {row["nickname"]: row["canonical"] for row in rows}


def _words(words: tuple[str, ...]) -> str:
    alternatives = "|".join(sorted(words, key=len, reverse=True))
    return rf"(?:{alternatives})(?:\s+(?:{alternatives}))*"


def _check_words(name: str, words: tuple[str, ...]) -> None:
    bad = [w for w in words if not w.isalpha() or w != w.lower()]
    if bad:
        raise ConfigError(
            f"The {name!r} parameter of NameStandardiser must hold lower-case "
            f"words of letters only; got {bad}."
        )


@dataclass(frozen=True, kw_only=True)
class NameStandardiser:
    """Normalise personal names and split off titles and suffixes.

    The normal form is lower case ASCII-folded letters (``"José"`` → ``"jose"``)
    separated by single spaces; apostrophes are removed (``"O'Neil"`` →
    ``"oneil"``) and other punctuation, digits and symbols become spaces
    (``"Mary-Jane"`` → ``"mary jane"``). Leading titles go to the ``title``
    part and trailing suffixes to ``suffix`` (each only when a name is left
    beside them). The ``canonical`` part replaces every word found in the
    nickname table by its canonical name (``"bill smith"`` →
    ``"william smith"``), for comparison.

    Parameters
    ----------
    titles
        Words removed from the start into the ``title`` part.
    suffixes
        Words removed from the end into the ``suffix`` part.
    nicknames
        Add the ``canonical`` part from the shipped nickname table.

    Examples
    --------
    >>> df = pl.DataFrame({"name": ["  Dr. José  O'Neil Jr. ", "BILL smith", "Dr"]})
    >>> out = df.select(NameStandardiser().standardise(pl.col("name")).alias("r"))
    >>> out.unnest("r").rows()
    [('jose oneil', None, 'dr', 'jr', 'jose oneil'), ('bill smith', None, None, None, 'william smith'), ('dr', None, None, None, 'dr')]
    """

    kind: ClassVar[str] = "name"

    titles: tuple[str, ...] = TITLES
    suffixes: tuple[str, ...] = SUFFIXES
    nicknames: bool = True

    def __post_init__(self) -> None:
        _check_words("titles", self.titles)
        _check_words("suffixes", self.suffixes)

    @property
    def parts(self) -> tuple[str, ...]:
        """``title``, ``suffix`` and, with ``nicknames``, ``canonical``."""
        return (
            ("title", "suffix", "canonical") if self.nicknames else ("title", "suffix")
        )

    def standardise(self, values: pl.Expr) -> pl.Expr:
        """Return the result struct (``value``, ``reason``, parts) of ``values``."""
        return columnwise(values, self._build, schema=self._schema())

    def _standardise_distinct(self, values: pl.Series) -> pl.DataFrame:
        return columnwise_frame(values, self._build, schema=self._schema())

    def _schema(self) -> dict[str, type[pl.DataType]]:
        return {
            VALUE: pl.String,
            REASON: pl.String,
            **dict.fromkeys(self.parts, pl.String),
        }

    def _build(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        text = nfkc(as_text(pl.col(RAW)), fold=True)
        text = text.str.to_lowercase().str.replace_all(APOSTROPHES, "")
        text = collapse_spaces(text.str.replace_all(r"[^\p{L}\s]+", " "))
        frame = frame.with_columns(text.alias(VALUE))
        value = pl.col(VALUE)
        if self.titles:
            pattern = rf"^({_words(self.titles)})\s+(\S.*)$"
            frame = frame.with_columns(
                value.str.extract(pattern, 1).alias("title"),
                value.str.replace(pattern, "${2}"),
            )
        else:
            frame = frame.with_columns(title=pl.lit(None, dtype=pl.String))
        if self.suffixes:
            pattern = rf"^(.*?\S)\s+({_words(self.suffixes)})$"
            frame = frame.with_columns(
                value.str.extract(pattern, 2).alias("suffix"),
                value.str.replace(pattern, "${1}"),
            )
        else:
            frame = frame.with_columns(suffix=pl.lit(None, dtype=pl.String))
        frame = frame.with_columns(null_if_empty(value))
        if self.nicknames:
            words = value.str.split(" ").list.eval(
                pl.element().replace(nickname_table())
            )
            frame = frame.with_columns(words.list.join(" ").alias("canonical"))
        return add_reason(frame, "no_letters")

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)
