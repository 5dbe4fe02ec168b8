"""MinHash LSH blocking: pair records whose token sets are likely similar (Jaccard)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import (
    check_block_size,
    check_column,
    check_int,
    check_name,
    register_blocker,
)
from er_toolkit.blocking.keys import KeyedBlocks
from er_toolkit.tokens import (
    TOKEN,
    TokenKind,
    check_tokens,
    explode_tokens,
    stable_hash,
)

_MIX: Final = np.uint64(0x100000001B3)
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_PERMUTATIONS_AT_ONCE: Final = 16


def minhash_seeds(n: int, seed: int) -> np.ndarray:
    """Return the ``n`` hash functions' 64-bit seeds (one per MinHash value)."""
    return np.random.default_rng(seed).integers(
        0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True
    )


def mix64(x: np.ndarray) -> np.ndarray:
    """Return SplitMix64's finaliser of each value: a 64-bit bijection that scrambles bits.

    Examples
    --------
    >>> hex(int(mix64(np.array([1], dtype=np.uint64))[0]))
    '0x5692161d100b05e5'
    """
    z = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def minhash_signatures(
    rows: np.ndarray, ids: np.ndarray, *, n_rows: int, seeds: np.ndarray
) -> np.ndarray:
    """Return each record's MinHash signature: the least hash of its tokens per function.

    Hash function ``i`` of a token is ``mix64(id + (seed_i + 1) * golden)``
    (SplitMix64 at a seed-dependent step), which behaves like an
    independent random permutation per function, so bands agree with
    probability close to ``jaccard ** rows`` (a linear ``a * x + b`` hash
    does not: the same token tends to be the least under every function).

    Parameters
    ----------
    rows
        Record (dense, 0 to ``n_rows - 1``) of each (record, token) occurrence, sorted.
    ids
        Token id of each occurrence (:func:`~er_toolkit.tokens.stable_hash`).
    n_rows
        Records (the signature matrix's height).
    seeds
        The hash functions (:func:`minhash_seeds`).

    Returns
    -------
    numpy.ndarray
        ``(n_rows, len(seeds))`` uint64; records without a token hold the
        largest value in every place.
    """
    out = np.full((n_rows, len(seeds)), np.iinfo(np.uint64).max, dtype=np.uint64)
    if rows.size == 0:
        return out
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    owners = rows[starts]
    x = ids.astype(np.uint64)[:, None]
    with np.errstate(over="ignore"):
        steps = (seeds + np.uint64(1)) * _GOLDEN
        for lo in range(0, len(seeds), _PERMUTATIONS_AT_ONCE):
            hi = min(lo + _PERMUTATIONS_AT_ONCE, len(seeds))
            hashed = mix64(x + steps[lo:hi])
            out[owners, lo:hi] = np.minimum.reduceat(hashed, starts, axis=0)
    return out


