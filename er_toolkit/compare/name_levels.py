"""Levels over personal names: nicknames and name variants (Bill and William, Peggy and Margaret)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import polars as pl

from er_toolkit.compare.levels import _check_column, _on, register_level
from er_toolkit.compare.pair_values import PairValues, ValueKind

__all__ = ["NicknameLevel", "nickname_pairs", "related_names"]

_LEFT, _RIGHT = "name_l", "name_r"
_WORD = r"^[\s\W\d_]*(\p{L}[\p{L}'\-]*)"


@functools.cache
def nickname_pairs() -> pl.DataFrame:
    """Return every pair of given names the nickname tables relate, both ways round.

    Two names are related when one is a nickname of the other (``bill`` /
    ``william``) or both are nicknames of one given name (``peggy`` /
    ``maggie``, both ``margaret``). The tables are the ``nicknames``
    package's hand-curated English names (Apache-2.0,
    https://github.com/carltonnorthern/nicknames) and er_toolkit's own
    :func:`~er_toolkit.standardise.nickname_table` (English, German, French
    and Spanish nicknames). A given name that is itself listed as a nickname
    (``bill`` of ``william``), or is listed as a nickname more often than
    with one, does not join its nicknames into one group, so ``robert`` and
    ``william`` are not related through ``bill``.

    Returns
    -------
    polars.DataFrame
        ``name_l``, ``name_r`` (lower case), each related pair once per
        order, never a name with itself.

    Examples
    --------
    >>> pairs = nickname_pairs()
    >>> related = set(zip(pairs["name_l"], pairs["name_r"]))
    >>> ("bill", "william") in related, ("william", "bill") in related
    (True, True)
    >>> ("peggy", "maggie") in related, ("robert", "william") in related
    (True, False)
    """
    import nicknames

    from er_toolkit.standardise import nickname_table

    edges = pl.concat(
        [
            pl.DataFrame(
                [(t.name1, t.name2) for t in nicknames.name_triplets()],
                schema=["given", "nick"],
                orient="row",
            ),
            pl.DataFrame(
                [(given, nick) for nick, given in nickname_table().items()],
                schema=["given", "nick"],
                orient="row",
            ),
        ]
    ).select(pl.all().str.to_lowercase().str.strip_chars())
    edges = edges.filter(pl.col("given") != pl.col("nick")).unique()
    # the package's rows run both ways round at times (marge has_nickname
    # margaret): a name is the hub of a group when it is listed with more
    # nicknames than it is listed as one, and is no nickname in er_toolkit's
    # own table (there bill is william's)
    out_degree = edges.group_by("given").len("out")
    in_degree = edges.group_by("nick").len("in").rename({"nick": "given"})
    hubs = (
        out_degree.join(in_degree, on="given", how="left")
        .filter(pl.col("out") > pl.col("in").fill_null(0))
        .filter(~pl.col("given").is_in(list(nickname_table())))
        .get_column("given")
    )
    groups = edges.filter(pl.col("given").is_in(hubs.implode()))
    shared = groups.join(groups, on="given", suffix="_other").select(
        pl.col("nick").alias(_LEFT), pl.col("nick_other").alias(_RIGHT)
    )
    direct = edges.select(pl.col("given").alias(_LEFT), pl.col("nick").alias(_RIGHT))
    both = pl.concat(
        [
            direct,
            direct.select(pl.col(_RIGHT).alias(_LEFT), pl.col(_LEFT).alias(_RIGHT)),
            shared,
        ]
    )
    return both.filter(pl.col(_LEFT) != pl.col(_RIGHT)).unique().sort(_LEFT, _RIGHT)


def related_names(left: pl.Series, right: pl.Series) -> np.ndarray:
    """Return whether each pair's first words are related given names.

    Each value's first word (lower case; leading punctuation and digits
    skipped) is looked up in :func:`nickname_pairs`; equal words count as
    related, a null or wordless value as unrelated.

    Examples
    --------
    >>> related_names(pl.Series(["Bill", "peggy", "john", None]),
    ...               pl.Series(["william smith", "Margaret", "jane", "ann"])).tolist()
    [True, True, False, False]
    """
    frame = pl.DataFrame(
        {
            _LEFT: left.cast(pl.String).str.to_lowercase().str.extract(_WORD, 1),
            _RIGHT: right.cast(pl.String).str.to_lowercase().str.extract(_WORD, 1),
        }
    )
    known = nickname_pairs().with_columns(pl.lit(True).alias("related"))
    joined = frame.join(known, on=[_LEFT, _RIGHT], how="left", maintain_order="left")
    hit = joined.get_column("related").fill_null(False) | (
        joined.get_column(_LEFT) == joined.get_column(_RIGHT)
    ).fill_null(False)
    return hit.to_numpy().astype(bool)


@register_level
@dataclass(frozen=True)
class NicknameLevel:
    """The given names are one name and its nickname, or two nicknames of one name.

    Bill / William, Peggy / Margaret, Sepp / Josef (see
    :func:`nickname_pairs` for the tables and their sources). Compares each
    value's first word, so ``"bill j"`` and ``"william"`` agree. Put it
    after the exact level and before the similarity levels: a nickname is
    rarely similar as a string (Peggy, Margaret), and a similar string is
    not a nickname. Point ``column`` at the raw first name when the
    comparison's own column is already canonicalised (the name
    standardiser's ``canonical`` part maps each nickname to one name, so
    ``fred`` meets ``alfred`` or ``frederick``, not both).
    """

    kind: ClassVar[str] = "nickname"
    reads: ClassVar[ValueKind] = "text"
    column: str | None = None

    def __post_init__(self) -> None:
        _check_column(self.column, "nickname")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's names are related by a nickname."""
        left, right, inverse = values.distinct_codes
        names = values.encoding.uniques_series
        hit = related_names(names.gather(left), names.gather(right))
        return values.fill(hit[inverse], same=True, null=False)

    @property
    def label(self) -> str:
        """Describe the level."""
        return _on(self.column, "nickname")
