"""Per-value text statistics for levels: TF-IDF vectors, item sets, numbers in text, points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, get_args

import numpy as np
import polars as pl

from er_toolkit.exceptions import SchemaError
from er_toolkit.tokens import TOKEN, TokenKind, check_tokens, explode_tokens

if TYPE_CHECKING:
    from er_toolkit.compare.pair_values import ColumnEncoding, PairValues

SetMeasure = Literal["jaccard", "overlap", "dice"]
SET_MEASURES: Final[tuple[SetMeasure, ...]] = get_args(SetMeasure)
NUMBER_PATTERN: Final = r"\d+(?:\.\d+)?"
"""What a number in text is: digits, optionally with a decimal point and more digits."""
EARTH_RADIUS_KM: Final = 6371.0088
_CODE: Final = "_code"
_FREQ: Final = "_df"


@dataclass(frozen=True)
class DocumentFrequencies:
    """How many records hold each token of a column: what IDF weights are made of.

    IDF must come from the whole column, never from one batch of pairs:
    engines compute it once with :func:`document_frequencies` (Spark with
    a group-by) and pass it to :func:`~er_toolkit.compare.compare_batch`,
    as they pass term frequencies.

    Attributes
    ----------
    tokens, q
        The tokeniser (see :func:`~er_toolkit.tokens.explode_tokens`).
    n_documents
        Records with a non-null value.
    frequencies
        ``_token`` (String) and ``_df`` (Int64): records holding the token.
    """

    tokens: TokenKind
    q: int
    n_documents: int
    frequencies: pl.DataFrame

    def idf(self) -> pl.DataFrame:
        """Return ``_token`` and ``_idf``: ``ln((1 + N) / (1 + df)) + 1`` (smoothed, as scikit-learn)."""
        return self.frequencies.select(TOKEN, _idf(pl.col(_FREQ), self.n_documents))

    @property
    def unseen_idf(self) -> float:
        """The IDF of a token no record holds (df 0)."""
        return float(np.log(1.0 + self.n_documents) + 1.0)


def _idf(df: pl.Expr, n: int) -> pl.Expr:
    return (((1.0 + n) / (1.0 + df.cast(pl.Float64))).log() + 1.0).alias("_idf")


def document_frequencies(
    values: pl.Series, *, tokens: TokenKind = "word", q: int = 3
) -> DocumentFrequencies:
    """Return the document frequency of every token of ``values`` (one value per record).

    Examples
    --------
    >>> df = document_frequencies(pl.Series(["acme corp", "acme ltd", None]))
    >>> df.n_documents, sorted(df.frequencies.rows())
    (2, [('acme', 2), ('corp', 1), ('ltd', 1)])
    """
    from er_toolkit.compare.pair_values import ColumnEncoding

    return _encoding_frequencies(ColumnEncoding(values), tokens, q)


def _encoding_frequencies(
    encoding: ColumnEncoding, tokens: TokenKind, q: int
) -> DocumentFrequencies:
    codes = encoding.codes
    present = codes[codes >= 0]
    records_per_code = np.bincount(present, minlength=encoding.n_uniques)
    distinct = _unique_tokens(encoding, tokens, q)
    frequencies = (
        distinct.with_columns(
            pl.Series("_n", records_per_code, dtype=pl.Int64).gather(
                distinct.get_column(_CODE)
            )
        )
        .group_by(TOKEN)
        .agg(pl.col("_n").sum().alias(_FREQ))
        .sort(TOKEN)
    )
    return DocumentFrequencies(tokens, q, int(present.size), frequencies)


def _unique_tokens(encoding: ColumnEncoding, tokens: TokenKind, q: int) -> pl.DataFrame:
    """``_code`` and ``_token``: each distinct value's distinct tokens."""
    return (
        _token_counts(encoding, tokens, q)
        .select(_CODE, TOKEN)
        .unique(maintain_order=True)
    )


def _token_counts(encoding: ColumnEncoding, tokens: TokenKind, q: int) -> pl.DataFrame:
    """``_code``, ``_token`` and ``_tf``: occurrences of each token in each distinct value."""
    key = ("token_counts", tokens, q)
    if key not in encoding.derived:
        frame = pl.DataFrame(
            {
                _CODE: np.arange(encoding.n_uniques, dtype=np.int32),
                "_v": encoding.uniques_series,
            }
        )
        encoding.derived[key] = (
            explode_tokens(frame, "_v", tokens=tokens, q=q)
            .group_by(_CODE, TOKEN, maintain_order=True)
            .agg(pl.len().cast(pl.Float64).alias("_tf"))
            .collect()
        )
    out: pl.DataFrame = encoding.derived[key]
    return out


