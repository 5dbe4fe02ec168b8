"""A blocker kind added from outside the package: one class and one registry line."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.blocking import (
    BLOCKER_KINDS,
    KeyBlocker,
    block_by_keys,
    blocker_from_dict,
    count_key_pairs,
    register_blocker,
)
from er_toolkit.compare import Comparison, ExactLevel, SimilarityLevel
from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import ConfigError
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker
from er_toolkit.schema import LinkType
from er_toolkit.score import FellegiSunter


@dataclass(frozen=True)
class SplitWords:
    """Pair records sharing any whitespace-separated word of ``column``."""

    kind: ClassVar[str] = "split_words"
    column: str
    name: str = ""
    max_block_size: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"words({self.column})")

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def block_keys(self, records: pl.DataFrame) -> pl.DataFrame:
        words = pl.col(self.column).str.to_lowercase().str.split(" ")
        return (
            records.lazy()
            .select(pl.col(schema.ROW).cast(pl.UInt32), words.alias(schema.BLOCK_KEY))
            .explode(schema.BLOCK_KEY)
            .filter(pl.col(schema.BLOCK_KEY).str.len_chars() > 0)
            .unique()
            .collect()
        )

    def block(self, records: pl.DataFrame, *, link_type: LinkType) -> pl.DataFrame:
        return block_by_keys(
            self.block_keys(records),
            records,
            link_type=link_type,
            max_block_size=self.max_block_size,
        )

    def count_pairs(self, records: pl.DataFrame, *, link_type: LinkType) -> int:
        return count_key_pairs(
            self.block_keys(records),
            records,
            link_type=link_type,
            max_block_size=self.max_block_size,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "column": self.column}
        if self.name != f"words({self.column})":
            out["name"] = self.name
        if self.max_block_size is not None:
            out["max_block_size"] = self.max_block_size
        return out


@pytest.fixture
def token_kind() -> Iterator[None]:
    register_blocker(SplitWords)  # the one registry line
    yield
    del BLOCKER_KINDS["split_words"]


WORDS = ["ann", "bo", "cy", "di", "ed", "fay"]
CITIES = ["leeds", "york", "hull", None]


def _frame(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    names = [
        " ".join(rng.choice(WORDS, size=rng.integers(1, 3), replace=False))
        for _ in range(n)
    ]
    return pl.DataFrame(
        {
            "id": list(range(n)),
            "name": [n.upper() if i % 5 == 0 else n for i, n in enumerate(names)],
            "city": [CITIES[i] for i in rng.integers(0, len(CITIES), n)],
        }
    )


def _config(**blocking: Any) -> LinkageConfig:
    return LinkageConfig.from_dict(
        {
            "name": "toy",
            "link_type": "dedupe",
            "blocking": {
                "blockers": [
                    {"kind": "split_words", "column": "name"},
                    {"kind": "exact", "keys": ["city"]},
                ],
                **blocking,
            },
            "comparisons": [
                {"name": "city", "column": "city", "levels": [{"kind": "exact"}]}
            ],
        }
    )


def test_a_registered_kind_runs_end_to_end_from_a_config(token_kind: None) -> None:
    config = _config(max_block_size=15)
    assert config.blocking.blockers[0] == SplitWords("name")
    assert config.columns == ("city", "name")
    # the [blocking] max_block_size reaches the new kind (a key blocker) too
    assert isinstance(SplitWords("name"), KeyBlocker)
    assert config.blocking.compile()[0] == SplitWords("name", max_block_size=15)

    frame = _frame(60, seed=3)
    linker = Linker(config)
    records = linker.records([Source("s", frame, id_column="id")])
    pairs = linker.block(records)
    assert pairs.get_column(schema.BLOCKED_BY).dtype == pl.Enum(["words(name)", "city"])

    rows = frame.to_dicts()
    words = [set(r["name"].lower().split()) for r in rows]
    size = {w: sum(w in ws for ws in words) for w in WORDS}
    city_size = {c: sum(r["city"] == c for r in rows) for c in CITIES}
    expected: dict[tuple[int, int], str] = {}
    for i, j in itertools.combinations(range(len(rows)), 2):
        if any(size[w] <= 15 for w in words[i] & words[j]):
            expected[(i, j)] = "words(name)"
        elif (
            (c := rows[i]["city"]) is not None
            and c == rows[j]["city"]
            and (city_size[c] <= 15)
        ):
            expected[(i, j)] = "city"
    got = {
        (lo, hi): str(by)
        for lo, hi, by in pairs.select(
            schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY
        ).iter_rows()
    }
    # some blocks of each blocker are purged, some kept
    assert max(size.values()) > 15 >= min(size.values())
    assert set(expected.values()) == {"words(name)", "city"}
    assert len(got) == pairs.height
    assert got == expected
    report = dict(linker.blocking_report(records).iter_rows())
    assert report["words(name)"] >= sum(v == "words(name)" for v in expected.values())


def test_a_registered_kind_round_trips_through_the_config(token_kind: None) -> None:
    config = _config()
    spec = config.to_dict()
    assert spec["blocking"]["blockers"][0] == {"kind": "split_words", "column": "name"}
    again = LinkageConfig.from_dict(json.loads(json.dumps(spec)))
    assert again == config
    assert blocker_from_dict({"kind": "split_words", "column": "x", "name": "t"}) == (
        SplitWords("x", name="t")
    )


def test_unregistered_kinds_are_refused_with_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError,
        match=r"The 'kind' of \[\[blocking.blockers\]\] number 1 must be one of "
        r"\['exact', 'minhash', 'phonetic', 'sorted_neighbourhood', 'token'\]; got "
        r"'split_words'",
    ):
        _config()


def test_a_registered_kind_trains_an_em_session(token_kind: None) -> None:
    frame = _frame(200, seed=5)
    linker = Linker(_config())
    records = linker.records([Source("s", frame, id_column="id")])
    comparisons = (
        Comparison("name", "name", (ExactLevel(), SimilarityLevel("jaro", 0.8))),
        Comparison("city", "city", (ExactLevel(),)),
    )
    model = FellegiSunter(
        comparisons,
        training_rules=[{"kind": "split_words", "column": "name"}, ["city"]],
        u_sample_size=5_000,
    ).fit(records)
    assert [(s["rule"], s["kind"]) for s in model.sessions_] == [
        ("words(name)", "split_words"),
        ("city", "exact"),
    ]
    assert model.sessions_[0]["trained"] == ["city"]
    assert (
        model.sessions_[0]["pairs"]
        == SplitWords("name").block(records, link_type="dedupe").height
    )
    saved = model.to_dict()
    assert saved["params"]["training_rules"] == [
        {"kind": "split_words", "column": "name"},
        {"kind": "exact", "keys": ["city"]},
    ]
    loaded = FellegiSunter.from_dict(json.loads(json.dumps(saved)))
    assert list(loaded.training_rules) == [
        SplitWords("name"),
        model._session_rules()[1],
    ]
