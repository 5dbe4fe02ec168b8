"""Check a saved model's JSON field by field before anything is built from it."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

from er_toolkit import schema
from er_toolkit.exceptions import ConfigError, ModelFormatError

SUM_TOLERANCE: Final = 1e-6
"""How far a row of m or u probabilities may sum from one."""


def _fail(field: str, expected: str, got: Any) -> ModelFormatError:
    shown = repr(got)
    if len(shown) > 60:
        shown = f"a {type(got).__name__}"
    return ModelFormatError(f"Model field {field!r} must be {expected}; got {shown}.")


def _table(data: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _fail(field, "a JSON object", type(data).__name__)
    return data


def _key(data: Mapping[str, Any], key: str, field: str) -> Any:
    if key not in data:
        raise ModelFormatError(
            f"Model field {field + '.' + key if field else key!r} is missing; the "
            "file is incomplete or was edited."
        )
    return data[key]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(
    value: Any,
    field: str,
    *,
    lo: float,
    hi: float,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Check a finite number in a range (open or closed at either end)."""
    interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if not _is_number(value) or not math.isfinite(value):
        raise _fail(field, f"a finite number in {interval}", value)
    too_low = value <= lo if lo_open else value < lo
    too_high = value >= hi if hi_open else value > hi
    if too_low or too_high:
        raise _fail(field, f"a number in {interval}", value)
    return float(value)


