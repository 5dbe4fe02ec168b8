"""The master store: incremental batches, stable ids, transactions, locks, lookups, erasure, drift."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import generate_customers
from er_toolkit import schema
from er_toolkit.exceptions import ConfigError, StoreError, StoreLockedError
from er_toolkit.master import MasterStore, MonitoringConfig
from er_toolkit.master.lock import lock_path
from er_toolkit.master.tables import FORMAT_VERSION
from tests.master_fixtures import (
    ROOT,
    as_sources,
    customers,  # noqa: F401  (fixture)
    linker,  # noqa: F401  (fixture)
    members,
    model_path,  # noqa: F401  (fixture)
    partition,
)


def _batches(frame: pl.DataFrame, n: int) -> list[pl.DataFrame]:
    size = -(-frame.height // n)
    return [frame.slice(i * size, size) for i in range(n)]


def _snapshot(store: MasterStore) -> dict[str, object]:
    """Everything an update may change, comparable with ==."""
    return {
        "clusters": store.clusters().sort("source", "record_id").rows(),
        "golden": store.golden().rows(),
        "audit": store.audit().height,
        "decisions": store.decisions().rows(),
        "counts": store.counts(),
        "records": store.records().sort("source", "record_id").rows(),
    }


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "master.duckdb"


@pytest.fixture(scope="module")
def filled(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A store holding every customer (one batch), as a file tests copy."""
    path = tmp_path_factory.mktemp("filled") / "master.duckdb"
    with MasterStore.init(path, model_path, term_frequencies=customers) as store:
        store.apply(customers)
    return path


