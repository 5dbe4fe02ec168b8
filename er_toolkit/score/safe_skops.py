"""Load a classifier's skops payload, trusting only the types er_toolkit's models hold."""

from __future__ import annotations

import base64
import binascii
import io
import json
import zipfile
from collections.abc import Iterable
from typing import Any, Final

from er_toolkit.exceptions import ModelFormatError

TRUSTED_TYPES: Final[frozenset[str]] = frozenset(
    {
        # containers and scalars
        "builtins.dict",
        "builtins.list",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
        "numpy.uint64",
        "numpy.ndarray",
        "numpy.random._generator.Generator",
        # calibration and cross-validation (every kind)
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.isotonic.IsotonicRegression",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.preprocessing._label.LabelEncoder",
        # estimator = "gradient_boosting"
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.loss.HalfBinomialLoss",
        # estimator = "logistic_regression"
        "sklearn.pipeline.Pipeline",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.impute._base.MissingIndicator",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.linear_model._logistic.LogisticRegression",
        # estimator = "random_forest"
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
    }
)
"""Every type a saved classifier may hold, by full name, and nothing else.

Found by training each estimator kind (gradient boosting, the logistic
regression pipeline, random forest) under both calibrations and listing
every ``__module__.__class__`` in the skops schema;
``tests/test_safe_skops.py`` checks that the list is exactly that union
(gradient boosting with early stopping, on above 10,000 pairs, needs no
other type). A prefix such as ``"numpy."`` would trust every callable in
numpy, among them helpers that run code.
"""

TRUSTED_LOADERS: Final[frozenset[str]] = frozenset(
    {
        "DictNode",
        "DTypeNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "RandomGeneratorNode",
        "SliceNode",
        "TreeNode",
        "TupleNode",
        "TypeNode",
    }
)
"""The skops node kinds those models use; nodes that call a stored callable
with stored arguments (``ConstructorFromReduceNode``, ``PartialNode``,
``MethodNode``, ``OperatorFuncNode``, ``FunctionNode``) are refused."""

MAX_UNCOMPRESSED_BYTES: Final = 1 << 30
"""Refuse payloads that would unpack to more than 1 GiB (zip bombs)."""


def dump_estimator(model: Any) -> str:
    """Return ``model`` serialised with :func:`skops.io.dumps`, base64-encoded.

    Never pickle: skops stores a schema of types and arrays, which
    :func:`load_estimator` audits before anything is built.
    """
    import skops.io as sio

    return base64.b64encode(sio.dumps(model)).decode("ascii")


def payload_types(payload: bytes) -> tuple[set[str], set[str]]:
    """Return the full type names and the node kinds a skops payload declares.

    Read from the payload's ``schema.json`` without importing or building
    anything: every object in it that names a ``__module__`` and a
    ``__class__`` is a type skops would import.

    Raises
    ------
    ModelFormatError
        If the payload is not a skops zip, or unpacks to too many bytes.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        size = sum(info.file_size for info in archive.infolist())
        if size > MAX_UNCOMPRESSED_BYTES:
            raise ModelFormatError(
                f"The saved estimator would unpack to {size:,} bytes, more than the "
                f"{MAX_UNCOMPRESSED_BYTES:,} allowed; refusing to load it."
            )
        schema = json.loads(archive.read("schema.json"))
    except ModelFormatError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError, OSError) as exc:
        raise ModelFormatError(
            f"The saved estimator is not a valid skops payload ({type(exc).__name__})."
        ) from None
    types: set[str] = set()
    loaders: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node or "__class__" in node:
                types.add(f"{node.get('__module__')}.{node.get('__class__')}")
            if "__loader__" in node:
                loaders.add(str(node["__loader__"]))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return types, loaders


def load_estimator(encoded: str, *, trusted: Iterable[str] = ()) -> Any:
    """Load a base64 skops payload that holds only :data:`TRUSTED_TYPES`.

    Every type the payload names must be in :data:`TRUSTED_TYPES` (or in
    ``trusted``) and every node kind in :data:`TRUSTED_LOADERS`; otherwise
    nothing is imported or built. The payload is then loaded with
    :func:`skops.io.loads` trusting exactly those types, so skops' own audit
    runs as a second check.

    Parameters
    ----------
    encoded
        The base64 text of a :func:`skops.io.dumps` payload.
    trusted
        Extra full type names to trust, for a model with a custom
        estimator you trained yourself (``"mypackage.MyClassifier"``).

    Raises
    ------
    ModelFormatError
        If the payload is not valid, or names a type or node kind outside
        the lists.
    """
    import skops.io as sio

    if not isinstance(encoded, str):
        raise ModelFormatError(
            "Model file field 'fitted.estimator_skops' must be a base64 string; got "
            f"{type(encoded).__name__}."
        )
    try:
        payload = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ModelFormatError(
            "Model file field 'fitted.estimator_skops' is not valid base64."
        ) from None
    allowed = TRUSTED_TYPES | set(trusted)
    types, loaders = payload_types(payload)
    refused = sorted(types - allowed)
    if refused:
        raise ModelFormatError(
            f"The saved estimator holds type(s) {refused[:5]} that a classifier "
            "model does not need; refusing to load it (nothing was imported). If "
            "you trained it yourself with a custom estimator, pass the type names "
            "as ClassifierScorer.load(path, trusted=[...]). See SECURITY.md."
        )
    odd = sorted(loaders - TRUSTED_LOADERS)
    if odd:
        raise ModelFormatError(
            f"The saved estimator uses skops node kind(s) {odd} that call stored "
            "functions; refusing to load it (nothing was imported). See SECURITY.md."
        )
    try:
        return sio.loads(payload, trusted=sorted(allowed))
    except Exception as exc:  # skops' audit, or a payload that does not build
        raise ModelFormatError(
            f"The saved estimator could not be loaded safely ({type(exc).__name__}); "
            "the model file is corrupt or was tampered with."
        ) from None
