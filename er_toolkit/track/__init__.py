"""Track training runs and model versions in MLflow."""

from er_toolkit.track.mlflow_runs import (
    data_fingerprint,
    load_linker,
    log_training_run,
)

__all__ = ["data_fingerprint", "load_linker", "log_training_run"]