def _copy(filled: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.duckdb"
    target.write_bytes(filled.read_bytes())
    return target


# ---------------------------------------------------------------- batches
def test_ten_batches_end_with_the_clusters_of_one(
    customers: pl.DataFrame,  # noqa: F811
    linker,  # noqa: F811
    model_path: Path,  # noqa: F811
    filled: Path,
    store_path: Path,
) -> None:
    with MasterStore.open(filled, read_only=True) as one:
        expected = partition(one.clusters())
    # the same clusters as the batch pipeline over every record
    records = linker.records(as_sources(customers))
    batch = linker.cluster(records, linker.predict(records))
    assert partition(batch) == expected

    with MasterStore.init(store_path, model_path, term_frequencies=customers) as store:
        before: dict[str, frozenset[tuple[str, str]]] = {}
        golden_before = pl.DataFrame()
        for i, part in enumerate(_batches(customers, 10), start=1):
            store.apply(part)
            after = members(store.clusters())
            events = store.audit().filter(pl.col("batch_id") == i)
            touched = set(
                events.get_column("clusters_before").explode().drop_nulls()
            ) | set(events.get_column("clusters_after").explode().drop_nulls())
            # clusters the batch did not touch kept their ids and members
            untouched = set(before) - touched
            assert untouched or i == 1, "every cluster was touched: nothing checked"
            assert all(after[cid] == before[cid] for cid in untouched)
            # ... and their golden records were not rebuilt
            golden = store.golden()
            if golden_before.height:
                ids = pl.Series(sorted(untouched))
                assert golden.filter(pl.col("cluster_id").is_in(ids.implode())).equals(
                    golden_before.filter(pl.col("cluster_id").is_in(ids.implode()))
                )
            # a merge keeps the oldest id (ids count up: the smallest is oldest)
            for row in events.filter(pl.col("kind") == "merge").iter_rows(named=True):
                assert row["clusters_after"] == [min(row["clusters_before"])]
            before, golden_before = after, golden
        assert partition(store.clusters()) == expected
        assert store.batches().height == 10
        merges = store.audit().filter(pl.col("kind") == "merge")
        assert merges.height > 0  # records bridged clusters across batches


def test_reapplying_a_batch_changes_nothing(
    customers: pl.DataFrame,  # noqa: F811
    filled: Path,
    tmp_path: Path,
) -> None:
    with MasterStore.open(_copy(filled, tmp_path)) as store:
        before = _snapshot(store)
        summary = store.apply(customers.head(500))
        assert (summary.new_records, summary.changed_records) == (0, 0)
        assert summary.unchanged_records == 500
        assert summary.clusters_touched == 0
        after = _snapshot(store)
        before["counts"]["batches"] += 1  # type: ignore[index]
        assert after == before


def test_a_changed_record_is_re_resolved_and_may_move(
    customers: pl.DataFrame,  # noqa: F811
    filled: Path,
    tmp_path: Path,
) -> None:
    with MasterStore.open(_copy(filled, tmp_path)) as store:
        clusters = store.clusters()
        sizes = clusters.filter(pl.col("cluster_size") >= 3)
        mover = sizes.row(0, named=True)
        target = clusters.filter(
            (pl.col("cluster_size") >= 3)
            & (pl.col("cluster_id") != mover["cluster_id"])
        ).row(0, named=True)
        template = customers.filter(
            (pl.col("source") == target["source"])
            & (pl.col("record_id") == target["record_id"])
        )
        changed = template.with_columns(
            pl.lit(mover["source"]).alias("source"),
            pl.lit(mover["record_id"]).alias("record_id"),
        )
        summary = store.apply(changed)
        assert summary.changed_records == 1
        now = store.clusters().filter(pl.col("record_id") == mover["record_id"])
        assert now.get_column("cluster_id").item() == target["cluster_id"]
        # the cluster it left keeps its id (its oldest member stayed)
        assert mover["cluster_id"] in set(store.clusters().get_column("cluster_id"))
        event = store.audit().filter(pl.col("batch_id") == summary.batch_id)
        assert event.get_column("kind").to_list() == ["regroup"]
        assert event.row(0, named=True)["records"] == [
            {"source": mover["source"], "record_id": mover["record_id"]}
        ]


# ------------------------------------------------------------ transactions
CHILD = """
import os, sys, time
sys.path.insert(0, {root!r})
import polars as pl
from er_toolkit.master import MasterStore, incremental
original = incremental.write_plan
def stall(*args, **kwargs):
    out = original(*args, **kwargs)
    open({flag!r}, "w").write("inside")
    time.sleep(600)
    return out
incremental.write_plan = stall
import er_toolkit.master.store as store_module
store_module.write_plan = stall
store = MasterStore.open({path!r})
store.apply(pl.read_parquet({batch!r}))
"""


def test_a_process_killed_mid_apply_leaves_the_previous_state(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    filled: Path,
    tmp_path: Path,
) -> None:
    first, second = customers.head(1200), customers.slice(1200)
    path = tmp_path / "master.duckdb"
    with MasterStore.init(path, model_path, term_frequencies=customers) as store:
        store.apply(first)
        before = _snapshot(store)
    batch = tmp_path / "batch.parquet"
    second.write_parquet(batch)
    flag = tmp_path / "inside"
    script = CHILD.format(
        root=str(ROOT), flag=str(flag), path=str(path), batch=str(batch)
    )
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while not flag.exists():
        assert child.poll() is None, (
            child.stderr.read().decode() if child.stderr else ""
        )
        assert time.monotonic() < deadline, "the child never reached the transaction"
        time.sleep(0.05)
    # every write of the batch is done, the transaction not committed
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    with MasterStore.open(path) as store:  # the lock died with the child
        assert _snapshot(store) == before
        store.apply(second)
        crashed_then_applied = partition(store.clusters())
    # batches end with the clusters of one run (tested above): the crash left no mark
    with MasterStore.open(filled, read_only=True) as clean:
        assert partition(clean.clusters()) == crashed_then_applied


def test_a_second_writer_gets_an_error_naming_the_lock(
    filled: Path, tmp_path: Path
) -> None:
    path = _copy(filled, tmp_path)
    with MasterStore.open(path):
        with pytest.raises(StoreLockedError, match=str(lock_path(path))):
            MasterStore.open(path)
        with pytest.raises(StoreLockedError, match="one writer or many readers"):
            MasterStore.open(path, read_only=True)
        # a writer in another process is refused the same way
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\nfrom er_toolkit.master import MasterStore\n"
                f"try:\n    MasterStore.open({str(path)!r})\n"
                "except Exception as e:\n    print(type(e).__name__, e)",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        )
        assert other.stdout.startswith("StoreLockedError")
        assert str(lock_path(path)) in other.stdout
    with (
        MasterStore.open(path, read_only=True) as a,
        MasterStore.open(path, read_only=True) as b,
    ):  # readers share
        assert a.counts() == b.counts()
        with pytest.raises(StoreError, match="read-only"):
            a.apply(pl.DataFrame({"record_id": ["x"], "source": ["crm"]}))