def tfidf_vectors(
    encoding: ColumnEncoding, tokens: TokenKind, q: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """Return each distinct value's TF-IDF weights (``_code``, ``_token``, ``_w``) and norms.

    Document frequencies are those given to the encoding
    (``ColumnEncoding.document_frequencies``), else those of the encoded
    column itself (the whole records column, in the polars engine).
    """
    key = ("tfidf", tokens, q)
    if key not in encoding.derived:
        given = encoding.document_frequencies.get((tokens, q))
        frequencies = (
            given if given is not None else _encoding_frequencies(encoding, tokens, q)
        )
        weights = (
            _token_counts(encoding, tokens, q)
            .join(frequencies.idf(), on=TOKEN, how="left")
            .select(
                _CODE,
                TOKEN,
                (
                    pl.col("_tf") * pl.col("_idf").fill_null(frequencies.unseen_idf)
                ).alias("_w"),
            )
        )
        squares = weights.group_by(_CODE).agg((pl.col("_w") ** 2).sum().alias("_s"))
        norms = np.zeros(encoding.n_uniques)
        norms[squares.get_column(_CODE).to_numpy()] = np.sqrt(
            squares.get_column("_s").to_numpy()
        )
        encoding.derived[key] = (weights, norms)
    out: tuple[pl.DataFrame, np.ndarray] = encoding.derived[key]
    return out


def tfidf_cosine(values: PairValues, tokens: TokenKind, q: int) -> np.ndarray:
    """Cosine of the TF-IDF vectors per pair: float32, 1 for equal values, NaN for null."""
    check_tokens(tokens, q, "tfidf_cosine")
    key = ("tfidf_cosine", tokens, q)
    if key not in values.derived:
        weights, norms = tfidf_vectors(values.encoding, tokens, q)
        left, right, inverse = values.distinct_codes
        pairs = pl.DataFrame(
            {
                "_pair": np.arange(len(left), dtype=np.int64),
                "_cl": left.astype(np.int32),
                "_cr": right.astype(np.int32),
            }
        )
        dots = (
            pairs.join(
                weights.rename({_CODE: "_cl", "_w": "_wl"}), on="_cl", how="inner"
            )
            .join(
                weights.rename({_CODE: "_cr", "_w": "_wr"}),
                on=["_cr", TOKEN],
                how="inner",
            )
            .group_by("_pair")
            .agg((pl.col("_wl") * pl.col("_wr")).sum().alias("_dot"))
        )
        dot = np.zeros(len(left))
        dot[dots.get_column("_pair").to_numpy()] = dots.get_column("_dot").to_numpy()
        scale = norms[left] * norms[right]
        with np.errstate(invalid="ignore", divide="ignore"):
            cosine = np.where(scale > 0, dot / scale, 0.0)
        cosine = np.clip(cosine, 0.0, 1.0).astype(np.float32)
        values.derived[key] = values.fill(cosine[inverse], same=1.0, null=np.nan)
    out: np.ndarray = values.derived[key]
    return out


def item_sets(encoding: ColumnEncoding, separator: str) -> pl.Series:
    """Each distinct value split at ``separator``: a list of distinct trimmed, non-blank items."""
    key = ("items", separator)
    if key not in encoding.derived:
        encoding.derived[key] = (
            encoding.uniques_series.str.split(separator)
            .list.eval(pl.element().str.strip_chars())
            .list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
            .list.unique()
        )
    out: pl.Series = encoding.derived[key]
    return out


def set_similarity(
    left: pl.Series, right: pl.Series, measure: SetMeasure
) -> np.ndarray:
    """Return the Jaccard, overlap or Dice coefficient of aligned lists of sets (float64).

    Two empty sets score 0.

    Examples
    --------
    >>> a, b = pl.Series([["x", "y"], []]), pl.Series([["y", "z"], []])
    >>> set_similarity(a, b, "jaccard").round(3).tolist()
    [0.333, 0.0]
    """
    frame = pl.DataFrame({"l": left, "r": right})
    counts = frame.select(
        inter=pl.col("l").list.set_intersection(pl.col("r")).list.len(),
        nl=pl.col("l").list.len(),
        nr=pl.col("r").list.len(),
    )
    inter = counts.get_column("inter").to_numpy().astype(np.float64)
    nl = counts.get_column("nl").to_numpy().astype(np.float64)
    nr = counts.get_column("nr").to_numpy().astype(np.float64)
    if measure == "jaccard":
        den = nl + nr - inter
    elif measure == "overlap":
        den = np.minimum(nl, nr)
    else:
        inter, den = 2.0 * inter, nl + nr
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, inter / np.maximum(den, 1.0), 0.0)


def item_set_similarity(
    values: PairValues, separator: str, measure: SetMeasure
) -> np.ndarray:
    """Set similarity of the items of each pair's values: float32, NaN for null."""
    key = ("set", separator, measure)
    if key not in values.derived:
        sets = item_sets(values.encoding, separator)
        left, right, inverse = values.distinct_codes
        sims = set_similarity(sets.gather(left), sets.gather(right), measure)
        # equal values hold equal sets: 1 unless the set is empty
        same = values.exact
        out = values.fill(sims[inverse].astype(np.float32), same=1.0, null=np.nan)
        empty = np.r_[sets.list.len().to_numpy() == 0, False]  # code -1: null
        out[same & empty[values.codes_l]] = 0.0
        values.derived[key] = out
    result: np.ndarray = values.derived[key]
    return result


