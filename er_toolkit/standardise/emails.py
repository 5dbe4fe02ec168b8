"""E-mail addresses: trimmed, lower case, syntax-checked, provider aliases removed."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import email_validator
import polars as pl

from er_toolkit.standardise.base import (
    REASON,
    ROW,
    VALUE,
    as_text,
    options_dict,
    per_distinct,
    per_distinct_frame,
)

_SCHEMA: Final = {VALUE: pl.String, REASON: pl.String}
_INVALID: Final = "invalid_email"

_LATIN_LOWER: Final = "".join(
    c
    for c in map(chr, range(0xDF, 0x250))
    if unicodedata.category(c) == "Ll"
    and unicodedata.normalize("NFC", c) == c
    and c.lower() == c
)
"""Lower-case Latin letters with diacritics (ß, é, ø, ł, ...) that Unicode
normalisation and lower-casing leave alone."""
_ATEXT: Final = rf"[a-zA-Z0-9_!#$%&'*+\-/=?^`{{|}}~{_LATIN_LOWER}]"
_LOCAL: Final = rf"^{_ATEXT}+(?:\.{_ATEXT}+)*$"
_DOTTED: Final = rf"^(?:{_ATEXT}|\.)+$"
"""A plain dot-atom local part: email-validator's ``DOT_ATOM_TEXT`` with the letters of
:data:`_LATIN_LOWER` added (valid in its internationalised form, safe, and
already normalised), so it is valid and comes back unchanged: only the
domain and the length need checking."""
_MAX_LENGTH: Final = 254
"""email-validator's ``EMAIL_MAX_LENGTH``, in UTF-8 bytes."""

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


def _email_key(values: pl.Expr) -> pl.Expr:
    return as_text(values).str.to_lowercase()


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


