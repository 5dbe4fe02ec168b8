"""Fail fast: a blocking rule over ``max_pairs_per_rule`` is refused before the
input is standardised, and the early check never changes what blocking does."""

from __future__ import annotations

import polars as pl
import pytest

import er_toolkit.pipeline as pipeline
from er_toolkit.config import LinkageConfig
from er_toolkit.engines.polars import PolarsEngine
from er_toolkit.exceptions import BlockingError
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker


def _config(limit: int, rules: list[list[str]]) -> LinkageConfig:
    return LinkageConfig.from_dict(
        {
            "name": "fail_fast",
            "link_type": "dedupe",
            "standardise": {"first_name": "name", "email": "email"},
            "blocking": {"rules": rules, "max_pairs_per_rule": limit},
            "model": {"training_rules": [["email"]]},
            "comparisons": [
                {
                    "name": "first_name",
                    "column": "first_name_canonical",
                    "levels": [{"kind": "exact"}],
                },
                {"name": "email", "column": "email", "levels": [{"kind": "exact"}]},
            ],
        }
    )


def _records(n: int) -> pl.DataFrame:
    # Every first name is a spelling of one name; emails are distinct except
    # the invalid ones, which standardisation turns into nulls.
    return pl.DataFrame(
        {
            "id": list(range(n)),
            "first_name": [("John", " JOHN", "john ")[i % 3] for i in range(n)],
            "email": [
                "not an email" if i % 2 else f"person{i}@example.com" for i in range(n)
            ],
        }
    )


def _never_standardise(*args, **kwargs):
    raise AssertionError("the whole input was standardised before the refusal")


def test_an_exploding_rule_is_refused_before_standardisation(monkeypatch):
    monkeypatch.setattr(PolarsEngine, "standardise", _never_standardise)
    linker = Linker(_config(100, [["first_name_canonical"]]))
    with pytest.raises(BlockingError, match="first_name_canonical") as info:
        linker.prepare([Source("people", _records(40), id_column="id")])
    # The count in the message is the exact one, on standardised values:
    # 40 spellings of one name, 780 pairs.
    assert "780 pairs" in str(info.value)
    assert "John" not in str(info.value)


def test_the_early_refusal_says_what_block_would_say():
    records = _records(40)
    early = Linker(_config(100, [["first_name_canonical"]]))
    with pytest.raises(BlockingError) as first:
        early.prepare([Source("people", records, id_column="id")])
    unlimited = Linker(_config(10**9, [["first_name_canonical"]]))
    prepared = unlimited.records([Source("people", records, id_column="id")])
    late = Linker(_config(100, [["first_name_canonical"]]))
    with pytest.raises(BlockingError) as second:
        late.block(prepared)
    assert str(first.value) == str(second.value)


def test_a_rule_over_the_limit_only_on_raw_values_is_not_refused():
    # 20 records share the raw email "not an email" (190 raw pairs); the
    # standardiser nulls it, so blocking on email gives no pairs at all.
    records = _records(40)
    limited = Linker(_config(100, [["email"]]))
    prepared = limited.records([Source("people", records, id_column="id")])
    pairs = limited.block(prepared)
    unlimited = Linker(_config(10**9, [["email"]]))
    expected = unlimited.block(
        unlimited.records([Source("people", records, id_column="id")])
    )
    assert pairs.height == expected.height == 0


def test_a_rule_the_screen_keeps_under_the_limit_standardises_nothing_early(
    monkeypatch,
):
    calls = []
    real = pipeline.apply_standardisers
    monkeypatch.setattr(
        pipeline,
        "apply_standardisers",
        lambda *a, **k: calls.append(1) or real(*a, **k),
    )
    Linker(_config(10**9, [["first_name_canonical"]])).records(
        [Source("people", _records(40), id_column="id")]
    )
    assert calls == []


def test_a_sampled_screen_refuses_before_standardisation(monkeypatch):
    # Big inputs are screened on a sample of rows: with 10 of 40 rows the
    # estimate of the one-name rule (780 pairs) is still far over 100.
    monkeypatch.setattr(pipeline, "SCREEN_SAMPLE_ROWS", 10)
    monkeypatch.setattr(PolarsEngine, "standardise", _never_standardise)
    linker = Linker(_config(100, [["first_name_canonical"]]))
    with pytest.raises(BlockingError, match="780 pairs"):
        linker.prepare([Source("people", _records(40), id_column="id")])


def test_a_sampled_screen_under_the_limit_standardises_nothing_early(monkeypatch):
    monkeypatch.setattr(pipeline, "SCREEN_SAMPLE_ROWS", 10)
    calls = []
    real = pipeline.apply_standardisers
    monkeypatch.setattr(
        pipeline,
        "apply_standardisers",
        lambda *a, **k: calls.append(1) or real(*a, **k),
    )
    linker = Linker(_config(10_000, [["first_name_canonical"], ["email"]]))
    prepared = linker.records([Source("people", _records(40), id_column="id")])
    assert calls == []
    assert linker.block(prepared).height == 780
