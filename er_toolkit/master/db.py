"""A thin layer over the store's DuckDB connection: frames in and out, one transaction at a time."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import duckdb
import polars as pl

from er_toolkit.exceptions import StoreError, StoreLockedError

__all__ = ["Database", "connect"]

_names = itertools.count()
_ARROW_LAYOUT: Final = pl.CompatLevel.newest()
_SIZE: Final = re.compile(r"([0-9.]+)\s*(bytes|KiB|MiB|GiB|TiB|PiB)")
_UNITS: Final = {"bytes": 0, "KiB": 1, "MiB": 2, "GiB": 3, "TiB": 4, "PiB": 5}


def connect(
    path: str | os.PathLike[str], *, read_only: bool, memory_limit: str | None
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file at ``path``; a lock held elsewhere is a :class:`StoreLockedError`."""
    config: dict[str, Any] = {}
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreLockedError(
                f"The master store {str(path)!r} is open for writing in another "
                f"process (DuckDB's lock on {str(path)!r}); a store has one writer or "
                "many readers at a time."
            ) from exc
        raise StoreError(f"Cannot open the master store {str(path)!r}: {exc}") from exc
    quiet(con)
    return con


def quiet(con: duckdb.DuckDBPyConnection) -> None:
    """Turn DuckDB's progress bar off (in Jupyter without ipywidgets it is off already).

    DuckDB refuses to change the setting in a notebook kernel that lacks
    ipywidgets, where it draws no bar anyway.
    """
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")


class Database:
    """The store's connection, with polars frames in and out."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.con = con
        self.path = path

    def frame(
        self, sql: str, params: Any = None, **frames: pl.DataFrame
    ) -> pl.DataFrame:
        """Run a query and return its result as a polars frame.

        ``frames`` are visible to the query under their keyword names.
        """
        with self.registered(**frames) as names:
            query = sql.format(**names)
            relation = self.con.sql(query, params=params)
            if relation is None:
                return pl.DataFrame()
            return relation.pl()

    def execute(self, sql: str, params: Any = None, **frames: pl.DataFrame) -> None:
        """Run a statement; ``frames`` are visible under their keyword names."""
        with self.registered(**frames) as names:
            self.con.execute(sql.format(**names), params).complete()

    def scalar(self, sql: str, params: Any = None) -> Any:
        """Return the one value a query returns."""
        rows = self.con.execute(sql, params).fetchall()
        return rows[0][0] if rows else None

    @contextlib.contextmanager
    def registered(self, **frames: pl.DataFrame) -> Iterator[Mapping[str, str]]:
        """Make ``frames`` visible to queries under fresh view names.

        Frames go over as Arrow with polars' own string layout (string
        views), which DuckDB reads as it is: no copy of every text value,
        a third less CPU on a big insert than the older layout.
        """
        names = {key: f"__frame_{key}_{next(_names)}" for key in frames}
        try:
            for key, frame in frames.items():
                self.con.register(
                    names[key], frame.to_arrow(compat_level=_ARROW_LAYOUT)
                )
            yield names
        finally:
            for name in names.values():
                with contextlib.suppress(duckdb.Error):
                    self.con.unregister(name)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block as one transaction: all of it is committed, or none."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    @contextlib.contextmanager
    def memory_limit(self, limit: str) -> Iterator[None]:
        """Hold DuckDB to at most ``limit`` for the block, then give back the limit it had.

        A lower limit makes DuckDB spill a big insert's buffers to the file
        sooner, so they stay small beside the frames the process holds; a
        limit already lower than ``limit`` is kept. The setting is the
        connection's, not the transaction's: it may change inside one. The
        limit comes back as DuckDB prints it, to 0.1 MiB.

        Examples
        --------
        >>> import duckdb
        >>> from pathlib import Path
        >>> db = Database(duckdb.connect(config={"memory_limit": "512MiB"}), Path(":memory:"))
        >>> with db.memory_limit("256MB"):
        ...     print(db.scalar("SELECT current_setting('memory_limit')"))
        244.1 MiB
        >>> db.scalar("SELECT current_setting('memory_limit')")
        '512.0 MiB'
        >>> with db.memory_limit("1GB"):  # a lower limit is kept
        ...     print(db.scalar("SELECT current_setting('memory_limit')"))
        512.0 MiB
        """
        before = self.scalar("SELECT current_setting('memory_limit')")
        self.con.execute(f"SET memory_limit = '{limit}'")
        if _bytes(before) <= _bytes(
            self.scalar("SELECT current_setting('memory_limit')")
        ):
            self.con.execute(f"SET memory_limit = '{before}'")
        try:
            yield
        finally:
            self.con.execute(f"SET memory_limit = '{before}'")

    def has_table(self, name: str) -> bool:
        """Whether the table ``name`` exists."""
        return bool(
            self.scalar(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = "
                "current_database() AND schema_name = 'main' AND table_name = ?",
                [name],
            )
        )

    def meta(self) -> dict[str, str]:
        """Return the ``meta`` table as a dict."""
        return dict(self.con.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, values: Mapping[str, object]) -> None:
        """Write ``values`` into the ``meta`` table."""
        for key, value in values.items():
            self.con.execute("DELETE FROM meta WHERE key = ?", [key])
            self.con.execute("INSERT INTO meta VALUES (?, ?)", [key, str(value)])


def _bytes(size: str) -> float:
    """Return the bytes in a size as DuckDB prints it (``"953.6 MiB"``); unknown: infinite."""
    found = _SIZE.fullmatch(size.strip())
    if found is None:
        return float("inf")
    return float(found.group(1)) * 1024 ** _UNITS[found.group(2)]
