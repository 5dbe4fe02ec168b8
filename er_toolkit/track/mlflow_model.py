"""MLflow "model from code" entry: loads a Linker from its JSON artifact.

MLflow runs this file to build the pyfunc model, so nothing is pickled: the
fitted model travels as the JSON artifact named ``linker``, and er_toolkit's
own code as the model's code path. What ``predict`` does is
:func:`er_toolkit.track.pyfunc.score_input`.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class LinkerModel(PythonModel):  # type: ignore[misc]
    """A pyfunc model that scores a records frame with a saved Linker."""

    def load_context(self, context: Any) -> None:
        """Load the Linker JSON named ``linker`` in the model's artifacts."""
        from er_toolkit.pipeline import Linker

        self.linker = Linker.load(context.artifacts["linker"])

    def predict(
        self,
        context: Any,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Score the records in ``model_input``; see :func:`~er_toolkit.track.pyfunc.score_input`.

        The ``pd.DataFrame`` hint is one MLflow infers no schema from: the
        logged signature is the one that holds.
        """
        import polars as pl

        from er_toolkit.track.pyfunc import score_input

        frame = (
            model_input
            if isinstance(model_input, pl.DataFrame)
            else pl.from_pandas(model_input)
        )
        return score_input(self.linker, frame, params).to_pandas()


mlflow.models.set_model(LinkerModel())
