"""Phone numbers to E.164 with the phonenumbers library."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Final, Literal

import phonenumbers
import polars as pl
from phonenumbers import PhoneMetadata, ValidationResult
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise.base import (
    REASON,
    ROW,
    VALUE,
    as_text,
    check_choice,
    options_dict,
    per_distinct,
    per_distinct_frame,
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
_MAX_INPUT: Final = 250  # phonenumbers' _MAX_INPUT_STRING_LENGTH
_DIGIT_KEY: Final = r"^\+?[0-9]+$"

_POSSIBLE: Final = int(ValidationResult.IS_POSSIBLE)
_TOO_SHORT: Final = int(ValidationResult.TOO_SHORT)
_TOO_LONG: Final = int(ValidationResult.TOO_LONG)
_LOCAL_ONLY: Final = int(ValidationResult.IS_POSSIBLE_LOCAL_ONLY)
_INVALID_LENGTH: Final = int(ValidationResult.INVALID_LENGTH)

_UNPARSEABLE: Final = "unparseable_phone"
_INVALID: Final = "invalid_phone"


class _NoFastPathError(Exception):
    """Metadata the fast path cannot read exactly (left to phonenumbers)."""


@cache
def _rx(pattern: str) -> str:
    r"""Return ``pattern`` for polars' regex engine, ASCII-only where it compiles.

    The fast path only matches ASCII digits, where ``\d`` and the ASCII
    class ``[0-9]`` agree, and ASCII classes compile and run faster.
    """
    for candidate in ("(?-u)" + pattern, pattern):
        try:
            pl.Series(["1"], dtype=pl.String).str.contains(candidate)
        except Exception:  # any pattern polars cannot compile
            continue
        return candidate
    raise _NoFastPathError(pattern)


@dataclass(frozen=True)
class _Rules:
    """The parts of one region's metadata that the fast path reads, as regexes.

    ``general`` and the patterns of ``descs`` match whole numbers (None:
    never matches); ``prefix`` matches a national prefix at the start and
    ``captured`` the same with the prefix in group 1; ``leading`` matches the
    region's leading digits at the start.
    """

    general: str | None
    lengths: tuple[int, ...]
    local_lengths: tuple[int, ...]
    prefix: str | None
    captured: str | None
    prefix_groups: int
    transform: str | None
    descs: tuple[tuple[str, tuple[int, ...]], ...]
    leading: str | None


@cache
def _rules(code: int, region: str) -> _Rules:
    """Return the fast path's view of the metadata of ``region`` (or ``"001"``).

    The metadata is phonenumbers' ``metadata_for_region_or_calling_code``.
    Raises :class:`_NoFastPathError` where a pattern does not compile in polars'
    regex engine, a transform rule is more than digits and group
    references, or the metadata lacks possible lengths.
    """
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None or metadata.general_desc is None:
        raise _NoFastPathError(region)
    general = metadata.general_desc
    if not general.possible_length:
        raise _NoFastPathError(region)
    names = list(_TYPES)
    if not metadata.same_mobile_and_fixed_line_pattern:
        names.append("mobile")
    descs = tuple(
        (_rx(f"^(?:{desc.national_number_pattern})$"), tuple(desc.possible_length))
        for desc in (getattr(metadata, name) for name in names)
        if desc is not None and desc.national_number_pattern
    )
    national = metadata.national_prefix_for_parsing or None
    transform = None
    rule = metadata.national_prefix_transform_rule
    if national is not None and rule:
        if not re.fullmatch(r"(?:[0-9]|\\[1-9])*", rule):
            raise _NoFastPathError(region)
        transform = re.sub(r"\\([1-9])", r"${\1}", rule)
    pattern = general.national_number_pattern
    return _Rules(
        general=_rx(f"^(?:{pattern})$") if pattern else None,
        lengths=tuple(general.possible_length),
        local_lengths=tuple(general.possible_length_local_only or ()),
        prefix=_rx(f"^(?:{national})") if national is not None else None,
        captured=_rx(f"^((?:{national}))") if national is not None else None,
        prefix_groups=re.compile(national).groups if national is not None else 0,
        transform=transform,
        descs=descs,
        leading=_rx(f"^(?:{metadata.leading_digits})")
        if metadata.leading_digits
        else None,
    )


@cache
def _code_pattern() -> str:
    # Calling codes are prefix-free, so at most one matches the start of a
    # number: the one phonenumbers' _extract_country_code finds.
    codes = sorted(map(str, COUNTRY_CODE_TO_REGION_CODE))
    return _rx(rf"^({'|'.join(codes)})([0-9]*)$")


def _main_region(code: int) -> str:
    return str(phonenumbers.region_code_for_country_code(code))


def _matches(number: pl.Expr, full: str | None) -> pl.Expr:
    """Phonenumbers' ``_match_national_number`` without prefix matches."""
    return number.str.contains(full) if full is not None else pl.lit(False)


