"""Log a training run to MLflow and register its model; load models back by URI."""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from er_toolkit import __version__, schema
from er_toolkit.config import flatten
from er_toolkit.exceptions import ModelFormatError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from er_toolkit.pipeline import Linker
    from er_toolkit.track.setup import TrackingSetup

LINKER_ARTIFACT = "linker"
MODEL_URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")
"""Model URIs fetched from MLflow; any other URL is refused, never fetched."""
_MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
_FINGERPRINT_ROWS = 100_000


def data_fingerprint(records: pl.DataFrame) -> str:
    """Return a SHA-256 digest of the records' content, in row order.

    It identifies the data a model was trained on without storing any of it.

    Examples
    --------
    >>> a = pl.DataFrame({"x": ["1", "2"]})
    >>> data_fingerprint(a) == data_fingerprint(a.clone())
    True
    >>> data_fingerprint(a) == data_fingerprint(a.reverse())
    False
    """
    digest = hashlib.sha256()
    columns = [c for c in records.columns if c != schema.ROW]
    digest.update("\x1f".join(columns).encode())
    # The CSV a slice at a time: the same bytes as one write_csv, without
    # holding all of it at once; each slice is written as bytes into one
    # reused buffer (no text to encode again).
    frame = records.select(columns)
    buffer = io.BytesIO()
    for start in range(0, max(frame.height, 1), _FINGERPRINT_ROWS):
        buffer.seek(0)
        buffer.truncate()
        part = frame.slice(start, _FINGERPRINT_ROWS)
        part.write_csv(buffer, include_header=start == 0)
        digest.update(buffer.getbuffer())
    return digest.hexdigest()


