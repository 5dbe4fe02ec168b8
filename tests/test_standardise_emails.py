import polars as pl
import pytest

from er_toolkit.standardise import EmailStandardiser


def run(standardiser, values):
    frame = pl.DataFrame({"x": values}, schema={"x": pl.String})
    return frame.select(standardiser.standardise(pl.col("x")).alias("r")).unnest("r")


# raw, value without provider normalisation, value with it, reason
CASES = [
    ("John.Smith+promo@GMail.com", "john.smith+promo@gmail.com", "johnsmith@gmail.com", None),
    ("  j.s@googlemail.com ", "j.s@googlemail.com", "js@gmail.com", None),
    ("Jane+news@Outlook.com", "jane+news@outlook.com", "jane@outlook.com", None),
    ("first.last+x@example.co.uk", "first.last+x@example.co.uk",
     "first.last+x@example.co.uk", None),
    ("MÜLLER@Bücher.de", "müller@bücher.de", "müller@bücher.de", None),
    ("bad@@example.com", None, None, "invalid_email"),
    ("no-at-sign.example.com", None, None, "invalid_email"),
    ("user@localhost", None, None, "invalid_email"),
    ("user@example", None, None, "invalid_email"),
    ("a b@example.com", None, None, "invalid_email"),
    ("", None, None, "blank"),
    (None, None, None, None),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "plain", "provider", "reason"), CASES)
def test_email_standardiser(raw, plain, provider, reason):
    assert run(EmailStandardiser(), [raw]).row(0) == (plain, reason)
    normalised = run(EmailStandardiser(normalise_provider=True), [raw]).row(0)
    assert normalised == (provider, reason)


# --- the plain-address fast path gives email-validator's answer -------------

import random  # noqa: E402
import re  # noqa: E402

from email_validator import validate_email  # noqa: E402
from email_validator.rfc_constants import DOT_ATOM_TEXT  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from er_toolkit.standardise.emails import (  # noqa: E402
    _ATEXT,
    _LATIN_LOWER,
    _without_aliases,
    settle_plain,
    strip_provider_aliases,
)

LOCAL_CHARS = "abcxyz019._%+-!#$&'*/=?^`{|}~\" @üéßłøÿĳŉſÉİ\u0301\u212b\u00a0(,\\<>"
DOMAIN_CHARS = "abcz0189-.üß_ 。\u200d\u03b1\u03c3"  # Greek alpha, sigma
DOMAINS = [
    "gmail.com", "googlemail.com", "outlook.com", "example.co.uk", "bücher.de",
    "xn--bcher-kva.de", "xn--bcher-kva.xn--", "xn--abc.com", "localhost", "local",
    "foo.local", "test", "foo.test", "foo.invalid", "example", "1.2.3.4",
    "[1.2.3.4]", "[ipv6:::1]", "a..b", "-a.com", "a-.com", "a.com.", "a.123",
    "x" * 63 + ".com", "x" * 64 + ".com", "ex_ample.com", "xn--4dbc.1.com",
    "1.xn--4dbc.com", "arpa", "foo.onion", "σας.gr", "a@b.com", "",
]  # fmt: skip


def _slow(keys, normalise_provider):
    std = EmailStandardiser(normalise_provider=normalise_provider)
    return {key: std._check(key) for key in keys}


def _assert_fast_path_agrees(keys):
    keys = sorted({k.strip().lower() for k in keys} - {""})
    frame = pl.DataFrame({"key": keys}, schema={"key": pl.String})
    for normalise_provider in (False, True):
        fast = settle_plain(frame, normalise_provider=normalise_provider)
        assert fast.get_column("key").is_unique().all()
        expected = _slow(fast.get_column("key").to_list(), normalise_provider)
        assert [keys[i] for i in fast["__row"]] == fast["key"].to_list()
        rows = fast.select("key", "value", "reason").iter_rows()
        got = {key: (value, reason) for key, value, reason in rows}
        assert got == expected


def test_plain_local_regex_is_email_validators_dot_atom():
    # Every ASCII character, and short strings of the interesting ones.
    assert all(
        bool(re.fullmatch(_ATEXT, chr(i))) == bool(DOT_ATOM_TEXT.match(chr(i)))
        for i in range(128)
    )
    # The Latin letters it adds are valid, unchanged local parts on their own.
    for letter in _LATIN_LOWER:
        address = f"{letter}.{letter}@example.com"
        assert validate_email(address, check_deliverability=False).normalized == address
    plain = {"a": True, "a.b": True, "+": True, "ü": True, "ß.é": True,
             ".a": False, "a.": False, "a..b": False, "a b": False, '"a"': False,
             "ü\u0301": False, "É": False, "\u212b": False}  # fmt: skip
    frame = pl.DataFrame({"key": [f"{local}@example.com" for local in plain]})
    fast = settle_plain(frame, normalise_provider=False)
    settled = set(fast.filter(pl.col("value").is_not_null())["key"])
    assert {k.split("@")[0] for k in settled} == {k for k, v in plain.items() if v}


