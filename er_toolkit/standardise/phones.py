"""Phone numbers to E.164 with the phonenumbers library."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Final, Literal

import phonenumbers
import polars as pl
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

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


_TYPES: Final = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)
_MAX_NSN: Final = 17  # phonenumbers' _MAX_LENGTH_FOR_NSN


def _regex_ok(pattern: str) -> bool:
    try:
        pl.Series(["1"]).str.contains(pattern)
    except Exception:  # any pattern polars cannot compile
        return False
    return True


def _desc_matches(desc: Any, nsn: pl.Expr, length: pl.Expr) -> pl.Expr | None:
    """Vectorise phonenumbers' ``_is_number_matching_desc`` (None: never)."""
    if desc is None or not desc.national_number_pattern:
        return None
    matches = nsn.str.contains(f"^(?:{desc.national_number_pattern})$")
    if desc.possible_length:
        matches = length.is_in(list(desc.possible_length)) & matches
    return matches


@cache
def _fast_plan(region: str) -> dict[str, Any] | None:
    """Return what the vectorised fast path of ``region`` needs (None: no path).

    The fast path settles digit strings that phonenumbers would parse to a
    valid number of ``region`` and leaves everything else to phonenumbers.
    It is offered only where the region's metadata is simple enough for the
    steps below to be exactly phonenumbers' steps.
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:  # pragma: no cover - checked by PhoneStandardiser
        return None
    code = metadata.country_code
    if code is None:  # pragma: no cover - every region has one
        return None
    text = str(code)
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    if (
        not regions
        or regions[0] != region  # only the main region of its calling code
        or metadata.leading_digits is not None
        or metadata.national_prefix_transform_rule
        or not metadata.international_prefix
        or any(
            int(text[:i]) in COUNTRY_CODE_TO_REGION_CODE for i in range(1, len(text))
        )
    ):
        return None
    prefix = metadata.national_prefix_for_parsing or None
    general = metadata.general_desc
    if general is None or not general.national_number_pattern:
        return None
    patterns = [
        f"^(?:{metadata.international_prefix})",
        f"^(?:{prefix})" if prefix else "^",
    ]
    for name in ("general_desc", *_TYPES, "mobile"):
        desc = getattr(metadata, name)
        if desc is not None and desc.national_number_pattern:
            patterns.append(f"^(?:{desc.national_number_pattern})$")
    if not all(_regex_ok(p) for p in patterns):
        return None
    return {
        "code": text,
        "idd": patterns[0],
        "prefix": f"^((?:{prefix}))" if prefix else None,
        "local_only": list(general.possible_length_local_only or ()),
    }


def _valid_expr(region: str, nsn: pl.Expr) -> pl.Expr:
    """Vectorise phonenumbers' validity of national significant numbers."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:  # pragma: no cover - _fast_plan checked it
        return pl.lit(False)
    length = nsn.str.len_chars()
    general = _desc_matches(metadata.general_desc, nsn, length)
    names = list(_TYPES)
    if not metadata.same_mobile_and_fixed_line_pattern:
        names.append("mobile")
    kinds = [_desc_matches(getattr(metadata, name), nsn, length) for name in names]
    kinds = [k for k in kinds if k is not None]
    if general is None or not kinds:
        return pl.lit(False)
    return general & pl.any_horizontal(kinds)


def _settle_valid(region: str, keys: pl.DataFrame) -> pl.DataFrame:
    """Keys that phonenumbers would parse to a valid number of ``region``, vectorised.

    A key (already without spaces and punctuation) qualifies when it is
    ``+<calling code><digits>`` or national digits that neither start with
    the international prefix nor the calling code; its digits, less a
    national prefix, must be a valid national significant number of
    ``region`` without a leading zero. Those are exactly the steps
    phonenumbers takes for such keys (country code, national prefix,
    length check, validity by the metadata's patterns); any other key is
    left to phonenumbers itself.
    """
    plan = _fast_plan(region)
    empty = keys.head(0).with_columns(
        pl.lit(None, dtype=pl.String).alias(VALUE),
        pl.lit(None, dtype=pl.String).alias(REASON),
    )
    if plan is None or keys.height == 0:
        return empty
    key = pl.col("key")
    code = plan["code"]
    international = key.str.extract(rf"^\+{code}([0-9]+)$", 1)
    national = (
        pl.when(
            key.str.contains(r"^[0-9]+$")
            & ~key.str.contains(plan["idd"])
            & ~key.str.starts_with(code)
        )
        .then(key)
        .otherwise(None)
    )
    frame = keys.with_columns(digits=pl.coalesce(international, national)).filter(
        pl.col("digits").is_not_null()
    )
    if plan["prefix"] is not None:
        frame = frame.with_columns(
            trunk=pl.col("digits").str.extract(plan["prefix"], 1)
        ).with_columns(
            nsn=pl.col("digits").str.slice(pl.col("trunk").str.len_bytes().fill_null(0))
        )
    else:
        frame = frame.with_columns(trunk=pl.lit(None, pl.String), nsn=pl.col("digits"))
    nsn = pl.col("nsn")
    length = nsn.str.len_chars()
    stripped = pl.col("trunk").is_not_null() & (pl.col("trunk") != "")
    keep = (
        (length >= 2)
        & (length <= _MAX_NSN)
        & ~nsn.str.starts_with("0")
        & ~(stripped & length.is_in(plan["local_only"]))
        & _valid_expr(region, nsn)
    )
    return frame.filter(keep).select(
        "key",
        (pl.lit("+" + code) + nsn).alias(VALUE),
        pl.lit(None, dtype=pl.String).alias(REASON),
    )


@dataclass(frozen=True, kw_only=True)
class PhoneStandardiser:
    """Parse phone numbers and write them in E.164 (``"+442079460958"``).

    Numbers without a country code are read as numbers of ``default_region``.
    Each distinct value is parsed once with the phonenumbers library, except
    that plain digit strings (``"02079460958"``, ``"+442079460958"``) that are
    valid numbers of ``default_region`` are recognised in one vectorised pass
    over the column with the same metadata patterns phonenumbers uses.

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
        return per_distinct(
            values,
            self._parse_all,
            schema=_SCHEMA,
            key=_phone_key,
            settle=self._settle,
        )

    def _settle(self, keys: pl.DataFrame) -> pl.DataFrame:
        return _settle_valid(self.default_region, keys)

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