def text_numbers(encoding: ColumnEncoding) -> tuple[pl.Series, np.ndarray]:
    """Each distinct value's numbers (a set, as normalised text) and its first number.

    Returns
    -------
    tuple
        A list Series of the distinct numbers of each distinct value (``"05"``
        and ``"5.0"`` are both ``"5"``), and the first number of each
        (float64, NaN when it has none).
    """
    if "numbers" not in encoding.derived:
        found = encoding.uniques_series.str.extract_all(NUMBER_PATTERN)
        as_floats = found.list.eval(pl.element().cast(pl.Float64))
        first = as_floats.list.first().fill_null(np.nan).to_numpy()
        normalised = as_floats.list.eval(
            pl.element().cast(pl.String).str.replace(r"\.0$", "")
        ).list.unique()
        encoding.derived["numbers"] = (normalised, first)
    out: tuple[pl.Series, np.ndarray] = encoding.derived["numbers"]
    return out


def no_number(values: PairValues) -> np.ndarray:
    """Whether either side of each pair is null or holds no number."""
    sets, _ = text_numbers(values.encoding)
    empty = np.r_[sets.list.len().to_numpy() == 0, True]  # code -1: null
    return empty[values.codes_l] | empty[values.codes_r]


def number_set_similarity(values: PairValues, measure: SetMeasure) -> np.ndarray:
    """Set similarity of the numbers in each pair's values: float32, NaN without numbers."""
    key = ("number_set", measure)
    if key not in values.derived:
        sets, _ = text_numbers(values.encoding)
        left, right, inverse = values.distinct_codes
        sims = set_similarity(sets.gather(left), sets.gather(right), measure)
        out = values.fill(sims[inverse].astype(np.float32), same=1.0, null=np.nan)
        out[no_number(values)] = np.nan
        values.derived[key] = out
    result: np.ndarray = values.derived[key]
    return result


def first_number_difference(values: PairValues, *, relative: bool) -> np.ndarray:
    """Absolute (or relative to the larger) difference of each pair's first numbers."""
    _, first = text_numbers(values.encoding)
    first = np.r_[first, np.nan]
    a, b = first[values.codes_l], first[values.codes_r]
    diff = np.abs(a - b)
    if relative:
        scale = np.maximum(np.abs(a), np.abs(b))
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.where(scale > 0, diff / scale, 0.0)
    return np.where(np.isnan(a) | np.isnan(b), np.inf, diff)


def points(encoding: ColumnEncoding) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude in radians of each distinct value ``"lat,lon"`` (NaN if not one).

    A point is two decimal numbers separated by a comma, semicolon or
    white space, latitude first, within [-90, 90] and [-180, 180].
    """
    if "points" not in encoding.derived:
        parts = encoding.uniques_series.str.extract_groups(
            r"^\s*([-+]?\d+(?:\.\d*)?)\s*[,; ]\s*([-+]?\d+(?:\.\d*)?)\s*$"
        )
        lat = parts.struct.field("1").cast(pl.Float64).fill_null(np.nan).to_numpy()
        lon = parts.struct.field("2").cast(pl.Float64).fill_null(np.nan).to_numpy()
        bad = ~((np.abs(lat) <= 90) & (np.abs(lon) <= 180))
        lat, lon = np.radians(lat), np.radians(lon)
        lat[bad] = np.nan
        lon[bad] = np.nan
        encoding.derived["points"] = (lat, lon)
    out: tuple[np.ndarray, np.ndarray] = encoding.derived["points"]
    return out


def no_point(values: PairValues) -> np.ndarray:
    """Whether either side of each pair is null or not a point."""
    lat, _ = points(values.encoding)
    bad = np.r_[np.isnan(lat), True]
    return bad[values.codes_l] | bad[values.codes_r]


def haversine_km(values: PairValues) -> np.ndarray:
    """Great-circle distance in km per pair (inf where either side is not a point)."""
    if "haversine" not in values.derived:
        lat, lon = points(values.encoding)
        lat, lon = np.r_[lat, np.nan], np.r_[lon, np.nan]
        la, lb = lat[values.codes_l], lat[values.codes_r]
        oa, ob = lon[values.codes_l], lon[values.codes_r]
        h = (
            np.sin((lb - la) / 2) ** 2
            + np.cos(la) * np.cos(lb) * np.sin((ob - oa) / 2) ** 2
        )
        km = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
        values.derived["haversine"] = np.where(np.isnan(km), np.inf, km)
    out: np.ndarray = values.derived["haversine"]
    return out


def check_document_frequencies(
    given: object, name: str, tokeniser: tuple[str, int]
) -> DocumentFrequencies:
    """Raise a SchemaError unless ``given`` is document frequencies of this tokeniser."""
    tokens, q = tokeniser
    if not isinstance(given, DocumentFrequencies):
        raise SchemaError(
            f"document_frequencies[{name!r}] must be a DocumentFrequencies (from "
            f"er_toolkit.compare.document_frequencies); got {type(given).__name__}."
        )
    if (given.tokens, given.q) != (tokens, q):
        raise SchemaError(
            f"document_frequencies[{name!r}] counts {given.tokens!r} tokens (q="
            f"{given.q}); comparison {name!r} reads {tokens!r} tokens (q={q})."
        )
    return given
