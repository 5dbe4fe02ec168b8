"""A small, strict parser for the SQL conditions Splink's libraries write."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from er_toolkit.exceptions import InteropError

__all__ = [
    "And",
    "Binary",
    "Call",
    "Cast",
    "Column",
    "IsNull",
    "Node",
    "Not",
    "Number",
    "Or",
    "String",
    "parse_condition",
]


@dataclass(frozen=True)
class Column:
    """A column reference: ``"first_name_l"``, or ``l."first_name"`` with a table."""

    name: str
    table: str | None = None


@dataclass(frozen=True)
class Number:
    """A numeric literal, kept as written (``0.9``, ``86400``, ``2.6e6``)."""

    text: str

    @property
    def value(self) -> float:
        """The literal as a float (what DuckDB compares a DOUBLE with)."""
        return float(self.text)


@dataclass(frozen=True)
class String:
    """A string literal (``'%Y-%m-%d'``), quotes removed."""

    value: str


@dataclass(frozen=True)
class Call:
    """A function call; ``name`` in lower case."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Cast:
    """``CAST(expr AS type)``; ``type`` in lower case."""

    expr: Node
    type: str


@dataclass(frozen=True)
class Binary:
    """A comparison or arithmetic: ``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``, ``+``, ``-``, ``*``, ``/``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class IsNull:
    """``expr IS NULL`` (or ``IS NOT NULL`` with ``negated``)."""

    expr: Node
    negated: bool = False


@dataclass(frozen=True)
class And:
    """Conjunction of two or more conditions."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction of two or more conditions."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """Negation."""

    item: Node


Node = Column | Number | String | Call | Cast | Binary | IsNull | And | Or | Not