def log_training_run(
    linker: Linker,
    *,
    records: pl.DataFrame | None,
    metrics: Mapping[str, float],
    figures: Mapping[str, Figure],
    tables: Mapping[str, pl.DataFrame] | None = None,
    profile: pl.DataFrame | None = None,
    register: bool = True,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    report: str | None = None,
    input_example: pd.DataFrame | None = None,
    setup: TrackingSetup | None = None,
    profile_chart: bool | None = None,
) -> dict[str, Any]:
    """Log config, fingerprint, metrics, timings, charts and the model; register it.

    No record values are written: the model JSON holds declarations and
    probabilities only, and tables passed in must be aggregates.

    The model is logged with a signature (the trained id column and every
    column the model reads, in the training records' types, an optional
    ``source`` column, and the inference params), the input example, and
    er_toolkit's code as its code path, so ``mlflow.pyfunc.load_model`` and
    ``mlflow models serve`` work where er_toolkit is not installed; its
    requirements are er_toolkit's dependencies, pinned to the versions
    installed here.

    Parameters
    ----------
    linker
        The fitted linker.
    records
        The training records, fingerprinted (not stored); None for a model
        trained elsewhere (imported from Splink), which has no fingerprint.
    metrics
        Evaluation metrics.
    figures
        Charts, saved as PNG under ``charts/``.
    tables
        Aggregate tables (blocking report, m/u table), saved as CSV.
    profile
        The data-quality profile; logged without its most-frequent values,
        which would be personal data: its metrics with the run's, its table
        as ``profile/profile.csv``.
    register
        Register the model under the config's name.
    params
        Extra run parameters (a classifier's estimator parameters, prefixed).
    tags
        Extra run tags (a classifier's threshold reason).
    report
        The HTML run report (:mod:`er_toolkit.report`), logged as
        ``report/report.html``; its record values are masked unless the
        user asked for them.
    input_example
        The model's input example; by default two made-up records of the
        model's columns (:func:`~er_toolkit.track.pyfunc.example_input`),
        never training records.
    setup
        The tracking store's setup started before the job
        (:meth:`TrackingSetup.start <er_toolkit.track.setup.TrackingSetup.start>`);
        waited on first, and what it raised is raised here.
    profile_chart
        Also draw the profile's chart (``profile/profile.png``); by default
        when ``figures`` holds charts, that is when charts were asked for.

    Returns
    -------
    dict
        ``run_id``, ``model_uri`` and ``version`` (None when not registered).
    """
    if setup is not None:
        setup.wait()
    import mlflow

    from er_toolkit.track.pyfunc import (
        example_input,
        model_requirements,
        model_signature,
        package_code_path,
    )

    config = linker.config
    if profile_chart is None:
        profile_chart = bool(figures)
    mlflow.set_experiment(config.experiment)
    with mlflow.start_run(run_name=config.name) as run:
        mlflow.log_params(flatten(config.to_dict(with_sources=True)))
        data_tags = (
            {} if records is None else {"data_fingerprint": data_fingerprint(records)}
        )
        mlflow.set_tags(
            {
                "er_toolkit_version": __version__,
                **data_tags,
                "link_type": config.link_type,
                "scorer": type(linker.scorer_).__name__,
                **(tags or {}),
            }
        )
        if params:
            mlflow.log_params(dict(params))
        logged = {k: float(v) for k, v in metrics.items()}
        logged.update({f"seconds_{k}": v for k, v in linker.timings_.items()})
        if records is not None:
            logged["n_records"] = float(records.height)
        lam = getattr(linker.scorer_, "probability_two_random_records_match_", None)
        if lam is not None:
            logged.setdefault("probability_two_random_records_match", float(lam))
        if profile is not None:
            from er_toolkit.standardise.quality import profile_metrics

            profile = profile.drop("top_values", strict=False)
            logged.update(profile_metrics(profile))
        if report is not None:
            mlflow.log_text(report, "report/report.html")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            # charts/, tables/, profile/ and model_json/ written, then logged
            # in one call
            logged_files = folder / "logged"
            charts, table_dir = logged_files / "charts", logged_files / "tables"
            for name, fig in figures.items():
                charts.mkdir(parents=True, exist_ok=True)
                fig.savefig(charts / f"{name}.png", dpi=110)
            for name, table in (tables or {}).items():
                table_dir.mkdir(parents=True, exist_ok=True)
                table.write_csv(table_dir / f"{name}.csv")
            if profile is not None:
                from er_toolkit.standardise.quality import write_profile

                write_profile(profile, logged_files / "profile", chart=profile_chart)
            (logged_files / "model_json").mkdir(parents=True)
            model_file = linker.save(logged_files / "model_json" / "linker.json")
            mlflow.log_artifacts(str(logged_files))
            code = package_code_path(folder / "code")
            example = (
                example_input(linker, records)
                if input_example is None
                else input_example
            )
            # MLflow prints its registry notices straight to stderr; the run's
            # summary says what was registered
            try:
                with (
                    warnings.catch_warnings(),
                    contextlib.redirect_stderr(io.StringIO()),
                ):
                    warnings.simplefilter("ignore")
                    info = mlflow.pyfunc.log_model(
                        name="model",
                        python_model=str(_MODEL_CODE),
                        artifacts={LINKER_ARTIFACT: str(model_file)},
                        code_paths=[str(code)],
                        signature=model_signature(linker, records),
                        input_example=example,
                        pip_requirements=model_requirements(),
                        registered_model_name=config.name if register else None,
                    )
            except Exception:
                mlflow.log_metrics(logged)  # a failed run keeps its metrics
                raise
        # One batch, each metric once, after the model: MLflow links metrics
        # logged before a model to it by reading back every metric's history
        # and logging it again; logged after, each is linked as it is written.
        mlflow.log_metrics(logged, model_id=info.model_id)
        version = info.registered_model_version if register else None
        return {
            "run_id": run.info.run_id,
            "model_uri": info.model_uri,
            "version": version,
        }


def load_linker(uri: str) -> Linker:
    """Load a Linker from a JSON path or a ``models:/<name>/<version>`` URI.

    Parameters
    ----------
    uri
        A path to a model JSON written by :meth:`Linker.save`, or an MLflow
        model URI (``models:/name/version``, ``runs:/...``).

    Returns
    -------
    Linker
        The fitted linker.
    """
    from er_toolkit.pipeline import Linker

    if not uri.startswith(MODEL_URI_SCHEMES):
        if "://" in uri:
            raise ModelFormatError(
                f"Model {uri!r}: expected a model JSON path or an MLflow URI "
                f"starting {' or '.join(MODEL_URI_SCHEMES)}; other URLs are not "
                "fetched."
            )
        return Linker.load(uri)
    import mlflow

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as exc:  # MLflow raises several kinds for a missing model
        raise ModelFormatError(
            f"Could not fetch model {uri!r} from MLflow: {exc}"
        ) from exc
    candidates = sorted(local.rglob("linker.json"))
    if not candidates:
        raise ModelFormatError(
            f"MLflow model {uri!r} holds no linker.json; was it logged by er_toolkit?"
        )
    return Linker.load(candidates[0])
