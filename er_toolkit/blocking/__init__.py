"""Candidate-pair generation: exact rules, sorted neighbourhood, and their union."""

from er_toolkit.blocking.base import Blocker, block_pair_positions, key_expr
from er_toolkit.blocking.exact import ExactRule
from er_toolkit.blocking.sorted_neighbourhood import SortedNeighbourhood
from er_toolkit.blocking.union import block_pairs, count_rule_pairs

__all__ = [
    "Blocker",
    "ExactRule",
    "SortedNeighbourhood",
    "block_pair_positions",
    "block_pairs",
    "count_rule_pairs",
    "key_expr",
]
