"""MLflow "model from code" entry: loads a Linker from its JSON artifact.

MLflow runs this file to build the pyfunc model, so nothing is pickled: the
fitted model travels as the JSON artifact named ``linker``, and er_toolkit's
own code as the model's code path. What ``predict`` does is
:func:`er_toolkit.track.pyfunc.score_input`; the master stores that
``output="lookup"`` reads are loaded once per path and kept with the
loaded model (:class:`~er_toolkit.track.store_lookup.StoreLookups`).
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

    @property
    def stores(self) -> Any:
        """The master stores this loaded model has looked records up in, by path."""
        from er_toolkit.track.store_lookup import StoreLookups

        if "_stores" not in self.__dict__:
            self._stores = StoreLookups()
        return self._stores

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
        out = score_input(self.linker, frame, params, stores=self.stores)
        return _to_pandas(out)


def _to_pandas(frame: Any) -> pd.DataFrame:
    """Convert to pandas, keeping number columns with nulls in pandas' nullable types.

    A lookup's record with no candidate has a null rank, probability and
    member id; plain ``to_pandas`` would turn integer columns with nulls
    into floats, and the nulls into NaN (which JSON has no word for).
    """
    out = frame.to_pandas()
    for name, dtype in frame.schema.items():
        if dtype.is_numeric() and frame.get_column(name).null_count():
            column = frame.get_column(name).to_pandas(use_pyarrow_extension_array=True)
            out[name] = column.astype(str(dtype))
    return out


mlflow.models.set_model(LinkerModel())
