"""What the MLflow pyfunc model does: score a records frame, as other pipelines call it.

Other pipelines load a registered model with
``mlflow.pyfunc.load_model("models:/<name>/<version>")`` (or serve it with
``mlflow models serve``) and call ``predict(records, params=...)``. The
records are one frame: the id column the model was trained with, the
columns the model reads and, for a model that links sources, a ``source``
column naming each record's source (or ``params={"source": ...}`` naming
the source of the whole frame). ``params["output"]`` chooses what comes
back: ``"pairs"`` (every candidate pair scored), ``"clusters"`` (each
record's entity at ``params["threshold"]``) or ``"lookup"`` (each record's
candidate clusters in the master store at ``params["store"]``: is this
customer already known?). No internal columns (``_row``, ``_row_l``,
``_row_r``) come back, and record ids keep their input type.

This module holds the logic, MLflow-free except for the signature; the
pyfunc class itself is in :mod:`er_toolkit.track.mlflow_model`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import ConfigError, EmptyInputError, SchemaError
from er_toolkit.io import Source

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.models import ModelSignature

    from er_toolkit.pipeline import Linker
    from er_toolkit.track.store_lookup import StoreLookups

__all__ = [
    "CLUSTER_COLUMNS",
    "OUTPUTS",
    "PAIR_COLUMNS",
    "example_input",
    "id_columns",
    "model_params",
    "model_requirements",
    "model_signature",
    "package_code_path",
    "score_input",
]

Output = Literal["pairs", "clusters", "lookup"]
OUTPUTS: Final[tuple[Output, ...]] = ("pairs", "clusters", "lookup")
"""What ``params["output"]`` may ask for."""

PAIR_COLUMNS: Final = (
    schema.RECORD_ID_L,
    schema.RECORD_ID_R,
    schema.SOURCE_L,
    schema.SOURCE_R,
    schema.BLOCKED_BY,
    schema.MATCH_WEIGHT,
    schema.MATCH_PROBABILITY,
)
"""The columns of ``output="pairs"``, in order."""

CLUSTER_COLUMNS: Final = (
    schema.RECORD_ID,
    schema.SOURCE,
    schema.CLUSTER_ID,
    schema.CLUSTER_SIZE,
)
"""The columns of ``output="clusters"``, in order."""

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def model_params(linker: Linker) -> dict[str, Any]:
    """Return the inference parameters and their defaults (the signature's params).

    ``output``: ``"pairs"``, ``"clusters"`` or ``"lookup"``; ``source``:
    the source of every record in the frame (empty: read the ``source``
    column, or the model's one source); ``threshold``: the match
    probability clusters are cut at, and a lookup's ``is_match`` is set
    at (the model's fitted threshold);
    ``min_probability``: pairs (``"pairs"``) or candidate clusters
    (``"lookup"``) scoring below it are left out; ``store``: the master
    store's DuckDB file that ``"lookup"`` reads (made by this model);
    ``top``: the most candidate clusters ``"lookup"`` returns per record
    (0: all).
    """
    return {
        "output": "pairs",
        "source": "",
        "threshold": float(linker.threshold_),
        "min_probability": 0.0,
        "store": "",
        "top": 5,
    }


def id_columns(linker: Linker) -> dict[str, str]:
    """Return each trained source's id column, by source name.

    A config without sources (a linker built in a notebook from frames)
    reads ids from ``record_id``.
    """
    return {s.name: s.id_column for s in linker.config.sources}


def _default_id_column(linker: Linker) -> str:
    columns = list(dict.fromkeys(id_columns(linker).values()))
    return columns[0] if columns else schema.RECORD_ID


def _check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    known = {"output", "source", "threshold", "min_probability", "store", "top"}
    given = dict(params or {})
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(
            f"Unknown parameter(s) {unknown}; the model reads {sorted(known)}."
        )
    output = given.get("output", "pairs")
    if output not in OUTPUTS:
        raise ConfigError(
            f"params['output'] must be one of {list(OUTPUTS)}; got {output!r}."
        )
    for name in ("threshold", "min_probability"):
        value = given.get(name)
        if value is not None and not (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and 0.0 <= value <= 1.0
        ):
            raise ConfigError(
                f"params[{name!r}] must be a probability in [0, 1]; got {value!r}."
            )
    top = given.get("top")
    if top is not None and not (
        isinstance(top, int) and not isinstance(top, bool) and top >= 0
    ):
        raise ConfigError(
            f"params['top'] must be a whole number >= 0 (0: every candidate); got {top!r}."
        )
    store = given.get("store")
    if store is not None and not isinstance(store, str):
        raise ConfigError(
            "params['store'] must be the path of a master store's DuckDB file (text); "
            f"got a {type(store).__name__}."
        )
    if output == "lookup" and not store:
        raise ConfigError(
            "params['output'] = 'lookup' needs params['store'], the path of a "
            "master store's DuckDB file made by this model; got none."
        )
    return given


def _sources(linker: Linker, frame: pl.DataFrame, source: str) -> list[Source]:
    """Split the input into the model's sources (trained order first)."""
    config = linker.config
    trained = [s.name for s in config.sources]
    has_column = schema.SOURCE in frame.columns
    if source and has_column:
        raise ConfigError(
            "The input names its sources twice: in a 'source' column and in "
            "params['source']; give one of them."
        )
    if source:
        names = [source]
        frame = frame.with_columns(pl.lit(source).alias(schema.SOURCE))
    elif has_column:
        column = frame.get_column(schema.SOURCE)
        if column.null_count():
            raise SchemaError(
                f"The input's 'source' column has {column.null_count()} null value(s); "
                "every record needs the name of its source."
            )
        frame = frame.with_columns(pl.col(schema.SOURCE).cast(pl.String))
        seen = frame.get_column(schema.SOURCE).unique(maintain_order=True).to_list()
        names = [n for n in trained if n in seen] + [
            n for n in seen if n not in trained
        ]
    elif len(trained) <= 1 or config.link_type != "link":
        names = [trained[0] if trained else "input"]
        frame = frame.with_columns(pl.lit(names[0]).alias(schema.SOURCE))
    else:
        raise SchemaError(
            f"Model {config.name!r} links sources {trained}, so its input needs a "
            "'source' column naming each record's source (or params['source'] "
            "naming the source of every record); got neither."
        )
    if config.link_type == "link" and len(names) < 2:
        raise SchemaError(
            f"Model {config.name!r} links records across sources, so its input "
            f"needs records of at least two sources (trained on {trained}); got "
            f"only {names}. Name each record's source in a 'source' column."
        )
    by_name = id_columns(linker)
    default_id = _default_id_column(linker)
    parts = frame.partition_by(schema.SOURCE, as_dict=True, maintain_order=True)
    return [
        Source(
            name,
            parts[(name,)].drop(schema.SOURCE),
            id_column=by_name.get(name, default_id),
        )
        for name in names
    ]


def score_input(
    linker: Linker,
    records: pl.DataFrame,
    params: Mapping[str, Any] | None = None,
    *,
    stores: StoreLookups | None = None,
) -> pl.DataFrame:
    """Score one frame of records as the pyfunc model does.

    Parameters
    ----------
    linker
        The fitted linker.
    records
        The records: the trained id column, the columns the model reads,
        and a ``source`` column when the model links sources (unless
        ``params["source"]`` names the source of every record). Other
        columns are ignored.
    params
        ``output``, ``source``, ``threshold``, ``min_probability``,
        ``store``, ``top`` (see :func:`model_params`); defaults for those
        not given.
    stores
        The master stores already loaded for lookups (a loaded model keeps
        one :class:`~er_toolkit.track.store_lookup.StoreLookups` across
        calls); None: load the store for this call only.

    Returns
    -------
    polars.DataFrame
        ``output="pairs"``: :data:`PAIR_COLUMNS`, one row per candidate
        pair scoring at least ``min_probability``. ``output="clusters"``:
        :data:`CLUSTER_COLUMNS`, one row per record. ``output="lookup"``:
        see :func:`~er_toolkit.track.store_lookup.lookup_input`. Record ids
        keep their input type; ``blocked_by`` is text.

    Raises
    ------
    ConfigError
        For unknown parameters or values out of range.
    SchemaError
        If the input lacks a column the model reads, or a link model's
        input names fewer than two sources.
    StoreError
        ``output="lookup"``: no master store at ``params["store"]``
        (:class:`~er_toolkit.exceptions.StoreModelError`: one made by
        another model).
    EmptyInputError
        If the input holds no records.
    """
    given = _check_params(params)
    settings = {**model_params(linker), **given}
    if records.height == 0:
        raise EmptyInputError(
            "The model input holds no records; expected at least one."
        )
    if settings["output"] == "lookup":
        from er_toolkit.track.store_lookup import StoreLookups, lookup_input

        return lookup_input(linker, records, settings, stores or StoreLookups())
    sources = _sources(linker, records, str(settings["source"] or ""))
    prepared = linker.records(sources)
    pairs = linker.block(prepared)
    scored = linker.predict(
        prepared,
        candidate_pairs=pairs,
        min_probability=float(settings["min_probability"]),
    )
    if settings["output"] == "clusters":
        clusters = linker.cluster(
            prepared, scored, threshold=float(settings["threshold"])
        )
        return clusters.select(CLUSTER_COLUMNS)
    return scored.select(PAIR_COLUMNS).with_columns(
        pl.col(schema.BLOCKED_BY).cast(pl.String)
    )


# ----------------------------------------------------------------- logging
def _mlflow_type(dtype: pl.DataType) -> str:
    if dtype == pl.String or dtype == pl.Categorical or isinstance(dtype, pl.Enum):
        return "string"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "long"
    if dtype.is_float():
        return "double"
    if dtype.is_temporal():
        return "datetime"
    return "string"


def _input_columns(
    linker: Linker, records: pl.DataFrame | None
) -> list[tuple[str, str, bool]]:
    """Return (column, MLflow type, required) for every input column.

    Without the training records (a model trained elsewhere, imported) the
    types are unknown: ``"any"``.
    """
    config = linker.config
    id_type = (
        "any" if records is None else _mlflow_type(records.schema[schema.RECORD_ID])
    )
    ids = list(dict.fromkeys(id_columns(linker).values())) or [schema.RECORD_ID]
    out = [(c, id_type, len(ids) == 1) for c in ids]
    for column in config.columns:
        if records is None:
            out.append((column, "any", True))
            continue
        dtype = records.schema.get(column, pl.String())
        out.append((column, _mlflow_type(dtype), True))
    out.append((schema.SOURCE, "string", False))
    return out


def model_signature(linker: Linker, records: pl.DataFrame | None) -> ModelSignature:
    """Return the pyfunc signature: the input columns and the inference params.

    The id column(s) the model was trained with and every column it reads
    are required (in the training records' types); ``source`` is optional.
    Outputs are left undeclared: they depend on ``params["output"]``.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import AnyType

    inputs = Schema(
        [
            ColSpec(
                type=AnyType() if kind == "any" else kind, name=name, required=required
            )
            for name, kind, required in _input_columns(linker, records)
        ]
    )
    defaults = model_params(linker)
    params = ParamSchema(
        [
            ParamSpec("output", "string", defaults["output"]),
            ParamSpec("source", "string", defaults["source"]),
            ParamSpec("threshold", "double", defaults["threshold"]),
            ParamSpec("min_probability", "double", defaults["min_probability"]),
            ParamSpec("store", "string", defaults["store"]),
            ParamSpec("top", "long", defaults["top"]),
        ]
    )
    return ModelSignature(inputs=inputs, params=params)


def example_input(linker: Linker, records: pl.DataFrame | None) -> pd.DataFrame:
    """Return a made-up two-record input of the model's columns (no real values).

    The two records are equal, one in each of the first two trained
    sources (the same source for a dedupe), so the example scores one pair.
    """
    trained = [s.name for s in linker.config.sources] or ["input"]
    names = trained[:2] if len(trained) > 1 else trained * 2
    placeholder: dict[str, Any] = {
        "string": "example",
        "long": 1,
        "double": 1.0,
        "boolean": True,
    }
    ids = set(id_columns(linker).values()) or {schema.RECORD_ID}
    numbers = {c.column for c in linker.config.comparisons if "number" in c.reads}
    data: dict[str, list[Any]] = {}
    for column, kind, _ in _input_columns(linker, records):
        if kind == "any":  # types unknown: those a comparison reads them as
            kind = "double" if column in numbers else "string"
        if column == schema.SOURCE:
            data[column] = names
        elif column in ids:
            data[column] = [1, 2] if kind == "long" else ["example-1", "example-2"]
        elif kind == "datetime":
            data[column] = [None, None]
        else:
            data[column] = [placeholder[kind]] * 2
    return pl.DataFrame(data).to_pandas()


def model_requirements() -> list[str] | None:
    """Return pip requirements that install on a fresh machine.

    er_toolkit itself travels with the model as code (see
    :func:`package_code_path`), so the requirements are its dependencies,
    pinned to the versions installed here. Returns None (MLflow then infers
    them) when er_toolkit is not installed as a distribution. Read once per
    process (each installed version is a metadata file parsed); the
    tracking setup thread reads them before the job logs its model.
    """
    pinned = _pinned_requirements()
    return None if pinned is None else list(pinned)


@functools.cache
def _pinned_requirements() -> tuple[str, ...] | None:
    try:
        declared = importlib.metadata.requires("er_toolkit") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    out = []
    for line in declared:
        requirement, _, marker = line.partition(";")
        if "extra" in marker:
            continue  # an optional extra (bench, dev), not needed to score
        match = _NAME.match(requirement.strip())
        if match is None:
            continue
        name = match.group(0)
        try:
            out.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(requirement.strip())
    return tuple(sorted(set(out)))


def package_code_path(folder: str | Path) -> Path:
    """Copy the running er_toolkit package into ``folder`` (no caches); return it.

    Logged as the model's code path, so the model loads with this very
    code on a machine where er_toolkit is not installed.
    """
    import er_toolkit

    source = Path(er_toolkit.__file__).parent
    target = Path(folder) / "er_toolkit"
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return target
