"""The derivation kinds: copy, concat, split, name parts, regex, case, tokens, nulls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

import polars as pl

from er_toolkit.derive.base import declaration, register_derivation
from er_toolkit.exceptions import ConfigError

__all__ = [
    "SURNAME_PARTICLES",
    "Case",
    "Coalesce",
    "Concat",
    "Copy",
    "Extract",
    "NamePart",
    "NullIf",
    "Replace",
    "SortedTokens",
    "Split",
]

SURNAME_PARTICLES: Final[tuple[str, ...]] = (
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "dos",
    "das", "des", "le", "la", "ten", "ter", "zu", "bin", "al", "el",
)  # fmt: skip
"""Words that belong to the surname that follows them (Jan van der Berg)."""


def _text(column: str) -> pl.Expr:
    """Return the column as text, surrounding whitespace removed."""
    return pl.col(column).cast(pl.String).str.strip_chars()


def _blank_as_null(values: pl.Expr) -> pl.Expr:
    """``values`` with empty and whitespace-only strings as null."""
    stripped = values.str.strip_chars()
    return pl.when(stripped.str.len_chars() > 0).then(stripped)


def _check_column(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"The {name!r} of a {owner} derivation must be a column name; got "
            f"{value!r}."
        )


def _check_columns(owner: str, value: Any) -> None:
    if (
        isinstance(value, str)
        or not value
        or not all(isinstance(c, str) for c in value)
    ):
        raise ConfigError(
            f"The 'columns' of a {owner} derivation must be a non-empty list of "
            f"column names; got {value!r}."
        )


def _check_pattern(owner: str, pattern: Any) -> None:
    """Refuse a pattern polars' regex engine cannot compile."""
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(
            f"The 'pattern' of a {owner} derivation must be a regular expression; "
            f"got {pattern!r}."
        )
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.PolarsError as exc:
        raise ConfigError(
            f"The 'pattern' of a {owner} derivation must be a regular expression "
            f"polars can compile (Rust regex syntax: no look-around or "
            f"back-references); {pattern!r} does not: {exc}"
        ) from exc


@register_derivation
@dataclass(frozen=True, kw_only=True)
class Copy:
    """The column as it is (as text): a raw variant kept beside a standardised one.

    Examples
    --------
    >>> pl.DataFrame({"a": [" X ", ""]}).select(Copy(name="b", column="a").derive()).rows()
    [('X',), (None,)]
    """

    kind: ClassVar[str] = "copy"
    name: str
    column: str

    def __post_init__(self) -> None:
        _check_column(self.kind, "column", self.column)

    @property
    def reads(self) -> tuple[str, ...]:
        """The column copied."""
        return (self.column,)

    def derive(self) -> pl.Expr:
        """Return the copied values."""
        return _blank_as_null(_text(self.column))

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)


@register_derivation
@dataclass(frozen=True, kw_only=True)
class Concat:
    """Several columns joined by ``separator``, nulls and blanks skipped.

    Examples
    --------
    >>> df = pl.DataFrame({"a": ["x", None, None], "b": ["y", "z", None]})
    >>> df.select(Concat(name="ab", columns=("a", "b")).derive()).to_series().to_list()
    ['x y', 'z', None]
    """

    kind: ClassVar[str] = "concat"
    name: str
    columns: tuple[str, ...]
    separator: str = " "

    def __post_init__(self) -> None:
        _check_columns(self.kind, self.columns)
        object.__setattr__(self, "columns", tuple(self.columns))

    @property
    def reads(self) -> tuple[str, ...]:
        """The columns joined."""
        return self.columns

    def derive(self) -> pl.Expr:
        """Return the joined values."""
        parts = [_blank_as_null(_text(c)) for c in self.columns]
        return _blank_as_null(
            pl.concat_str(parts, separator=self.separator, ignore_nulls=True)
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)


