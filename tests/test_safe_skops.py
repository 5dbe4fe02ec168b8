"""Model files may hold only the types er_toolkit's classifiers need (SECURITY.md).

Crafted skops payloads that call exec-like functions inside numpy,
scikit-learn and the standard library are refused on load, and nothing they
ask for runs: each test checks a marker file the payload would write. A
control test shows the same payloads do run when trusted, so the refusal is
what stops them.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import skops.io as sio

from er_toolkit.compare import Comparison, ExactLevel, SimilarityLevel
from er_toolkit.exceptions import ModelFormatError
from er_toolkit.score import ClassifierScorer, safe_skops
from er_toolkit.score.safe_skops import (
    TRUSTED_LOADERS,
    TRUSTED_TYPES,
    load_estimator,
    payload_types,
)

NAME = Comparison("name", "name", (ExactLevel(), SimilarityLevel("jaro_winkler", 0.9)))
DOB = Comparison("dob", "dob", (ExactLevel(),))


def _vectors(n: int = 200, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    sim = np.where(y == 1, rng.uniform(0.8, 1, n), rng.uniform(0, 0.95, n))
    sim[::7] = np.nan
    gamma = np.where(np.isnan(sim), -1, (sim >= 0.9).astype(np.int8) + (sim > 0.99))
    vectors = pl.DataFrame(
        {
            "_row_l": np.arange(n),
            "_row_r": np.arange(n) + n,
            "gamma_name": gamma.astype(np.int8),
            "sim_name": sim.astype(np.float32),
            "gamma_dob": np.where(y == 1, 2, rng.integers(-1, 2, n)).astype(np.int8),
        }
    )
    return vectors, y


@pytest.fixture(scope="module")
def fitted() -> dict[tuple[str, str], ClassifierScorer]:
    from threadpoolctl import threadpool_limits

    vectors, y = _vectors()
    with threadpool_limits(limits=1):  # OpenMP threads crawl on a busy machine
        return {
            (est, cal): ClassifierScorer(
                [NAME, DOB], estimator=est, calibration=cal, cv=2
            ).fit(vectors, y)
            for est in ("gradient_boosting", "logistic_regression", "random_forest")
            for cal in ("isotonic", "sigmoid")
        }


# ------------------------------------------------------------ the allow-list
def test_every_kind_needs_only_trusted_types_and_round_trips(fitted):
    vectors, _ = _vectors(seed=1)
    seen: set[str] = set()
    for (est, cal), scorer in fitted.items():
        payload = sio.dumps(scorer.model_)
        types, loaders = payload_types(payload)
        assert types <= TRUSTED_TYPES, (est, cal, sorted(types - TRUSTED_TYPES))
        assert loaders <= TRUSTED_LOADERS, (est, cal, sorted(loaders - TRUSTED_LOADERS))
        seen |= types
        loaded = ClassifierScorer.from_dict(scorer.to_dict())
        np.testing.assert_allclose(
            scorer.predict_proba(vectors), loaded.predict_proba(vectors), rtol=1e-9
        )
    # the list is the union of what the kinds need, not a package prefix
    assert all(not t.endswith(".") for t in TRUSTED_TYPES)
    assert {t.split(".")[0] for t in TRUSTED_TYPES} == {"builtins", "numpy", "sklearn"}
    assert sorted(TRUSTED_TYPES - seen) == []  # nothing trusted that no kind needs


def test_payload_types_reads_every_node_without_importing(fitted):
    payload = sio.dumps(fitted[("random_forest", "sigmoid")].model_)
    types, loaders = payload_types(payload)
    assert "sklearn.tree._tree.Tree" in types
    assert "sklearn.ensemble._forest.RandomForestClassifier" in types
    assert "TreeNode" in loaders


# ----------------------------------------------------------- crafted payloads
def _reduce_node(module: str, name: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """A skops node that calls ``module.name(*args)`` when the payload is built."""
    inner = json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps(args))).read("schema.json"))
    inner.pop("protocol")
    inner.pop("_skops_version")
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": inner,
    }


def _zip(schema: dict[str, Any], extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def _standalone(module: str, name: str, args: tuple[Any, ...]) -> bytes:
    node = _reduce_node(module, name, args)
    node.update(protocol=sio._protocol.PROTOCOL, _skops_version="0.16.0")
    return _zip(node)


def _hidden_in(model: Any, node: dict[str, Any]) -> bytes:
    """A real model's payload with ``node`` tucked into its attributes."""
    archive = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(archive.read("schema.json"))
    schema["content"]["content"]["_evil"] = node
    extra = {n: archive.read(n) for n in archive.namelist() if n != "schema.json"}
    return _zip(schema, extra)


def _exec_like(marker: Path) -> list[tuple[str, str, tuple[Any, ...]]]:
    code = f"open({str(marker)!r}, 'w').write('ran')"
    return [
        ("numpy.testing._private.utils", "runstring", (code, {})),
        ("sklearn.utils._testing", "assert_run_python_script_without_output", (code,)),
        ("builtins", "exec", (code,)),
        ("builtins", "eval", (f"exec({code!r})",)),
        ("os", "system", (f"touch {marker}",)),
        ("subprocess", "check_call", (["touch", str(marker)],)),
    ]


