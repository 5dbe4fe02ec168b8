"""Build standardisers from declarations (TOML configs, model JSON) and back."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Final

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise.addresses import AddressStandardiser
from er_toolkit.standardise.base import Standardiser, Steps
from er_toolkit.standardise.dates import DateStandardiser
from er_toolkit.standardise.emails import EmailStandardiser
from er_toolkit.standardise.names import NameStandardiser
from er_toolkit.standardise.phones import PhoneStandardiser
from er_toolkit.standardise.postcodes import PostcodeStandardiser
from er_toolkit.standardise.text import TextStandardiser

STANDARDISERS: Final[dict[str, type[Any]]] = {
    cls.kind: cls
    for cls in (
        TextStandardiser,
        NameStandardiser,
        PhoneStandardiser,
        EmailStandardiser,
        AddressStandardiser,
        PostcodeStandardiser,
        DateStandardiser,
    )
}
"""Every standardiser class, by kind."""

FORMAT_VERSION: Final = 1
"""Version of the layout written by :func:`steps_to_dict`."""


def standardiser_from_dict(declaration: Mapping[str, Any] | str) -> Standardiser:
    """Build a standardiser from its declaration.

    Parameters
    ----------
    declaration
        ``{"kind": ..., **options}`` as written by ``to_dict``, or just the
        kind for the default options. Lists become tuples.

    Returns
    -------
    Standardiser

    Raises
    ------
    ConfigError
        Unknown kind or option, or an option out of range.

    Examples
    --------
    >>> standardiser_from_dict({"kind": "phone", "default_region": "US"})
    PhoneStandardiser(default_region='US', check='valid')
    >>> standardiser_from_dict("email")
    EmailStandardiser(normalise_provider=False)
    """
    if isinstance(declaration, str):
        declaration = {"kind": declaration}
    if not isinstance(declaration, Mapping):
        raise ConfigError(
            "A standardiser declaration must be a kind or a table with a 'kind' "
            f"key; got {type(declaration).__name__}."
        )
    options = dict(declaration)
    kind = options.pop("kind", None)
    if kind not in STANDARDISERS:
        raise ConfigError(
            f"Unknown standardiser kind {kind!r}; valid kinds: "
            f"{', '.join(sorted(STANDARDISERS))}."
        )
    cls = STANDARDISERS[kind]
    valid = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} for standardiser {kind!r}; valid "
            f"options: {valid}."
        )
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    try:
        standardiser: Standardiser = cls(**options)
    except TypeError as exc:  # pragma: no cover - every option is a keyword
        raise ConfigError(f"Bad options for standardiser {kind!r}: {exc}.") from exc
    return standardiser


def steps_from_dict(
    declaration: Mapping[str, Any],
) -> dict[str, tuple[Standardiser, ...]]:
    """Build the per-column standardisers of a config or model file.

    Parameters
    ----------
    declaration
        Column → a kind, a ``{"kind": ...}`` table, or a list of those applied
        in turn. A ``format_version`` key, if present, must be 1.

    Returns
    -------
    dict
        Column → tuple of standardisers, ready for ``apply_standardisers``.

    Examples
    --------
    >>> steps = steps_from_dict({
    ...     "name": "name",
    ...     "phone": {"kind": "phone", "default_region": "US"},
    ...     "notes": ["text", {"kind": "text", "case": "upper"}],
    ... })
    >>> [(column, [s.kind for s in chain]) for column, chain in steps.items()]
    [('name', ['name']), ('phone', ['phone']), ('notes', ['text', 'text'])]
    """
    steps = dict(declaration)
    version = steps.pop("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"Standardisation format_version {version!r} is not supported; this "
            f"version of er_toolkit reads format_version {FORMAT_VERSION}."
        )
    out: dict[str, tuple[Standardiser, ...]] = {}
    for column, spec in steps.items():
        specs = (
            spec if isinstance(spec, Sequence) and not isinstance(spec, str) else [spec]
        )
        if not specs:
            raise ConfigError(f"Column {column!r} has an empty list of standardisers.")
        out[str(column)] = tuple(standardiser_from_dict(s) for s in specs)
    return out


def steps_to_dict(steps: Steps) -> dict[str, Any]:
    """Return the declaration of per-column standardisers, for JSON or TOML.

    Examples
    --------
    >>> from er_toolkit.standardise import PostcodeStandardiser
    >>> steps_to_dict({"postcode": PostcodeStandardiser(country="US")})
    {'format_version': 1, 'postcode': [{'kind': 'postcode', 'country': 'US'}]}
    """
    out: dict[str, Any] = {"format_version": FORMAT_VERSION}
    for column, spec in steps.items():
        chain = [spec] if isinstance(spec, Standardiser) else list(spec)
        out[column] = [step.to_dict() for step in chain]
    return out