def band_hashes(signatures: np.ndarray, *, bands: int, rows: int) -> np.ndarray:
    """Return ``(n, bands)`` uint64: each band's ``rows`` signature values mixed into one."""
    n = signatures.shape[0]
    out = np.full((n, bands), np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            out = (out ^ signatures[:, r::rows][:, :bands]) * _MIX
    return out


@register_blocker
@dataclass(frozen=True)
class MinHashLSH(KeyedBlocks):
    """Pair records whose token sets agree on a whole band of MinHash values.

    Declared as ``[[blocking.blockers]] kind = "minhash"`` with ``column``
    (and optionally ``tokens``, ``q``, ``bands``, ``rows``, ``seed``,
    ``max_block_size``, ``name``). Each record's tokens get ``bands *
    rows`` MinHash values; two records whose Jaccard similarity is ``s``
    agree on one band with probability ``s ** rows``, and are paired when
    they agree on any band: with probability ``1 - (1 - s ** rows) **
    bands``, an S-curve around ``(1 / bands) ** (1 / rows)`` (0.5 for the
    default 16 bands of 4). Each band's hash is a key (a key blocker), so
    stored records can be paired by a join; tokens are hashed by a stable
    hash, so keys are the same on every machine and run.

    Parameters
    ----------
    column
        The text column.
    tokens
        ``"word"`` or ``"qgram"`` tokens (see :func:`~er_toolkit.tokens.explode_tokens`).
    q
        The q-gram length.
    bands, rows
        The LSH bands and the MinHash values in each.
    seed
        Seed of the hash functions.
    max_block_size
        Band keys held by more records than this pair none; None: no limit.
    name
        The blocker's name in ``blocked_by``.

    Examples
    --------
    >>> recs = pl.DataFrame(
    ...     {"_row": [0, 1, 2], "t": ["sony dsc w55 camera", "camera sony dsc w55", "nikon lens"]},
    ...     schema_overrides={"_row": pl.UInt32},
    ... )
    >>> MinHashLSH("t").block(recs, link_type="dedupe").rows()
    [(0, 1)]
    """

    kind: ClassVar[str] = "minhash"
    column: str
    tokens: TokenKind = "word"
    q: int = 3
    bands: int = 16
    rows: int = 4
    seed: int = 0
    max_block_size: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        check_column(self.column, "MinHashLSH")
        check_tokens(self.tokens, self.q, "MinHashLSH")
        check_int(self.bands, "bands", "MinHashLSH", minimum=1)
        check_int(self.rows, "rows", "MinHashLSH", minimum=1)
        check_int(self.seed, "seed", "MinHashLSH", minimum=0)
        check_block_size(self.max_block_size, "MinHashLSH")
        check_name(self.name, "MinHashLSH")
        if not self.name:
            object.__setattr__(self, "name", self._default_name)

    @property
    def _default_name(self) -> str:
        return f"minhash({self.column},{self.bands}x{self.rows})"

    @property
    def columns(self) -> tuple[str, ...]:
        """The column the blocker reads."""
        return (self.column,)

    @property
    def threshold(self) -> float:
        """The Jaccard similarity paired with probability about one half."""
        return float((1.0 / self.bands) ** (1.0 / self.rows))

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration (options at their defaults left out).

        Examples
        --------
        >>> MinHashLSH("title", bands=20, rows=3).to_dict()
        {'kind': 'minhash', 'column': 'title', 'bands': 20, 'rows': 3}
        """
        out: dict[str, Any] = {"kind": self.kind, "column": self.column}
        defaults = {"tokens": "word", "q": 3, "bands": 16, "rows": 4, "seed": 0}
        for key, default in defaults.items():
            if getattr(self, key) != default:
                out[key] = getattr(self, key)
        if self.max_block_size is not None:
            out["max_block_size"] = self.max_block_size
        if self.name != self._default_name:
            out["name"] = self.name
        return out

    def signatures(self, records: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return the rows with tokens and their ``(n, bands * rows)`` MinHash signatures."""
        occurrences = (
            explode_tokens(
                records.lazy().select(pl.col(schema.ROW).cast(pl.UInt32), self.column),
                self.column,
                tokens=self.tokens,
                q=self.q,
            )
            .unique()
            .collect()
        )
        distinct = occurrences.get_column(TOKEN).unique()
        ids = pl.Series(stable_hash(distinct), dtype=pl.UInt64)
        occurrences = occurrences.with_columns(
            pl.col(TOKEN).replace_strict(distinct, ids, return_dtype=pl.UInt64)
        ).sort(schema.ROW)
        rows = occurrences.get_column(schema.ROW).to_numpy()
        owners, dense = np.unique(rows, return_inverse=True)
        signatures = minhash_signatures(
            dense,
            occurrences.get_column(TOKEN).to_numpy(),
            n_rows=len(owners),
            seeds=minhash_seeds(self.bands * self.rows, self.seed),
        )
        return owners.astype(np.uint32), signatures

    def block_keys(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return ``_row`` and ``_block_key`` (``"<band>:<band hash>"``), one per band.

        Records without a token have no key.
        """
        owners, signatures = self.signatures(records)
        hashes = band_hashes(signatures, bands=self.bands, rows=self.rows)
        n = len(owners)
        frame = pl.DataFrame(
            {
                schema.ROW: np.repeat(owners, self.bands),
                "_band": np.tile(np.arange(self.bands, dtype=np.uint32), n),
                "_hash": hashes.reshape(-1),
            },
            schema={schema.ROW: pl.UInt32, "_band": pl.UInt32, "_hash": pl.UInt64},
        )
        return frame.select(
            schema.ROW,
            pl.concat_str(
                pl.col("_band").cast(pl.String),
                pl.lit(":"),
                pl.col("_hash").cast(pl.String),
            ).alias(schema.BLOCK_KEY),
        )