def test_the_store_records_its_format_version(filled: Path, tmp_path: Path) -> None:
    with MasterStore.open(filled, read_only=True) as store:
        assert store.format_version == FORMAT_VERSION
    other = tmp_path / "other.duckdb"
    import duckdb

    duckdb.connect(str(other)).close()
    with pytest.raises(StoreError, match="not an er_toolkit master store"):
        MasterStore.open(other)
    with pytest.raises(StoreError, match="the file exists"):
        MasterStore.init(filled, "unused.json")
    with pytest.raises(StoreError, match="No master store"):
        MasterStore.open(tmp_path / "missing.duckdb")
    # a store written by a later layout is refused, not misread
    newer = _copy(filled, tmp_path)
    con = duckdb.connect(str(newer))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    con.close()
    with pytest.raises(StoreError, match="has format_version '99'"):
        MasterStore.open(newer, read_only=True)


def test_a_store_of_an_older_format_is_refused_saying_what_to_do(
    filled: Path, tmp_path: Path
) -> None:
    import duckdb

    older = _copy(filled, tmp_path)
    con = duckdb.connect(str(older))
    con.execute("UPDATE meta SET value = '1' WHERE key = 'format_version'")
    con.close()
    for read_only in (True, False):
        with pytest.raises(
            StoreError, match=r"format_version '1', written by an earlier er_toolkit"
        ) as caught:
            MasterStore.open(older, read_only=read_only)
        assert "MasterStore.init" in str(caught.value)
    # the refusal released the lock: the file can be opened again at once
    with pytest.raises(StoreError, match="earlier er_toolkit"):
        MasterStore.open(older)


def test_blocking_keys_are_stored_as_hashes_rebuilt_when_polars_hashes_differently(
    filled: Path, tmp_path: Path
) -> None:
    """The keys table holds no key text; a changed hash (another polars) is rebuilt by a writer."""
    import duckdb

    from er_toolkit.master.tables import KEY_HASH_PROBE

    path = _copy(filled, tmp_path)
    with MasterStore.open(path, read_only=True) as store:
        keys = store._db.frame("SELECT * FROM keys ORDER BY ALL")
        probe = store.lookups()
        record = store.records(raw=True).row(0, named=True)
        found = probe.lookup(record)
    assert keys.schema == pl.Schema({"key_hash": pl.UInt64, "_row": pl.Int64})
    assert keys.height > 0
    con = duckdb.connect(str(path))  # as if another polars had hashed them
    con.execute("UPDATE keys SET key_hash = key_hash // 2")
    con.execute(f"UPDATE meta SET value = 'other' WHERE key = '{KEY_HASH_PROBE}'")
    con.close()
    with pytest.raises(StoreError, match="another polars version"):
        MasterStore.open(path, read_only=True)
    with MasterStore.open(path) as store:
        assert store._db.frame("SELECT * FROM keys ORDER BY ALL").equals(keys)
    with MasterStore.open(path, read_only=True) as store:
        assert store.lookup(record).equals(found)


def test_golden_lineage_is_stored_as_rows_and_rule_codes(filled: Path) -> None:
    """The golden table keeps row numbers and codes; golden() gives the ids and rule names."""
    with MasterStore.open(filled, read_only=True) as store:
        stored = store._db.frame("SELECT * FROM golden LIMIT 0")
        golden = store.golden()
        records = store.records().with_columns(pl.col("record_id").cast(pl.String))
        raw = store.records(raw=True).with_columns(pl.col("record_id").cast(pl.String))
        clusters = store.clusters().with_columns(pl.col("record_id").cast(pl.String))
        rebuilt = store.linker.config.golden.build(
            records.drop("_batch_first", "_batch_last"),
            clusters.select("source", "record_id", "cluster_id"),
            raw=raw,
        )
    assert not [c for c in stored.columns if c.endswith(("__record_id", "__source"))]
    assert {stored.schema[c] for c in stored.columns if c.endswith("__row")} == {
        pl.Int64
    }
    assert {stored.schema[c] for c in stored.columns if c.endswith("__rule")} == {
        pl.UInt16
    }
    assert golden.columns == rebuilt.columns
    assert golden.sort("cluster_id").equals(rebuilt.sort("cluster_id"))


