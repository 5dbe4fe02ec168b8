"""The MLflow pyfunc model's lookups: "is this customer already known?" against a master store.

A dedupe model of the FEBRL3-derived fixture (tests/data/people.csv, its
blockers cut to the exact rules a master store needs) is trained once,
logged and registered into a temporary MLflow store (sqlite), and a master
store is made from its ``models:/`` URI holding every record but those of
a few held-out entities. The registered model is then loaded by that URI
and asked to look records up.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import (
    ConfigError,
    ErToolkitError,
    SchemaError,
    StoreError,
    StoreLockedError,
    StoreModelError,
)
from er_toolkit.master import MasterStore
from er_toolkit.pipeline import Linker
from er_toolkit.track import log_training_run
from er_toolkit.track.mlflow_model import LinkerModel
from er_toolkit.track.pyfunc import score_input
from er_toolkit.track.store_lookup import (
    LOOKUP_COLUMNS,
    StoreLookups,
    model_fingerprint,
)

DATA = Path(__file__).parent / "data"
HELD_OUT = 10
"""Entities whose records the store does not hold: new customers."""


def _config(base_dir: Path = DATA, **changes: object) -> LinkageConfig:
    """people_dedupe.toml with its exact blocking rules only (a store pairs by keys)."""
    spec = LinkageConfig.from_toml(DATA / "people_dedupe.toml").to_dict()
    spec["blocking"]["blockers"] = [
        b for b in spec["blocking"]["blockers"] if b["kind"] == "exact"
    ]
    spec.update(name="people_lookup", **changes)
    return LinkageConfig.from_dict(spec, base_dir=base_dir)


def _fit(config: LinkageConfig) -> tuple[Linker, pl.DataFrame]:
    linker = Linker(config, progress=False)
    records = linker.records()
    with pytest.warns(Warning):  # a small sample floors a few m values
        linker.fit(records, candidate_pairs=linker.block(records))
    return linker, records


def people() -> pl.DataFrame:
    return pl.read_csv(DATA / "people.csv", infer_schema=False)


def held_out_entities() -> list[str]:
    return (
        people()
        .get_column("entity_id")
        .unique(maintain_order=True)
        .to_list()[-HELD_OUT:]
    )


def stored_part() -> pl.DataFrame:
    return people().filter(~pl.col("entity_id").is_in(held_out_entities()))


def new_part() -> pl.DataFrame:
    return people().filter(pl.col("entity_id").is_in(held_out_entities()))


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Register the model in a fresh MLflow store and make a master store from its URI."""
    folder = tmp_path_factory.mktemp("mlflow_lookup")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        linker, records = _fit(_config())
        mlflow.create_experiment(
            linker.config.experiment, artifact_location=(folder / "art").as_uri()
        )
        info = log_training_run(linker, records=records, metrics={}, figures={})
        model_uri = f"models:/{linker.config.name}/{info['version']}"
        path = folder / "master.duckdb"
        with MasterStore.init(path, model_uri) as store:
            store.apply(stored_part().drop("entity_id"))
        yield {"linker": linker, "model_uri": model_uri, "store": path}
    finally:
        mlflow.set_tracking_uri(before)


@pytest.fixture
def model(registered: dict[str, object]) -> Iterator[mlflow.pyfunc.PyFuncModel]:
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(
        f"sqlite:///{Path(str(registered['store'])).parent / 'mlflow.db'}"
    )
    yield mlflow.pyfunc.load_model(str(registered["model_uri"]))
    mlflow.set_tracking_uri(before)


@pytest.fixture
def store_copy(registered: dict[str, object], tmp_path: Path) -> Path:
    """A copy of the store that a test may change."""
    target = tmp_path / "master.duckdb"
    shutil.copyfile(str(registered["store"]), target)
    return target


def _lookup(store: Path, **params: object) -> dict[str, object]:
    return {"output": "lookup", "store": str(store), **params}


def _own_clusters(path: Path) -> dict[str, str]:
    with MasterStore.open(path, read_only=True) as store:
        clusters = store.clusters()
    return dict(
        zip(clusters["record_id"].cast(pl.String), clusters["cluster_id"], strict=True)
    )