def _length_result(length: pl.Expr, rules: _Rules) -> pl.Expr:
    """Phonenumbers' ``_test_number_length`` for the unknown type."""
    lengths = rules.lengths
    return (
        pl.when(length.is_in(list(rules.local_lengths)))
        .then(pl.lit(_LOCAL_ONLY))
        .when(length == lengths[0])
        .then(pl.lit(_POSSIBLE))
        .when(length < lengths[0])
        .then(pl.lit(_TOO_SHORT))
        .when(length > lengths[-1])
        .then(pl.lit(_TOO_LONG))
        .when(length.is_in(list(lengths[1:])))
        .then(pl.lit(_POSSIBLE))
        .otherwise(pl.lit(_INVALID_LENGTH))
    )


def _strip_national_prefix(numbers: pl.Series, rules: _Rules) -> pl.Series:
    """Phonenumbers' ``_maybe_strip_national_prefix_carrier_code``: the number.

    ``numbers`` are national numbers of ASCII digits.
    """
    if rules.prefix is None or numbers.len() == 0:
        return numbers
    n = pl.col("n")
    hits = (
        numbers.to_frame("n")
        .with_row_index("__row")
        .filter(n.str.contains(rules.prefix) & (n != ""))
    )
    if hits.height == 0:
        return numbers
    hits = hits.with_columns(
        rest=n.str.replace(rules.prefix, ""), viable=_matches(n, rules.general)
    )
    rest, viable = pl.col("rest"), pl.col("viable")
    plain = pl.when(viable & ~_matches(rest, rules.general)).then(n).otherwise(rest)
    if rules.transform is None or rules.captured is None:
        out = plain
    else:
        last = (
            n.str.extract(rules.captured, rules.prefix_groups + 1)
            if rules.prefix_groups
            else pl.lit(None, dtype=pl.String)
        )
        hits = hits.with_columns(
            last=last, transformed=n.str.replace(rules.prefix, rules.transform)
        )
        transformed = pl.col("transformed")
        changed = (
            pl.when(viable & ~_matches(transformed, rules.general))
            .then(n)
            .otherwise(transformed)
        )
        out = pl.when(pl.col("last").is_null()).then(plain).otherwise(changed)
    stripped = hits.select("__row", out.alias("n"))
    return numbers.scatter(stripped.get_column("__row"), stripped.get_column("n"))


def _type_known(nsn: pl.Expr, rules: _Rules) -> pl.Expr:
    """Phonenumbers' ``_number_type_helper(...) != UNKNOWN``."""
    if rules.general is None or not rules.descs:
        return pl.lit(False)
    length = nsn.str.len_bytes()
    kinds = [
        (length.is_in(list(lengths)) & nsn.str.contains(full))
        if lengths
        else nsn.str.contains(full)
        for full, lengths in rules.descs
    ]
    general = length.is_in(list(rules.lengths)) & nsn.str.contains(rules.general)
    return general & pl.any_horizontal(kinds)


def _valid(nsn: pl.Series, code: int) -> pl.Series:
    """Phonenumbers' ``is_valid_number`` of national significant numbers.

    The region is found as phonenumbers finds it: the only region of the
    calling code, else the first of its regions whose leading digits start
    the number or, for a region without leading digits, whose patterns it
    matches.
    """
    regions = COUNTRY_CODE_TO_REGION_CODE[code]
    n = pl.col("nsn")
    frame = nsn.to_frame("nsn")
    if len(regions) == 1:
        return frame.select(_type_known(n, _rules(code, regions[0]))).to_series()
    rows = frame.with_row_index("__row")
    valid = pl.Series("valid", [False] * frame.height, dtype=pl.Boolean)
    for region in regions:
        if rows.height == 0:
            break
        if PhoneMetadata.metadata_for_region(region) is None:  # pragma: no cover
            continue
        rules = _rules(code, region)
        if rules.leading is not None:
            rows = rows.with_columns(
                selected=n.str.contains(rules.leading), ok=_type_known(n, rules)
            )
        else:
            rows = rows.with_columns(selected=_type_known(n, rules), ok=pl.lit(True))
        chosen = rows.filter(pl.col("selected"))
        valid = valid.scatter(chosen.get_column("__row"), chosen.get_column("ok"))
        rows = rows.filter(~pl.col("selected")).select("__row", "nsn")
    return valid