def _without_aliases(frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`strip_provider_aliases` of the ``local`` and ``domain`` columns, vectorised.

    Returns ``frame`` with both columns replaced; only the rows at a
    provider that aliases are worked on.
    """
    local, domain = pl.col("local"), pl.col("domain")
    aliasing = (
        frame.select(domain.is_in(PLUS_TAG_DOMAINS | GMAIL_DOMAINS).fill_null(False))
        .to_series()
        .arg_true()
    )
    if aliasing.len() == 0:
        return frame
    rows = frame.select("local", "domain").gather(aliasing)
    untagged = local.str.splitn("+", 2).struct.field("field_0")
    rows = rows.with_columns(
        pl.when(domain.is_in(PLUS_TAG_DOMAINS) & (untagged != ""))
        .then(untagged)
        .otherwise(local)
        .alias("local"),
        domain.is_in(GMAIL_DOMAINS).alias("__gmail"),
    )
    undotted = local.str.replace_all(".", "", literal=True)
    gmail = pl.col("__gmail")
    rows = rows.select(
        pl.when(gmail & (undotted != ""))
        .then(undotted)
        .otherwise(local)
        .alias("local"),
        pl.when(gmail).then(pl.lit("gmail.com")).otherwise(domain).alias("domain"),
    )
    return frame.with_columns(
        frame.get_column("local").clone().scatter(aliasing, rows.get_column("local")),
        frame.get_column("domain").clone().scatter(aliasing, rows.get_column("domain")),
    )


_LABEL: Final = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
_PLAIN_DOMAIN: Final = rf"^{_LABEL}(?:\.{_LABEL})+$"
_SPECIAL_USE: Final = tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def _plain_domain(domain: pl.Expr) -> pl.Expr:
    """Whether each domain is plain: email-validator returns it as it is."""
    special = pl.any_horizontal(
        (domain == name) | domain.str.ends_with("." + name) for name in _SPECIAL_USE
    )
    return (
        domain.str.contains(_PLAIN_DOMAIN)
        & domain.str.contains(r"[a-z]$")
        & ~domain.str.contains(r"(?:^|\.)[a-z0-9\-]{2}--")
        & (domain.str.len_bytes() <= _MAX_LENGTH - 2)
        & ~special
    )


def _check_domain(domain: str) -> tuple[str | None, int]:
    """Check a domain as email-validator does; return its form and length cost.

    Returns the normalised domain (None if invalid) and the most UTF-8 bytes
    any of the domain's three forms (as given, normalised, IDNA ASCII) adds
    to an address, for email-validator's length check.
    """
    try:
        checked = email_validator.validate_email(
            "a@" + domain, check_deliverability=False
        )
    except email_validator.EmailNotValidError:
        # Any local part is at least as long as "a", so no address with this
        # domain is valid (email-validator checks the domain on its own, and
        # the length of the whole address).
        return None, 0
    forms = (domain, checked.domain, checked.ascii_domain)
    return ("a@" + checked.domain).lower()[2:], max(len(f.encode()) for f in forms)


def settle_plain(keys: pl.DataFrame, *, normalise_provider: bool) -> pl.DataFrame:
    """Results for the keys with a plain local part, checking each domain once.

    An address whose local part is a plain dot-atom is valid exactly when
    its domain is valid on its own and the address is within 254 UTF-8
    bytes in each of the forms email-validator measures; the local part
    comes back unchanged. So each distinct domain goes to email-validator
    once instead of each address.

    Parameters
    ----------
    keys
        Distinct lower-case, stripped addresses, in column ``key``.
    normalise_provider
        Remove provider aliasing from the results.

    A plain domain (lower-case ASCII letters, digits and hyphens in labels
    of at most 63 characters that neither start nor end with a hyphen, at
    least two labels, a top-level label ending in a letter, no ``??--``
    label such as Punycode, at most 252 characters, not a special-use name)
    is one email-validator accepts unchanged on its own, so it is not even
    checked once; a key without an ``@``, or whose local part has the
    characters of a plain one but dots at its ends or side by side, is never
    valid.

    Returns
    -------
    polars.DataFrame
        ``key``, ``value``, ``reason`` for the keys with a plain local part
        or no ``@``.
    """
    key = pl.col("key")
    split = key.str.splitn("@", 2)
    parts = keys.select(
        pl.int_range(pl.len(), dtype=pl.get_index_type()).alias(ROW),
        "key",
        split.struct.field("field_0").alias("local"),
        split.struct.field("field_1").alias("domain"),
    )
    # A plain local part holds no "@", so it is the text before the first.
    has_at = pl.col("domain").is_not_null()
    parts = parts.filter(has_at).with_columns(
        pl.col("local").str.contains(_LOCAL).alias("__plain")
    )
    plain_local = pl.col("__plain")
    # Dots in the wrong places ("a..b", ".a", "a.") among plain characters:
    # never a valid local part, whatever the domain.
    misdotted = parts.filter(
        ~plain_local & pl.col("local").str.contains(_DOTTED)
    ).select(ROW, "key")
    parts = parts.filter(plain_local).drop("__plain")
    domains = parts.get_column("domain").unique().to_frame()
    plain = _plain_domain(pl.col("domain"))
    easy = domains.filter(plain).select(
        "domain",
        pl.col("domain").alias("normalised"),
        pl.col("domain").str.len_bytes().cast(pl.Int64).alias("cost"),
    )
    others = domains.filter(~plain).get_column("domain").to_list()
    checked = [_check_domain(domain) for domain in others]
    table = pl.DataFrame(
        {
            "domain": others,
            "normalised": [c[0] for c in checked],
            "cost": [c[1] for c in checked],
        },
        schema={"domain": pl.String, "normalised": pl.String, "cost": pl.Int64},
    )
    table = pl.concat([easy, table])
    joined = parts.join(table, on="domain", how="left")
    ok = pl.col("normalised").is_not_null() & (
        pl.col("local").str.len_bytes().cast(pl.Int64) + 1 + pl.col("cost")
        <= _MAX_LENGTH
    )
    joined = joined.select(
        ROW, "key", "local", pl.col("normalised").alias("domain"), ok.alias("ok")
    )
    if normalise_provider:
        joined = _without_aliases(joined)
    no_at = (
        keys.select("key")
        .with_row_index(ROW)
        .filter(~key.str.contains("@", literal=True))
    )
    invalid = pl.concat([no_at, misdotted]).select(
        ROW,
        "key",
        pl.lit(None, dtype=pl.String).alias(VALUE),
        pl.lit(_INVALID).alias(REASON),
    )
    settled = joined.select(
        ROW,
        "key",
        pl.when("ok").then(pl.col("local") + "@" + pl.col("domain")).alias(VALUE),
        pl.when("ok").then(None).otherwise(pl.lit(_INVALID)).alias(REASON),
    )
    return pl.concat([settled, invalid])


@dataclass(frozen=True, kw_only=True)
class EmailStandardiser:
    """Trim, lower-case and syntax-check e-mail addresses.

    Syntax is checked by the email-validator library, without network
    look-ups (no DNS or deliverability check); internationalised domains are
    normalised. Each distinct value is checked once; addresses with a plain
    ASCII local part (``first.last+tag``) need only their domain checked, so
    each distinct domain is checked once instead (see :func:`settle_plain`).

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
            key=_email_key,
            settle=self._settle,
        )

    def _standardise_distinct(self, values: pl.Series) -> pl.DataFrame:
        return per_distinct_frame(
            values, self._check_all, schema=_SCHEMA, key=_email_key, settle=self._settle
        )

    def _settle(self, keys: pl.DataFrame) -> pl.DataFrame:
        return settle_plain(keys, normalise_provider=self.normalise_provider)

    def _check_all(self, keys: list[str]) -> list[tuple[Any, ...]]:
        return [self._check(key) for key in keys]

    def _check(self, text: str) -> tuple[str | None, str | None]:
        try:
            checked = email_validator.validate_email(text, check_deliverability=False)
        except email_validator.EmailNotValidError:
            return None, _INVALID
        address = checked.normalized.lower()
        if self.normalise_provider:
            address = strip_provider_aliases(address)
        return address, None

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)
