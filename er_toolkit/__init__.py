"""Probabilistic record linkage and entity resolution for customer data mastering.

The main classes are exported here and imported on first use, so ``import
er_toolkit`` stays light (no polars, scikit-learn or MLflow until a name is
touched)::

    from er_toolkit import Linker, LinkageConfig

    linker = Linker(LinkageConfig.from_toml("experiments/febrl3.toml"))

The stages are sub-packages, each with its own config table and plug-in
registry: :mod:`er_toolkit.io`, :mod:`er_toolkit.standardise`,
:mod:`er_toolkit.blocking`, :mod:`er_toolkit.compare` (the engine-neutral
kernel ``compare_batch``), :mod:`er_toolkit.score`, :mod:`er_toolkit.cluster`,
:mod:`er_toolkit.evaluate`, :mod:`er_toolkit.golden`, :mod:`er_toolkit.track`,
:mod:`er_toolkit.charts` and :mod:`er_toolkit.report`; the
:class:`~er_toolkit.pipeline.Linker` runs them, and :mod:`er_toolkit.cli`
holds every command-line verb (``python -m er_toolkit <verb>``).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: How polars' allocator (jemalloc) is told to hand freed memory back. polars
#: itself asks for freed pages to be released after 0.5 s but kept "muzzy"
#: (lazily freed, still counted as resident) for 1 s more; a whole job frees
#: hundreds of MB of intermediates per stage, which then stack up under the
#: next stage's (at 1M records about 230 MB more peak memory). polars appends
#: this to its own settings when it is set before polars is first imported;
#: it is set only when the process has not set it itself.
POLARS_ALLOCATOR_CONF = "muzzy_decay_ms:0"
if "polars" not in sys.modules:
    os.environ.setdefault("_RJEM_MALLOC_CONF", POLARS_ALLOCATOR_CONF)

_EXPORTS: dict[str, str] = {
    "ActiveLearner": "er_toolkit.active_learning",
    "BlockingReport": "er_toolkit.blocking.analysis",
    "ClassifierScorer": "er_toolkit.score.classifier",
    "Comparison": "er_toolkit.compare",
    "ErToolkitError": "er_toolkit.exceptions",
    "EvaluationResult": "er_toolkit.evaluate",
    "ExactRule": "er_toolkit.blocking",
    "FellegiSunter": "er_toolkit.score.fellegi_sunter",
    "LinkageConfig": "er_toolkit.config",
    "Linker": "er_toolkit.pipeline",
    "PreparedRecords": "er_toolkit.pipeline",
    "SortedNeighbourhood": "er_toolkit.blocking",
    "Source": "er_toolkit.io",
    "load_linker": "er_toolkit.track",
    "progress_context": "er_toolkit.progress",
}
"""Each exported name and the module it lives in."""

__all__ = [
    "ActiveLearner",
    "BlockingReport",
    "ClassifierScorer",
    "Comparison",
    "ErToolkitError",
    "EvaluationResult",
    "ExactRule",
    "FellegiSunter",
    "LinkageConfig",
    "Linker",
    "PreparedRecords",
    "SortedNeighbourhood",
    "Source",
    "__version__",
    "load_linker",
    "progress_context",
]

if TYPE_CHECKING:
    from er_toolkit.active_learning import ActiveLearner
    from er_toolkit.blocking import ExactRule, SortedNeighbourhood
    from er_toolkit.blocking.analysis import BlockingReport
    from er_toolkit.compare import Comparison
    from er_toolkit.config import LinkageConfig
    from er_toolkit.evaluate import EvaluationResult
    from er_toolkit.exceptions import ErToolkitError
    from er_toolkit.io import Source
    from er_toolkit.pipeline import Linker, PreparedRecords
    from er_toolkit.progress import progress_context
    from er_toolkit.score.classifier import ClassifierScorer
    from er_toolkit.score.fellegi_sunter import FellegiSunter
    from er_toolkit.track import load_linker


def __getattr__(name: str) -> Any:
    """Import an exported name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'er_toolkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