_TOKEN: Final = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|\.|-|\+|\*|/)
    """,
    re.VERBOSE,
)
_KEYWORDS: Final = frozenset(
    {
        "and",
        "or",
        "not",
        "is",
        "null",
        "cast",
        "as",
        "case",
        "when",
        "then",
        "else",
        "end",
    }
)
_COMPARISONS: Final = frozenset({"=", "<>", "!=", "<", "<=", ">", ">="})


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "quoted", "number", "name", "op", "end"
    text: str


def _tokens(sql: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None:
            raise InteropError(
                f"Cannot read the SQL condition {sql!r}: unexpected character "
                f"{sql[pos]!r} at position {pos}."
            )
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            out.append(_Token(kind, match.group()))
        pos = match.end()
    out.append(_Token("end", ""))
    return out


class _Parser:
    """Recursive descent over the tokens; builds nodes, evaluates nothing."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = _tokens(sql)
        self.pos = 0

    # ------------------------------------------------------------ helpers
    def _peek(self) -> _Token:
        return self.tokens[self.pos]

    def _next(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _is_keyword(self, word: str) -> bool:
        token = self._peek()
        return token.kind == "name" and token.text.lower() == word

    def _expect_op(self, op: str) -> None:
        token = self._next()
        if token.kind != "op" or token.text != op:
            self._fail(f"expected {op!r}, found {token.text or 'the end'!r}")

    def _expect_keyword(self, word: str) -> None:
        token = self._next()
        if token.kind != "name" or token.text.lower() != word:
            self._fail(f"expected {word.upper()}, found {token.text or 'the end'!r}")

    def _fail(self, why: str) -> None:
        raise InteropError(f"Cannot read the SQL condition {self.sql!r}: {why}.")

    # ------------------------------------------------------------ grammar
    def parse(self) -> Node:
        node = self._or()
        if self._peek().kind != "end":
            self._fail(f"unexpected {self._peek().text!r}")
        return node

    def _or(self) -> Node:
        items = [self._and()]
        while self._is_keyword("or"):
            self._next()
            items.append(self._and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and(self) -> Node:
        items = [self._not()]
        while self._is_keyword("and"):
            self._next()
            items.append(self._not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _not(self) -> Node:
        if self._is_keyword("not"):
            self._next()
            return Not(self._not())
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._additive()
        token = self._peek()
        if token.kind == "op" and token.text in _COMPARISONS:
            self._next()
            op = "<>" if token.text == "!=" else token.text
            return Binary(op, left, self._additive())
        if self._is_keyword("is"):
            self._next()
            negated = self._is_keyword("not")
            if negated:
                self._next()
            self._expect_keyword("null")
            return IsNull(left, negated)
        return left

    def _additive(self) -> Node:
        node = self._multiplicative()
        while self._peek().kind == "op" and self._peek().text in ("+", "-"):
            op = self._next().text
            node = Binary(op, node, self._multiplicative())
        return node

    def _multiplicative(self) -> Node:
        node = self._unary()
        while self._peek().kind == "op" and self._peek().text in ("*", "/"):
            op = self._next().text
            node = Binary(op, node, self._unary())
        return node

    def _unary(self) -> Node:
        token = self._peek()
        if token.kind == "op" and token.text == "-":
            self._next()
            operand = self._unary()
            if isinstance(operand, Number):
                return Number("-" + operand.text)
            return Binary("-", Number("0"), operand)
        return self._primary()

    def _primary(self) -> Node:
        token = self._next()
        if token.kind == "op" and token.text == "(":
            node = self._or()
            self._expect_op(")")
            return node
        if token.kind == "number":
            return Number(token.text)
        if token.kind == "string":
            return String(token.text[1:-1].replace("''", "'"))
        if token.kind == "quoted":
            return self._column(token.text[1:-1].replace('""', '"'))
        if token.kind == "name":
            word = token.text.lower()
            if word == "cast":
                return self._cast()
            if word in _KEYWORDS:
                self._fail(f"unexpected {token.text.upper()}")
            if self._peek().kind == "op" and self._peek().text == "(":
                return self._call(word)
            return self._column(token.text)
        self._fail(f"unexpected {token.text or 'end of condition'!r}")
        raise AssertionError  # unreachable: _fail raises

    def _column(self, name: str) -> Column:
        if self._peek().kind == "op" and self._peek().text == ".":
            self._next()
            token = self._next()
            if token.kind == "quoted":
                return Column(token.text[1:-1].replace('""', '"'), table=name)
            if token.kind == "name":
                return Column(token.text, table=name)
            self._fail(f"expected a column name after {name!r}.")
        return Column(name)

    def _call(self, name: str) -> Call:
        self._expect_op("(")
        args: list[Node] = []
        if not (self._peek().kind == "op" and self._peek().text == ")"):
            args.append(self._or())
            while self._peek().kind == "op" and self._peek().text == ",":
                self._next()
                args.append(self._or())
        self._expect_op(")")
        return Call(name, tuple(args))

    def _cast(self) -> Cast:
        self._expect_op("(")
        expr = self._or()
        self._expect_keyword("as")
        token = self._next()
        if token.kind != "name":
            self._fail(f"expected a type name, found {token.text!r}")
        type_name = token.text.lower()
        self._expect_op(")")
        return Cast(expr, type_name)


def parse_condition(sql: str) -> Node:
    """Parse one SQL condition into a tree of nodes (nothing is evaluated).

    The grammar is the subset Splink's comparison-level and blocking-rule
    libraries write: column references (quoted or not, optionally
    ``l.``/``r.`` qualified), numbers, strings, function calls, ``CAST``,
    arithmetic, comparisons, ``IS [NOT] NULL``, ``AND``, ``OR``, ``NOT`` and
    parentheses. Anything else is refused.

    Raises
    ------
    InteropError
        If the condition is outside that grammar.

    Examples
    --------
    >>> parse_condition('jaro_winkler_similarity("name_l", "name_r") >= 0.9')
    Binary(op='>=', left=Call(name='jaro_winkler_similarity', args=(Column(name='name_l', table=None), Column(name='name_r', table=None))), right=Number(text='0.9'))
    >>> parse_condition("l.surname = r.surname")
    Binary(op='=', left=Column(name='surname', table='l'), right=Column(name='surname', table='r'))
    """
    if not isinstance(sql, str) or not sql.strip():
        raise InteropError(f"Expected a SQL condition (text); got {sql!r}.")
    return _Parser(sql).parse()
