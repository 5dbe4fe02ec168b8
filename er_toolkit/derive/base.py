"""The Derivation protocol, its registry, and applying derivations to records."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import polars as pl

from er_toolkit.exceptions import ConfigError, SchemaError


@runtime_checkable
class Derivation(Protocol):
    """A column made from other columns, declared in a config's ``[[derive]]``.

    A derivation is a small frozen dataclass: ``name`` is the column it
    writes, its other fields are its options. Its one verb, :meth:`derive`,
    returns a polars expression of the new values (text; empty results are
    null), reading the columns named by ``reads``. It may write a column it
    reads (a clean-up in place) and read what an earlier derivation wrote.
    """

    kind: ClassVar[str]
    """The name of the derivation in configs and model files."""

    name: str
    """The column written."""

    @property
    def reads(self) -> tuple[str, ...]:
        """The columns the expression reads."""
        ...

    def derive(self) -> pl.Expr:
        """Return the expression of the derived values."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration: ``{"name": ..., "kind": ..., **options}``."""
        ...


DERIVE_KINDS: dict[str, type[Any]] = {}
"""Every derivation kind a config can name, by its ``kind``."""

_D = TypeVar("_D", bound=type[Any])


def register_derivation(cls: _D) -> _D:
    """Register a derivation class under its ``kind`` (usable as a decorator).

    Raises
    ------
    ConfigError
        When ``cls`` has no string ``kind``, or another class holds the kind.
    """
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ConfigError(
            "A derivation class needs a non-empty string 'kind' to be registered; "
            f"{cls.__name__} has {kind!r}."
        )
    held = DERIVE_KINDS.get(kind)
    if held is not None and held is not cls:
        raise ConfigError(
            f"Derivation kind {kind!r} is already registered to {held.__name__}; "
            f"choose another kind for {cls.__name__}."
        )
    DERIVE_KINDS[kind] = cls
    return cls


def declaration(derivation: Any) -> dict[str, Any]:
    """Return the declaration of a dataclass derivation, tuples as lists."""
    out: dict[str, Any] = {"name": derivation.name, "kind": derivation.kind}
    for field in dataclasses.fields(derivation):
        if field.name == "name":
            continue
        value = getattr(derivation, field.name)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


def derivation_from_dict(
    spec: Mapping[str, Any], *, where: str = "a [[derive]] table"
) -> Derivation:
    """Build a derivation from its declaration (the inverse of its ``to_dict``).

    Raises
    ------
    ConfigError
        An unknown kind or option (the valid ones are listed), a missing
        required option, or a bad value.

    Examples
    --------
    >>> derivation_from_dict({"name": "t", "kind": "case", "column": "title"})
    Case(name='t', column='title', case='lower')
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be a table; got {type(spec).__name__}.")
    options = dict(spec)
    kind = options.pop("kind", None)
    if kind not in DERIVE_KINDS:
        raise ConfigError(
            f"The 'kind' of {where} must be one of {sorted(DERIVE_KINDS)}; got "
            f"{kind!r}."
        )
    cls = DERIVE_KINDS[kind]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    valid = {f.name for f in fields}
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} for {where} of kind {kind!r}; valid options "
            f"are {sorted(valid)}."
        )
    missing = sorted(required - set(options))
    if missing:
        raise ConfigError(
            f"{where[0].upper()}{where[1:]} of kind {kind!r} needs {missing}; got "
            f"{sorted(options)}."
        )
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    try:
        derivation: Derivation = cls(**options)
    except ConfigError as exc:
        raise ConfigError(f"In {where}: {exc}") from exc
    return derivation


def as_derivations(
    specs: Sequence[Derivation | Mapping[str, Any]],
) -> tuple[Derivation, ...]:
    """Return ``specs`` (derivations or their declarations) as derivations."""
    if isinstance(specs, (Mapping, str)):
        raise ConfigError(
            "[[derive]] must be an array of tables (one [[derive]] table per "
            f"column); got {type(specs).__name__}."
        )
    out = tuple(
        s
        if isinstance(s, Derivation) and not isinstance(s, Mapping)
        else derivation_from_dict(s, where=f"[[derive]] table number {i + 1}")
        for i, s in enumerate(specs)
    )
    for derivation in out:
        if not isinstance(derivation.name, str) or not derivation.name:
            raise ConfigError(
                f"A derivation needs a column 'name' to write; got {derivation.name!r}."
            )
    return out


def derived_inputs(derivations: Sequence[Derivation]) -> tuple[str, ...]:
    """Return the columns the derivations read that none of them wrote before.

    These come from the sources; every other column a derivation reads was
    written by an earlier one.

    Examples
    --------
    >>> from er_toolkit.derive import Case, Copy
    >>> derived_inputs([Copy(name="raw", column="t"), Case(name="t", column="t")])
    ('t',)
    """
    written: set[str] = set()
    inputs: list[str] = []
    for derivation in derivations:
        inputs += [c for c in derivation.reads if c not in written]
        written.add(derivation.name)
    return tuple(dict.fromkeys(inputs))


def derived_outputs(derivations: Sequence[Derivation]) -> tuple[str, ...]:
    """Return the columns the derivations write, in order, each once."""
    return tuple(dict.fromkeys(d.name for d in derivations))


def apply_derivations(
    frame: pl.DataFrame, derivations: Sequence[Derivation]
) -> pl.DataFrame:
    """Add (or replace) the derived columns of ``frame``, in declaration order.

    Each derivation sees the columns the earlier ones wrote. The rows are
    never changed in number or order, and ``frame`` itself is not changed.

    Raises
    ------
    SchemaError
        A derivation reads a column that neither ``frame`` nor an earlier
        derivation holds.

    Examples
    --------
    >>> from er_toolkit.derive import NamePart
    >>> df = pl.DataFrame({"full_name": ["SMITH, John", "Mary van Dyke", None]})
    >>> apply_derivations(df, [
    ...     NamePart(name="first_name", column="full_name", part="first"),
    ...     NamePart(name="surname", column="full_name", part="last"),
    ... ]).rows()
    [('SMITH, John', 'John', 'SMITH'), ('Mary van Dyke', 'Mary', 'van Dyke'), (None, None, None)]
    """
    if not derivations:
        return frame
    lazy = frame.lazy()
    present = set(frame.columns)
    for i, derivation in enumerate(derivations):
        missing = [c for c in derivation.reads if c not in present]
        if missing:
            raise SchemaError(
                f"[[derive]] table number {i + 1} ({derivation.kind} -> "
                f"{derivation.name!r}) reads column(s) {missing}, which the records "
                f"lack; the records have {sorted(present)}."
            )
        lazy = lazy.with_columns(derivation.derive().alias(derivation.name))
        present.add(derivation.name)
    return lazy.collect()


def derivations_to_dict(derivations: Sequence[Derivation]) -> list[dict[str, Any]]:
    """Return the declarations of ``derivations`` (a config's ``[[derive]]``)."""
    return [d.to_dict() for d in derivations]