def test_fast_path_matches_email_validator_on_a_large_sample():
    # Realistic and adversarial addresses: quoted and unicode local parts,
    # special-use, IDNA, over-long and malformed domains, and local parts
    # around the 254-byte limit of the whole address.
    rng = random.Random(0)

    def text(chars, low, high):
        return "".join(rng.choice(chars) for _ in range(rng.randint(low, high)))

    def local():
        pick = rng.random()
        if pick < 0.4:
            return text("abcdefghij0123456789._+-", 1, 20)
        if pick < 0.6:
            return text(LOCAL_CHARS, 0, 12)
        if pick < 0.7:
            return '"' + text(LOCAL_CHARS, 0, 8) + '"'
        return text("ab.", 1, rng.choice([64, 70, 200, 250]))

    def domain():
        pick = rng.random()
        if pick < 0.4:
            return rng.choice(DOMAINS)
        if pick < 0.7:
            return ".".join(text("abz019-", 1, 8) for _ in range(rng.randint(1, 4)))
        if pick < 0.85:
            return text(DOMAIN_CHARS, 0, 15)
        return ".".join(text("abc", 1, 63) for _ in range(rng.randint(2, 5)))

    keys = [f"{local()}@{domain()}" for _ in range(8_000)]
    keys += ["not-an-email", "a@", "@a.com", "a@b@c.com", "a@@b.com"]
    _assert_fast_path_agrees(keys)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet=LOCAL_CHARS, min_size=0, max_size=70),
            st.one_of(st.sampled_from(DOMAINS), st.text(DOMAIN_CHARS, max_size=20)),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_fast_path_matches_email_validator_hypothesis(pairs):
    _assert_fast_path_agrees([f"{local}@{domain}" for local, domain in pairs])


def test_plain_and_other_addresses_mix_in_one_column():
    values = ['"a b"@example.com', "A@Example.com", "müller@bücher.de", "a@localhost"]
    assert (
        run(EmailStandardiser(), values * 3).rows()
        == [
            (None, "invalid_email"),  # quoted local parts are not allowed
            ("a@example.com", None),
            ("müller@bücher.de", None),
            (None, "invalid_email"),
        ]
        * 3
    )


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="ab.+-", min_size=1, max_size=8),
    st.sampled_from(["gmail.com", "googlemail.com", "outlook.com", "example.com"]),
)
def test_vectorised_alias_stripping_matches_python(local, domain):
    address = f"{local}@{domain}"
    got = _without_aliases(pl.DataFrame({"local": [local], "domain": [domain]}))
    assert "@".join(got.row(0)) == strip_provider_aliases(address)


from er_toolkit.standardise.emails import _check_domain, _plain_domain  # noqa: E402

PLAIN_DOMAIN_CHARS = "abxz09-.n"
SUFFIXES = ["", ".com", ".local", ".test", ".arpa", ".onion", ".invalid", ".1",
            ".xn--p1ai", ".example", "." + "a" * 63, "." + "a" * 64]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.text(PLAIN_DOMAIN_CHARS, max_size=12),
    st.sampled_from(SUFFIXES),
    st.integers(0, 250),
)
def test_plain_domains_are_the_ones_email_validator_returns_unchanged(
    text, suffix, pad
):
    domains = [text + suffix, "a" * pad + suffix, f"{text}.{'b' * (pad // 4)}.de"]
    frame = pl.DataFrame({"domain": domains})
    plain = frame.select(_plain_domain(pl.col("domain"))).to_series().to_list()
    for domain, is_plain in zip(domains, plain, strict=True):
        if is_plain:
            assert _check_domain(domain) == (domain, len(domain)), domain


def test_common_domains_are_plain_and_odd_ones_are_not():
    domains = ["gmail.com", "hotmail.co.uk", "t-online.de", "a.b-c.d", "hotmali.com",
               "localhost", "a.local", "x.test", "-a.com", "a-.com", "a..com", "a.1",
               "xn--bcher-kva.de", "ab--c.com", "bücher.de", "a." + "b" * 64]  # fmt: skip
    frame = pl.DataFrame({"domain": domains})
    plain = frame.select(_plain_domain(pl.col("domain"))).to_series().to_list()
    assert plain == [True] * 5 + [False] * 11


@settings(max_examples=200, deadline=None)
@given(st.text(LOCAL_CHARS.replace("@", ""), max_size=30))
def test_a_key_without_an_at_sign_is_invalid(text):
    key = text.strip().lower()
    if key:
        _assert_fast_path_agrees([key])
        assert _slow([key], False)[key] == (None, "invalid_email")


@settings(max_examples=300, deadline=None)
@given(st.text("ab.+ü", max_size=10), st.sampled_from(DOMAINS))
def test_misplaced_dots_are_invalid_as_email_validator_says(local, domain):
    _assert_fast_path_agrees([f"{local}@{domain}", f".{local}@{domain}",
                              f"{local}..x@{domain}", f"{local}.@{domain}"])  # fmt: skip