@register_derivation
@dataclass(frozen=True, kw_only=True)
class Split:
    """One part of the column split at a literal ``separator`` (``index`` from 0; -1 the last).

    Examples
    --------
    >>> df = pl.DataFrame({"a": ["x-y-z", "x", None]})
    >>> df.select(Split(name="b", column="a", separator="-", index=-1).derive()).rows()
    [('z',), ('x',), (None,)]
    """

    kind: ClassVar[str] = "split"
    name: str
    column: str
    separator: str = " "
    index: int = 0

    def __post_init__(self) -> None:
        _check_column(self.kind, "column", self.column)
        if not isinstance(self.separator, str) or not self.separator:
            raise ConfigError(
                "The 'separator' of a split derivation must be a non-empty string; "
                f"got {self.separator!r}."
            )
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise ConfigError(
                f"The 'index' of a split derivation must be an int; got {self.index!r}."
            )

    @property
    def reads(self) -> tuple[str, ...]:
        """The column split."""
        return (self.column,)

    def derive(self) -> pl.Expr:
        """Return the chosen part."""
        parts = _text(self.column).str.split(self.separator)
        return _blank_as_null(parts.list.get(self.index, null_on_oob=True))

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)


NameOrder = Literal["auto", "last_first", "first_last"]


@register_derivation
@dataclass(frozen=True, kw_only=True)
class NamePart:
    """The first name or the surname of a whole-name field.

    ``order="auto"`` reads ``"SMITH, John"`` (a comma) as surname first and
    ``"John Smith"`` as first name first; ``"last_first"`` reads
    ``"Smith John"`` as surname first too, ``"first_last"`` never does.
    Without a comma the surname is the last word (the first one with
    ``last_first``) with any particles before it (:data:`SURNAME_PARTICLES`:
    ``"Jan van der Berg"`` -> ``"van der Berg"``); the first name is the
    rest. A one-word name is a surname.

    Examples
    --------
    >>> df = pl.DataFrame({"n": ["SMITH, John", "Mary Ann de la Cruz", "Cher", None]})
    >>> df.select(
    ...     NamePart(name="f", column="n", part="first").derive().alias("f"),
    ...     NamePart(name="s", column="n", part="last").derive().alias("s"),
    ... ).rows()
    [('John', 'SMITH'), ('Mary Ann', 'de la Cruz'), (None, 'Cher'), (None, None)]
    """

    kind: ClassVar[str] = "name_part"
    name: str
    column: str
    part: Literal["first", "last"]
    order: NameOrder = "auto"
    particles: tuple[str, ...] = SURNAME_PARTICLES

    def __post_init__(self) -> None:
        _check_column(self.kind, "column", self.column)
        if self.part not in ("first", "last"):
            raise ConfigError(
                "The 'part' of a name_part derivation must be 'first' or 'last'; got "
                f"{self.part!r}."
            )
        if self.order not in ("auto", "last_first", "first_last"):
            raise ConfigError(
                "The 'order' of a name_part derivation must be one of 'auto', "
                f"'last_first', 'first_last'; got {self.order!r}."
            )
        object.__setattr__(self, "particles", tuple(self.particles))
        bad = [p for p in self.particles if not isinstance(p, str) or not p.isalpha()]
        if bad:
            raise ConfigError(
                "The 'particles' of a name_part derivation must be words of letters; "
                f"got {bad!r}."
            )

    @property
    def reads(self) -> tuple[str, ...]:
        """The whole-name column."""
        return (self.column,)

    def derive(self) -> pl.Expr:
        """Return the chosen part of each name."""
        text = _text(self.column).str.replace_all(r"\s+", " ")
        particles = "|".join(sorted(self.particles, key=len, reverse=True))
        lead = rf"(?:(?i:{particles}) )*" if particles else ""
        first_is_last = self.order == "last_first"
        comma = r"^([^,]*?) ?, ?(.*)$"  # surname, first name
        if first_is_last:
            spaced = rf"^({lead}\S+) (.+)$"  # surname first name
            last_group, first_group = 1, 2
        else:
            spaced = rf"^(.+?) ({lead}\S+)$"  # first name surname
            first_group, last_group = 1, 2
        plain = text.str.replace_all(",", " ").str.replace_all(r"\s+", " ")
        plain = plain.str.strip_chars()
        has_comma = text.str.contains(",") & (self.order != "first_last")
        if self.part == "last":
            spaced_part = pl.coalesce(plain.str.extract(spaced, last_group), plain)
            chosen = pl.when(has_comma).then(text.str.extract(comma, 1))
        else:
            spaced_part = plain.str.extract(spaced, first_group)
            chosen = pl.when(has_comma).then(text.str.extract(comma, 2))
        return _blank_as_null(chosen.otherwise(spaced_part))

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)