# ----------------------------------------------------------- by models:/ URI
def test_stored_records_find_their_own_cluster_first(model, registered):
    path = Path(str(registered["store"]))
    frame = stored_part()
    out = model.predict(frame.drop("entity_id").to_pandas(), params=_lookup(path))
    assert list(out.columns[: len(LOOKUP_COLUMNS)]) == list(LOOKUP_COLUMNS)
    golden_columns = list(out.columns[len(LOOKUP_COLUMNS) :])
    assert golden_columns and all(c.startswith("golden_") for c in golden_columns)
    assert "golden_surname" in golden_columns and "golden_cluster_id" not in out
    assert not [c for c in out.columns if c.startswith("_") or "_row" in c]
    # every input record is there, best candidate first
    assert set(out["record_id"]) == set(frame["rec_id"])
    best = out[out["rank"] == 1].set_index("record_id")
    assert len(best) == frame.height
    own = _own_clusters(path)
    assert (best["cluster_id"] == best.index.map(own)).all()
    top = out.groupby("record_id")["match_probability"].max()
    np.testing.assert_allclose(best["match_probability"], top[best.index])
    assert best["is_match"].all()
    assert (out["rank"] <= 5).all()  # the default top
    # the golden record is the cluster's, as the store holds it
    with MasterStore.open(path, read_only=True) as store:
        golden = store.golden().to_pandas().set_index("cluster_id")
    sample = best.head(20)
    assert (
        sample["golden_surname"].fillna("")
        == golden.loc[sample["cluster_id"], "surname"].fillna("").to_numpy()
    ).all()


def test_new_records_are_not_known_and_never_dropped(model, registered):
    path = Path(str(registered["store"]))
    new = new_part().drop("entity_id")
    stranger = pl.DataFrame(
        {"rec_id": ["stranger-1"], "given_name": ["zyxwq"], "surname": ["qqqqvv"]}
    )
    frame = pl.concat([new, stranger], how="diagonal")
    out = model.predict(frame.to_pandas(), params=_lookup(path, top=0))
    assert set(out["record_id"]) == set(frame["rec_id"])  # every record, once or more
    assert not out["is_match"].any()
    # the stranger shares no blocking key with any stored record: one row, no cluster
    alone = out[out["record_id"] == "stranger-1"]
    assert len(alone) == 1
    assert alone["cluster_id"].isna().all() and alone["rank"].isna().all()
    assert alone["match_probability"].isna().all()
    assert out["rank"].dtype == "Int32"  # nulls keep the column whole numbers
    found = out[out["cluster_id"].notna()]
    assert (found["match_probability"] < 0.5).all()


def test_top_and_min_probability_cut_the_candidates(model, registered):
    path = Path(str(registered["store"]))
    frame = stored_part().head(40).drop("entity_id").to_pandas()
    every = model.predict(frame, params=_lookup(path, top=0))
    one = model.predict(frame, params=_lookup(path, top=1))
    assert len(one) == len(frame) < len(every)
    assert one["record_id"].tolist() == frame["rec_id"].tolist()
    strict = model.predict(frame, params=_lookup(path, top=0, min_probability=0.5))
    kept = strict[strict["cluster_id"].notna()]
    assert len(kept) == (every["match_probability"] >= 0.5).sum()


def test_threshold_sets_is_match(model, registered):
    path = Path(str(registered["store"]))
    frame = stored_part().head(40).drop("entity_id").to_pandas()
    out = model.predict(frame, params=_lookup(path, top=0, threshold=0.999999))
    assert (out["is_match"] == (out["match_probability"] >= 0.999999)).all()
    assert out["is_match"].any() and not out["is_match"].all()


_STORES = StoreLookups()  # one snapshot for every example below


