"""Get the MLflow tracking store ready in a background thread while a job runs."""

from __future__ import annotations

import threading
from concurrent.futures import Future

__all__ = ["TrackingSetup"]


class TrackingSetup:
    """Import MLflow, open its tracking store and make the experiment, in the background.

    A training job starts one before it loads its records and waits on it
    (:meth:`wait`) just before it logs the run, so that importing MLflow and
    opening the store (a new SQLite store runs MLflow's schema migrations,
    seconds) overlap with the stages instead of following them. The store is
    the one the tracking URI names when the setup starts
    (``mlflow.set_tracking_uri`` or ``MLFLOW_TRACKING_URI``); the run itself
    is still created, and marked failed if logging fails, by
    :func:`~er_toolkit.track.log_training_run`. Nothing else is written: an
    experiment that does not exist yet is created, as logging would.

    Parameters
    ----------
    experiment
        The MLflow experiment the run will be logged to.
    artifact_location
        Where a new experiment keeps its artifacts (MLflow's default when
        None); an existing experiment keeps its own.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
    >>> setup = TrackingSetup.start("doctest")
    >>> experiment_id = setup.wait()
    >>> import mlflow
    >>> mlflow.get_experiment(experiment_id).name
    'doctest'
    >>> del os.environ["MLFLOW_TRACKING_URI"]
    """

    def __init__(
        self, experiment: str, *, artifact_location: str | None = None
    ) -> None:
        self.experiment = experiment
        self.artifact_location = artifact_location
        self._future: Future[str] = Future()
        self._thread: threading.Thread | None = None

    @classmethod
    def start(
        cls, experiment: str, *, artifact_location: str | None = None
    ) -> TrackingSetup:
        """Start the setup in a background thread and return at once."""
        setup = cls(experiment, artifact_location=artifact_location)
        setup._thread = threading.Thread(
            target=setup._run, name="er_toolkit-tracking-setup", daemon=True
        )
        setup._thread.start()
        return setup

    def _run(self) -> None:
        if not self._future.set_running_or_notify_cancel():
            return
        try:
            self._future.set_result(
                _open_store(self.experiment, self.artifact_location)
            )
        except BaseException as exc:  # handed to the thread that waits
            self._future.set_exception(exc)

    def done(self) -> bool:
        """Whether the setup has finished (ready or failed)."""
        return self._future.done()

    def wait(self) -> str:
        """Wait for the setup; return the experiment's id or raise what it raised.

        A setup that was never started runs here, in the calling thread.
        """
        if self._thread is None and not self._future.done():
            self._run()
        return self._future.result()


def _open_store(experiment: str, artifact_location: str | None) -> str:
    """Import MLflow, open the tracking store (migrating it) and get the experiment."""
    # mlflow.pyfunc too, which MLflow would load lazily when the model is logged
    import mlflow.pyfunc

    client = mlflow.MlflowClient()  # opens the store: migrations run here
    _warm_requirement_checks()
    _warm_run_context()
    _warm_model_requirements()
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(
            client.create_experiment(experiment, artifact_location=artifact_location)
        )
    except mlflow.exceptions.MlflowException:
        # another process made it first; anything else is raised again below
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise
        return str(found.experiment_id)


def _warm_requirement_checks() -> None:
    """Build MLflow's map of installed packages now, off the job's path.

    Logging a model checks its pinned requirements against the installed
    distributions, and MLflow reads every installed distribution's metadata
    for that once per process (about a second here). The map is MLflow's
    own (``mlflow.utils.requirements_utils``); where it has moved, nothing is
    done and logging builds it as before.
    """
    try:
        from mlflow.utils.requirements_utils import _init_modules_to_packages_map
    except ImportError:
        return
    try:
        _init_modules_to_packages_map()
    except Exception:  # a warm-up only: logging builds the map itself if this fails
        return


def _warm_run_context() -> None:
    """Resolve the tags MLflow gives a new run now, off the job's path.

    ``mlflow.start_run`` tags a run with its context (user, source, git
    commit); finding them imports GitPython and IPython (whether the run is
    in a Databricks notebook) the first time, most of a second here. The
    context providers keep what they found (the git commit) for the
    process, so the run gets the same tags. Where MLflow has moved them,
    nothing is done and ``start_run`` finds them as before.
    """
    import importlib

    try:
        from mlflow.tracking.context.registry import resolve_tags
    except ImportError:
        return
    try:
        resolve_tags()
        importlib.import_module("IPython")
    except Exception:  # a warm-up only: start_run resolves the tags itself
        return


def _warm_model_requirements() -> None:
    """Read the model's pinned requirements now (once per process), off the job's path."""
    try:
        from er_toolkit.track.pyfunc import model_requirements

        model_requirements()
    except Exception:  # a warm-up only: logging reads them itself
        return