def _check(nsn: pl.Series, code: int, check: PhoneCheck) -> pl.Series:
    """Whether each national significant number of ``code`` passes ``check``."""
    if check == "valid":
        return _valid(nsn, code)
    rules = _rules(code, _main_region(code))
    result = _length_result(pl.col("nsn").str.len_bytes(), rules)
    return (
        nsn.to_frame("nsn").select(result.is_in([_POSSIBLE, _LOCAL_ONLY])).to_series()
    )


def _rejected(keys: pl.DataFrame, reason: str) -> pl.DataFrame:
    return keys.select(
        ROW,
        "key",
        pl.lit(None, dtype=pl.String).alias(VALUE),
        pl.lit(reason).alias(REASON),
    )


def _with_code(frame: pl.DataFrame, digits: pl.Expr) -> pl.DataFrame:
    """Add ``code`` and ``nsn0``: the calling code at the start of ``digits`` and the rest."""
    parts = digits.str.extract_groups(_code_pattern())
    return frame.with_columns(
        code=parts.struct.field("1"), nsn0=parts.struct.field("2")
    )


def settle_phones(
    keys: pl.DataFrame, *, default_region: str, check: PhoneCheck
) -> pl.DataFrame:
    """Results for keys of digits (and a leading ``+``), vectorised.

    Each step is a step phonenumbers' ``parse`` takes for such a key, on
    the same metadata and patterns: the viability check, a ``+`` or the
    default region's international prefix and the calling code after it,
    the calling code of the default region written without ``+``, the
    national prefix (and its transform rule) stripped where the rest is
    still a possible number, the length limits; then ``check`` as
    ``is_possible_number`` or ``is_valid_number`` do it, and the E.164 form.
    Keys the steps do not cover (other characters, a ``+`` before an unknown
    calling code, metadata whose patterns polars cannot compile) are left
    to phonenumbers.

    Parameters
    ----------
    keys
        Distinct keys (:func:`_phone_key` of the values), in column ``key``.
    default_region, check
        As for :class:`PhoneStandardiser`.

    Returns
    -------
    polars.DataFrame
        ``key``, ``value``, ``reason`` for the keys it settles.
    """
    empty = _rejected(keys.head(0).select("key").with_row_index(ROW), _INVALID)
    home = PhoneMetadata.metadata_for_region(default_region)
    if home is None or home.country_code is None:  # pragma: no cover
        return empty
    home_code = int(home.country_code)
    home_text = str(home_code)
    try:
        home_rules = _rules(home_code, default_region)
        idd = (
            _rx(f"^(?:{home.international_prefix})")
            if home.international_prefix
            else None
        )
    except _NoFastPathError:
        return empty
    key = pl.col("key")
    shaped = (
        keys.select("key")
        .with_row_index(ROW)
        .filter(key.str.contains(_DIGIT_KEY) & (key.str.len_bytes() <= _MAX_INPUT))
    )
    plus = shaped.filter(key.str.starts_with("+"))
    national = shaped.filter(~key.str.starts_with("+"))
    done = [empty]
    # Not viable (phonenumbers' _is_viable_phone_number): one digit, or "+"
    # and fewer than three.
    done.append(_rejected(plus.filter(key.str.len_bytes() < 4), _UNPARSEABLE))
    done.append(_rejected(national.filter(key.str.len_bytes() < 2), _UNPARSEABLE))
    plus = _with_code(plus.filter(key.str.len_bytes() >= 4), key.str.slice(1))
    # "+" and no calling code: phonenumbers tries again without the "+".
    plus = plus.filter(pl.col("code").is_not_null())
    national = national.filter(key.str.len_bytes() >= 2)

    # The default region's international prefix (IDD), unless a 0 follows.
    via_idd = national.head(0).with_columns(after=key)
    if idd is not None:
        dialled = national.filter(key.str.contains(idd))
        if dialled.height:
            captured = idd.replace("^(?:", "^((?:", 1) + ")"
            prefix = key.str.extract(captured, 1).str.len_bytes()
            dialled = dialled.with_columns(after=key.str.slice(prefix))
            via_idd = dialled.filter(~pl.col("after").str.starts_with("0"))
            national = national.join(via_idd.select(ROW), on=ROW, how="anti")
    short = pl.col("after").str.len_bytes() <= 2
    done.append(_rejected(via_idd.filter(short), _UNPARSEABLE))
    via_idd = _with_code(via_idd.filter(~short), pl.col("after"))
    done.append(_rejected(via_idd.filter(pl.col("code").is_null()), _UNPARSEABLE))
    via_idd = via_idd.filter(pl.col("code").is_not_null())

    # The default region's calling code written without "+": taken as one
    # when the number fits the region only without it, or is too long.
    prefixed = national.filter(key.str.starts_with(home_text)).with_columns(nsn0=key)
    if prefixed.height:
        potential = _strip_national_prefix(
            prefixed.get_column("key").str.slice(len(home_text)), home_rules
        )
        prefixed = prefixed.with_columns(nsn0=potential).filter(
            (
                ~_matches(key, home_rules.general)
                & _matches(pl.col("nsn0"), home_rules.general)
            )
            | (_length_result(key.str.len_bytes(), home_rules) == _TOO_LONG)
        )
        national = national.join(prefixed.select(ROW), on=ROW, how="anti")

    # Every key left has a calling code; each code parses with the metadata
    # of its main region, national numbers with the default region's.
    groups: list[tuple[int, str, pl.DataFrame]] = [
        (home_code, default_region, national.with_columns(nsn0=key)),
        (home_code, _main_region(home_code), prefixed.select(ROW, "key", "nsn0")),
    ]
    coded = pl.concat(
        [
            plus.select(ROW, "key", "code", "nsn0"),
            via_idd.select(ROW, "key", "code", "nsn0"),
        ]
    )
    for (text,), group in coded.partition_by("code", as_dict=True).items():
        code = int(str(text))
        groups.append((code, _main_region(code), group.select(ROW, "key", "nsn0")))
    for code, region, group in groups:
        if group.height == 0:
            continue
        try:
            done.append(_settle_group(group, code, region, check))
        except _NoFastPathError:
            continue
    return pl.concat(done, how="vertical_relaxed")


