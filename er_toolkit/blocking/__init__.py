"""Candidate-pair generation: the Blocker protocol, its registered kinds, and their union.

A blocker kind is a module here with one ``@register_blocker`` class, and
one import line below (which loads it, so configs can name its ``kind``).
"""

from er_toolkit.blocking.analysis import BlockingReport
from er_toolkit.blocking.base import (
    BLOCKER_KINDS,
    Blocker,
    KeyBlocker,
    as_blocker,
    block_pair_positions,
    blocker_from_dict,
    key_expr,
    register_blocker,
)
from er_toolkit.blocking.exact import ExactRule
from er_toolkit.blocking.keys import (
    block_against,
    block_by_keys,
    count_key_pairs,
    pairs_between,
)
from er_toolkit.blocking.minhash import MinHashLSH
from er_toolkit.blocking.phonetic import PhoneticBlocker
from er_toolkit.blocking.report import analyse_blocking, largest_blocks
from er_toolkit.blocking.sorted_neighbourhood import SortedNeighbourhood
from er_toolkit.blocking.token import TokenBlocker
from er_toolkit.blocking.union import block_pairs, count_rule_pairs

__all__ = [
    "BLOCKER_KINDS",
    "Blocker",
    "BlockingReport",
    "ExactRule",
    "KeyBlocker",
    "MinHashLSH",
    "PhoneticBlocker",
    "SortedNeighbourhood",
    "TokenBlocker",
    "analyse_blocking",
    "as_blocker",
    "block_against",
    "block_by_keys",
    "block_pair_positions",
    "block_pairs",
    "blocker_from_dict",
    "count_key_pairs",
    "count_rule_pairs",
    "key_expr",
    "largest_blocks",
    "pairs_between",
    "register_blocker",
]