@register_derivation
@dataclass(frozen=True, kw_only=True)
class Extract:
    r"""What a regular expression finds: one ``group`` of the first match, or every match.

    With ``all=True`` every (whole) match is kept, joined by ``separator``.

    Examples
    --------
    >>> df = pl.DataFrame({"t": ["sony kdl-40 tv 2011", "no digits"]})
    >>> df.select(Extract(name="c", column="t", pattern=r"\S*\d\S*", all=True).derive()).rows()
    [('kdl-40 2011',), (None,)]
    """

    kind: ClassVar[str] = "extract"
    name: str
    column: str
    pattern: str
    group: int = 0
    all: bool = False
    separator: str = " "

    def __post_init__(self) -> None:
        _check_column(self.kind, "column", self.column)
        _check_pattern(self.kind, self.pattern)
        if isinstance(self.group, bool) or not isinstance(self.group, int):
            raise ConfigError(
                f"The 'group' of an extract derivation must be an int; got "
                f"{self.group!r}."
            )
        if self.all and self.group != 0:
            raise ConfigError(
                "An extract derivation with all = true keeps whole matches; its "
                f"'group' must be 0, got {self.group!r}."
            )

    @property
    def reads(self) -> tuple[str, ...]:
        """The column searched."""
        return (self.column,)

    def derive(self) -> pl.Expr:
        """Return what the pattern finds."""
        text = _text(self.column)
        if self.all:
            found = text.str.extract_all(self.pattern).list.join(self.separator)
        else:
            found = text.str.extract(self.pattern, self.group)
        return _blank_as_null(found)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)


@register_derivation
@dataclass(frozen=True, kw_only=True)
class Replace:
    r"""Every match of ``pattern`` replaced by ``replacement`` (``$1`` names a group).

    Examples
    --------
    >>> df = pl.DataFrame({"p": ["442079460958", "020 7946 0958"]})
    >>> rule = Replace(name="p", column="p", pattern=r"^([1-9]\d{10,14})$", replacement="+$1")
    >>> df.select(rule.derive()).to_series().to_list()
    ['+442079460958', '020 7946 0958']
    """

    kind: ClassVar[str] = "replace"
    name: str
    column: str
    pattern: str
    replacement: str = ""
    literal: bool = False

    def __post_init__(self) -> None:
        _check_column(self.kind, "column", self.column)
        if self.literal:
            if not isinstance(self.pattern, str) or not self.pattern:
                raise ConfigError(
                    "The 'pattern' of a replace derivation must be a non-empty "
                    f"string; got {self.pattern!r}."
                )
        else:
            _check_pattern(self.kind, self.pattern)
        if not isinstance(self.replacement, str):
            raise ConfigError(
                "The 'replacement' of a replace derivation must be a string; got "
                f"{self.replacement!r}."
            )

    @property
    def reads(self) -> tuple[str, ...]:
        """The column rewritten."""
        return (self.column,)

    def derive(self) -> pl.Expr:
        """Return the rewritten values."""
        return _blank_as_null(
            _text(self.column).str.replace_all(
                self.pattern, self.replacement, literal=self.literal
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)


@register_derivation
@dataclass(frozen=True, kw_only=True)
class Case:
    """The column in ``"lower"``, ``"upper"`` or ``"title"`` case.

    Examples
    --------
    >>> df = pl.DataFrame({"a": ["mcDONALD"]})
    >>> df.select(Case(name="a", column="a", case="title").derive()).item()
    'Mcdonald'
    """

    kind: ClassVar[str] = "case"
    name: str
    column: str
    case: Literal["lower", "upper", "title"] = "lower"

    def __post_init__(self) -> None:
        _check_column(self.kind, "column", self.column)
        if self.case not in ("lower", "upper", "title"):
            raise ConfigError(
                "The 'case' of a case derivation must be one of 'lower', 'upper', "
                f"'title'; got {self.case!r}."
            )

    @property
    def reads(self) -> tuple[str, ...]:
        """The column recased."""
        return (self.column,)

    def derive(self) -> pl.Expr:
        """Return the recased values."""
        text = _text(self.column)
        if self.case == "lower":
            out = text.str.to_lowercase()
        elif self.case == "upper":
            out = text.str.to_uppercase()
        else:
            out = text.str.to_titlecase()
        return _blank_as_null(out)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)


