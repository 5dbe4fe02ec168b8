"""Models of other record linkage tools: Splink 5 settings in and out.

>>> from er_toolkit.interop import from_splink, to_splink
"""

from er_toolkit.interop.splink import (
    SPLINK_LINK_TYPES,
    from_splink,
    read_settings,
    to_splink,
)

__all__ = ["SPLINK_LINK_TYPES", "from_splink", "read_settings", "to_splink"]
