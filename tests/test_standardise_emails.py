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
