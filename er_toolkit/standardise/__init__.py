"""Per-column standardisers and data-quality profiles."""

from er_toolkit.standardise.addresses import AddressStandardiser
from er_toolkit.standardise.base import Standardiser, Steps, apply_standardisers
from er_toolkit.standardise.dates import DateStandardiser
from er_toolkit.standardise.emails import EmailStandardiser
from er_toolkit.standardise.names import NameStandardiser, nickname_table
from er_toolkit.standardise.phones import PhoneStandardiser
from er_toolkit.standardise.postcodes import PostcodeStandardiser
from er_toolkit.standardise.quality import (
    log_profile,
    plot_profile,
    profile_frame,
    profile_standardisation,
)
from er_toolkit.standardise.registry import (
    STANDARDISERS,
    standardiser_from_dict,
    steps_from_dict,
    steps_to_dict,
)
from er_toolkit.standardise.text import TextStandardiser

__all__ = [
    "STANDARDISERS",
    "AddressStandardiser",
    "DateStandardiser",
    "EmailStandardiser",
    "NameStandardiser",
    "PhoneStandardiser",
    "PostcodeStandardiser",
    "Standardiser",
    "Steps",
    "TextStandardiser",
    "apply_standardisers",
    "log_profile",
    "nickname_table",
    "plot_profile",
    "profile_frame",
    "profile_standardisation",
    "standardiser_from_dict",
    "steps_from_dict",
    "steps_to_dict",
]
