"""Phone numbers to E.164 with the phonenumbers library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

import phonenumbers
import polars as pl

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise.base import (
    REASON,
    VALUE,
    as_text,
    check_choice,
    options_dict,
    per_distinct,
)

PhoneCheck = Literal["valid", "possible"]
PHONE_CHECKS: Final[tuple[PhoneCheck, ...]] = ("valid", "possible")
_SCHEMA: Final = {VALUE: pl.String, REASON: pl.String}


def _phone_key(values: pl.Expr) -> pl.Expr:
    # Spaces, dots, dashes and brackets never change how a number parses
    # (phonenumbers drops them, and a national prefix after the country code);
    # dropping them first lets "020 7946 0958" and "(020) 7946-0958" share
    # one parse.
    return as_text(values).str.replace_all(r"[\s.()\-\u2010-\u2015]+", "")


@dataclass(frozen=True, kw_only=True)
class PhoneStandardiser:
    """Parse phone numbers and write them in E.164 (``"+442079460958"``).

    Numbers without a country code are read as numbers of ``default_region``.
    Each distinct value is parsed once with the phonenumbers library.

    Parameters
    ----------
    default_region
        ISO 3166 region code of numbers written without a country code.
    check
        ``"valid"`` keeps numbers in an assigned range of their country's
        numbering plan; ``"possible"`` only checks their length.

    Notes
    -----
    Reasons: ``unparseable_phone`` (not a phone number at all, such as
    ``"n/a"``) and ``invalid_phone`` (parses, but fails ``check``).

    Examples
    --------
    >>> df = pl.DataFrame({"phone": ["+44 (0)20 7946 0958", "020 7946 0958", "12"]})
    >>> std = PhoneStandardiser(default_region="GB")
    >>> df.select(std.standardise(pl.col("phone")).alias("r")).unnest("r").rows()
    [('+442079460958', None), ('+442079460958', None), (None, 'invalid_phone')]
    """

    kind: ClassVar[str] = "phone"
    parts: ClassVar[tuple[str, ...]] = ()

    default_region: str = "GB"
    check: PhoneCheck = "valid"

    def __post_init__(self) -> None:
        if self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(
                "The 'default_region' parameter of PhoneStandardiser must be an "
                "upper-case ISO 3166 region code known to phonenumbers, such as "
                f"'GB' or 'US'; got {self.default_region!r}."
            )
        check_choice("PhoneStandardiser", "check", self.check, PHONE_CHECKS)

    def standardise(self, values: pl.Expr) -> pl.Expr:
        """Return the result struct (``value``, ``reason``) of ``values``."""
        return per_distinct(values, self._parse_all, schema=_SCHEMA, key=_phone_key)

    def _parse_all(self, keys: list[str]) -> list[tuple[Any, ...]]:
        return [self._parse(key) for key in keys]

    def _parse(self, text: str) -> tuple[str | None, str | None]:
        try:
            number = phonenumbers.parse(text, self.default_region)
        except phonenumbers.NumberParseException:
            return None, "unparseable_phone"
        if self.check == "valid":
            ok = phonenumbers.is_valid_number(number)
        else:
            ok = phonenumbers.is_possible_number(number)
        if not ok:
            return None, "invalid_phone"
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return e164, None

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)
