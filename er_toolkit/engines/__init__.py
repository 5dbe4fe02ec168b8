"""Engines: where the stages run (polars in this process, or Apache Spark).

An engine kind is a module here with one ``@register_engine`` class. The
Spark engine's module imports ``pyspark`` only when an engine is built.
"""

from er_toolkit.engines.base import (
    ENGINE_KINDS,
    Engine,
    EngineConfig,
    Frame,
    as_engine,
    register_engine,
)
from er_toolkit.engines.polars import PolarsEngine
from er_toolkit.engines.spark import SparkEngine

__all__ = [
    "ENGINE_KINDS",
    "Engine",
    "EngineConfig",
    "Frame",
    "PolarsEngine",
    "SparkEngine",
    "as_engine",
    "register_engine",
]
