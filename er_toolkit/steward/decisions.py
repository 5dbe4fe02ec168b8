"""Steward decisions: must-link, cannot-link and own-entity, each with an actor and a reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from er_toolkit.exceptions import ConfigError

__all__ = [
    "DECISION_KINDS",
    "Decision",
    "DecisionKind",
    "RecordRef",
    "as_record_ref",
    "check_actor",
]

DecisionKind = Literal["must_link", "cannot_link", "own_entity"]
DECISION_KINDS: Final[tuple[DecisionKind, ...]] = (
    "must_link",
    "cannot_link",
    "own_entity",
)
"""What a steward can decide: two records are one entity (``must_link``), two
records are different entities (``cannot_link``), a record is an entity of
its own (``own_entity``)."""

RecordRef = tuple[str, str]
"""A record by its ``(source, record_id)``, the id as text."""


def as_record_ref(ref: object, *, where: str = "record") -> RecordRef:
    """Return ``ref`` as a ``(source, record_id)`` pair of strings.

    Examples
    --------
    >>> as_record_ref(("crm", 7))
    ('crm', '7')
    >>> as_record_ref("crm")
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: record must be a (source, record_id) pair; got a str.
    """
    if (
        isinstance(ref, (str, bytes))
        or not isinstance(ref, Sequence)
        or len(ref) != 2
        or any(part is None or isinstance(part, bool) for part in ref)
    ):
        raise ConfigError(
            f"{where} must be a (source, record_id) pair; got a {type(ref).__name__}."
        )
    return str(ref[0]), str(ref[1])


@dataclass(frozen=True)
class Decision:
    """One steward decision, as given: what, about which records, by whom, why.

    Decisions name records by ``(source, record_id)``, not by cluster, so
    they outlive re-clustering, retraining and changes to the records'
    values. In clustering they override the model (see
    :func:`er_toolkit.master.resolve.resolve`): a must-link is a link of
    probability 1, a cannot-link keeps two records apart, an own-entity
    record has no links at all.

    Parameters
    ----------
    kind
        ``"must_link"``, ``"cannot_link"`` (two records) or
        ``"own_entity"`` (one record).
    records
        The records the decision is about.
    actor
        Who decided (a person's user name, not their values).
    reason
        Why, in the steward's words.

    Examples
    --------
    >>> Decision("cannot_link", (("crm", "1"), ("erp", 7)), actor="ann", reason="twins")
    Decision(kind='cannot_link', records=(('crm', '1'), ('erp', '7')), actor='ann', reason='twins')
    >>> Decision("own_entity", (("crm", "1"), ("erp", "7")), actor="ann", reason="x")
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: A own_entity decision is about 1 record; got 2.
    """

    kind: DecisionKind
    records: tuple[RecordRef, ...]
    actor: str
    reason: str

    def __post_init__(self) -> None:
        if self.kind not in DECISION_KINDS:
            raise ConfigError(
                f"A decision's kind must be one of {list(DECISION_KINDS)}; got "
                f"{self.kind!r}."
            )
        if isinstance(self.records, (str, bytes)) or not isinstance(
            self.records, Sequence
        ):
            raise ConfigError(
                "A decision's records must be a sequence of (source, record_id) "
                f"pairs; got a {type(self.records).__name__}."
            )
        refs = tuple(as_record_ref(r) for r in self.records)
        object.__setattr__(self, "records", refs)
        wanted = 1 if self.kind == "own_entity" else 2
        if len(refs) != wanted:
            raise ConfigError(
                f"A {self.kind} decision is about {wanted} record"
                f"{'s' if wanted > 1 else ''}; got {len(refs)}."
            )
        if wanted == 2 and refs[0] == refs[1]:
            raise ConfigError(
                f"A {self.kind} decision needs two different records; both are "
                f"{refs[0]}."
            )
        check_actor(self.actor, self.reason)


def check_actor(actor: object, reason: object) -> None:
    """Refuse a missing actor or reason: every steward action says who and why.

    Examples
    --------
    >>> check_actor("ann", "")
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: A steward action needs a non-empty 'reason' (who acted and why); got ''.
    """
    for name, value in (("actor", actor), ("reason", reason)):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"A steward action needs a non-empty '{name}' (who acted and why); "
                f"got {value!r}."
            )
