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
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from phonenumbers import PhoneMetadata  # noqa: E402

from er_toolkit.standardise.phones import settle_phones  # noqa: E402

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def _examples(region):
    examples = []
    for kind in range(12):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is not None:
            examples.append(phonenumbers.national_significant_number(example))
    return examples or ["123456789"]


def _variants(region, rng, count):
    """Keys near the region's example numbers (and other regions' numbers), in
    every shape the fast path reads and the shapes it must leave alone, with
    random digits mixed in."""
    metadata = PhoneMetadata.metadata_for_region(region)
    code, trunk = str(metadata.country_code), metadata.national_prefix or ""
    examples = _examples(region)
    keys = []
    for _ in range(count):
        other = rng.choice(REGIONS)
        other_code = str(PhoneMetadata.metadata_for_region(other).country_code)
        nsn = rng.choice(examples if rng.random() < 0.7 else _examples(other))
        cc = code if rng.random() < 0.7 else other_code
        tail = rng.randint(0, len(nsn))
        extra = tail + rng.choice([-2, -1, 0, 0, 0, 0, 1, 2])
        nsn = nsn[: len(nsn) - tail] + "".join(
            rng.choice("0123456789") for _ in range(max(extra, 0))
        )
        noise = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 19)))
        keys.append(
            rng.choice(
                [f"+{cc}{nsn}", f"+{cc}{trunk}{nsn}", f"{trunk}{nsn}", nsn,
                 f"00{cc}{nsn}", f"011{cc}{nsn}", f"{cc}{nsn}", f"{cc}{trunk}{nsn}",
                 f"+{cc}0{nsn}", f"00{nsn}", f"000{nsn}", noise, "+" + noise,
                 "0" * rng.randint(1, 4), "+" + nsn]
            )
        )  # fmt: skip
    return list(dict.fromkeys(keys))


def _assert_settled_as_phonenumbers(region, check, keys):
    settled = settle_phones(
        pl.DataFrame({"key": keys}, schema={"key": pl.String}),
        default_region=region,
        check=check,
    )
    assert settled.get_column("key").is_unique().all()
    assert set(settled.get_column("key")) <= set(keys)
    standardiser = PhoneStandardiser(default_region=region, check=check)
    # each row says where its key is in the frame it was given
    assert [keys[i] for i in settled.get_column("__row")] == settled["key"].to_list()
    for key, value, reason in settled.select("key", "value", "reason").iter_rows():
        assert (value, reason) == standardiser._parse(key), (region, check, key)
    return settled


# Regions with national prefix transform rules (AR, BR, JP, GG, AG), calling
# codes shared by several regions (+1, +7, +44, +39), leading digits (CA, KZ,
# VA, IM), several national prefixes (GB) and none (ES, IT, PL).
SAMPLED = ["GB", "US", "DE", "FR", "ES", "IT", "NL", "PL", "JE", "GG", "IM", "AR",
           "BR", "JP", "CA", "AG", "RU", "KZ", "VA", "IN", "CN", "MX", "AU", "SM"]  # fmt: skip


@pytest.mark.parametrize("check", ["valid", "possible"])
def test_fast_path_matches_phonenumbers_in_sampled_regions(check):
    rng = random.Random(1)
    total = settled_count = 0
    for region in SAMPLED:
        keys = _variants(region, rng, 60)
        settled = _assert_settled_as_phonenumbers(region, check, keys)
        total += len(keys)
        settled_count += settled.height
    assert settled_count > 0.9 * total


@pytest.mark.slow
@pytest.mark.parametrize("check", ["valid", "possible"])
def test_fast_path_matches_phonenumbers_in_every_region(check):
    rng = random.Random(0)
    total = settled_count = 0
    for region in REGIONS:
        keys = _variants(region, rng, 40)
        settled = _assert_settled_as_phonenumbers(region, check, keys)
        total += len(keys)
        settled_count += settled.height
    # Only keys with "+" before an unknown calling code, and the few regions
    # whose metadata polars cannot read exactly, go to phonenumbers.
    assert settled_count > 0.9 * total


_digits = st.text("0123456789", max_size=18)


@st.composite
def _phone_keys(draw):
    region = draw(st.sampled_from(REGIONS))
    code = str(PhoneMetadata.metadata_for_region(region).country_code)
    nsn = draw(st.sampled_from(_examples(region)))
    cut = draw(st.integers(0, len(nsn)))
    nsn = nsn[:cut] + draw(_digits)
    prefix = draw(st.sampled_from(["", "+", "0", "00", "011", "8", "1"]))
    return prefix + draw(st.sampled_from(["", code])) + draw(_digits) * 0 + nsn


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    region=st.sampled_from(REGIONS),
    check=st.sampled_from(["valid", "possible"]),
    keys=st.lists(
        st.one_of(_phone_keys(), _digits, _digits.map("+".__add__)), max_size=30
    ),
)
def test_fast_path_equals_phonenumbers_on_generated_keys(region, check, keys):
    _assert_settled_as_phonenumbers(region, check, list(dict.fromkeys(keys)))


def test_fast_path_covers_the_common_formats():
    keys = [
        "02079460958", "+442079460958", "+4402079460958", "07400123456",
        "00442079460958", "442079460958", "+14155552671", "+33142685300", "12",
        "07911123456",  # a Guernsey mobile on +44: the region loop finds GG
        "+1", "0", "0044",
    ]  # fmt: skip
    settled = _assert_settled_as_phonenumbers("GB", "valid", keys)
    assert sorted(settled.get_column("key")) == sorted(keys)
    assert run(PhoneStandardiser(), ["07911 123456"]).row(0) == ("+447911123456", None)
    assert settle_phones(
        pl.DataFrame({"key": ["4155552671"]}), default_region="US", check="valid"
    ).rows() == [(0, "4155552671", "+14155552671", None)]


def test_keys_outside_the_fast_path_go_to_phonenumbers():
    # letters, a "+" before no calling code
    keys = ["1800FLOWERS", "+0442079460958", "+2891234567", "ext12"]
    settled = settle_phones(
        pl.DataFrame({"key": keys}), default_region="GB", check="valid"
    )
    assert settled.height == 0
    std = PhoneStandardiser()
    assert run(std, keys).rows() == [std._parse(k) for k in keys]


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
