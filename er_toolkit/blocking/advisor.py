"""Blocking rule advisor: choose rules that reach a target recall of known matches within a pair budget.

``python -m er_toolkit.blocking.advisor --config job.toml --target-recall 0.99
--max-pairs 2000000`` prints ``[[blocking.blockers]]`` tables to paste into
the config. The matches are the config's ``[evaluation]`` labels, or, with
``--estimate`` (or when the config has none), the pairs an unsupervised
Fellegi-Sunter model fitted on the config's own blocking scores at or above
its threshold (EM-estimated matches).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import Blocker, as_blocker
from er_toolkit.blocking.exact import ExactRule
from er_toolkit.blocking.report import contains, possible_pairs, sorted_pair_keys
from er_toolkit.blocking.token import TokenBlocker
from er_toolkit.exceptions import ConfigError
from er_toolkit.schema import LinkType

log = logging.getLogger(__name__)

__all__ = ["Advice", "advise_blocking", "candidate_rules", "estimated_matches"]


def candidate_rules(
    columns: Sequence[str],
    *,
    prefixes: Sequence[int] = (1, 3, 5),
    pairs_of_columns: bool = True,
    tokens: bool = True,
    max_block_size: int | None = None,
) -> list[Blocker]:
    """Return the rules the advisor chooses from, for ``columns``.

    Exact rules on each column and each prefix of it, a token rule on
    each column ("any shared word", words held by more than
    ``max_block_size`` records, or 200 records without one, purged), and,
    with ``pairs_of_columns``, exact rules on every two columns and on
    their three-character prefixes.

    Examples
    --------
    >>> [b.name for b in candidate_rules(["a", "b"], prefixes=(2,), tokens=False)]
    ['a', 'a[:2]', 'b', 'b[:2]', 'a&b', 'a[:3]&b[:3]']
    """
    if not columns:
        raise ConfigError("The advisor needs at least one column to build rules on.")
    out: list[Blocker] = []
    for column in columns:
        out.append(ExactRule((column,), max_block_size=max_block_size))
        out += [
            ExactRule((f"{column}[:{n}]",), max_block_size=max_block_size)
            for n in prefixes
        ]
        if tokens:
            out.append(TokenBlocker(column, max_block_size=max_block_size or 200))
    if pairs_of_columns:
        for i, a in enumerate(columns):
            for b in columns[i + 1 :]:
                out.append(ExactRule((a, b), max_block_size=max_block_size))
                out.append(
                    ExactRule((f"{a}[:3]", f"{b}[:3]"), max_block_size=max_block_size)
                )
    return out


@dataclass(frozen=True)
class Advice:
    """The advisor's choice.

    Attributes
    ----------
    blockers
        The chosen rules, in the order chosen (most matches per pair first).
    steps
        One row per chosen rule: ``blocked_by``, ``new_pairs``,
        ``cumulative_pairs``, ``new_matches``, ``recall`` (cumulative share
        of the known matches) and ``reduction_ratio``.
    candidates
        Every candidate: ``blocked_by``, ``pairs`` (its own, exact when it
        was run; the count bound when it was over budget), ``matches``,
        ``skipped`` (why it was not considered, or null).
    recall
        Share of the known matches the chosen rules keep.
    pairs
        Candidate pairs the chosen rules make together.
    reached
        Whether ``recall`` reached the target.
    """

    blockers: tuple[Blocker, ...]
    steps: pl.DataFrame
    candidates: pl.DataFrame
    recall: float
    pairs: int
    reached: bool

    def to_toml(self) -> str:
        """Return the chosen rules as ``[[blocking.blockers]]`` tables."""
        lines = []
        for blocker in self.blockers:
            lines.append("[[blocking.blockers]]")
            for key, value in blocker.to_dict().items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def advise_blocking(
    records: pl.DataFrame,
    matches: pl.DataFrame,
    *,
    link_type: LinkType,
    target_recall: float = 0.99,
    max_pairs: int = 5_000_000,
    candidates: Sequence[Blocker | Sequence[str]] | None = None,
    columns: Sequence[str] | None = None,
) -> Advice:
    """Greedily choose blocking rules reaching ``target_recall`` of ``matches`` within ``max_pairs``.

    Each candidate rule is run once (those whose pair count alone exceeds
    the budget are skipped); then, until the target is reached, the rule
    adding the most not-yet-kept matches per pair it adds to the union is
    chosen (a greedy weighted set cover), never past ``max_pairs`` in all.

    Parameters
    ----------
    records
        The records frame.
    matches
        Known matching pairs (``_row_l``, ``_row_r``): labelled, or
        estimated (pairs a model scores as matches over a wide blocking).
    link_type
        The job's link type.
    target_recall
        Stop once this share of ``matches`` is kept.
    max_pairs
        The most candidate pairs the chosen rules may make together.
    candidates
        The rules to choose from; by default :func:`candidate_rules` of
        ``columns``.
    columns
        Columns to build candidate rules on (when ``candidates`` is not given).

    Returns
    -------
    Advice

    Examples
    --------
    >>> recs = pl.DataFrame(
    ...     {"_row": [0, 1, 2, 3], "s": ["li", "li", "ng", "ng"], "d": ["1", "2", "2", "3"]},
    ...     schema_overrides={"_row": pl.UInt32},
    ... )
    >>> matches = pl.DataFrame({"_row_l": [0, 2], "_row_r": [1, 3]})
    >>> advice = advise_blocking(recs, matches, link_type="dedupe", columns=["s", "d"])
    >>> [b.name for b in advice.blockers], advice.recall, advice.pairs
    (['s'], 1.0, 2)
    """
    if not 0 < target_recall <= 1:
        raise ConfigError(f"target_recall must be in (0, 1]; got {target_recall!r}.")
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 1:
        raise ConfigError(f"max_pairs must be a positive int; got {max_pairs!r}.")
    if candidates is None:
        if columns is None:
            raise ConfigError(
                "advise_blocking needs candidates or columns; got neither."
            )
        rules = candidate_rules(columns)
    else:
        rules = [as_blocker(c, where="a candidate rule") for c in candidates]
    truth = sorted_pair_keys(matches)
    if truth.size == 0:
        raise ConfigError(
            "advise_blocking needs at least one known match; got none (label some "
            "pairs, or estimate matches with a fitted model)."
        )
    names: list[str] = []
    kept: list[tuple[Blocker, np.ndarray, np.ndarray]] = []
    table: list[dict[str, object]] = []
    for rule in rules:
        if rule.name in names:
            continue
        names.append(rule.name)
        bound = int(rule.count_pairs(records, link_type=link_type))
        if bound > max_pairs * 4:
            table.append(
                {
                    schema.BLOCKED_BY: rule.name,
                    "pairs": bound,
                    "matches": None,
                    "skipped": "over budget",
                }
            )
            continue
        keys = sorted_pair_keys(rule.block(records, link_type=link_type))
        if keys.size > max_pairs:
            table.append(
                {
                    schema.BLOCKED_BY: rule.name,
                    "pairs": int(keys.size),
                    "matches": None,
                    "skipped": "over budget",
                }
            )
            continue
        hit = contains(keys, truth)
        table.append(
            {
                schema.BLOCKED_BY: rule.name,
                "pairs": int(keys.size),
                "matches": int(hit.sum()),
                "skipped": None if hit.any() else "no matches",
            }
        )
        if hit.any():
            kept.append((rule, keys, hit))
        log.info("candidate %s: %s pairs, %s matches", rule.name, keys.size, hit.sum())

    covered = np.zeros(truth.size, dtype=bool)
    union = np.empty(0, dtype=np.uint64)
    chosen: list[Blocker] = []
    steps: list[dict[str, object]] = []
    possible = max(possible_pairs(records, link_type=link_type), 1)
    while covered.mean() < target_recall and kept:
        best: tuple[float, int, int] | None = None
        best_at = -1
        for i, (_, keys, hit) in enumerate(kept):
            gain = int((hit & ~covered).sum())
            if gain == 0:
                continue
            added = int((~contains(union, keys)).sum())
            if union.size + added > max_pairs:
                continue
            score = (gain / max(added, 1), gain, -added)
            if best is None or score > best:
                best, best_at = score, i
        if best is None:
            break
        rule, keys, hit = kept.pop(best_at)
        new = keys[~contains(union, keys)]
        union = np.union1d(union, new)
        gain = int((hit & ~covered).sum())
        covered |= hit
        chosen.append(rule)
        steps.append(
            {
                schema.BLOCKED_BY: rule.name,
                "new_pairs": int(new.size),
                "cumulative_pairs": int(union.size),
                "new_matches": gain,
                "recall": float(covered.mean()),
                "reduction_ratio": 1.0 - union.size / possible,
            }
        )
    recall = float(covered.mean())
    return Advice(
        blockers=tuple(chosen),
        steps=pl.DataFrame(
            steps,
            schema={
                schema.BLOCKED_BY: pl.String,
                "new_pairs": pl.Int64,
                "cumulative_pairs": pl.Int64,
                "new_matches": pl.Int64,
                "recall": pl.Float64,
                "reduction_ratio": pl.Float64,
            },
        ),
        candidates=pl.DataFrame(
            table,
            schema={
                schema.BLOCKED_BY: pl.String,
                "pairs": pl.Int64,
                "matches": pl.Int64,
                "skipped": pl.String,
            },
        ),
        recall=recall,
        pairs=int(union.size),
        reached=recall >= target_recall,
    )


def estimated_matches(linker: object, records: pl.DataFrame) -> pl.DataFrame:
    """Return the pairs an unsupervised Fellegi-Sunter model scores as matches.

    The model is fitted on ``linker``'s config (its blocking gives the
    candidate pairs EM and λ train on); its matches are the candidate
    pairs at or above the config's threshold.
    """
    from dataclasses import replace

    from er_toolkit.pipeline import Linker

    assert isinstance(linker, Linker)
    config = linker.config
    fs = Linker(replace(config, model=replace(config.model, kind="fellegi_sunter")))
    pairs = fs.block(records)
    fs.fit(records, candidate_pairs=pairs)
    scored = fs.predict(records, candidate_pairs=pairs, record_ids=False)
    return scored.filter(pl.col(schema.MATCH_PROBABILITY) >= fs.threshold_).select(
        schema.ROW_L, schema.ROW_R
    )
