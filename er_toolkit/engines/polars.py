"""The polars engine: every stage in this process, on polars frames and numpy arrays."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.engines.base import register_engine

if TYPE_CHECKING:
    from er_toolkit.blocking import Blocker, KeyBlocker
    from er_toolkit.blocking.union import OnExplode
    from er_toolkit.cluster import Linkage, NotCompared
    from er_toolkit.compare import Comparison, RecordEncoding
    from er_toolkit.compare.pair_values import ColumnEncoding
    from er_toolkit.derive import Derivation
    from er_toolkit.golden import GoldenConfig
    from er_toolkit.io import Source
    from er_toolkit.placeholders import PlaceholderConfig
    from er_toolkit.schema import LinkType
    from er_toolkit.score.em import Patterns
    from er_toolkit.standardise.base import Steps

__all__ = ["PolarsEngine"]

PATTERN_CHUNK = 250_000
"""Pairs compared at a time when only their gamma patterns are wanted."""


@register_engine
class PolarsEngine:
    """Run every stage in this process: polars, numpy, rapidfuzz, scipy.

    The default engine: it needs no server and handles millions of records
    on one machine. Each method calls the stage's own function
    (:func:`~er_toolkit.blocking.block_pairs`,
    :func:`~er_toolkit.compare.compare_pairs`,
    :func:`~er_toolkit.cluster.connected_components`, ...), so a Linker on
    this engine does what those functions do.

    Examples
    --------
    >>> from er_toolkit.blocking import ExactRule
    >>> records = pl.DataFrame(
    ...     {"_row": [0, 1, 2], "record_id": [1, 2, 3], "source": "a", "s": ["x", "x", "y"]},
    ...     schema_overrides={"_row": pl.UInt32},
    ... )
    >>> PolarsEngine().block(records, [ExactRule(("s",))], link_type="dedupe").rows()
    [(0, 1, 's')]
    """

    kind: ClassVar[str] = "polars"
    OPTIONS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self._kept: list[tuple[pl.DataFrame, RecordEncoding]] = []
        self._recent: tuple[pl.DataFrame, RecordEncoding] | None = None
        # the last sample of encoded records, its records and which it kept
        self._sampled: tuple[pl.DataFrame, pl.DataFrame, np.ndarray] | None = None

    def __repr__(self) -> str:
        return "PolarsEngine()"

    @classmethod
    def from_options(cls) -> PolarsEngine:
        """Build from an ``[engine]`` table (the polars engine takes no options)."""
        return cls()

    # ----------------------------------------------------------- records, io
    def prepare_records(
        self,
        sources: Sequence[Source],
        *,
        columns: Sequence[str] = (),
        keep: Sequence[str] = (),
    ) -> pl.DataFrame:
        """Validate and stack sources (:func:`er_toolkit.io.prepare_records`)."""
        from er_toolkit.io import prepare_records

        return prepare_records(sources, columns=columns, keep=keep)

    def derive(
        self, records: pl.DataFrame, derivations: Sequence[Derivation]
    ) -> pl.DataFrame:
        """Add the derived columns (:func:`~er_toolkit.derive.apply_derivations`)."""
        from er_toolkit.derive import apply_derivations

        return apply_derivations(records, derivations)

    def standardise(
        self, records: pl.DataFrame, steps: Steps, *, profile: bool = True
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """Standardise and profile before and after (:func:`~er_toolkit.standardise.profile_standardisation`).

        Without ``profile``: the same records
        (:func:`~er_toolkit.standardise.apply_standardisers`), no profile.
        """
        from er_toolkit.standardise import apply_standardisers, profile_standardisation

        if not profile:
            return apply_standardisers(records, steps)[0], None
        return profile_standardisation(records, steps)

    def profile(self, records: pl.DataFrame, *, columns: Sequence[str]) -> pl.DataFrame:
        """Profile the records as they are (:func:`~er_toolkit.standardise.profile_frame`)."""
        from er_toolkit.standardise import profile_frame

        return profile_frame(
            records, columns=[c for c in columns if c in records.columns]
        )

    def find_placeholders(
        self, records: pl.DataFrame, config: PlaceholderConfig
    ) -> pl.DataFrame:
        """Find the placeholder values (:func:`~er_toolkit.placeholders.find_placeholders`)."""
        from er_toolkit.placeholders import find_placeholders

        return find_placeholders(records, config)

    def placeholder_counts(
        self, records: pl.DataFrame, found: pl.DataFrame, columns: Sequence[str]
    ) -> pl.DataFrame:
        """Count the found values per source and column (:func:`~er_toolkit.placeholders.placeholder_counts`)."""
        from er_toolkit.placeholders import placeholder_counts

        return placeholder_counts(records, found, columns)

    def null_placeholders(
        self, records: pl.DataFrame, found: pl.DataFrame
    ) -> pl.DataFrame:
        """Set the found values to null (:func:`~er_toolkit.placeholders.null_placeholders`)."""
        from er_toolkit.placeholders import null_placeholders

        return null_placeholders(records, found)

    def height(self, frame: pl.DataFrame) -> int:
        """Return the frame's height."""
        return frame.height

    def sample_here(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return the records: they are here."""
        return records

    def collect(
        self, frame: pl.DataFrame, *, columns: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """Return the frame (or these of its columns): it is already here."""
        if columns is None:
            return frame
        return frame.select([c for c in columns if c in frame.columns])

    def write_parquet(self, frame: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
        """Write the frame atomically (:func:`er_toolkit.io.write_parquet_atomic`)."""
        from er_toolkit.io import write_parquet_atomic

        return write_parquet_atomic(frame, path)

    @contextmanager
    def cached(self, records: pl.DataFrame) -> Iterator[None]:
        """Keep one column encoding of ``records`` for every compare inside the block."""
        self._kept.append((records, self._encoding_of(records)))
        try:
            yield
        finally:
            self._kept.pop()
            self._sampled = None

    def release_compare(self) -> None:
        """Drop the encoding kept from the last compare (hundreds of MiB at 1M records).

        :meth:`Linker.predict <er_toolkit.Linker.predict>` calls it before
        scoring given vectors: scoring, clustering and evaluation compare
        nothing, and a later compare encodes the records again.
        """
        self._recent = None

    def _encoding(self, records: pl.DataFrame) -> RecordEncoding | None:
        for kept, encoding in reversed(self._kept):
            if kept is records:
                return encoding
        recent = self._recent
        if (
            recent is not None
            and recent[0] is records
            and recent[1].shape == (records.height, tuple(records.columns))
        ):
            return recent[1]
        return None

    def _encoding_of(self, records: pl.DataFrame) -> RecordEncoding:
        """Return the encoding of ``records``, made now or kept from the last compare.

        The engine keeps the encoding of the records it last compared
        (distinct values, codes, term frequencies per column), so the
        training and scoring that follow a compare of the same frame do not
        encode the columns again. One frame's encoding is kept at a time.
        """
        from er_toolkit.compare import RecordEncoding

        encoding = self._encoding(records)
        if encoding is None:
            encoding = RecordEncoding(records)
            self._recent = (records, encoding)
        return encoding

    # ---------------------------------------------------------------- blocking
    def count_rule_pairs(
        self, records: pl.DataFrame, blockers: Sequence[Blocker], *, link_type: LinkType
    ) -> pl.DataFrame:
        """Count each blocker's pairs (:func:`~er_toolkit.blocking.count_rule_pairs`).

        Exact rules on plain columns are counted from the records' column
        encodings (:meth:`exact_key_codes`; the codes are those a compare of
        the same records reads), other blockers by their own
        ``count_pairs``. Each count is kept with the encoding, so blocking,
        training and the blocking report count a rule once.
        """
        from er_toolkit.blocking.base import source_codes
        from er_toolkit.compare import RecordEncoding

        sampled = self._sampled_from(records)
        if sampled is not None:
            return self._count_sample_pairs(
                records, blockers, *sampled, link_type=link_type
            )
        encoding = self._encoding(records)
        if encoding is None:
            # Outside a fit (before a compare of these records) the encoding
            # is kept for that compare; a fit's record samples get their own.
            encoding = (
                RecordEncoding(records) if self._kept else self._encoding_of(records)
            )
        cross = link_type == "link" and schema.SOURCE in records.columns
        counts = []
        for blocker in blockers:
            memo: tuple[Blocker, LinkType] | None = (blocker, link_type)
            try:
                known = encoding.pair_counts.get(memo)
            except TypeError:  # a blocker with unhashable options: not kept
                memo, known = None, None
            if known is None:
                codes = _rule_codes(records, blocker, encoding)
                known = (
                    int(blocker.count_pairs(records, link_type=link_type))
                    if codes is None
                    else key_pairs(codes, source_codes(records) if cross else None)
                )
                if memo is not None:
                    encoding.pair_counts[memo] = known
            counts.append(known)
        return pl.DataFrame(
            {schema.BLOCKED_BY: [b.name for b in blockers], "pairs": counts},
            schema={schema.BLOCKED_BY: pl.String, "pairs": pl.Int64},
        )

    def _count_sample_pairs(
        self,
        sample: pl.DataFrame,
        blockers: Sequence[Blocker],
        records: pl.DataFrame,
        kept: np.ndarray,
        *,
        link_type: LinkType,
    ) -> pl.DataFrame:
        """Count each blocker's pairs in a sample of encoded records, from their key codes.

        The sampled records' codes in the whole records' encoding: two of
        them share a code when they share a key, so the counts are those of
        the sample's own encoding, which is never made.
        """
        from er_toolkit.blocking.base import source_codes

        cross = link_type == "link" and schema.SOURCE in sample.columns
        counts = []
        for blocker in blockers:
            codes = self._sample_key_codes(blocker, records, kept)
            counts.append(
                int(blocker.count_pairs(sample, link_type=link_type))
                if codes is None
                else key_pairs(codes, source_codes(sample) if cross else None)
            )
        return pl.DataFrame(
            {schema.BLOCKED_BY: [b.name for b in blockers], "pairs": counts},
            schema={schema.BLOCKED_BY: pl.String, "pairs": pl.Int64},
        )

    def _sample_key_codes(
        self, blocker: Blocker, records: pl.DataFrame, kept: np.ndarray
    ) -> np.ndarray | None:
        """Return :meth:`exact_key_codes` of the records ``kept`` selects, from the whole records' encoding.

        Two kept records share a code of the whole records when they share
        a key, so these pair (and count) what the sample's own encoding's
        codes would; blocks are purged by the sample's own sizes.
        """
        codes = _key_codes(records, blocker, self._encoding_of(records))
        return None if codes is None else _purged(codes[kept], _max_block_size(blocker))

    def _sampled_from(
        self, records: pl.DataFrame
    ) -> tuple[pl.DataFrame, np.ndarray] | None:
        """Return the whole records and the kept mask when ``records`` is the last sample of encoded records."""
        sampled = self._sampled
        if (
            sampled is not None
            and sampled[0] is records
            and self._encoding(records) is None
        ):
            return sampled[1], sampled[2]
        return None

    def exact_key_codes(
        self, records: pl.DataFrame, blocker: Blocker
    ) -> np.ndarray | None:
        """Return each record's key of an exact rule as an integer (-1 for a null part), or None.

        Two records get the same code when they agree on every key (a
        column, or its first ``n`` characters), as
        :class:`~er_toolkit.blocking.ExactRule` groups them (trimmed text,
        blanks null); records in a block larger than the rule's
        ``max_block_size`` get -1, so the codes pair what the rule's
        ``block`` pairs. Made from the column encodings kept by
        :meth:`cached` or the last compare of ``records``; None when there
        are none, or for other blockers and float columns.

        Examples
        --------
        >>> from er_toolkit.blocking import ExactRule
        >>> recs = pl.DataFrame({"_row": [0, 1, 2], "s": ["ab", " ac", None]},
        ...                     schema_overrides={"_row": pl.UInt32})
        >>> engine = PolarsEngine()
        >>> with engine.cached(recs):
        ...     engine.exact_key_codes(recs, ExactRule(("s",))).tolist()
        ...     engine.exact_key_codes(recs, ExactRule(("s[:1]",))).tolist()
        [0, 1, -1]
        [0, 0, -1]
        """
        encoding = self._encoding(records)
        return None if encoding is None else _rule_codes(records, blocker, encoding)

    def block(
        self,
        records: pl.DataFrame,
        blockers: Sequence[Blocker],
        *,
        link_type: LinkType,
        max_pairs_per_rule: int | None = None,
        on_explode: OnExplode = "raise",
        counts: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        """Return the union of the blockers' pairs (:func:`~er_toolkit.blocking.block_pairs`)."""
        from er_toolkit.blocking import block_pairs

        sampled = self._sampled_from(records)

        def key_codes(blocker: Blocker) -> np.ndarray | None:
            # a sample of encoded records (an EM session's) is paired from
            # the whole records' codes of the records it kept
            if sampled is not None:
                return self._sample_key_codes(blocker, *sampled)
            return self.exact_key_codes(records, blocker)

        return block_pairs(
            records,
            blockers,
            link_type=link_type,
            max_pairs_per_rule=max_pairs_per_rule,
            on_explode=on_explode,
            counts=counts,
            key_codes=key_codes,
        )

    def block_against(
        self,
        blocker: KeyBlocker,
        new_records: pl.DataFrame,
        existing_records: pl.DataFrame,
        *,
        link_type: LinkType,
    ) -> pl.DataFrame:
        """Pair a new batch with stored records (:func:`~er_toolkit.blocking.block_against`)."""
        from er_toolkit.blocking import block_against

        return block_against(
            blocker, new_records, existing_records, link_type=link_type
        )

    # ------------------------------------------------------- compare and score
    def term_frequencies(self, records: pl.DataFrame, column: str) -> pl.DataFrame:
        """Return ``_row`` and ``term_frequency`` of ``column`` over all the records."""
        from er_toolkit.compare import term_frequencies

        return pl.DataFrame(
            {
                schema.ROW: records.get_column(schema.ROW),
                "term_frequency": term_frequencies(records.get_column(column)),
            }
        )

    def compare(
        self,
        records: pl.DataFrame,
        pairs: pl.DataFrame,
        comparisons: Sequence[Comparison],
        *,
        raw_similarity: bool = True,
        workers: int | None = None,
    ) -> pl.DataFrame:
        """Return the comparison vectors (:func:`~er_toolkit.compare.compare_pairs`)."""
        from er_toolkit.compare import compare_pairs

        return compare_pairs(
            records,
            pairs,
            comparisons,
            encoding=self._encoding_of(records),
            raw_similarity=raw_similarity,
            workers=workers,
        )

    def vectors_of(
        self,
        records: pl.DataFrame,
        pairs: pl.DataFrame,
        comparisons: Sequence[Comparison],
        *,
        raw_similarity: bool = True,
        workers: int | None = None,
    ) -> pl.DataFrame:
        """Return the comparison vectors of ``pairs``, row for row (:meth:`compare`)."""
        return self.compare(
            records,
            pairs,
            comparisons,
            raw_similarity=raw_similarity,
            workers=workers,
        )

    def predict(
        self,
        scorer: Any,
        vectors: pl.DataFrame,
        *,
        explain: bool = False,
        min_probability: float = 0.0,
    ) -> pl.DataFrame:
        """Score the vectors with ``scorer.predict``; keep pairs scoring ``min_probability`` or more."""
        out: pl.DataFrame = scorer.predict(vectors, explain=explain)
        if min_probability <= 0:
            return out  # every pair is kept: no copy of tens of millions of rows
        return out.filter(pl.col(schema.MATCH_PROBABILITY) >= min_probability)

    def score(
        self,
        records: pl.DataFrame,
        pairs: pl.DataFrame,
        comparisons: Sequence[Comparison],
        scorer: Any,
        *,
        explain: bool = False,
        raw_similarity: bool = False,
        chunk_size: int | None = None,
        min_probability: float = 0.0,
        workers: int | None = None,
        timings: dict[str, float] | None = None,
    ) -> pl.DataFrame:
        """Compare and score ``chunk_size`` pairs at a time (all at once by default).

        Memory holds one chunk's comparison vectors, and the scored pairs
        worth keeping (``min_probability``).
        """
        from er_toolkit.compare import compare_pairs
        from er_toolkit.progress import progress_bar

        keep = pl.col(schema.MATCH_PROBABILITY) >= min_probability
        size = chunk_size or max(pairs.height, 1)
        encoding = self._encoding_of(records)
        parts = []
        seconds = {"compare": 0.0, "score": 0.0}
        with progress_bar(total=pairs.height, desc="predict", unit="pair") as bar:
            for offset in range(0, max(pairs.height, 1), size):
                chunk = pairs.slice(offset, size)
                start = time.perf_counter()
                vectors = compare_pairs(
                    records,
                    chunk,
                    comparisons,
                    encoding=encoding,
                    raw_similarity=raw_similarity,
                    workers=workers,
                )
                middle = time.perf_counter()
                parts.append(scorer.predict(vectors, explain=explain).filter(keep))
                seconds["compare"] += middle - start
                seconds["score"] += time.perf_counter() - middle
                bar.update(chunk.height)
        if timings is not None:
            timings.update(seconds)
        return pl.concat(parts)

    def with_record_ids(
        self, pairs: pl.DataFrame, records: pl.DataFrame
    ) -> pl.DataFrame:
        """Add record ids and sources (:func:`er_toolkit.pipeline.with_record_ids`)."""
        from er_toolkit.pipeline import with_record_ids

        return with_record_ids(pairs, records)

    # ---------------------------------------------------------------- training
    def total_pairs(self, records: pl.DataFrame, *, link_type: LinkType) -> int:
        """Return the pairs without blocking (:func:`~er_toolkit.score.total_pairs`)."""
        from er_toolkit.score.sampling import total_pairs

        return total_pairs(records, link_type=link_type)

    def sample_pairs(
        self, records: pl.DataFrame, *, n_pairs: int, link_type: LinkType, seed: int
    ) -> pl.DataFrame:
        """Draw seeded random pairs (:func:`~er_toolkit.score.sample_pairs`)."""
        from er_toolkit.score.sampling import sample_pairs

        return sample_pairs(records, n_pairs=n_pairs, link_type=link_type, seed=seed)

    def sample_records(
        self,
        records: pl.DataFrame,
        *,
        share: float,
        seed: int,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Keep each record with probability ``share`` (seeded), and only ``columns`` of it when given.

        A sample of records encoded here (inside :meth:`cached`, or after a
        compare of them) is blocked and counted from the whole records' key
        codes of the records it kept: the sample itself is never encoded.
        """
        from er_toolkit.score.sampling import record_sample_mask

        mask = record_sample_mask(records.height, share=share, seed=seed)
        kept = records if columns is None else records.select(columns)
        sample = kept.filter(pl.Series(mask))
        if self._encoding(records) is not None:
            # its rules' pairs are counted from the records' key codes
            self._sampled = (sample, records, mask)
        return sample

    def gamma_patterns(
        self,
        records: pl.DataFrame,
        pairs: pl.DataFrame,
        comparisons: Sequence[Comparison],
        *,
        workers: int | None = None,
        agreeing: Collection[str] = (),
    ) -> Patterns:
        """Compare the pairs (gamma levels only) and count their distinct patterns.

        Compared :data:`PATTERN_CHUNK` pairs at a time (chunks after the
        first in threads), keeping only the gamma columns: the working
        arrays of a million-pair u sample are a quarter of one chunk's.

        ``agreeing`` names columns on which the two records of every pair
        hold the same value once trimmed (blanks null), as the pairs of an
        exact blocking rule on them do. A comparison reading only those
        columns gives each pair what its left record compared with itself
        gives, so it is compared once per record, not once per pair: the
        same levels, without the work.

        Examples
        --------
        >>> from er_toolkit.compare import Comparison
        >>> from er_toolkit.compare.levels import ExactLevel
        >>> records = pl.DataFrame(
        ...     {"_row": [0, 1, 2], "s": ["x", "x", "x"], "t": ["a", "a", "b"]},
        ...     schema_overrides={"_row": pl.UInt32},
        ... )
        >>> pairs = pl.DataFrame({"_row_l": [0, 0], "_row_r": [1, 2]},
        ...                      schema={"_row_l": pl.UInt32, "_row_r": pl.UInt32})
        >>> comparisons = [Comparison("s", "s", levels=(ExactLevel(),)),
        ...                Comparison("t", "t", levels=(ExactLevel(),))]
        >>> patterns = PolarsEngine().gamma_patterns(records, pairs, comparisons, agreeing=["s"])
        >>> patterns.gammas.tolist(), patterns.counts.tolist()
        ([[1, 0], [1, 1]], [1.0, 1.0])
        """
        from er_toolkit.compare import compare_pairs
        from er_toolkit.score.em import Patterns

        names = [c.name for c in comparisons]
        agree = set(agreeing)
        own = [c for c in comparisons if agree and set(c.columns) <= agree]
        rest = [c for c in comparisons if c not in own]
        encoding = self._encoding_of(records)
        pair_rows = pairs.select(schema.ROW_L, schema.ROW_R)
        vectors = (
            compare_pairs(
                records,
                pair_rows,
                rest,
                encoding=encoding,
                raw_similarity=False,
                chunk_size=PATTERN_CHUNK,
                workers=workers,
            )
            if rest
            else pair_rows
        )
        if own:
            vectors = vectors.with_columns(
                _own_gammas(records, pair_rows, own, encoding, workers)
            )
        return Patterns.from_vectors(vectors, names)

    def weight_counts(
        self, vectors: pl.DataFrame, weigh: Callable[[pl.DataFrame], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return every pair's weight (no counts: each weight is one pair)."""
        return weigh(vectors), None

    def exact_agreement_share(
        self,
        records: pl.DataFrame,
        columns: str | Sequence[str],
        *,
        link_type: LinkType,
        given: str | None = None,
    ) -> float:
        """Return the agreement share from value counts (:func:`~er_toolkit.score.sampling.exact_agreement_share`).

        Inside :meth:`cached` (or after a compare of the same records) the
        counts come from the kept column encodings' value codes.
        """
        from er_toolkit.blocking.base import source_codes
        from er_toolkit.score.sampling import (
            agreement_share_from_codes,
            exact_agreement_share,
        )

        names = [columns] if isinstance(columns, str) else list(columns)
        encoding = self._encoding(records)
        if encoding is None:
            return exact_agreement_share(
                records, names, link_type=link_type, given=given
            )
        given_codes = encoding.column(names[0] if given is None else given).codes
        return agreement_share_from_codes(
            [encoding.column(c).codes for c in names],
            given_codes,
            # read in a link job only: a dedupe needs no sources
            source_codes(records)
            if link_type == "link"
            else np.zeros(len(given_codes), dtype=np.int32),
            link_type=link_type,
        )

    def completeness(self, records: pl.DataFrame, column: str) -> float:
        """Return the share of records with a value (:func:`~er_toolkit.score.sampling.completeness`).

        A text column's share comes from its kept encoding's codes (-1 for
        null or blank, as the function counts them) where there is one.
        """
        from er_toolkit.score.sampling import completeness

        encoding = self._encoding(records)
        if encoding is None or records.schema.get(column) != pl.String:
            return completeness(records, column)
        missing = int(np.count_nonzero(encoding.column(column).codes < 0))
        return 1.0 - missing / max(records.height, 1)

    # ------------------------------------------------------ clusters, golden
    def connected_components(
        self,
        records: pl.DataFrame,
        pairs: pl.DataFrame,
        *,
        threshold: float,
        score_column: str = schema.MATCH_PROBABILITY,
        prune_weak_links: bool = False,
        keep_above: float = 0.999,
        min_prune_size: int = 3,
        max_cluster_size: int | None = None,
        linkage: Linkage = "single",
        not_compared: NotCompared = "far",
        min_linkage_probability: float | None = None,
    ) -> pl.DataFrame:
        """Cluster records (:func:`~er_toolkit.cluster.connected_components`)."""
        from er_toolkit.cluster import connected_components

        return connected_components(
            records,
            pairs,
            threshold=threshold,
            score_column=score_column,
            prune_weak_links=prune_weak_links,
            keep_above=keep_above,
            min_prune_size=min_prune_size,
            max_cluster_size=max_cluster_size,
            linkage=linkage,
            not_compared=not_compared,
            min_linkage_probability=min_linkage_probability,
        )

    def golden(
        self,
        config: GoldenConfig,
        records: pl.DataFrame,
        clusters: pl.DataFrame,
        *,
        raw: pl.DataFrame | None = None,
        cluster_ids: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Build golden records (:meth:`~er_toolkit.golden.GoldenConfig.build`)."""
        return config.build(records, clusters, raw=raw, cluster_ids=cluster_ids)


def _dense(key: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return ``key`` renumbered 0 .. k - 1 where valid, -1 elsewhere."""
    out = np.full(len(key), -1, dtype=np.int64)
    out[valid] = np.unique(key[valid], return_inverse=True)[1].reshape(-1)
    return out


def key_pairs(key: np.ndarray, sources: np.ndarray | None = None) -> int:
    """Return how many pairs of records share a key (-1: no key); across sources only when given.

    Examples
    --------
    >>> key_pairs(np.array([0, 0, 0, 1, -1]))
    3
    >>> key_pairs(np.array([0, 0, 0]), np.array([0, 0, 1]))
    2
    """
    valid = key >= 0
    counts = np.unique(key[valid], return_counts=True)[1].astype(np.int64)
    total = int((counts * (counts - 1) // 2).sum())
    if sources is None:
        return total
    width = int(sources.max(initial=0)) + 1
    same = np.unique(key[valid] * width + sources[valid], return_counts=True)[1].astype(
        np.int64
    )
    return total - int((same * (same - 1) // 2).sum())


def _key_codes(
    records: pl.DataFrame, blocker: Blocker, encoding: RecordEncoding
) -> np.ndarray | None:
    """Return an exact rule's key codes from ``encoding``, before block purging.

    A whole-column key reads the column's codes; a prefix key
    (``"column[:n]"``) maps each distinct value to the code of its first
    ``n`` characters (the trimmed value's prefix, as
    :func:`~er_toolkit.blocking.base.key_expr` takes it), so no record's
    text is sliced. None for other blockers and float columns.
    """
    from er_toolkit.blocking import ExactRule
    from er_toolkit.blocking.base import parse_key

    if not isinstance(blocker, ExactRule) or any(
        c not in records.schema or records.schema[c].is_float() for c in blocker.columns
    ):
        return None
    key: np.ndarray | None = None
    for spec in blocker.keys:
        column, n = parse_key(spec)
        codes, width = _part_codes(encoding.column(column), n)
        if key is None:
            key = codes
            continue
        valid = (key >= 0) & (codes >= 0)
        if (int(key.max(initial=0)) + 1) * (width + 1) >= 1 << 62:
            key = _dense(key, valid)
        key = np.where(valid, key * (width + 1) + codes, -1)
    return key


def _rule_codes(
    records: pl.DataFrame, blocker: Blocker, encoding: RecordEncoding
) -> np.ndarray | None:
    """Return :meth:`PolarsEngine.exact_key_codes` from ``encoding``: purged key codes."""
    codes = _key_codes(records, blocker, encoding)
    return None if codes is None else _purged(codes, _max_block_size(blocker))


def _max_block_size(blocker: Blocker) -> int | None:
    size = getattr(blocker, "max_block_size", None)
    return size if isinstance(size, int) else None


def _part_codes(part: ColumnEncoding, n: int | None) -> tuple[np.ndarray, int]:
    """Return each record's code of a column's value (or its first ``n`` characters) and how many codes there are."""
    if n is None:
        return part.codes.astype(np.int64), part.n_uniques
    memo = ("blocking_prefix", n)
    if memo not in part.derived:
        # a trimmed value is never blank, so neither is its prefix (n >= 1)
        prefixes = part.uniques_series.str.slice(0, n)
        part.derived[memo] = (prefixes.rank("dense") - 1).to_numpy().astype(np.int64)
    by_value: np.ndarray = part.derived[memo]
    codes = part.codes
    if by_value.size == 0:  # no value: every code is -1
        return codes.astype(np.int64), 0
    out = np.where(codes >= 0, by_value[np.maximum(codes, 0)], -1)
    return out, int(by_value.max()) + 1


def _purged(key: np.ndarray, max_block_size: int | None) -> np.ndarray:
    """Return ``key`` with the codes held by more than ``max_block_size`` records set to -1.

    Examples
    --------
    >>> _purged(np.array([0, 0, 0, 1, 1, -1]), 2).tolist()
    [-1, -1, -1, 1, 1, -1]
    """
    if max_block_size is None:
        return key
    valid = key >= 0
    _, inverse, counts = np.unique(key[valid], return_inverse=True, return_counts=True)
    out = key.copy()
    out[np.flatnonzero(valid)[counts[inverse.reshape(-1)] > max_block_size]] = -1
    return out


def _own_gammas(
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    comparisons: Sequence[Comparison],
    encoding: RecordEncoding,
    workers: int | None,
) -> list[pl.Series]:
    """Return the gamma columns of pairs whose records agree on every column the comparisons read.

    Each left record is compared with itself, once, and its levels are
    spread over its pairs (see :meth:`PolarsEngine.gamma_patterns`).
    """
    from er_toolkit.compare import compare_pairs

    rows_l = pairs.get_column(schema.ROW_L).to_numpy()
    size = max(records.height, int(rows_l.max(initial=0)) + 1)
    seen = np.zeros(size, dtype=bool)
    seen[rows_l] = True
    firsts = pl.Series(np.flatnonzero(seen).astype(np.uint32))
    selves = compare_pairs(
        records,
        pl.DataFrame({schema.ROW_L: firsts, schema.ROW_R: firsts}),
        comparisons,
        encoding=encoding,
        raw_similarity=False,
        chunk_size=PATTERN_CHUNK,
        workers=workers,
    )
    out = []
    for comparison in comparisons:
        name = schema.gamma(comparison.name)
        by_row = np.zeros(size, dtype=np.int8)
        by_row[firsts.to_numpy()] = selves.get_column(name).to_numpy()
        out.append(pl.Series(name, by_row[rows_l]))
    return out
