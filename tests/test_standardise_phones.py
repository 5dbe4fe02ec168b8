import re

import polars as pl
import pytest

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise import PhoneStandardiser, apply_standardisers


def run(standardiser, values):
    frame = pl.DataFrame({"x": values}, schema={"x": pl.String})
    return frame.select(standardiser.standardise(pl.col("x")).alias("r")).unnest("r")


GB = [
    ("+44 (0)20 7946 0958", "+442079460958", None),
    ("020 7946 0958", "+442079460958", None),
    ("020-7946-0958", "+442079460958", None),
    ("0044 20 7946 0958", "+442079460958", None),
    ("(020) 7946 0958", "+442079460958", None),
    ("07700 900 123", None, "invalid_phone"),  # Ofcom drama range: not assigned
    ("+1 (415) 555-2671", "+14155552671", None),
    ("+33 1 42 68 53 00", "+33142685300", None),
    ("12", None, "invalid_phone"),
    ("not a phone", None, "unparseable_phone"),
    ("n/a", None, "unparseable_phone"),
    ("  ", None, "blank"),
    (None, None, None),
]
US = [
    ("(415) 555-2671", "+14155552671", None),
    ("415.555.2671", "+14155552671", None),
    ("1-415-555-2671", "+14155552671", None),
    ("+44 20 7946 0958", "+442079460958", None),
    ("555-2671", None, "invalid_phone"),
]


@pytest.mark.parametrize(("raw", "value", "reason"), GB)
def test_gb_numbers(raw, value, reason):
    assert run(PhoneStandardiser(default_region="GB"), [raw]).row(0) == (value, reason)


@pytest.mark.parametrize(("raw", "value", "reason"), US)
def test_us_numbers(raw, value, reason):
    assert run(PhoneStandardiser(default_region="US"), [raw]).row(0) == (value, reason)


def test_possible_check_accepts_unassigned_ranges():
    rows = run(PhoneStandardiser(check="possible"), ["07700 900 123"]).rows()
    assert rows == [("+447700900123", None)]


def test_repeated_values_keep_order_and_count():
    values = ["020 7946 0958", None, "x", "020 7946 0958", "", "+14155552671"] * 50
    out = run(PhoneStandardiser(), values)
    assert out.height == len(values)
    assert out["value"].to_list()[:6] == [
        "+442079460958", None, None, "+442079460958", None, "+14155552671",
    ]  # fmt: skip


def test_unknown_region_is_rejected():
    with pytest.raises(ConfigError, match=r"'default_region' parameter.*got 'UK'"):
        PhoneStandardiser(default_region="UK")


def test_unknown_check_is_rejected():
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "The 'check' parameter of PhoneStandardiser must be one of "
            "'valid', 'possible'; got 'strict'."
        ),
    ):
        PhoneStandardiser(check="strict")  # type: ignore[arg-type]


# --- the vectorised fast path gives phonenumbers' answer ---------------------

import random  # noqa: E402

import phonenumbers  # noqa: E402
from phonenumbers import PhoneMetadata  # noqa: E402

from er_toolkit.standardise.phones import _fast_plan, _settle_valid  # noqa: E402


def _variants(region, rng, count):
    """Keys near the region's example numbers, in the shapes the fast path
    reads and the shapes it must leave alone, with random digits mixed in."""
    metadata = PhoneMetadata.metadata_for_region(region)
    code, trunk = str(metadata.country_code), metadata.national_prefix or ""
    examples = []
    for kind in range(12):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is not None:
            examples.append(phonenumbers.national_significant_number(example))
    examples = examples or ["123456789"]
    keys = []
    for _ in range(count):
        nsn = rng.choice(examples)
        tail = rng.randint(0, len(nsn))
        extra = tail + rng.choice([-1, 0, 0, 0, 0, 1])
        nsn = nsn[: len(nsn) - tail] + "".join(
            rng.choice("0123456789") for _ in range(extra)
        )
        noise = "".join(rng.choice("0123456789") for _ in range(rng.randint(2, 14)))
        keys.append(
            rng.choice(
                [f"+{code}{nsn}", f"+{code}{trunk}{nsn}", f"{trunk}{nsn}", nsn,
                 f"00{code}{nsn}", f"{code}{nsn}", f"+{code}0{nsn}", noise]
            )
        )  # fmt: skip
    return list(dict.fromkeys(keys))


@pytest.mark.parametrize("check", ["valid", "possible"])
def test_fast_path_matches_phonenumbers_in_every_region(check):
    rng = random.Random(0)
    settled_count = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        if _fast_plan(region) is None:
            continue
        keys = _variants(region, rng, 300 if check == "valid" else 60)
        settled = _settle_valid(region, pl.DataFrame({"key": keys}))
        assert settled.get_column("key").is_unique().all()
        standardiser = PhoneStandardiser(default_region=region, check=check)
        for key, value, reason in settled.iter_rows():
            assert (value, reason) == standardiser._parse(key), (region, key)
        settled_count += settled.height
    assert settled_count > (10_000 if check == "valid" else 2_000)


def test_fast_path_covers_the_common_formats():
    keys = ["02079460958", "+442079460958", "+4402079460958", "07400123456"]
    settled = _settle_valid("GB", pl.DataFrame({"key": keys}))
    assert settled.get_column("key").to_list() == keys
    # A Guernsey mobile on +44 is left to phonenumbers, which finds its region.
    assert _settle_valid("GB", pl.DataFrame({"key": ["07911123456"]})).height == 0
    assert run(PhoneStandardiser(), ["07911 123456"]).row(0) == ("+447911123456", None)
    assert _settle_valid("US", pl.DataFrame({"key": ["4155552671"]})).height == 1


def test_regions_without_a_simple_plan_use_phonenumbers_only():
    # GG shares +44 with GB, so only phonenumbers can say which region it is.
    assert _fast_plan("GG") is None
    out = run(PhoneStandardiser(default_region="GG"), ["01481 256789"])
    assert out.rows() == [("+441481256789", None)]


@pytest.mark.parametrize("value", [")", "()", "-", "(.)"])
def test_punctuation_only_phone_is_unparseable_not_silently_null(value):
    # its key (punctuation dropped) is empty, but the value is not blank
    out, issues = apply_standardisers(
        pl.DataFrame({"phone": [value, ""]}),
        {"phone": PhoneStandardiser(default_region="GB")},
        reasons=True,
    )
    assert out.get_column("phone").to_list() == [None, None]
    assert out.get_column("phone_reason").to_list() == ["unparseable_phone", "blank"]
    assert sorted(issues.select("reason", "count").rows()) == [
        ("blank", 1),
        ("unparseable_phone", 1),
    ]