CALLABLES = [
    "numpy.testing._private.utils.runstring",
    "sklearn.utils._testing.assert_run_python_script_without_output",
    "builtins.exec",
    "builtins.eval",
    "os.system",
    "subprocess.check_call",
]


@pytest.mark.parametrize("which", range(len(CALLABLES)), ids=CALLABLES)
def test_the_crafted_payloads_do_run_code_when_trusted(tmp_path, which):
    """Control: each payload is live; only the trust list stands in its way."""
    marker = tmp_path / "ran"
    module, name, args = _exec_like(marker)[which]
    payload = _standalone(module, name, args)
    sio.loads(payload, trusted=[f"{module}.{name}"])
    assert marker.exists()


@pytest.mark.parametrize("hidden", [False, True], ids=["standalone", "inside_a_model"])
@pytest.mark.parametrize("which", range(len(CALLABLES)), ids=CALLABLES)
def test_exec_like_callables_are_refused_and_never_run(tmp_path, fitted, which, hidden):
    marker = tmp_path / "ran"
    module, name, args = _exec_like(marker)[which]
    scorer = fitted[("logistic_regression", "sigmoid")]
    if hidden:
        payload = _hidden_in(scorer.model_, _reduce_node(module, name, args))
    else:
        payload = _standalone(module, name, args)
    data = scorer.to_dict()
    data["fitted"]["model_"] = base64.b64encode(payload).decode()
    with pytest.raises(ModelFormatError, match=rf"{name}.*refusing to load it"):
        ClassifierScorer.from_dict(data)
    assert not marker.exists()
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFormatError, match="refusing"):
        ClassifierScorer.load(path)
    assert not marker.exists()


def test_a_reduce_node_of_a_trusted_type_is_still_refused(fitted):
    """The node kind that calls a stored callable is refused, whatever it names."""
    payload = _standalone("builtins", "dict", ())
    with pytest.raises(ModelFormatError, match="ConstructorFromReduceNode"):
        load_estimator(base64.b64encode(payload).decode())


def test_a_bit_generator_name_outside_numpy_random_is_refused(fitted):
    """skops' hidden-name check still runs: the payload is loaded with our list only."""
    scorer = fitted[("gradient_boosting", "isotonic")]
    archive = zipfile.ZipFile(io.BytesIO(sio.dumps(scorer.model_)))
    text = archive.read("schema.json").decode()
    assert '\\"PCG64\\"' in text or '"PCG64"' in text
    bad = text.replace('\\"PCG64\\"', '\\"seed\\"')
    extra = {n: archive.read(n) for n in archive.namelist() if n != "schema.json"}
    payload = _zip(json.loads(bad), extra)
    with pytest.raises(ModelFormatError, match="could not be loaded safely"):
        load_estimator(base64.b64encode(payload).decode())


# ------------------------------------------------------------ other refusals
def test_a_custom_estimator_needs_trusted(tmp_path):
    from sklearn.ensemble import ExtraTreesClassifier

    vectors, y = _vectors()
    scorer = ClassifierScorer(
        [NAME, DOB],
        estimator=ExtraTreesClassifier(n_estimators=5, random_state=0),
        calibration="sigmoid",
        cv=2,
    ).fit(vectors.fill_nan(0.0).fill_null(0.0), y)
    path = scorer.save(tmp_path / "custom.json")
    with pytest.raises(
        ModelFormatError, match=r"ExtraTreesClassifier.*trusted=\[\.\.\.\]"
    ):
        ClassifierScorer.load(path)
    types, _ = payload_types(base64.b64decode(scorer.to_dict()["fitted"]["model_"]))
    extra = sorted(types - TRUSTED_TYPES)
    loaded = ClassifierScorer.load(path, trusted=extra)
    np.testing.assert_allclose(
        loaded.predict_proba(vectors.fill_nan(0.0).fill_null(0.0)),
        scorer.predict_proba(vectors.fill_nan(0.0).fill_null(0.0)),
        rtol=1e-9,
    )


@pytest.mark.parametrize(
    ("encoded", "match"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"plain bytes").decode(), "not a valid skops payload"),
        (base64.b64encode(_zip({"a": 1})).decode(), "could not be loaded safely"),
        (
            base64.b64encode(
                (lambda b: (zipfile.ZipFile(b, "w").close(), b.getvalue())[1])(
                    io.BytesIO()
                )
            ).decode(),
            "not a valid skops payload",
        ),
        ("é", "not valid base64"),
    ],
    ids=["not_base64", "not_zip", "schema_nonsense", "empty_zip", "non_ascii"],
)
def test_broken_payloads_are_model_format_errors(encoded, match):
    with pytest.raises(ModelFormatError, match=match):
        load_estimator(encoded)


def test_payloads_that_unpack_too_large_are_refused(fitted, monkeypatch):
    payload = sio.dumps(fitted[("gradient_boosting", "isotonic")].model_)
    monkeypatch.setattr(safe_skops, "MAX_UNCOMPRESSED_BYTES", 100)
    with pytest.raises(ModelFormatError, match="would unpack to"):
        load_estimator(base64.b64encode(payload).decode())
