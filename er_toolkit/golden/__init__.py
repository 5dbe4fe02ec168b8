"""Golden records: survivorship rules per attribute, and lineage for every value."""

from er_toolkit.golden.base import (
    CLUSTER_CODE,
    TIE_BREAK,
    UNANIMOUS,
    Preference,
    SurvivorshipRule,
    cluster_frequency,
)
from er_toolkit.golden.build import DEFAULT_RULE, build_golden, golden_lineage
from er_toolkit.golden.config import GoldenConfig
from er_toolkit.golden.registry import (
    RULE_KINDS,
    RuleChain,
    chain_from_dict,
    chain_to_dict,
    rule_from_dict,
)
from er_toolkit.golden.rules import (
    BestQuality,
    Longest,
    Max,
    Min,
    MostComplete,
    MostFrequent,
    MostRecent,
    SourcePriority,
    SqlRule,
)

__all__ = [
    "CLUSTER_CODE",
    "DEFAULT_RULE",
    "RULE_KINDS",
    "TIE_BREAK",
    "UNANIMOUS",
    "BestQuality",
    "GoldenConfig",
    "Longest",
    "Max",
    "Min",
    "MostComplete",
    "MostFrequent",
    "MostRecent",
    "Preference",
    "RuleChain",
    "SourcePriority",
    "SqlRule",
    "SurvivorshipRule",
    "build_golden",
    "chain_from_dict",
    "chain_to_dict",
    "cluster_frequency",
    "golden_lineage",
    "rule_from_dict",
]
