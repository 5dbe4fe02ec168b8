"""Steward decisions (must-link, cannot-link, own entity) and the audit log's events."""

from er_toolkit.steward.audit import (
    AUDIT_KINDS,
    MEMBERSHIP_KINDS,
    AuditKind,
    membership_events,
)
from er_toolkit.steward.decisions import (
    DECISION_KINDS,
    Decision,
    DecisionKind,
    RecordRef,
    as_record_ref,
    check_actor,
)

__all__ = [
    "AUDIT_KINDS",
    "DECISION_KINDS",
    "MEMBERSHIP_KINDS",
    "AuditKind",
    "Decision",
    "DecisionKind",
    "RecordRef",
    "as_record_ref",
    "check_actor",
    "membership_events",
]