@settings(max_examples=15, deadline=None)
@given(
    picks=st.lists(st.integers(0, 501), min_size=1, max_size=12),
    top=st.integers(0, 3),
    min_probability=st.sampled_from([0.0, 0.5, 0.99]),
)
def test_every_record_comes_back_once_ranked(
    registered, picks, top, min_probability
) -> None:
    linker = registered["linker"]
    assert isinstance(linker, Linker)
    frame = people()[picks].drop("entity_id")
    out = score_input(
        linker,
        frame,
        _lookup(registered["store"], top=top, min_probability=min_probability),
        stores=_STORES,
    )
    # consecutive groups, one per input record in input order, each ranked 1..k
    groups: list[list[dict[str, object]]] = []
    for row in out.iter_rows(named=True):
        if row["rank"] in (None, 1):
            groups.append([])
        groups[-1].append(row)
    assert [g[0]["record_id"] for g in groups] == frame["rec_id"].to_list()
    for group in groups:
        if group[0]["cluster_id"] is None:
            assert len(group) == 1 and group[0]["rank"] is None
            continue
        assert [r["rank"] for r in group] == list(range(1, len(group) + 1))
        assert top == 0 or len(group) <= top
        probabilities = [r["match_probability"] for r in group]
        assert probabilities == sorted(probabilities, reverse=True)
        assert min(probabilities) >= min_probability
        assert len({r["cluster_id"] for r in group}) == len(group)


def test_signature_declares_the_lookup_params(model):
    params = {p.name: p for p in model.metadata.signature.params.params}
    assert params["store"].default == "" and params["store"].dtype.name == "string"
    assert params["top"].default == 5 and params["top"].dtype.name == "long"
    with pytest.raises(Exception, match="top"):  # MLflow checks the declared type
        model.predict(people().head(2).to_pandas(), params={"top": "many"})


def test_the_scoring_servers_json_path_takes_lookup_params(model, registered):
    """What `mlflow models serve` runs for a POST to /invocations, without a server."""
    import json

    from mlflow.pyfunc import scoring_server

    path = Path(str(registered["store"]))
    frame = pl.concat(
        [
            stored_part().head(3).drop("entity_id"),
            pl.DataFrame({"rec_id": ["stranger-1"], "given_name": ["zyxwq"]}),
        ],
        how="diagonal",
    )
    payload = {
        "dataframe_records": frame.to_dicts(),
        "params": {"output": "lookup", "store": str(path), "top": 1},
    }
    answer = scoring_server.invocations(
        json.dumps(payload),
        "application/json",
        model,
        model.metadata.get_input_schema(),
    )
    assert answer.status == 200, answer.response
    rows = json.loads(answer.response)["predictions"]  # strict JSON: no NaN
    assert [r["record_id"] for r in rows] == frame["rec_id"].to_list()
    own = _own_clusters(path)
    assert [r["cluster_id"] for r in rows[:3]] == [own[i] for i in frame["rec_id"][:3]]
    assert rows[3]["cluster_id"] is None and rows[3]["rank"] is None
    assert rows[3]["match_probability"] is None and rows[3]["is_match"] is False


def test_a_writer_is_not_locked_out_and_its_batch_is_seen(model, store_copy, caplog):
    new = new_part()
    query = new.drop("entity_id").to_pandas()
    before = model.predict(query, params=_lookup(store_copy))
    assert not before["is_match"].any()
    lookups = model.unwrap_python_model().stores
    assert isinstance(lookups, StoreLookups)
    linker = model.unwrap_python_model().linker
    first = lookups.get(store_copy, linker)
    assert lookups.get(store_copy, linker) is first  # kept while the file stands
    # the loaded model holds no lock: the store's writer opens it and applies a batch
    with MasterStore.open(store_copy) as writer:
        writer.apply(new.drop("entity_id"))
        # while the writer has the store, lookups answer from the last snapshot
        with caplog.at_level(logging.WARNING, logger="er_toolkit.track.store_lookup"):
            during = model.predict(query, params=_lookup(store_copy))
        assert "open for writing" in caplog.text
        assert not during["is_match"].any()
    after = model.predict(query, params=_lookup(store_copy))
    assert lookups.get(store_copy, linker) is not first
    best = after[after["rank"] == 1].set_index("record_id")
    own = _own_clusters(store_copy)
    assert (best["cluster_id"] == best.index.map(own)).all()
    assert best["is_match"].all()