def _integer(value: Any, field: str, *, lo: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise _fail(field, f"an integer >= {lo}", value)


def _string(value: Any, field: str, *, choices: Sequence[str] = ()) -> str:
    if not isinstance(value, str):
        raise _fail(field, "a string", value)
    if choices and value not in choices:
        raise _fail(field, f"one of {list(choices)}", value)
    return value


def _rules(value: Any, field: str) -> None:
    """Check a list of rules: column lists, or blocker declarations."""
    if not isinstance(value, list):
        raise _fail(field, "a list of rules", value)
    for i, rule in enumerate(value):
        if isinstance(rule, Mapping):
            from er_toolkit.blocking import blocker_from_dict

            try:
                blocker_from_dict(dict(rule))
            except ConfigError as exc:
                raise ModelFormatError(f"Model field '{field}[{i}]': {exc}") from None
            except (TypeError, ValueError, AttributeError, KeyError):
                raise _fail(f"{field}[{i}]", "a blocker declaration", rule) from None
        elif not (
            isinstance(rule, list)
            and rule
            and all(isinstance(c, str) and c for c in rule)
        ):
            raise _fail(
                f"{field}[{i}]",
                "a non-empty list of column names or a blocker declaration",
                rule,
            )


def _format_version(
    data: Mapping[str, Any], field: str, readable: Sequence[int]
) -> int:
    """Check ``format_version`` is one this release reads; return it."""
    version = data.get("format_version")
    where = field + ".format_version" if field else "format_version"
    newest = max(readable)
    if isinstance(version, int) and not isinstance(version, bool) and version > newest:
        raise ModelFormatError(
            f"Model field {where!r} is {version}, newer than the {newest} this "
            "er_toolkit reads; upgrade er_toolkit to load it."
        )
    if isinstance(version, bool) or version not in readable:
        raise _fail(where, f"one of {list(readable)}", version)
    return int(version)  # type: ignore[arg-type]


def _learned(version: int) -> Any:
    """Name a fitted field: format 1 wrote ``m``, format 2 ``m_`` (the attribute)."""
    return (lambda name: name) if version == 1 else (lambda name: name + "_")


def _kind(data: Mapping[str, Any], field: str, kind: str) -> None:
    got = data.get("kind")
    if got != kind:
        where = field + ".kind" if field else "kind"
        raise _fail(where, repr(kind), got)


def _comparisons(value: Any, field: str) -> list[Any]:
    """Parse the comparisons (to count their levels); a bad one names its index."""
    from er_toolkit.compare import Comparison

    if not isinstance(value, list) or not value:
        raise _fail(field, "a non-empty list of comparisons", value)
    out = []
    for i, spec in enumerate(value):
        where = f"{field}[{i}]"
        _table(spec, where)
        try:
            out.append(Comparison.from_dict(dict(spec)))
        except ConfigError as exc:
            raise ModelFormatError(f"Model field {where!r}: {exc}") from None
        except (TypeError, ValueError, AttributeError, KeyError):
            raise ModelFormatError(
                f"Model field {where!r} is not a valid comparison declaration."
            ) from None
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise _fail(field, "comparisons with unique names", names)
    return out


def _probabilities(
    value: Any, field: str, *, n_levels: int, imported: bool = False
) -> None:
    """Check a row of level probabilities: finite, each in (0, 1), summing to one.

    An ``imported`` model's (Splink's, whose untrained levels take fixed
    defaults) are each in [0, 1] and need not sum to one.
    """
    if not isinstance(value, list) or len(value) != n_levels:
        raise _fail(field, f"a list of {n_levels} probabilities (one per level)", value)
    for g, p in enumerate(value):
        _number(
            p,
            f"{field}[{g}]",
            lo=0.0,
            hi=1.0,
            lo_open=not imported,
            hi_open=not imported,
        )
    if imported:
        return
    total = math.fsum(value)
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ModelFormatError(
            f"Model field {field!r} must sum to 1 (probabilities of every level); "
            f"it sums to {total:.9g}."
        )


def validate_fellegi_sunter_dict(data: Any, *, field: str = "") -> None:
    """Check a :meth:`FellegiSunter.to_dict` dict; raise naming the first bad field.

    Parameters
    ----------
    data
        The parsed JSON.
    field
        Where the dict sits in a larger file (``"scorer"``), for messages.

    Raises
    ------
    ModelFormatError
        On a missing key, a value of the wrong type, probabilities outside
        (0, 1) or not finite, m or u rows that do not sum to one, λ outside
        (0, 1), or an unknown or newer ``format_version``.

    Examples
    --------
    >>> validate_fellegi_sunter_dict({"kind": "FellegiSunter", "format_version": 9})
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ModelFormatError: Model field 'format_version' is 9, newer than the 2 this er_toolkit reads; upgrade er_toolkit to load it.
    """
    from er_toolkit.score.fellegi_sunter import READABLE_VERSIONS

    prefix = field + "." if field else ""
    data = _table(data, field or "the model")
    version = _format_version(data, field, READABLE_VERSIONS)
    name_of = _learned(version)
    _kind(data, field, "FellegiSunter")
    _string(
        _key(data, "link_type", field), prefix + "link_type", choices=schema.LINK_TYPES
    )
    comparisons = _comparisons(_key(data, "comparisons", field), prefix + "comparisons")
    params = _table(_key(data, "params", field), prefix + "params")
    where = prefix + "params"
    _rules(_key(params, "training_rules", where), where + ".training_rules")
    _rules(_key(params, "deterministic_rules", where), where + ".deterministic_rules")
    _number(
        _key(params, "deterministic_recall", where),
        where + ".deterministic_recall",
        lo=0.0,
        hi=1.0,
        lo_open=True,
    )
    lam = _key(params, "probability_two_random_records_match", where)
    if lam is not None:
        _number(
            lam,
            where + ".probability_two_random_records_match",
            lo=0.0,
            hi=1.0,
            lo_open=True,
            hi_open=True,
        )
    _integer(_key(params, "u_sample_size", where), where + ".u_sample_size", lo=1)
    _integer(_key(params, "max_iter", where), where + ".max_iter", lo=1)
    _number(_key(params, "tol", where), where + ".tol", lo=0.0, hi=1.0, lo_open=True)
    _integer(
        params.get("max_pairs_per_session"),
        where + ".max_pairs_per_session",
        lo=0,
        optional=True,
    )
    _integer(_key(params, "seed", where), where + ".seed", lo=0)
    if "threshold" in params:
        _number(params["threshold"], where + ".threshold", lo=0.0, hi=1.0)
    fitted = _table(_key(data, "fitted", field), prefix + "fitted")
    where = prefix + "fitted"
    lam = name_of("probability_two_random_records_match")
    _number(
        _key(fitted, lam, where),
        f"{where}.{lam}",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        hi_open=True,
    )
    method = name_of("lambda_method")
    _string(_key(fitted, method, where), f"{where}.{method}")
    n_records = name_of("n_records")
    _integer(_key(fitted, n_records, where), f"{where}.{n_records}", lo=0)
    if version > 1:
        _number(
            _key(fitted, "threshold_", where), where + ".threshold_", lo=0.0, hi=1.0
        )
        for count in ("total_pairs_", "u_sample_pairs_"):
            _integer(fitted.get(count), f"{where}.{count}", lo=0, optional=True)
        share = fitted.get("candidate_match_share_")
        if share is not None:
            _number(share, where + ".candidate_match_share_", lo=0.0, hi=1.0)
        estimates = fitted.get("lambda_estimates_", [])
        if not isinstance(estimates, list):
            raise _fail(where + ".lambda_estimates_", "a list of numbers", estimates)
        for i, estimate in enumerate(estimates):
            if not _is_number(estimate) or not math.isfinite(estimate):
                raise _fail(
                    f"{where}.lambda_estimates_[{i}]", "a finite number", estimate
                )
    names = [c.name for c in comparisons]
    for base in ("m", "u"):
        table = name_of(base)
        rows = _table(_key(fitted, table, where), f"{where}.{table}")
        if sorted(rows) != sorted(names):
            raise _fail(
                f"{where}.{table}",
                f"one row per comparison {sorted(names)}",
                sorted(rows),
            )
        for comp in comparisons:
            _probabilities(
                rows[comp.name],
                f"{where}.{table}.{comp.name}",
                n_levels=comp.n_levels,
                imported=fitted[method] == "splink",
            )
    sessions = fitted.get(name_of("sessions"), [])
    if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
        raise _fail(f"{where}.{name_of('sessions')}", "a list of objects", sessions)


def validate_classifier_dict(data: Any, *, field: str = "") -> None:
    """Check a :meth:`ClassifierScorer.to_dict` dict; raise naming the first bad field.

    The embedded estimator is checked when it is loaded
    (:func:`er_toolkit.score.safe_skops.load_estimator`).

    Raises
    ------
    ModelFormatError
        On a missing key, a value of the wrong type or out of range
        (thresholds outside [0, 1]), an invalid stacked Fellegi-Sunter
        model, or an unknown or newer ``format_version``.
    """
    from er_toolkit.score.classifier import (
        CALIBRATIONS,
        ESTIMATORS,
        READABLE_VERSIONS,
        THRESHOLD_STRATEGIES,
    )

    prefix = field + "." if field else ""
    data = _table(data, field or "the model")
    version = _format_version(data, field, READABLE_VERSIONS)
    name_of = _learned(version)
    _kind(data, field, "ClassifierScorer")
    _comparisons(_key(data, "comparisons", field), prefix + "comparisons")
    params = _table(_key(data, "params", field), prefix + "params")
    where = prefix + "params"
    _string(
        _key(params, "estimator", where),
        where + ".estimator",
        choices=(*ESTIMATORS, "custom"),
    )
    _string(
        _key(params, "calibration", where), where + ".calibration", choices=CALIBRATIONS
    )
    _string(
        _key(params, "threshold_strategy", where),
        where + ".threshold_strategy",
        choices=THRESHOLD_STRATEGIES,
    )
    if "threshold_on" in params:  # absent from models saved before it existed
        _string(
            params["threshold_on"],
            where + ".threshold_on",
            choices=("labels", "candidates"),
        )
    target = _key(params, "target_precision", where)
    if target is not None:
        _number(target, where + ".target_precision", lo=0.0, hi=1.0, lo_open=True)
    _number(_key(params, "threshold", where), where + ".threshold", lo=0.0, hi=1.0)
    _integer(_key(params, "cv", where), where + ".cv", lo=2)
    _integer(_key(params, "seed", where), where + ".seed", lo=0)
    fitted = _table(_key(data, "fitted", field), prefix + "fitted")
    where = prefix + "fitted"
    if version == 1:
        stacked, stack_field = _key(data, "fellegi_sunter", field), "fellegi_sunter"
    else:
        stacked = _key(fitted, "fellegi_sunter_", where)
        stack_field = "fitted.fellegi_sunter_"
    if stacked is not None:
        validate_fellegi_sunter_dict(stacked, field=prefix + stack_field)
    threshold = name_of("threshold")
    _number(_key(fitted, threshold, where), f"{where}.{threshold}", lo=0.0, hi=1.0)
    reason = name_of("threshold_reason")
    _string(_key(fitted, reason, where), f"{where}.{reason}")
    cv = name_of("cv_metrics")
    metrics = _table(_key(fitted, cv, where), f"{where}.{cv}")
    for name, value in metrics.items():
        if not _is_number(value) or not math.isfinite(value):
            raise _fail(f"{where}.{cv}.{name}", "a finite number", value)
    feature_key = name_of("feature_names")
    features = _key(fitted, feature_key, where)
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise _fail(f"{where}.{feature_key}", "a list of strings", features)
    for key in (name_of("feature_importances"), name_of("feature_importances_std")):
        values = _key(fitted, key, where)
        if not isinstance(values, list):
            raise _fail(f"{where}.{key}", "a list of numbers", values)
        if len(values) != len(features):
            raise ModelFormatError(
                f"Model fields '{where}.{feature_key}' and '{where}.{key}' differ in "
                f"length ({len(features)} feature names, {len(values)} values)."
            )
        for i, value in enumerate(values):
            if not _is_number(value) or not math.isfinite(value):
                raise _fail(f"{where}.{key}[{i}]", "a finite number", value)
    n_train, n_matches = name_of("n_train"), name_of("n_train_matches")
    _integer(_key(fitted, n_train, where), f"{where}.{n_train}", lo=0)
    _integer(_key(fitted, n_matches, where), f"{where}.{n_matches}", lo=0)
    if fitted[n_matches] > fitted[n_train]:
        raise _fail(
            f"{where}.{n_matches}",
            f"at most {n_train} ({fitted[n_train]})",
            fitted[n_matches],
        )
    skops = "estimator_skops" if version == 1 else "model_"
    _string(_key(fitted, skops, where), f"{where}.{skops}")
    if version > 1:
        curve = fitted.get("validation_curve_", {})
        if not isinstance(curve, Mapping) or not all(
            isinstance(v, list) and all(_is_number(x) for x in v)
            for v in curve.values()
        ):
            raise _fail(where + ".validation_curve_", "columns of numbers", curve)


_SCORERS: Final = {
    "FellegiSunter": ("fellegi_sunter", validate_fellegi_sunter_dict),
    "ClassifierScorer": ("classifier", validate_classifier_dict),
}


def validate_linker_dict(data: Any) -> None:
    """Check a :meth:`Linker.to_dict` dict: its config, scorer, and that they agree.

    Raises
    ------
    ModelFormatError
        On any field :func:`validate_fellegi_sunter_dict` or
        :func:`validate_classifier_dict` refuses, a config that does not
        validate, or a scorer whose comparisons, link type or kind differ
        from the config's.
    """
    from er_toolkit.config import LinkageConfig
    from er_toolkit.pipeline import READABLE_MODEL_VERSIONS

    if not isinstance(data, Mapping):
        raise ModelFormatError(
            "Expected an er_toolkit model file (a JSON object of kind "
            f"'er_toolkit.Linker'); got a JSON {type(data).__name__}."
        )
    _format_version(data, "", READABLE_MODEL_VERSIONS)
    _kind(data, "", "er_toolkit.Linker")
    spec = _table(_key(data, "config", ""), "config")
    try:
        config = LinkageConfig.from_dict(spec)
    except ConfigError as exc:
        raise ModelFormatError(f"Model field 'config': {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError):
        raise ModelFormatError(
            "Model field 'config' is not a valid configuration."
        ) from None
    scorer = _table(_key(data, "scorer", ""), "scorer")
    kind = scorer.get("kind")
    if not isinstance(kind, str) or kind not in _SCORERS:
        raise _fail("scorer.kind", f"one of {sorted(_SCORERS)}", kind)
    model_kind, validate = _SCORERS[kind]
    validate(scorer, field="scorer")
    if config.model.kind != model_kind:
        raise ModelFormatError(
            f"Model field 'scorer.kind' is {kind!r} but 'config.model.kind' is "
            f"{config.model.kind!r}; the file was edited or is corrupt."
        )
    declared = [c.to_dict() for c in config.comparisons]
    stacks = [("scorer", scorer)]
    if isinstance(scorer.get("fellegi_sunter"), Mapping):
        stacks.append(("scorer.fellegi_sunter", scorer["fellegi_sunter"]))
    stack = scorer.get("fitted", {}).get("fellegi_sunter_")
    if isinstance(stack, Mapping):
        stacks.append(("scorer.fitted.fellegi_sunter_", stack))
    for where, part in stacks:
        if part["comparisons"] != declared:
            raise ModelFormatError(
                f"Model field '{where}.comparisons' differs from 'config.comparisons'; "
                "the file was edited or is corrupt."
            )
        if "link_type" in part and part["link_type"] != config.link_type:
            raise ModelFormatError(
                f"Model field '{where}.link_type' is {part['link_type']!r} but "
                f"'config.link_type' is {config.link_type!r}."
            )


def load_model_json(path: str | os.PathLike[str]) -> Any:
    """Read a model file's JSON, refusing folders, binary files and bad UTF-8.

    Raises
    ------
    ModelFormatError
        If the file is missing, a folder, binary (Parquet, zip, pickle...),
        not UTF-8, or not JSON.
    """
    from er_toolkit.io import read_text_file

    text = read_text_file(path, what="Model file", error=ModelFormatError)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFormatError(
            f"Model file {str(path)!r} is not JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from None
    except RecursionError:
        raise ModelFormatError(
            f"Model file {str(path)!r} nests too deeply to be a model file."
        ) from None
