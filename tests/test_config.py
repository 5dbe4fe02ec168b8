"""Linkage configuration: parsing, validation, round trips and flattening."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from er_toolkit.blocking import ExactRule, SortedNeighbourhood
from er_toolkit.compare import DateSwapLevel, ExactLevel, SimilarityLevel
from er_toolkit.config import (
    FORMAT_VERSION,
    BlockingConfig,
    EvaluationConfig,
    LinkageConfig,
    ModelConfig,
    SourceConfig,
    flatten,
)
from er_toolkit.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[1]
FEBRL3 = ROOT / "experiments" / "febrl3.toml"
FEBRL4 = ROOT / "experiments" / "febrl4.toml"


def _spec(path: Path = FEBRL3) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def _minimal() -> dict[str, Any]:
    return {
        "name": "tiny",
        "link_type": "dedupe",
        "blocking": {"rules": [["surname"]]},
        "comparisons": [{"name": "surname", "levels": [{"kind": "exact"}]}],
    }


# --------------------------------------------------------------------------- #
# the shipped experiment files
# --------------------------------------------------------------------------- #
def test_febrl3_parses() -> None:
    config = LinkageConfig.from_toml(FEBRL3)
    assert config.name == "febrl3"
    assert config.link_type == "dedupe"
    assert config.threshold == 0.5
    assert config.experiment == "er_toolkit-febrl"
    assert config.base_dir == FEBRL3.parent
    assert config.sources == (
        SourceConfig(name="febrl3", id_column="rec_id", dataset="febrl3"),
    )
    assert config.evaluation == EvaluationConfig(entity_column="entity_id")
    assert len(config.comparisons) == 10
    dob = next(c for c in config.comparisons if c.name == "date_of_birth")
    assert dob.date_format == "%Y%m%d"
    assert dob.levels[1] == DateSwapLevel()
    given = config.comparisons[0]
    assert given.levels[:2] == (
        ExactLevel(term_frequency=True),
        SimilarityLevel("jaro_winkler", 0.92),
    )
    assert config.blocking.max_pairs_per_rule == 5_000_000
    assert config.blocking.blockers[-1] == SortedNeighbourhood(
        ("soc_sec_id",), window=5
    )
    assert ExactRule(("suburb", "address_1[:3]")) in config.blocking.blockers
    assert config.model.seed == 42
    assert config.model.training_rules[0] == ExactRule(("given_name", "surname"))
    assert config.model.probability_two_random_records_match is None


def test_febrl4_parses_as_a_two_source_link_job() -> None:
    config = LinkageConfig.from_toml(FEBRL4)
    assert config.link_type == "link"
    assert [(s.name, s.dataset, s.part) for s in config.sources] == [
        ("febrl4a", "febrl4", 0),
        ("febrl4b", "febrl4", 1),
    ]


def test_blockers_compile_exact_rules_first() -> None:
    blockers = LinkageConfig.from_toml(FEBRL3).blocking.compile()
    assert [type(b) for b in blockers] == [ExactRule] * 6 + [SortedNeighbourhood]
    assert blockers[5].keys == ("suburb", "address_1[:3]")


def test_columns_lists_every_column_once() -> None:
    config = LinkageConfig.from_toml(FEBRL3)
    assert config.columns == (
        "given_name",
        "surname",
        "street_number",
        "address_1",
        "address_2",
        "suburb",
        "postcode",
        "state",
        "date_of_birth",
        "soc_sec_id",
    )
    spec = _minimal()
    spec["model"] = {"training_rules": [["city"]], "deterministic_rules": [["dob"]]}
    assert LinkageConfig.from_dict(spec).columns == ("surname", "city", "dob")


# --------------------------------------------------------------------------- #
# round trips
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["customers", "customers_raw"])
def test_customer_configs_block_names_with_a_third_key(name: str) -> None:
    """Master-store configs: no names-only rule (n² pairs), no purged blocks."""
    config = LinkageConfig.from_toml(ROOT / "experiments" / f"{name}.toml")
    compiled = config.blocking.compile()
    rules = [rule for rule in compiled if isinstance(rule, ExactRule)]
    assert len(rules) == len(compiled)
    assert all(rule.max_block_size is None for rule in rules)
    name_rules = [r for r in rules if "surname" in r.keys and len(r.keys) > 1]
    first = [r for r in name_rules if any(k.startswith("first_name") for k in r.keys)]
    assert len(first) == 2 and all(len(r.keys) == 3 for r in first)
    again = LinkageConfig.from_dict(config.to_dict(), base_dir=config.base_dir)
    assert again == config


@pytest.mark.parametrize("path", [FEBRL3, FEBRL4], ids=["febrl3", "febrl4"])
def test_to_dict_from_dict_round_trip(path: Path) -> None:
    config = LinkageConfig.from_toml(path)
    spec = config.to_dict()
    again = LinkageConfig.from_dict(spec, base_dir=config.base_dir)
    assert again == config
    assert again.to_dict() == spec
    assert spec["format_version"] == FORMAT_VERSION == 2


def test_round_trip_without_sources_drops_sources_and_labels() -> None:
    config = LinkageConfig.from_toml(FEBRL3)
    spec = config.to_dict(with_sources=False)
    assert "sources" not in spec and "evaluation" not in spec
    again = LinkageConfig.from_dict(spec)
    assert again.sources == ()
    assert again.evaluation == EvaluationConfig()
    assert again.comparisons == config.comparisons
    assert again.blocking == config.blocking
    assert again.model == config.model


@pytest.mark.parametrize(
    "blocking",
    [
        BlockingConfig(blockers=(ExactRule(("a",)),), max_pairs_per_rule=None),
        BlockingConfig(blockers=(ExactRule(("a", "b[:2]")),), max_pairs_per_rule=7),
        BlockingConfig(
            blockers=(SortedNeighbourhood(("a", "b"), window=3),), on_explode="warn"
        ),
        BlockingConfig(
            blockers=(
                ExactRule(("a",), name="by_a", max_block_size=9),
                SortedNeighbourhood(("b",), window=2, name="sn_b"),
                ExactRule(("b", "a[:1]")),
            ),
            max_block_size=50,
        ),
    ],
)
def test_blocking_round_trip(blocking: BlockingConfig) -> None:
    assert BlockingConfig.from_dict(blocking.to_dict()) == blocking


@pytest.mark.parametrize(
    "model",
    [
        ModelConfig(),
        ModelConfig(
            training_rules=(("a",), ("b", "c")),
            deterministic_rules=(("d",),),
            deterministic_recall=0.8,
            probability_two_random_records_match=0.001,
            u_sample_size=10,
            max_iter=3,
            seed=9,
        ),
        ModelConfig(
            training_rules=(
                SortedNeighbourhood(("a",), window=3),
                ExactRule(("b[:2]",), max_block_size=10),
            ),
            deterministic_rules=(ExactRule(("d", "e")),),
            deterministic_recall=0.8,
            probability_two_random_records_match=0.001,
            u_sample_size=10,
            max_iter=3,
            seed=9,
        ),
    ],
)
def test_model_round_trip(model: ModelConfig) -> None:
    assert ModelConfig.from_dict(model.to_dict()) == model


def test_defaults_for_optional_tables() -> None:
    config = LinkageConfig.from_dict(_minimal())
    assert config.sources == ()
    assert config.model == ModelConfig()
    assert config.evaluation == EvaluationConfig()
    assert config.threshold == 0.5
    assert config.experiment == "er_toolkit"
    assert config.blocking.max_pairs_per_rule == 50_000_000
    assert config.blocking.on_explode == "raise"


# --------------------------------------------------------------------------- #
# unknown keys, at every level
# --------------------------------------------------------------------------- #
def _at(spec: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    node: Any = spec
    for step in path:
        node = node[step]
    return node


@pytest.mark.parametrize(
    ("path", "where", "valid"),
    [
        (
            (),
            "the config",
            "['blocking', 'clustering', 'comparisons', 'derive', 'engine', 'evaluation', 'experiment', "
            "'format_version', 'golden', 'link_type', 'model', 'monitoring', 'n_jobs', 'name', 'placeholders', 'sources', 'standardise', "
            "'threshold', 'training']",
        ),
        (
            ("sources", 0),
            "[[sources]]",
            "['dataset', 'encoding', 'id_column', 'name', 'part', 'path']",
        ),
        (
            ("blocking",),
            "[blocking]",
            "['blockers', 'max_block_size', 'max_pairs_per_rule', 'on_explode', "
            "'rules', 'sorted_neighbourhood']",
        ),
        (
            ("blocking", "sorted_neighbourhood", 0),
            "[[blocking.sorted_neighbourhood]]",
            "['keys', 'window']",
        ),
        (
            ("model",),
            "[model]",
            "['deterministic_recall', 'deterministic_rules', 'kind', 'max_iter', "
            "'max_pairs_per_session', 'probability_two_random_records_match', 'seed', "
            "'training_rules', 'u_sample_size']",
        ),
        (
            ("evaluation",),
            "[evaluation]",
            "['entity_column', 'pairs_path', 'test_pairs_path']",
        ),
        (
            ("clustering",),
            "[clustering]",
            "['keep_above', 'linkage', 'max_cluster_size', "
            "'min_linkage_probability', 'min_prune_size', 'not_compared', "
            "'one_to_one', 'prune_weak_links']",
        ),
        (
            ("comparisons", 3),
            "a comparison",
            "['column', 'columns', 'date_format', 'levels', 'name', 'null_columns', "
            "'unparsed']",
        ),
    ],
)
def test_unknown_keys_are_named_with_the_valid_ones(
    path: tuple[Any, ...], where: str, valid: str
) -> None:
    spec = _spec()
    spec.setdefault("clustering", {})
    _at(spec, path)["bogus_key"] = 1
    match = re.escape(
        f"Unknown key(s) ['bogus_key'] in {where}; valid keys are {valid}."
    )
    with pytest.raises(ConfigError, match=match):
        LinkageConfig.from_dict(spec)


def test_unknown_level_option_is_named() -> None:
    spec = _spec()
    spec["comparisons"][0]["levels"][1]["min_sim"] = 0.9
    with pytest.raises(
        ConfigError,
        match=r"Unknown option\(s\) \['min_sim'\] for a 'similarity' level; valid options are \['column', 'comparator', 'extract', 'min_similarity', 'precision'\]",
    ):
        LinkageConfig.from_dict(spec)


def test_several_unknown_keys_are_all_named() -> None:
    spec = _minimal()
    spec["zeta"] = 1
    spec["alpha"] = 2
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) \['alpha', 'zeta'\]"):
        LinkageConfig.from_dict(spec)


# --------------------------------------------------------------------------- #
# missing keys and bad values
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("key", ["name", "link_type", "blocking", "comparisons"])
def test_missing_required_top_level_key(key: str) -> None:
    spec = _minimal()
    del spec[key]
    rest = sorted(spec)
    with pytest.raises(
        ConfigError,
        match=rf"The config needs '{key}'; it has \[{', '.join(map(repr, rest))}\]",
    ):
        LinkageConfig.from_dict(spec)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda s: s["sources"][0].pop("name"),
            r"Each \[\[sources\]\] table needs a 'name'",
        ),
        (
            lambda s: s["blocking"]["sorted_neighbourhood"][0].pop("keys"),
            r"Each \[\[blocking.sorted_neighbourhood\]\] table needs 'keys'; got \{'window': 5\}",
        ),
        (
            lambda s: s["comparisons"][0].pop("levels"),
            r"A comparison needs \['levels'\]; got \['column', 'name'\]",
        ),
        (
            lambda s: s["comparisons"][0]["levels"][0].pop("kind"),
            r"level's 'kind' must be one of .*; got None",
        ),
        (
            lambda s: s.update(comparisons=[]),
            r"needs at least one \[\[comparisons\]\] table",
        ),
        (
            lambda s: s["comparisons"][0].update(name="given name"),
            r"must be an identifier .* got 'given name'",
        ),
        (
            lambda s: s["comparisons"][1]["levels"][1].update(min_similarity=1.2),
            r"'min_similarity' of a similarity level must be a number in \[0.0, 1.0\]; got 1.2",
        ),
        (
            lambda s: s.update(link_type="merge"),
            r"'link_type' must be one of \['dedupe', 'link', 'link_and_dedupe'\]; got 'merge'",
        ),
        (
            lambda s: s["model"].update(kind="random_forest"),
            r"'\[model\] kind' must be one of \['fellegi_sunter', 'classifier'\]; "
            r"got 'random_forest'",
        ),
    ],
)
def test_missing_or_bad_values(mutate: Any, match: str) -> None:
    spec = _spec()
    mutate(spec)
    with pytest.raises(ConfigError, match=match):
        LinkageConfig.from_dict(spec)


@pytest.mark.parametrize("threshold", [-0.01, 1.01, 5])
def test_threshold_out_of_range(threshold: float) -> None:
    spec = _minimal() | {"threshold": threshold}
    with pytest.raises(
        ConfigError, match=r"'threshold' must be a number in \[0, 1\]; got"
    ):
        LinkageConfig.from_dict(spec)


@pytest.mark.parametrize("threshold", [0, 0.0, 1, 0.73])
def test_threshold_in_range(threshold: float) -> None:
    assert LinkageConfig.from_dict(_minimal() | {"threshold": threshold}).threshold == (
        float(threshold)
    )


def test_link_job_needs_two_sources() -> None:
    spec = _spec(FEBRL4)
    one = copy.deepcopy(spec)
    one["sources"] = one["sources"][:1]
    with pytest.raises(
        ConfigError, match=r"A 'link' job needs at least two \[\[sources\]\]; got 1"
    ):
        LinkageConfig.from_dict(one)
    # a link job declared without sources (a scoring config) is allowed
    none = copy.deepcopy(spec)
    del none["sources"]
    assert LinkageConfig.from_dict(none).sources == ()
    # one source is fine for dedupe
    assert len(LinkageConfig.from_dict(_spec(FEBRL3)).sources) == 1


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ({"name": "a", "path": "a.csv"}, True),
        ({"name": "a", "dataset": "febrl3"}, True),
        ({"name": "a", "path": "a.csv", "dataset": "febrl3"}, False),
        ({"name": "a"}, False),
    ],
)
def test_sources_need_exactly_one_of_path_and_dataset(
    source: dict[str, Any], ok: bool
) -> None:
    if ok:
        built = SourceConfig.from_dict(source)
        assert (built.path, built.dataset) == (
            source.get("path"),
            source.get("dataset"),
        )
    else:
        with pytest.raises(
            ConfigError, match=r"Source 'a' needs exactly one of 'path' and 'dataset'"
        ):
            SourceConfig.from_dict(source)


def test_blockers_need_a_rule() -> None:
    with pytest.raises(ConfigError, match=r"\[blocking\] needs at least one blocker"):
        BlockingConfig().compile()


def test_from_toml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Config file '.*nope.toml' does not exist"):
        LinkageConfig.from_toml(tmp_path / "nope.toml")


def test_from_toml_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nlink_type = \n')
    with pytest.raises(
        ConfigError, match=r"Config file '.*bad.toml' is not valid TOML"
    ):
        LinkageConfig.from_toml(path)


def test_from_toml_sets_base_dir(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "job.toml"
    path.parent.mkdir()
    path.write_text(
        'name = "j"\nlink_type = "dedupe"\n'
        '[[sources]]\nname = "s"\npath = "data.csv"\n'
        '[blocking]\nrules = [["a"]]\n'
        '[[comparisons]]\nname = "a"\nlevels = [{ kind = "exact" }]\n'
    )
    config = LinkageConfig.from_toml(path)
    assert config.base_dir == path.parent
    assert config.sources[0].path == "data.csv"


# --------------------------------------------------------------------------- #
# flatten
# --------------------------------------------------------------------------- #
def test_flatten_small() -> None:
    spec = {
        "a": {"b": 1, "c": {"d": "x"}},
        "e": [1, 2],
        "f": [],
        "g": [{"name": "p", "v": 1}, {"name": "q", "v": 2}],
        "h": [{"v": 1}],
    }
    assert flatten(spec) == {
        "a.b": "1",
        "a.c.d": "x",
        "e": "[1, 2]",
        "f": "[]",
        "g.p.name": "p",
        "g.p.v": "1",
        "g.q.name": "q",
        "g.q.v": "2",
        "h": "[{'v': 1}]",
    }


def test_flatten_config() -> None:
    flat = flatten(LinkageConfig.from_toml(FEBRL3).to_dict())
    assert all(isinstance(v, str) for v in flat.values())
    assert flat["name"] == "febrl3"
    assert flat["blocking.max_pairs_per_rule"] == "5000000"
    assert flat["model.seed"] == "42"
    assert flat["sources.febrl3.dataset"] == "febrl3"
    assert flat["sources.febrl3.id_column"] == "rec_id"
    assert flat["comparisons.date_of_birth.date_format"] == "%Y%m%d"
    assert (
        flat["comparisons.state.levels"]
        == "[{'kind': 'exact', 'term_frequency': False}]"
    )
    assert flat["evaluation.entity_column"] == "entity_id"
    # one entry per comparison field, none lost
    assert sum(k.startswith("comparisons.") for k in flat) == 10 * 3 + 1


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"prune_weak_links": "yes"}, "prune_weak_links' must be true or false"),
        ({"keep_above": 1.5}, r"keep_above' must be a number in \[0, 1\]"),
        ({"min_prune_size": 1}, "min_prune_size' must be an integer >= 2"),
        ({"linkage": "ward"}, r"linkage' must be one of \['single', 'average'"),
        (
            {"linkage": "average", "not_compared": "near"},
            r"not_compared' must be one of \['far', 'neutral'\]",
        ),
        (
            {"not_compared": "neutral"},
            "not_compared = 'neutral' applies only with linkage 'average' or "
            "'complete'.*got linkage 'single'",
        ),
        (
            {"linkage": "average", "min_linkage_probability": 1.5},
            r"min_linkage_probability' must be a number in \[0, 1\]",
        ),
        (
            {"min_linkage_probability": 0.4},
            "min_linkage_probability applies only with linkage 'average' or "
            "'complete'.*got linkage 'single'",
        ),
    ],
)
def test_bad_clustering_values_are_named(table: dict[str, Any], message: str) -> None:
    spec = _spec()
    spec["clustering"] = table
    with pytest.raises(ConfigError, match=message):
        LinkageConfig.from_dict(spec)


def test_clustering_round_trips() -> None:
    spec = _spec()
    spec["clustering"] = {"prune_weak_links": True, "keep_above": 0.99}
    config = LinkageConfig.from_dict(spec)
    again = LinkageConfig.from_dict(config.to_dict())
    assert again.clustering == config.clustering
    assert again.clustering.prune_weak_links is True
    assert "linkage" not in config.to_dict()["clustering"]  # the default, unsaid
    spec["clustering"] = {"linkage": "average"}
    config = LinkageConfig.from_dict(spec)
    assert config.to_dict()["clustering"]["linkage"] == "average"
    assert LinkageConfig.from_dict(config.to_dict()).clustering.linkage == "average"
    assert "not_compared" not in config.to_dict()["clustering"]  # the default
    spec["clustering"] = {"linkage": "complete", "not_compared": "neutral"}
    config = LinkageConfig.from_dict(spec)
    assert config.to_dict()["clustering"]["not_compared"] == "neutral"
    again = LinkageConfig.from_dict(config.to_dict()).clustering
    assert (again.linkage, again.not_compared) == ("complete", "neutral")
    assert "min_linkage_probability" not in config.to_dict()["clustering"]
    spec["clustering"] = {"linkage": "average", "min_linkage_probability": 0.4}
    config = LinkageConfig.from_dict(spec)
    assert config.to_dict()["clustering"]["min_linkage_probability"] == 0.4
    again = LinkageConfig.from_dict(config.to_dict()).clustering
    assert again == config.clustering
    assert again.min_linkage_probability == 0.4


# --------------------------------------------------------------------------- #
# blockers: [[blocking.blockers]] and the older rules / sorted_neighbourhood
# --------------------------------------------------------------------------- #
OLD_BLOCKING = """
[blocking]
rules = [["given_name"], ["suburb", "address_1[:3]"]]
sorted_neighbourhood = [{ keys = ["soc_sec_id"], window = 4 }]
max_block_size = 300
"""
NEW_BLOCKING = """
[blocking]
max_block_size = 300

