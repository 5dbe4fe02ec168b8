"""E-mail addresses: trimmed, lower case, syntax-checked, provider aliases removed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

import email_validator
import polars as pl

from er_toolkit.standardise.base import (
    REASON,
    VALUE,
    as_text,
    options_dict,
    per_distinct,
)

_SCHEMA: Final = {VALUE: pl.String, REASON: pl.String}

GMAIL_DOMAINS: Final = frozenset({"gmail.com", "googlemail.com"})
"""Domains where dots in the local part are ignored (normalised to gmail.com)."""

PLUS_TAG_DOMAINS: Final = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "live.com",
        "live.co.uk",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "fastmail.com",
        "fastmail.fm",
    }
)
"""Domains that deliver ``user+tag@domain`` to ``user@domain``."""


def strip_provider_aliases(address: str) -> str:
    """Remove provider-specific aliasing from a valid, lower-case address.

    Examples
    --------
    >>> strip_provider_aliases("john.smith+promo@googlemail.com")
    'johnsmith@gmail.com'
    >>> strip_provider_aliases("jane+news@outlook.com")
    'jane@outlook.com'
    >>> strip_provider_aliases("first.last+x@example.com")
    'first.last+x@example.com'
    """
    local, _, domain = address.rpartition("@")
    if domain in PLUS_TAG_DOMAINS:
        local = local.split("+", 1)[0] or local
    if domain in GMAIL_DOMAINS:
        local = local.replace(".", "") or local
        domain = "gmail.com"
    return f"{local}@{domain}"


@dataclass(frozen=True, kw_only=True)
class EmailStandardiser:
    """Trim, lower-case and syntax-check e-mail addresses.

    Syntax is checked by the email-validator library, without network
    look-ups (no DNS or deliverability check); internationalised domains are
    normalised. Each distinct value is checked once.

    Parameters
    ----------
    normalise_provider
        Also remove aliasing that well-known providers ignore: ``+tags`` at
        Gmail, Outlook/Hotmail, iCloud, Proton and Fastmail, and dots in Gmail
        local parts (``googlemail.com`` becomes ``gmail.com``).

    Notes
    -----
    Reason: ``invalid_email``.

    Examples
    --------
    >>> df = pl.DataFrame({"email": [" John.Smith+promo@GMail.com ", "bad@@x"]})
    >>> std = EmailStandardiser(normalise_provider=True)
    >>> df.select(std.standardise(pl.col("email")).alias("r")).unnest("r").rows()
    [('johnsmith@gmail.com', None), (None, 'invalid_email')]
    """

    kind: ClassVar[str] = "email"
    parts: ClassVar[tuple[str, ...]] = ()

    normalise_provider: bool = False

    def standardise(self, values: pl.Expr) -> pl.Expr:
        """Return the result struct (``value``, ``reason``) of ``values``."""
        return per_distinct(
            values,
            self._check_all,
            schema=_SCHEMA,
            key=lambda v: as_text(v).str.to_lowercase(),
        )

    def _check_all(self, keys: list[str]) -> list[tuple[Any, ...]]:
        return [self._check(key) for key in keys]

    def _check(self, text: str) -> tuple[str | None, str | None]:
        try:
            checked = email_validator.validate_email(text, check_deliverability=False)
        except email_validator.EmailNotValidError:
            return None, "invalid_email"
        address = checked.normalized.lower()
        if self.normalise_provider:
            address = strip_provider_aliases(address)
        return address, None

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)