def test_a_store_held_by_a_writer_before_any_lookup(registered, store_copy):
    linker = registered["linker"]
    assert isinstance(linker, Linker)
    with (
        MasterStore.open(store_copy),
        pytest.raises(StoreLockedError, match=r"locked by a writer"),
    ):
        score_input(linker, people().head(2), _lookup(store_copy))


# ---------------------------------------------------------------- refusals
def test_lookup_params_wrong(registered, tmp_path):
    linker = registered["linker"]
    assert isinstance(linker, Linker)
    frame = people().head(3)
    with pytest.raises(ConfigError, match=r"needs params\['store'\].*got none"):
        score_input(linker, frame, {"output": "lookup"})
    missing = tmp_path / "nowhere.duckdb"
    with pytest.raises(StoreError, match=r"master store.*nowhere\.duckdb.*no file"):
        score_input(linker, frame, _lookup(missing))
    with pytest.raises(ConfigError, match=r"'top'.*>= 0.*-1"):
        score_input(linker, frame, _lookup(missing, top=-1))
    with pytest.raises(ConfigError, match=r"'store'.*text.*int"):
        score_input(linker, frame, {"output": "lookup", "store": 3})
    with pytest.raises(SchemaError, match=r"\['rec_id'\].*not found"):
        score_input(linker, frame.drop("rec_id"), _lookup(registered["store"]))
    with pytest.raises(ConfigError, match="twice"):
        score_input(
            linker,
            frame.with_columns(source=pl.lit("people")),
            _lookup(registered["store"], source="people"),
        )


def test_a_store_of_another_model_is_refused(registered, tmp_path):
    linker = registered["linker"]
    assert isinstance(linker, Linker)
    spec = linker.to_dict()
    spec["scorer"]["params"]["threshold"] = 0.9
    other = Linker.from_dict(spec)
    assert model_fingerprint(other) != model_fingerprint(linker)
    path = tmp_path / "other.duckdb"
    MasterStore.init(path, other).close()
    with pytest.raises(StoreModelError) as caught:
        score_input(linker, people().head(2), _lookup(path))
    message = str(caught.value)
    assert model_fingerprint(linker) in message  # expected
    assert model_fingerprint(other) in message  # found
    assert "another model" in message and "version 1" in message
    assert isinstance(caught.value, StoreError | ErToolkitError)
    # the same model saved and loaded again is the same model
    again = Linker.load(linker.save(tmp_path / "again.json"))
    assert model_fingerprint(again) == model_fingerprint(linker)


def test_integer_ids_keep_their_type(tmp_path):
    frame = people().with_row_index("customer_no", offset=1000)
    frame = frame.with_columns(pl.col("customer_no").cast(pl.Int64))
    frame.write_parquet(tmp_path / "people.parquet")
    linker, _ = _fit(
        _config(
            tmp_path,
            sources=[
                {"name": "crm", "path": "people.parquet", "id_column": "customer_no"}
            ],
        )
    )
    path = tmp_path / "master.duckdb"
    with MasterStore.init(path, linker) as store:
        store.apply(frame.head(300).drop("entity_id"))
    model = LinkerModel()
    model.linker = linker
    query = pd.concat(
        [
            frame.slice(290, 20).drop("entity_id").to_pandas(),
            pd.DataFrame({"customer_no": [5], "given_name": ["zyxwq"]}),
        ],
        ignore_index=True,
    )
    out = model.predict(None, query, params=_lookup(path, top=1))
    assert out["record_id"].dtype == np.int64
    assert out["matched_record_id"].dtype == "Int64"  # a null for the stranger
    assert out["golden_surname__record_id"].dtype == "Int64"
    stored = out[out["record_id"].between(1000, 1299)]  # the first 300 were applied
    assert len(stored) == 10
    with MasterStore.open(path, read_only=True) as store:
        own = dict(store.clusters().select("record_id", "cluster_id").rows())
    assert (stored["cluster_id"] == stored["record_id"].map(own)).all()
    assert stored["matched_record_id"].map(own).equals(stored["cluster_id"])
    assert out.loc[out["record_id"] == 5, "cluster_id"].isna().all()
    assert len(out) == len(query)