def _settle_group(
    group: pl.DataFrame, code: int, region: str, check: PhoneCheck
) -> pl.DataFrame:
    """Finish parsing keys of one calling code and check them (``key``, ``nsn0``)."""
    rules = _rules(code, region)
    length = pl.col("nsn0").str.len_bytes()
    out = [_rejected(group.filter(length < 2), _UNPARSEABLE)]
    group = group.filter(length >= 2)
    stripped = _strip_national_prefix(group.get_column("nsn0"), rules)
    keep = _length_result(pl.col("stripped").str.len_bytes(), rules).is_in(
        [_POSSIBLE, _TOO_LONG]
    )
    group = group.with_columns(stripped=stripped).select(
        ROW,
        "key",
        pl.when(keep).then(pl.col("stripped")).otherwise(pl.col("nsn0")).alias("nsn"),
    )
    length = pl.col("nsn").str.len_bytes()
    out.append(_rejected(group.filter(length > _MAX_NSN), _UNPARSEABLE))
    group = group.filter(length <= _MAX_NSN)
    ok = _check(group.get_column("nsn"), code, check)
    out.append(
        group.with_columns(ok=ok).select(
            ROW,
            "key",
            pl.when(pl.col("ok")).then(pl.lit(f"+{code}") + pl.col("nsn")).alias(VALUE),
            pl.when(pl.col("ok")).then(None).otherwise(pl.lit(_INVALID)).alias(REASON),
        )
    )
    return pl.concat(out)


@dataclass(frozen=True, kw_only=True)
class PhoneStandardiser:
    """Parse phone numbers and write them in E.164 (``"+442079460958"``).

    Numbers without a country code are read as numbers of ``default_region``.
    Each distinct value is parsed once: values of digits, with or without a
    ``+`` and punctuation (``"020 7946 0958"``, ``"+1 415 555 2671"``), of any
    country, in vectorised passes that take phonenumbers' steps on its own
    metadata (see :func:`settle_phones`); anything else with the
    phonenumbers library itself.

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

    def _standardise_distinct(self, values: pl.Series) -> pl.DataFrame:
        return per_distinct_frame(
            values, self._parse_all, schema=_SCHEMA, key=_phone_key, settle=self._settle
        )

    def _settle(self, keys: pl.DataFrame) -> pl.DataFrame:
        return settle_phones(keys, default_region=self.default_region, check=self.check)

    def _parse_all(self, keys: list[str]) -> list[tuple[Any, ...]]:
        return [self._parse(key) for key in keys]

    def _parse(self, text: str) -> tuple[str | None, str | None]:
        try:
            number = phonenumbers.parse(text, self.default_region)
        except phonenumbers.NumberParseException:
            return None, _UNPARSEABLE
        if self.check == "valid":
            ok = phonenumbers.is_valid_number(number)
        else:
            ok = phonenumbers.is_possible_number(number)
        if not ok:
            return None, _INVALID
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return e164, None

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)
