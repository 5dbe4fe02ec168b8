"""Build survivorship rules from declarations (TOML configs, JSON) and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

from er_toolkit.config_values import plugin_options
from er_toolkit.exceptions import ConfigError
from er_toolkit.golden.base import SurvivorshipRule
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

RULE_KINDS: Final[dict[str, type[Any]]] = {
    cls.kind: cls
    for cls in (
        MostFrequent,
        MostRecent,
        Longest,
        MostComplete,
        SourcePriority,
        Max,
        Min,
        BestQuality,
        SqlRule,
    )
}
"""Every survivorship rule class, by kind."""

RuleChain: TypeAlias = SurvivorshipRule | Sequence[SurvivorshipRule]
"""One rule, or rules applied in turn: each breaks the ties of the one before."""


def rule_from_dict(declaration: Mapping[str, Any] | str) -> SurvivorshipRule:
    """Build a survivorship rule from its declaration.

    Parameters
    ----------
    declaration
        ``{"rule": kind, **options}`` as written by ``to_dict``, or just the
        kind for a rule without options. Lists become tuples.

    Returns
    -------
    SurvivorshipRule

    Raises
    ------
    ConfigError
        Unknown kind or option, a missing option, or a bad value.

    Examples
    --------
    >>> rule_from_dict({"rule": "most_recent", "timestamp": "updated_at"})
    MostRecent(timestamp='updated_at')
    >>> rule_from_dict("longest")
    Longest()
    """
    if isinstance(declaration, str):
        declaration = {"rule": declaration}
    if not isinstance(declaration, Mapping):
        raise ConfigError(
            "A survivorship rule must be a kind such as 'most_frequent' or a table "
            f"with a 'rule' key; got {type(declaration).__name__}."
        )
    options = dict(declaration)
    kind = options.pop("rule", None)
    if kind not in RULE_KINDS:
        raise ConfigError(
            f"Unknown survivorship rule {kind!r}; valid rules: "
            f"{', '.join(sorted(RULE_KINDS))}. Name it with the 'rule' key, e.g. "
            '{ rule = "most_recent", timestamp = "updated_at" }.'
        )
    cls = RULE_KINDS[kind]
    valid, required = plugin_options(cls)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} for survivorship rule {kind!r}; valid "
            f"options: {valid}."
        )
    missing = [name for name in required if name not in options]
    if missing:
        raise ConfigError(
            f"Survivorship rule {kind!r} needs option(s) {missing}; got "
            f"{sorted(options)}."
        )
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    rule: SurvivorshipRule = cls(**options)
    return rule


def chain_from_dict(
    declaration: Mapping[str, Any] | str | Sequence[Mapping[str, Any] | str],
) -> tuple[SurvivorshipRule, ...]:
    """Build one attribute's rules: one declaration, or a list applied in turn.

    Examples
    --------
    >>> chain_from_dict([{"rule": "most_recent", "timestamp": "updated_at"},
    ...                  {"rule": "source_priority", "sources": ["crm", "web"]}])
    (MostRecent(timestamp='updated_at'), SourcePriority(sources=('crm', 'web')))
    """
    if isinstance(declaration, str | Mapping):
        return (rule_from_dict(declaration),)
    if not isinstance(declaration, Sequence) or not declaration:
        raise ConfigError(
            "An attribute's survivorship rules must be a rule or a non-empty list "
            f"of rules; got {declaration!r}."
        )
    return tuple(rule_from_dict(item) for item in declaration)


def as_chain(attribute: str, rules: RuleChain) -> tuple[SurvivorshipRule, ...]:
    """Return ``rules`` as a tuple, checking each is a survivorship rule."""
    chain = (rules,) if isinstance(rules, SurvivorshipRule) else rules
    if (
        isinstance(chain, str)
        or not isinstance(chain, Sequence)
        or not chain
        or not all(isinstance(rule, SurvivorshipRule) for rule in chain)
    ):
        raise ConfigError(
            f"The survivorship rule of attribute {attribute!r} must be a "
            "SurvivorshipRule or a non-empty sequence of them; got "
            f"{type(rules).__name__}. Build rules from a config with rule_from_dict."
        )
    return tuple(chain)


def chain_to_dict(rules: RuleChain) -> dict[str, Any] | list[dict[str, Any]]:
    """Return the declaration of one attribute's rules: a table, or a list of them.

    Examples
    --------
    >>> chain_to_dict(MostFrequent())
    {'rule': 'most_frequent'}
    """
    chain = as_chain("", rules)
    if len(chain) == 1:
        return chain[0].to_dict()
    return [rule.to_dict() for rule in chain]