@register_derivation
@dataclass(frozen=True, kw_only=True)
class SortedTokens:
    """The whitespace-separated words in sorted order (each once with ``unique``).

    Sorting makes word order irrelevant ("john smith" and "smith john" agree
    exactly); words shorter than ``min_length`` are dropped.

    Examples
    --------
    >>> df = pl.DataFrame({"a": ["smith  john a", "b b a"]})
    >>> df.select(SortedTokens(name="a", column="a", min_length=1).derive()).rows()
    [('a john smith',), ('a b',)]
    """

    kind: ClassVar[str] = "sorted_tokens"
    name: str
    column: str
    unique: bool = True
    min_length: int = 1

    def __post_init__(self) -> None:
        _check_column(self.kind, "column", self.column)
        if (
            isinstance(self.min_length, bool)
            or not isinstance(self.min_length, int)
            or self.min_length < 1
        ):
            raise ConfigError(
                "The 'min_length' of a sorted_tokens derivation must be an int >= 1; "
                f"got {self.min_length!r}."
            )

    @property
    def reads(self) -> tuple[str, ...]:
        """The column whose words are sorted."""
        return (self.column,)

    def derive(self) -> pl.Expr:
        """Return the sorted words, joined by single spaces."""
        words = _text(self.column).str.split(" ")
        words = words.list.eval(
            pl.element().filter(pl.element().str.len_chars() >= self.min_length)
        )
        if self.unique:
            words = words.list.unique()
        return _blank_as_null(words.list.sort().list.join(" "))

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)


@register_derivation
@dataclass(frozen=True, kw_only=True)
class NullIf:
    """The column with sentinel values as null: listed ``values`` or a full-match ``pattern``.

    Values are compared after trimming, ignoring case unless
    ``case_sensitive``.

    Examples
    --------
    >>> df = pl.DataFrame({"e": ["N/A", "a@b.c", "0000000"]})
    >>> rule = NullIf(name="e", column="e", values=("n/a",), pattern=r"0+")
    >>> df.select(rule.derive()).to_series().to_list()
    [None, 'a@b.c', None]
    """

    kind: ClassVar[str] = "null_if"
    name: str
    column: str
    values: tuple[str, ...] = ()
    pattern: str | None = None
    case_sensitive: bool = False

    def __post_init__(self) -> None:
        _check_column(self.kind, "column", self.column)
        object.__setattr__(self, "values", tuple(self.values))
        if not all(isinstance(v, str) for v in self.values):
            raise ConfigError(
                f"The 'values' of a null_if derivation must be strings; got "
                f"{list(self.values)!r}."
            )
        if self.pattern is not None:
            _check_pattern(self.kind, self.pattern)
        if not self.values and self.pattern is None:
            raise ConfigError(
                "A null_if derivation needs 'values', a 'pattern', or both; got "
                "neither."
            )

    @property
    def reads(self) -> tuple[str, ...]:
        """The column cleaned."""
        return (self.column,)

    def derive(self) -> pl.Expr:
        """Return the values with the sentinels as null."""
        text = _text(self.column)
        key = text if self.case_sensitive else text.str.to_lowercase()
        values = [
            v.strip() if self.case_sensitive else v.strip().lower() for v in self.values
        ]
        sentinel = key.is_in(values) if values else pl.lit(False)
        if self.pattern is not None:
            flags = "" if self.case_sensitive else "(?i)"
            sentinel = sentinel | text.str.contains(f"{flags}^(?:{self.pattern})$")
        return _blank_as_null(pl.when(~sentinel.fill_null(False)).then(text))

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)


@register_derivation
@dataclass(frozen=True, kw_only=True)
class Coalesce:
    """The first of ``columns`` that is present (not null or blank).

    Examples
    --------
    >>> df = pl.DataFrame({"a": [None, "", "x"], "b": ["y", "z", "w"]})
    >>> df.select(Coalesce(name="c", columns=("a", "b")).derive()).to_series().to_list()
    ['y', 'z', 'x']
    """

    kind: ClassVar[str] = "coalesce"
    name: str
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_columns(self.kind, self.columns)
        object.__setattr__(self, "columns", tuple(self.columns))

    @property
    def reads(self) -> tuple[str, ...]:
        """The columns, in order of preference."""
        return self.columns

    def derive(self) -> pl.Expr:
        """Return the first present value."""
        return pl.coalesce([_blank_as_null(_text(c)) for c in self.columns])

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return declaration(self)