def test_a_registered_model_uri_initialises_a_store(
    linker,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``models:/name/version`` goes to the tracking loader; the store keeps the URI."""
    import er_toolkit.track

    asked: list[str] = []

    def load(uri: str):  # the registry itself is tested with MLflow elsewhere
        asked.append(uri)
        return linker

    monkeypatch.setattr(er_toolkit.track, "load_linker", load)
    path = tmp_path / "s.duckdb"
    with MasterStore.init(path, "models:/customers/3", actor="ops") as store:
        assert store.model_version == 1
        assert store._db.frame("SELECT uri, actor FROM models").rows() == [
            ("models:/customers/3", "ops")
        ]
    assert asked == ["models:/customers/3"]
    with pytest.raises(ConfigError, match="got int"):
        MasterStore.init(tmp_path / "t.duckdb", 3)


def test_a_store_refuses_blockers_it_cannot_keep_incrementally(
    linker,  # noqa: F811
    tmp_path: Path,
) -> None:
    from er_toolkit.pipeline import Linker

    spec = linker.to_dict()
    spec["config"]["blocking"]["max_block_size"] = 100
    purged = Linker.from_dict(spec)
    with pytest.raises(ConfigError, match="purge blocks"):
        MasterStore.init(tmp_path / "s.duckdb", purged)
    assert not (tmp_path / "s.duckdb").exists()


# ---------------------------------------------------------------- lookups
def test_lookup_finds_the_cluster_and_writes_nothing(
    filled: Path, tmp_path: Path
) -> None:
    path = _copy(filled, tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with MasterStore.open(path, read_only=True) as store:
        raw = store.records(raw=True)
        clusters = store.clusters()
        known = raw.join(clusters, on=["source", "record_id"]).filter(
            pl.col("cluster_size") >= 3
        )
        probe = known.row(0, named=True)
        query = {
            k: v
            for k, v in probe.items()
            if k not in ("record_id", "cluster_id", "cluster_size")
        }
        out = store.lookup(query)
        best = out.row(0, named=True)
        assert best["cluster_id"] == probe["cluster_id"]
        assert best["is_match"] and best["match_probability"] >= store.linker.threshold_
        assert out.get_column("match_probability").is_sorted(descending=True)
        names = [c.name for c in store.linker.config.comparisons]
        assert all(
            f"bf_{n}" in out.columns and f"gamma_{n}" in out.columns for n in names
        )
        weight = (
            sum(best[f"bf_{n}"] for n in names) + store.linker.scorer_.prior_weight_
        )
        assert weight == pytest.approx(best["match_weight"])
        golden = store.golden([probe["cluster_id"]]).row(0, named=True)
        assert best["golden"] == golden
        # several records at once, and a stranger
        stranger = {
            "first_name": "Zyxw",
            "surname": "Qqqqqq",
            "email": "nobody@nowhere.invalid",
        }
        many = store.lookup([query, stranger], top=1)
        assert many.get_column("query").to_list() == [0]
        assert store.lookup(stranger).height == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert not path.with_name(path.name + ".wal").exists()


def test_lookup_scores_as_apply_does(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A looked-up record's links score what applying it gives them."""
    # the first record of a customer with several: the rest are stored before it
    probe = customers.filter(
        pl.col("email").is_not_null() & pl.col("email").is_duplicated()
    ).tail(1)
    rest = customers.join(
        probe.select("source", "record_id"), on=["source", "record_id"], how="anti"
    )
    path = tmp_path / "master.duckdb"
    with MasterStore.init(path, model_path, term_frequencies=customers) as store:
        store.apply(rest)
        out = store.lookup(probe.drop("record_id"), top=None)
        before = store._db.frame("SELECT _row, cluster_id FROM membership")
        store.apply(probe)
        links = store._db.frame(
            "SELECT p._row_l + p._row_r - ? AS _row, p.match_probability AS p "
            "FROM pairs p WHERE ? IN (p._row_l, p._row_r)",
            [rest.height, rest.height],
        )
    links = links.join(before, on="_row").group_by("cluster_id").agg(pl.col("p").max())
    assert links.height > 0
    found = out.filter(pl.col("is_match")).select("cluster_id", "match_probability")
    assert dict(found.rows()) == pytest.approx(dict(links.rows()))


def test_standardise_memo_gives_what_the_standardisers_give(
    customers: pl.DataFrame,  # noqa: F811
    linker,  # noqa: F811
) -> None:
    from polars.testing import assert_frame_equal

    from er_toolkit.master.lookup import StandardiseMemo
    from er_toolkit.standardise import apply_standardisers

    steps = linker.config.standardise
    memo = StandardiseMemo(steps, size=50)
    rows = customers.head(120)
    for start in (0, 40, 0, 80, 20):  # repeats read the memo, which forgets the oldest
        part = rows.slice(start, 40 if start != 20 else 3)
        assert_frame_equal(memo.standardise(part), apply_standardisers(part, steps)[0])
        assert len(memo) <= 50 * len(steps)
    assert_frame_equal(
        memo.standardise(rows.head(0)), apply_standardisers(rows.head(0), steps)[0]
    )


def _probes(raw: pl.DataFrame, n: int, seed: int) -> list[dict[str, object]]:
    """Stored records, some with a value dropped or a typo, and strangers."""
    import random

    rng = random.Random(seed)
    columns = [c for c in raw.columns if c not in ("source", "record_id")]
    out: list[dict[str, object]] = []
    for row in raw.sample(n, seed=seed).drop("record_id").to_dicts():
        roll = rng.random()
        column = rng.choice(columns)
        value = row[column]
        if roll < 0.25:
            row[column] = None
        elif roll < 0.6 and isinstance(value, str) and len(value) > 2:
            i = rng.randrange(len(value))
            row[column] = value[:i] + value[i + 1 :]
        elif roll < 0.7 and isinstance(value, str) and value:
            # accents and odd spaces: the standardisers' non-ASCII paths
            row[column] = f"\u00a0{value[0]}\u00e9{value[1:]} "
        out.append(row)
    strangers = generate_customers(n // 4, seed=seed + 1, n_sources=4)
    out += strangers.drop("entity_id", "record_id").to_dicts()
    rng.shuffle(out)
    return out


def test_lookup_of_a_few_records_equals_the_batch_path(filled: Path) -> None:
    """The few-record path (memo, compare kernel on the candidates) gives the batch path's frame."""
    from polars.testing import assert_frame_equal

    from er_toolkit.master.lookup import lookup

    with MasterStore.open(filled, read_only=True) as store:
        store.prepare_lookups()
        index = store._index
        args = (index, store.linker, store.frequencies, store._blockers)
        probes = _probes(store.records(raw=True), 160, seed=11)
        many = lookup(*args, probes, top=None, path="many")
        assert many.get_column("query").n_unique() > len(probes) // 2
        assert many.get_column("is_match").any()
        # one at a time: later probes read standardised values from the memo
        for i, probe in enumerate(probes):
            few = store.lookup(probe, top=None)
            expected = many.filter(pl.col("query") == i).with_columns(
                pl.lit(0, dtype=pl.Int64).alias("query")
            )
            assert_frame_equal(few, expected)
        assert index.memo is not None and len(index.memo) > len(probes)
        # the few-record path forced on every probe at once
        assert_frame_equal(lookup(*args, probes, top=None, path="few"), many)
        assert_frame_equal(
            lookup(*args, probes, top=2, min_probability=0.5, path="few"),
            lookup(*args, probes, top=2, min_probability=0.5, path="many"),
        )


# ---------------------------------------------------------------- erasure
def _file_bytes(path: Path) -> bytes:
    wal = path.with_name(path.name + ".wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_erasure_removes_the_values_from_the_file(
    customers: pl.DataFrame,  # noqa: F811
    filled: Path,
    tmp_path: Path,
) -> None:
    path = _copy(filled, tmp_path)
    with MasterStore.open(path) as store:
        raw = store.records(raw=True)
        std = store.records()
        clusters = store.clusters()
        # a person in a cluster of several, with an email and phone no one else has
        unique = raw.filter(
            pl.col("email").is_unique()
            & pl.col("phone").is_unique()
            & pl.col("street_address").is_unique()
            & pl.col("email").is_not_null()
            & pl.col("phone").is_not_null()
            & pl.col("street_address").is_not_null()
        ).join(clusters.filter(pl.col("cluster_size") >= 3), on=["source", "record_id"])
        person = unique.row(0, named=True)
        standardised = std.filter(
            (pl.col("source") == person["source"])
            & (pl.col("record_id") == person["record_id"])
        ).row(0, named=True)
        mine = (pl.col("source") == person["source"]) & (
            pl.col("record_id") == person["record_id"]
        )
        others = {
            v
            for frame in (raw.filter(~mine), std.filter(~mine))
            for column in frame.select(pl.selectors.string()).columns
            for v in frame.get_column(column).drop_nulls().to_list()
        }
        values = [
            v
            for v in (
                person["email"],
                person["phone"],
                person["street_address"],
                standardised["email"],
                standardised["phone"],
                standardised["street_address"],
            )
            if v and v not in others
        ]
        assert values
        store._db.execute("CHECKPOINT")
        assert all(v.encode() in _file_bytes(path) for v in values)
        stranger = clusters.filter(pl.col("cluster_id") != person["cluster_id"]).row(0)
        did = store.decide(
            "cannot_link",
            (person["source"], person["record_id"]),
            (stranger[0], stranger[1]),
            actor="ann",
            reason="x",
        )
        summary = store.erase(
            [(person["source"], person["record_id"])], actor="dpo", reason="request 17"
        )
        assert summary.removed_records == 1
        ref = {"source": person["source"], "record_id": person["record_id"]}
        events = store.audit()
        erase = events.filter(pl.col("kind") == "erase").row(0, named=True)
        assert erase["records"] == [ref] and erase["actor"] == "dpo"
        assert person["cluster_id"] in erase["clusters_before"]
        # its cluster lives on without it, golden record rebuilt
        left = store.clusters().filter(pl.col("cluster_id") == person["cluster_id"])
        assert left.height == person["cluster_size"] - 1
        golden = store.golden([person["cluster_id"]])
        lineage = [c for c in golden.columns if c.endswith("__record_id")]
        assert person["record_id"] not in set(golden.select(lineage).row(0))
        decision = (
            store.decisions().filter(pl.col("decision_id") == did).row(0, named=True)
        )
        assert not decision["active"] and decision["reason"] == "[erased]"
        assert person["record_id"] not in set(store.records().get_column("record_id"))
    data = _file_bytes(path)
    assert [v for v in values if v.encode() in data] == []
    assert person["record_id"].encode() in data  # the audit keeps the ids


def test_erasing_a_cluster_removes_every_member(filled: Path, tmp_path: Path) -> None:
    with MasterStore.open(_copy(filled, tmp_path)) as store:
        clusters = store.clusters()
        target = clusters.filter(pl.col("cluster_size") == 2).row(0, named=True)
        summary = store.erase(cluster_id=target["cluster_id"], actor="dpo", reason="r")
        assert summary.removed_records == 2
        assert target["cluster_id"] not in set(
            store.clusters().get_column("cluster_id")
        )
        assert store.golden([target["cluster_id"]]).height == 0
        kinds = store.history(target["cluster_id"]).get_column("kind").to_list()
        assert kinds[-2:] == ["erase", "remove"]
        with pytest.raises(StoreError, match="not in the store"):
            store.erase([("crm", "no-such-id")], actor="dpo", reason="r")


# ------------------------------------------------------------- monitoring
def test_drift_is_flagged_when_a_batch_degrades(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    store_path: Path,
) -> None:
    first, second = customers.head(1000), customers.slice(1000)
    degraded = second.with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(None)
        .otherwise(pl.col("email"))
        .alias("email"),
        pl.lit("not a phone").alias("phone"),
    )
    with MasterStore.init(store_path, model_path) as store:
        store.apply(first)
        assert store.drift().height == 0  # one batch: nothing to compare
        store.apply(degraded)
        report = store.drift()
        flagged = report.filter("drift")
        before = flagged.filter(pl.col("stage") == "before")
        assert {"email", "phone"} <= set(before.get_column("column"))
        assert set(
            flagged.filter(pl.col("column") == "phone").get_column("metric")
        ) >= {"validity"}
        assert not flagged.filter(
            pl.col("column").is_in(["first_name", "surname"])
        ).height
        loose = store.drift(
            MonitoringConfig(
                max_completeness_drop=1, max_validity_drop=1, max_uniqueness_change=1
            )
        )
        assert loose.filter("drift").height == 0
        profiles = store.profiles()
        assert set(profiles.get_column("batch_id")) == {1, 2}
        assert "top_values" not in profiles.columns  # no record values


def test_golden_history_and_export(filled: Path, tmp_path: Path) -> None:
    with MasterStore.open(filled, read_only=True) as store:
        golden = store.golden()
        clusters = store.clusters()
        assert golden.height == clusters.get_column("cluster_id").n_unique()
        some = clusters.get_column("cluster_id")[0]
        history = store.history(some)
        assert history.get_column("kind").to_list()[0] == "create"
        written = store.export(tmp_path / "out")
        assert pl.read_parquet(written["golden"]).height == golden.height
        assert set(written) == {
            "clusters",
            "golden",
            "decisions",
            "audit",
            "batches",
            "profiles",
        }
    assert schema.CLUSTER_ID in golden.columns


def test_an_interrupted_compaction_is_finished_at_the_next_open(
    filled: Path, tmp_path: Path
) -> None:
    """Erasure commits, then rewrites the file; a writer that finds the rewrite undone does it."""
    path = _copy(filled, tmp_path)
    with MasterStore.open(path) as store:
        store._db.execute("CREATE TABLE scratch (v VARCHAR)")
        store._db.execute("INSERT INTO scratch VALUES ('SECRET-VALUE-42')")
        store._db.execute("CHECKPOINT")
        store._db.execute("DELETE FROM scratch")
        store._db.execute(
            "UPDATE meta SET value = '1' WHERE key = 'pending_compaction'"
        )
        store._db.execute("CHECKPOINT")
    assert b"SECRET-VALUE-42" in _file_bytes(path)  # DuckDB keeps deleted bytes
    with MasterStore.open(path, read_only=True):
        pass  # a reader leaves the file alone
    assert b"SECRET-VALUE-42" in _file_bytes(path)
    with MasterStore.open(path) as store:
        assert store._db.meta()["pending_compaction"] == "0"
        assert store.counts()["records"] == 2000
    assert b"SECRET-VALUE-42" not in _file_bytes(path)


def test_erasure_drops_the_frequencies_of_values_only_the_erased_held(
    filled: Path, tmp_path: Path
) -> None:
    """Not even a hash of a value only the erased person had stays in the store."""
    from er_toolkit.master.scoring import value_hashes

    with MasterStore.open(_copy(filled, tmp_path)) as store:
        assert store.frequencies is not None
        name, column = next(iter(store.frequencies.columns.items()))
        std = store.records().join(store.clusters(), on=["source", "record_id"])
        # a value held by two or more records, all of them in one cluster
        held = (
            std.filter(pl.col(column).is_not_null())
            .group_by(column)
            .agg(pl.col("cluster_id").n_unique().alias("k"), pl.len().alias("n"))
            .filter((pl.col("k") == 1) & (pl.col("n") >= 2))
            .sort(column)
        )
        value = held.get_column(column)[0]
        cluster = std.filter(pl.col(column) == value).get_column("cluster_id")[0]
        gone = value_hashes(pl.Series([str(value)]))[0]

        def counts() -> dict[int, int]:
            return dict(
                store._db.frame(
                    "SELECT value_hash, count FROM term_frequencies WHERE comparison = ?",
                    [name],
                ).rows()
            )

        before = counts()
        assert before[gone] >= 2
        # a value no erased record holds keeps its count
        erased_values = std.filter(pl.col("cluster_id") == cluster).get_column(column)
        shared = (
            std.filter(pl.col(column).is_not_null())
            .group_by(column)
            .agg(pl.col("cluster_id").n_unique().alias("k"))
            .filter((pl.col("k") >= 2) & ~pl.col(column).is_in(erased_values.implode()))
            .get_column(column)
        )
        assert shared.len() > 0
        store.erase(cluster_id=cluster, actor="dpo", reason="request 9")
        after = counts()
        assert gone not in after
        kept = value_hashes(shared.cast(pl.String))
        assert all(after[h] == before[h] for h in kept.to_list() if h in before)
        assert store.frequencies is not None
        assert gone not in set(store.frequencies.counts.get_column("value_hash"))


def test_a_store_shows_its_counts_in_a_notebook(filled: Path) -> None:
    with MasterStore.open(filled, read_only=True) as store:
        html = store._repr_html_()
        counts = store.counts()
        assert "Master store" in html and "read-only" in repr(store)
        n_records = store.records().height
        assert f">{n_records:,}</td>" in html
    assert counts  # the same store, counted
    assert "closed" in repr(store) and "(closed)" in store._repr_html_()


# ------------------------------------------------- TF on several levels
def test_a_comparison_with_tf_on_two_columns_resolves_as_the_batch_pipeline(
    customers: pl.DataFrame,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Frozen frequencies per TF column: batches and lookups score as one run does."""
    import dataclasses

    from polars.testing import assert_frame_equal

    from er_toolkit.compare import AndLevel, Comparison, ExactLevel, SimilarityLevel
    from er_toolkit.master.lookup import lookup
    from tests.master_fixtures import customers_config, train

    config = customers_config(u_sample_size=20_000)
    names = Comparison(
        "name",
        "first_name_canonical",
        (
            AndLevel((ExactLevel(), ExactLevel(column="surname"))),
            ExactLevel(column="surname", term_frequency=True),
            ExactLevel(term_frequency=True),
            SimilarityLevel("jaro_winkler", 0.9),
        ),
        null_columns=("first_name_canonical", "surname"),
    )
    others = [c for c in config.comparisons if c.name not in ("first_name", "surname")]
    config = dataclasses.replace(config, comparisons=(names, *others))
    names_linker = train(customers, config)
    path = names_linker.save(tmp_path / "names.json")
    records = names_linker.records(as_sources(customers))
    scored = names_linker.predict(records)
    expected = partition(names_linker.cluster(records, scored))
    store_path = tmp_path / "master.duckdb"
    with MasterStore.init(store_path, path, term_frequencies=customers) as store:
        assert store.frequencies is not None
        assert dict(store.frequencies.columns) == {
            "name": "surname",
            "name:first_name_canonical": "first_name_canonical",
            "city": "city",
        }
        for part in _batches(customers, 3):
            store.apply(part)
        assert partition(store.clusters()) == expected
    with MasterStore.open(store_path, read_only=True) as store:
        store.prepare_lookups()
        args = (store._index, store.linker, store.frequencies, store._blockers)
        probes = store.records(raw=True).sample(30, seed=3).drop("record_id").to_dicts()
        many = lookup(*args, probes, top=None, path="many")
        assert many.get_column("is_match").any()
        assert_frame_equal(lookup(*args, probes, top=None, path="few"), many)


# ------------------------------------------------------------ one-to-one
@pytest.mark.parametrize("method", ["greedy", "assignment"])
def test_one_to_one_is_honoured_as_the_batch_pipeline_does(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
    method: str,
) -> None:
    """``[clustering] one_to_one``: batches give the pipeline's constrained clusters."""
    import json

    from er_toolkit.pipeline import Linker

    spec = json.loads(model_path.read_text())
    if method == "assignment":  # matches two sources: a link job
        spec["config"]["link_type"] = spec["scorer"]["link_type"] = "link"
    plain = Linker.from_dict(spec)
    spec["config"]["clustering"]["one_to_one"] = method
    constrained = Linker.from_dict(spec)
    path = constrained.save(tmp_path / "one_to_one.json")
    records = constrained.records(as_sources(customers))
    scored = constrained.predict(records)
    # ties between equal scores go by position: the store takes links in row order
    in_row_order = scored.sort(
        pl.min_horizontal("_row_l", "_row_r"), pl.max_horizontal("_row_l", "_row_r")
    )
    expected = partition(constrained.cluster(records, in_row_order))
    # the constraint changes the clusters here, so the comparison below can fail
    assert expected != partition(plain.cluster(records, scored))
    store_path = tmp_path / "master.duckdb"
    with MasterStore.init(store_path, path, term_frequencies=customers) as store:
        for part in _batches(customers, 4):
            store.apply(part)
        assert partition(store.clusters()) == expected
        # re-applying changes nothing
        audit = store.audit().height
        store.apply(customers)
        assert store.audit().height == audit
        assert partition(store.clusters()) == expected


def test_golden_records_built_in_slices_equal_one_build(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    filled: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from polars.testing import assert_frame_equal

    from er_toolkit.golden.config import GoldenConfig
    from er_toolkit.master import incremental

    builds = []
    build = GoldenConfig.build

    def counted(self: GoldenConfig, *args: object, **kwargs: object) -> pl.DataFrame:
        builds.append(1)
        return build(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(incremental, "GOLDEN_SLICE", 300)
    monkeypatch.setattr(GoldenConfig, "build", counted)
    path = tmp_path / "sliced.duckdb"
    with MasterStore.init(path, model_path, term_frequencies=customers) as store:
        store.apply(customers)
        sliced = store.golden()
    assert len(builds) > 3
    with MasterStore.open(filled, read_only=True) as one:
        assert_frame_equal(sliced, one.golden())


def test_a_bulk_write_runs_under_a_lower_duckdb_limit_and_gives_it_back(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    filled: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from er_toolkit.master import incremental

    seen: list[str] = []
    write = incremental._write_plan

    def watched(db, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(db.scalar("SELECT current_setting('memory_limit')"))
        return write(db, *args, **kwargs)

    monkeypatch.setattr(incremental, "_write_plan", watched)
    monkeypatch.setattr(incremental, "BULK_ROWS", customers.height // 2)
    monkeypatch.setattr(incremental, "BULK_MEMORY_LIMIT", "64MiB")
    path = tmp_path / "bulk.duckdb"
    with MasterStore.init(
        path, model_path, term_frequencies=customers, memory_limit="512MiB"
    ) as store:
        store.apply(customers)  # a bulk write: every record is new
        assert seen == ["64.0 MiB"]
        bulk = _snapshot(store)
        limit = "SELECT current_setting('memory_limit')"
        assert store._db.scalar(limit) == "512.0 MiB"  # type: ignore[union-attr]
        store.apply(customers.tail(10).with_columns(pl.col("record_id") + "_new"))
        assert seen == ["64.0 MiB", "512.0 MiB"]  # a small batch keeps the store's
    with MasterStore.open(filled, read_only=True) as one:
        assert bulk == _snapshot(one)
