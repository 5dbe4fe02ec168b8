"""Derived columns declared in the config (``[[derive]]``), made before standardising."""

from er_toolkit.derive.base import (
    DERIVE_KINDS,
    Derivation,
    apply_derivations,
    as_derivations,
    derivation_from_dict,
    derivations_to_dict,
    derived_inputs,
    derived_outputs,
    register_derivation,
)
from er_toolkit.derive.kinds import (
    SURNAME_PARTICLES,
    Case,
    Coalesce,
    Concat,
    Copy,
    Extract,
    NamePart,
    NullIf,
    Replace,
    SortedTokens,
    Split,
)

__all__ = [
    "DERIVE_KINDS",
    "SURNAME_PARTICLES",
    "Case",
    "Coalesce",
    "Concat",
    "Copy",
    "Derivation",
    "Extract",
    "NamePart",
    "NullIf",
    "Replace",
    "SortedTokens",
    "Split",
    "apply_derivations",
    "as_derivations",
    "derivation_from_dict",
    "derivations_to_dict",
    "derived_inputs",
    "derived_outputs",
    "register_derivation",
]