[[blocking.blockers]]
kind = "exact"
keys = ["given_name"]

[[blocking.blockers]]
kind = "exact"
keys = ["suburb", "address_1[:3]"]

[[blocking.blockers]]
kind = "sorted_neighbourhood"
keys = ["soc_sec_id"]
window = 4
"""


def test_old_and_new_blocking_forms_are_the_same_declarations() -> None:
    old = BlockingConfig.from_dict(tomllib.loads(OLD_BLOCKING)["blocking"])
    new = BlockingConfig.from_dict(tomllib.loads(NEW_BLOCKING)["blocking"])
    assert old == new
    assert new.blockers == (
        ExactRule(("given_name",)),
        ExactRule(("suburb", "address_1[:3]")),
        SortedNeighbourhood(("soc_sec_id",), window=4),
    )
    written = old.to_dict()
    assert "rules" not in written and "sorted_neighbourhood" not in written
    assert written["blockers"][1] == {
        "kind": "exact",
        "keys": ["suburb", "address_1[:3]"],
    }
    assert BlockingConfig.from_dict(written) == old


def test_febrl3_reads_the_same_in_the_new_form() -> None:
    spec = _spec()
    config = LinkageConfig.from_dict(spec)
    spec["blocking"] = config.blocking.to_dict()
    assert LinkageConfig.from_dict(spec) == config


def test_blocking_max_block_size_is_the_exact_rules_default() -> None:
    blocking = BlockingConfig(
        blockers=(
            ExactRule(("a",)),
            ExactRule(("b",), max_block_size=7),
            SortedNeighbourhood(("c",)),
        ),
        max_block_size=100,
    )
    assert blocking.compile() == [
        ExactRule(("a",), max_block_size=100),
        ExactRule(("b",), max_block_size=7),
        SortedNeighbourhood(("c",)),
    ]
    assert BlockingConfig(blockers=(ExactRule(("a",)),)).compile() == [
        ExactRule(("a",))
    ]


def test_blocking_tables_of_older_model_files_still_read() -> None:
    # what BlockingConfig.to_dict wrote before blockers were declarations
    older = {
        "rules": [["a"], ["b", "c[:2]"]],
        "sorted_neighbourhood": [],
        "on_explode": "raise",
        "max_pairs_per_rule": None,
        "max_block_size": 0,  # 0 meant no limit
    }
    blocking = BlockingConfig.from_dict(older)
    assert blocking == BlockingConfig(
        blockers=(ExactRule(("a",)), ExactRule(("b", "c[:2]"))),
        max_pairs_per_rule=None,
    )
    assert blocking.max_block_size is None
    assert "max_block_size" not in blocking.to_dict()


@pytest.mark.parametrize(
    ("blocking", "match"),
    [
        (
            {"rules": [[]]},
            r"In \[blocking\] rule number 1: The 'keys' of ExactRule must be a "
            r"non-empty list of column names or 'column\[:n\]' prefixes; got \(\) "
            r"\(no keys would pair every record with every other\)",
        ),
        (
            {"blockers": [{"kind": "exact", "keys": []}]},
            r"In \[\[blocking.blockers\]\] number 1: The 'keys' of ExactRule must be "
            r"a non-empty list .*; got \[\]",
        ),
        (
            {"rules": [["a[:0]"]]},
            r"prefix 'column\[:n\]' needs n >= 1; got 'a\[:0\]'",
        ),
        (
            {"rules": ["surname"]},
            r"\[blocking\] rule number 1 to be a blocker table \(with 'kind'\) or a "
            r"list of column names; got str",
        ),
        (
            {"sorted_neighbourhood": [{"keys": ["a"], "window": 1}]},
            r"In \[\[blocking.sorted_neighbourhood\]\] number 1: The 'window' of "
            r"SortedNeighbourhood must be an int >= 2; got 1",
        ),
        (
            {"rules": [["a"]], "max_block_size": 1},
            r"'\[blocking\] max_block_size' must be an integer >= 2, or \"none\" for "
            r"no limit; got 1",
        ),
        (
            {"blockers": [{"kind": "exact", "keys": ["a"], "max_block_size": 1}]},
            r"The 'max_block_size' of ExactRule must be an int >= 2 or None; got 1",
        ),
        (
            {"blockers": [{"kind": "lsh", "keys": ["a"]}]},
            r"The 'kind' of \[\[blocking.blockers\]\] number 1 must be one of "
            r"\['exact', 'minhash', 'phonetic', 'sorted_neighbourhood', 'token'\]; got 'lsh'",
        ),
        (
            {"blockers": [{"kind": "exact", "key": ["a"]}]},
            r"Unknown option\(s\) \['key'\] for \[\[blocking.blockers\]\] number 1 of "
            r"kind 'exact'; valid options are \['keys', 'max_block_size', 'name'\]",
        ),
        (
            {"rules": [["a"]], "blockers": [{"kind": "exact", "keys": ["b"]}]},
            r"declares blockers both in \[\[blocking.blockers\]\] and in the older "
            r"\['rules'\]",
        ),
        (
            {"rules": [["a"], ["b"]], "blockers": []},
            r"both in \[\[blocking.blockers\]\]",
        ),
        (
            {
                "rules": [["a"]],
                "sorted_neighbourhood": [{"keys": ["a"]}],
                "on_explode": "skip",
            },
            r"'\[blocking\] on_explode' must be one of \['raise', 'warn'\]; got 'skip'",
        ),
        (
            {
                "blockers": [
                    {"kind": "exact", "keys": ["a"]},
                    {"kind": "exact", "keys": ["b"], "name": "a"},
                ]
            },
            r"Blocker names must be unique; \['a'\] name more than one blocker",
        ),
    ],
)
def test_bad_blocking_says_what_was_expected(
    blocking: dict[str, Any], match: str
) -> None:
    spec = _minimal()
    spec["blocking"] = blocking
    with pytest.raises(ConfigError, match=match):
        LinkageConfig.from_dict(spec)


def test_training_rules_take_column_lists_or_blocker_tables() -> None:
    spec = _minimal()
    spec["model"] = tomllib.loads(
        """
        training_rules = [
          ["surname", "dob"],
          { kind = "sorted_neighbourhood", keys = ["email"], window = 3 },
        ]
        [[deterministic_rules]]
        kind = "exact"
        keys = ["ssn"]
        name = "same_ssn"
        """
    )
    config = LinkageConfig.from_dict(spec)
    assert config.model.training_rules == (
        ExactRule(("surname", "dob")),
        SortedNeighbourhood(("email",), window=3),
    )
    assert config.model.deterministic_rules == (ExactRule(("ssn",), name="same_ssn"),)
    assert config.columns == ("surname", "dob", "email", "ssn")
    assert LinkageConfig.from_dict(config.to_dict()) == config
    # the older form is the same exact rule
    spec["model"] = {"training_rules": [["surname", "dob"]]}
    older = LinkageConfig.from_dict(spec).model.training_rules
    assert older == config.model.training_rules[:1]


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (
            {"training_rules": [[]]},
            r"In \[model\] training_rules number 1: The 'keys' of ExactRule must be a "
            r"non-empty list",
        ),
        (
            {
                "deterministic_rules": [
                    {"kind": "sorted_neighbourhood", "keys": ["a"], "window": 0}
                ]
            },
            r"In \[model\] deterministic_rules number 1: The 'window' of "
            r"SortedNeighbourhood must be an int >= 2; got 0",
        ),
        (
            {"training_rules": "surname"},
            r"\[model\] training_rules must be a list of blockers \(column lists or "
            r"blocker tables\); got str",
        ),
    ],
)
def test_bad_training_rules_say_what_was_expected(
    model: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        ModelConfig.from_dict(model)
