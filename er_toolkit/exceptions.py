"""The exceptions er_toolkit raises, all under ``ErToolkitError``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class ErToolkitError(Exception):
    """Base class of every error er_toolkit raises on purpose."""


class SchemaError(ErToolkitError, ValueError):
    """A frame lacks a column, or a column holds the wrong kind of values."""


class DuplicateIdError(ErToolkitError, ValueError):
    """Record ids are not unique within a source."""


class EmptyInputError(ErToolkitError, ValueError):
    """An input holds no records."""


class ConfigError(ErToolkitError, ValueError):
    """A configuration value is missing, of the wrong type, or out of range."""


class BlockingError(ErToolkitError, ValueError):
    """A blocking rule would produce more candidate pairs than allowed."""


if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(ErToolkitError, _SklearnNotFittedError):
        """A model was used before ``fit`` was called."""

else:

    def __getattr__(name: str) -> Any:
        """Make ``NotFittedError`` when first asked for (scikit-learn is imported then, not here).

        Importing scikit-learn takes seconds; every Spark Python worker
        imports this module, most never need the class.
        """
        if name != "NotFittedError":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

        class NotFittedError(ErToolkitError, _SklearnNotFittedError):
            """A model was used before ``fit`` was called.

            Also scikit-learn's ``NotFittedError`` (a ``ValueError`` and an
            ``AttributeError``), so ``sklearn.utils.validation.check_is_fitted``
            callers catch it.
            """

        NotFittedError.__qualname__ = name  # pickled by name, as a top-level class
        globals()[name] = NotFittedError
        return NotFittedError


class ModelFormatError(ErToolkitError, ValueError):
    """A saved model file is not one this version can read."""


class InputFormatError(ErToolkitError, ValueError):
    """An input file or object is of a kind er_toolkit cannot read."""


class LabelError(ErToolkitError, ValueError):
    """Labels are missing, of one class only, or do not fit the pairs."""


class MissingExtraError(ErToolkitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class StoreError(ErToolkitError, ValueError):
    """A master-store operation cannot be done as asked (unknown record or cluster, contradicting decisions, unreadable store)."""


class StoreModelError(StoreError):
    """A master store was made by another model than the one asked to read it."""


class StoreLockedError(ErToolkitError, RuntimeError):
    """Another process holds the master store's lock."""


class OutputError(ErToolkitError, RuntimeError):
    """An output folder cannot be written, is locked, or holds an incomplete set."""


class TrackingError(ErToolkitError, RuntimeError):
    """MLflow refused a tracking URI, an experiment or a model name."""


class ErToolkitWarning(UserWarning):
    """Base class of every warning er_toolkit issues on purpose."""


class SuspiciousParametersWarning(ErToolkitWarning):
    """A fitted model holds parameters that look wrong (an m driven to its floor)."""


class DataQualityWarning(ErToolkitWarning):
    """The run goes on, but its output is likely poor (mostly-null columns, ...)."""


class InteropError(ErToolkitError, ValueError):
    """A model from another tool has no exact er_toolkit equivalent, or the reverse."""
