"""Active learning: label the pairs a classifier is least sure of, retrain, repeat."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.compare import compare_pairs
from er_toolkit.config import LinkageConfig
from er_toolkit.evaluate import true_pairs_from_list
from er_toolkit.exceptions import ConfigError, LabelError, NotFittedError
from er_toolkit.io import read_frame
from er_toolkit.pairs import pack_pair_keys, pair_key, unpack_pair_keys
from er_toolkit.pipeline import Linker, with_record_ids
from er_toolkit.score import ClassifierScorer
from er_toolkit.score.labels import labelled_pairs_from_list

__all__ = [
    "LABEL_COLUMNS",
    "ActiveLearner",
    "LabelSession",
    "Round",
    "label_interactively",
    "parse_answer",
]

LABEL_COLUMNS: Final = (
    schema.RECORD_ID_L,
    schema.RECORD_ID_R,
    schema.SOURCE_L,
    schema.SOURCE_R,
    schema.IS_MATCH,
)
"""Columns of a labels file: ids and sources of both records, and the answer."""

_ANSWER_TEXT: Final = {True: "y", False: "n", None: "unsure"}
_KEY: Final = schema.PAIR_KEY
REASON: Final = "reason"
"""Column of :meth:`ActiveLearner.propose` saying why a pair was picked."""

Reason = Literal["seed_high", "seed_low", "uncertain", "random"]
Stopped = Literal["quit", "converged", "max_rounds", "exhausted"]


@dataclass(frozen=True)
class Round:
    """One retraining of an :class:`ActiveLearner`.

    Attributes
    ----------
    n_labels
        Pairs labelled so far, unsure ones included.
    n_matches, n_non_matches, n_unsure
        The labels by answer (only matches and non-matches train).
    n_predicted_matches
        Candidate pairs at or above the threshold after this retraining.
    changed_share
        Share of predicted matches that changed since the previous round:
        pairs predicted in one round but not the other over pairs predicted
        in either (None in the first round).
    """

    n_labels: int
    n_matches: int
    n_non_matches: int
    n_unsure: int
    n_predicted_matches: int
    changed_share: float | None


@dataclass(frozen=True)
class LabelSession:
    """What :func:`label_interactively` did.

    Attributes
    ----------
    answered
        Pairs labelled in this session (unsure included).
    rounds
        Batches proposed in this session.
    stopped
        ``"quit"`` (the user quit, or input ended), ``"converged"``,
        ``"max_rounds"`` or ``"exhausted"`` (every candidate pair labelled).
    """

    answered: int
    rounds: int
    stopped: Stopped


class ActiveLearner:
    """Propose pairs to label, keep the labels on disk, retrain a classifier.

    Each round the classifier (:class:`~er_toolkit.score.ClassifierScorer`
    with ``estimator``, and the config's ``[model]`` stacking, calibration
    and cv; threshold fixed at the config's ``threshold``) is trained on the pairs
    labelled so far and scores every candidate pair. The next batch is the
    ``n_uncertain`` unlabelled pairs whose match probability is closest to
    0.5, plus ``n_random`` unlabelled pairs drawn at random for coverage.
    Until ``min_per_class`` matches and non-matches are labelled there is no
    classifier: the batch is then the unlabelled pairs of highest and lowest
    Fellegi-Sunter match weight (fitted without labels).

    Every answer is appended to ``labels_path`` (CSV, :data:`LABEL_COLUMNS`,
    ``is_match`` one of ``y``, ``n``, ``unsure``) and flushed to disk at
    once; labels already there are loaded and never asked again. Only record
    ids and sources are written, never record values. The file is what
    ``[training] labels_path`` reads.

    Parameters
    ----------
    linker
        A linker whose config declares the comparisons and the ``[model]``
        settings (any ``kind``). When it holds a fitted Fellegi-Sunter
        scorer, that scorer is used for seeding and stacking.
    records
        The records frame (:meth:`Linker.records`).
    candidate_pairs
        The blocked pairs (:meth:`Linker.block`).
    labels_path
        The labels file (created when missing).
    vectors
        Comparison vectors of ``candidate_pairs`` (computed when not given).
    n_uncertain
        Pairs per batch picked for their probability closest to 0.5.
    n_random
        Pairs per batch picked at random among the unlabelled.
    tol
        Converged when the predicted matches change by less than this share.
    patience
        ... for this many consecutive rounds.
    min_per_class
        Matches and non-matches needed before the first classifier (>= 4).
    estimator
        The classifier trained each round: ``"logistic_regression"`` (the
        default: quick, and it separates the classes from a handful of
        labels), another of :data:`~er_toolkit.score.classifier.ESTIMATORS`
        or a scikit-learn classifier. Not the config's ``[model] estimator``:
        histogram gradient boosting keeps at least 20 pairs per leaf, so on
        a few dozen labels it predicts about one probability for every pair
        (on ``tests/data/people.csv``, trained on 10 to 40 labels, every
        pair a match or none).
    seed
        Seed of the random picks and tie-breaks (default: ``[model] seed``).
    score_sample
        Rescore at most this many candidate pairs each round: a random
        sample drawn once, among which the uncertain pairs are picked (the
        random picks still come from every unlabelled pair). None (the
        default): every pair, each round. With a million candidate pairs,
        scoring them all after each batch is most of the learner's time.

    Attributes
    ----------
    fellegi_sunter_ : FellegiSunter
        The model that ranks the seed pairs (and is stacked on when
        ``[model] stack``).
    scorer_ : ClassifierScorer
        The classifier of the last round (absent before the first).
    probabilities_ : numpy.ndarray
        Its match probability of each candidate pair (NaN off the
        ``score_sample``, when one is set).
    history_ : list[Round]
        One entry per retraining.
    converged_ : bool
        Whether the last ``patience`` rounds each changed the predicted
        matches by less than ``tol``.
    """

    def __init__(
        self,
        linker: Linker,
        records: pl.DataFrame,
        candidate_pairs: pl.DataFrame,
        *,
        labels_path: str | os.PathLike[str],
        vectors: pl.DataFrame | None = None,
        n_uncertain: int = 8,
        n_random: int = 2,
        tol: float = 0.01,
        patience: int = 2,
        min_per_class: int = 4,
        estimator: Any = "logistic_regression",
        seed: int | None = None,
        score_sample: int | None = None,
    ) -> None:
        _check_int(n_uncertain, "n_uncertain", minimum=0)
        if score_sample is not None:
            _check_int(score_sample, "score_sample", minimum=1)
        _check_int(n_random, "n_random", minimum=0)
        if n_uncertain + n_random < 1:
            raise ConfigError(
                "ActiveLearner needs n_uncertain + n_random >= 1 pairs per batch; got "
                f"{n_uncertain} + {n_random}."
            )
        _check_int(patience, "patience", minimum=1)
        _check_int(min_per_class, "min_per_class", minimum=4)
        if (
            isinstance(tol, bool)
            or not isinstance(tol, (int, float))
            or not 0 <= tol < 1
        ):
            raise ConfigError(
                f"The 'tol' parameter of ActiveLearner must be in [0, 1); got {tol!r}."
            )
        self.linker = linker
        self.records = records
        self.labels_path = Path(labels_path)
        self.n_uncertain = n_uncertain
        self.n_random = n_random
        self.tol = tol
        self.patience = patience
        self.min_per_class = min_per_class
        self.estimator = estimator
        self.seed = seed
        config = linker.config
        self._rng = np.random.default_rng(config.model.seed if seed is None else seed)
        wanted = [
            schema.sim(c.name)
            for c in linker.config.comparisons
            if c.similarity_comparator is not None
        ]
        if vectors is None or not set(wanted) <= set(vectors.columns):
            # the classifier reads raw similarities
            vectors = linker.compare(records, candidate_pairs, raw_similarity=True)
        self._vectors = vectors.drop(schema.BLOCKED_BY, strict=False)
        self._pairs = with_record_ids(
            vectors.select(schema.ROW_L, schema.ROW_R), records
        ).with_columns(pair_key())
        self._keys = self._pairs.get_column(_KEY).to_numpy()
        n_pairs = self._keys.size
        self._scored: np.ndarray | None = None
        if score_sample is not None and score_sample < n_pairs:
            self._scored = np.sort(
                self._rng.choice(n_pairs, size=score_sample, replace=False)
            )
        self._index = {int(k): i for i, k in enumerate(self._keys)}
        config = linker.config
        self.fellegi_sunter_ = config.model.fellegi_sunter(
            config.comparisons,
            link_type=config.link_type,
            threshold=config.threshold,
            default_training_rules=config.blocking.exact_rules,
            n_jobs=linker.n_jobs,
        ).fit(records, candidate_pairs=candidate_pairs)
        fs = self.fellegi_sunter_.predict(vectors)
        self._fs_weight = fs.get_column(schema.MATCH_WEIGHT).to_numpy()
        self._fs_probability = fs.get_column(schema.MATCH_PROBABILITY).to_numpy()
        self.history_: list[Round] = []
        self.converged_ = False
        self._labels: dict[int, bool | None] = {}
        self._fitted_on: dict[int, bool | None] | None = None
        self._predicted: set[int] | None = None
        self._file = _LabelFile(self.labels_path)
        for key, answer in self._read_labels():
            self._labels[key] = answer

    @classmethod
    def from_config(
        cls,
        config: LinkageConfig,
        *,
        labels_path: str | os.PathLike[str],
        **kwargs: Any,
    ) -> ActiveLearner:
        """Load the config's sources, block them, and start a learner.

        Parameters
        ----------
        config
            The linkage config (its ``[[sources]]`` are read).
        labels_path
            The labels file.
        **kwargs
            The keyword options of :class:`ActiveLearner`.

        Returns
        -------
        ActiveLearner
            Ready to :meth:`propose`.
        """
        linker = Linker(config)
        records = linker.records()
        pairs = linker.block(records)
        return cls(linker, records, pairs, labels_path=labels_path, **kwargs)

    # -------------------------------------------------------------- labels
    def _read_labels(self) -> list[tuple[int, bool | None]]:
        """Resolve the labels file's rows to pair keys (unsure first, so decided win)."""
        if not self.labels_path.is_file() or self.labels_path.stat().st_size == 0:
            return []
        frame = read_frame(self.labels_path, name="labels")
        missing = [
            c
            for c in (schema.RECORD_ID_L, schema.RECORD_ID_R, schema.IS_MATCH)
            if c not in frame.columns
        ]
        if missing:
            raise LabelError(
                f"The labels file {str(self.labels_path)!r} lacks column(s) {missing}; "
                f"its columns are {frame.columns}. Expected {list(LABEL_COLUMNS)}."
            )
        if frame.height == 0:
            return []
        link_type = self.linker.config.link_type
        decided = labelled_pairs_from_list(self.records, frame, link_type=link_type)
        every = true_pairs_from_list(
            self.records, frame.drop(schema.IS_MATCH), link_type=link_type
        ).with_columns(pair_key())
        decided = decided.with_columns(pair_key())
        unsure = every.join(decided, on=_KEY, how="anti")
        out: list[tuple[int, bool | None]] = [
            (int(k), None) for k in unsure.get_column(_KEY)
        ]
        out += [
            (int(k), bool(m))
            for k, m in decided.select(_KEY, schema.IS_MATCH).iter_rows()
        ]
        return out

    def add_label(self, row_l: int, row_r: int, is_match: bool | None) -> None:
        """Record an answer and append it to the labels file, flushed to disk.

        Parameters
        ----------
        row_l, row_r
            The pair's ``_row`` numbers.
        is_match
            True (match), False (non-match) or None (unsure: kept in the
            file, never asked again, not used for training).
        """
        n = self.records.height
        if not (0 <= row_l < n and 0 <= row_r < n) or row_l == row_r:
            raise LabelError(
                f"A labelled pair needs two different rows in [0, {n}); got "
                f"({row_l}, {row_r})."
            )
        if is_match is not None and not isinstance(is_match, bool):
            raise LabelError(
                f"is_match must be True, False or None (unsure); got {is_match!r}."
            )
        ids = self.records.select(schema.RECORD_ID, schema.SOURCE)
        left, right = ids.row(row_l), ids.row(row_r)
        self._file.append(
            {
                schema.RECORD_ID_L: left[0],
                schema.RECORD_ID_R: right[0],
                schema.SOURCE_L: left[1],
                schema.SOURCE_R: right[1],
                schema.IS_MATCH: _ANSWER_TEXT[is_match],
            }
        )
        self._labels[_key(row_l, row_r)] = is_match

    def labels(self) -> pl.DataFrame:
        """Return the labels so far: ``_row_l`` < ``_row_r``, ``is_match`` (null: unsure).

        Returns
        -------
        polars.DataFrame
            In the order they were given (the file's first).
        """
        keys = np.fromiter(self._labels, dtype=np.uint64, count=len(self._labels))
        return pl.DataFrame(
            {
                schema.ROW_L: unpack_pair_keys(keys)[0],
                schema.ROW_R: unpack_pair_keys(keys)[1],
                schema.IS_MATCH: pl.Series(
                    list(self._labels.values()), dtype=pl.Boolean
                ),
            }
        )

    @property
    def counts(self) -> dict[str, int]:
        """Labels by answer: ``matches``, ``non_matches``, ``unsure``."""
        values = list(self._labels.values())
        return {
            "matches": sum(v is True for v in values),
            "non_matches": sum(v is False for v in values),
            "unsure": sum(v is None for v in values),
        }

    @property
    def can_train(self) -> bool:
        """Whether there are ``min_per_class`` matches and non-matches."""
        c = self.counts
        return min(c["matches"], c["non_matches"]) >= self.min_per_class

    # ----------------------------------------------------------------- loop
    def propose(self) -> pl.DataFrame:
        """Return the next batch of unlabelled candidate pairs to label.

        Returns
        -------
        polars.DataFrame
            ``_row_l``, ``_row_r``, ``record_id_l``, ``record_id_r``,
            ``source_l``, ``source_r``, ``match_probability`` (the
            classifier's; Fellegi-Sunter's before the first classifier) and
            ``reason`` (``"uncertain"``, ``"random"``, or ``"seed_high"`` /
            ``"seed_low"`` before the first classifier). Empty when every
            candidate pair is labelled.
        """
        labelled = np.fromiter(self._labels, dtype=np.uint64, count=len(self._labels))
        free = np.flatnonzero(~np.isin(self._keys, labelled))
        size = self.n_uncertain + self.n_random
        tiebreak = self._rng.random(self._keys.size)
        picks: list[tuple[int, Reason]] = []
        if not hasattr(self, "scorer_"):
            probability = self._fs_probability
            counts = self.counts
            need_high = counts["matches"] < self.min_per_class
            need_low = counts["non_matches"] < self.min_per_class
            n_high = (size - size // 2 if need_low else size) if need_high else 0
            n_low = size - n_high if need_low else 0
            by_weight = free[np.lexsort((tiebreak[free], -self._fs_weight[free]))]
            picks += [(int(i), "seed_high") for i in by_weight[:n_high]]
            picks += [(int(i), "seed_low") for i in by_weight[n_high:][::-1][:n_low]]
        else:
            probability = self.probabilities_
            pool = free if self._scored is None else np.intersect1d(free, self._scored)
            distance = np.abs(probability[pool] - 0.5)
            ranked = pool[np.lexsort((tiebreak[pool], distance))]
            uncertain = ranked[: self.n_uncertain]
            if self._scored is None:
                rest = ranked[self.n_uncertain :]
            else:  # random picks from every unlabelled pair, not the sample only
                rest = np.setdiff1d(free, uncertain)
            drawn = self._rng.choice(
                rest, size=min(self.n_random, rest.size), replace=False
            )
            picks += [(int(i), "uncertain") for i in uncertain]
            picks += [(int(i), "random") for i in drawn]
        rows = [i for i, _ in picks]
        return (
            self._pairs[rows]
            .drop(_KEY)
            .with_columns(
                pl.Series(schema.MATCH_PROBABILITY, probability[rows], pl.Float64),
                pl.Series(REASON, [r for _, r in picks], pl.String),
            )
        )

    def fit(self) -> ActiveLearner:
        """Retrain on the labels so far and rescore every candidate pair.

        Does nothing until ``min_per_class`` matches and non-matches are
        labelled, or when no label changed since the last call.

        Returns
        -------
        ActiveLearner
            self; ``history_`` and ``converged_`` updated.
        """
        if not self.can_train or self._fitted_on == self._labels:
            return self
        decided = {k: v for k, v in self._labels.items() if v is not None}
        keys = np.fromiter(decided, dtype=np.uint64, count=len(decided))
        y = np.fromiter(decided.values(), dtype=bool, count=len(decided))
        inside = np.array([int(k) in self._index for k in keys], dtype=bool)
        parts = [self._vectors[[self._index[int(k)] for k in keys[inside]]]]
        if not inside.all():  # labelled pairs blocking did not produce
            outside = keys[~inside]
            pairs = pl.DataFrame(
                {
                    schema.ROW_L: unpack_pair_keys(outside)[0],
                    schema.ROW_R: unpack_pair_keys(outside)[1],
                }
            )
            extra = compare_pairs(
                self.records,
                pairs,
                self.linker.config.comparisons,
                workers=self.linker.n_jobs,
            )
            parts.append(extra.select(self._vectors.columns))
        vectors = pl.concat(parts, how="vertical_relaxed")
        y = np.concatenate([y[inside], y[~inside]])
        config = self.linker.config
        m = config.model
        self.scorer_ = ClassifierScorer(
            config.comparisons,
            estimator=self.estimator,
            fellegi_sunter=self.fellegi_sunter_ if m.stack else None,
            calibration=m.calibration,  # type: ignore[arg-type]
            threshold_strategy="fixed",
            threshold=config.threshold,
            cv=m.cv,
            seed=m.seed,
        ).fit(vectors, y)
        if self._scored is None:
            self.probabilities_ = self.scorer_.predict_proba(self._vectors)
        else:  # NaN off the sample: never uncertain, never predicted
            self.probabilities_ = np.full(self._keys.size, np.nan)
            self.probabilities_[self._scored] = self.scorer_.predict_proba(
                self._vectors[self._scored]
            )
        with np.errstate(invalid="ignore"):
            hits = self.probabilities_ >= config.threshold
        predicted = set(self._keys[hits].tolist())
        changed: float | None = None
        if self._predicted is not None:
            # no predicted matches in either round is a model that cannot
            # separate the classes yet, not a stable one: no share, no stop
            either = len(predicted | self._predicted)
            changed = len(predicted ^ self._predicted) / either if either else None
        self._predicted = predicted
        self._fitted_on = dict(self._labels)
        counts = self.counts
        self.history_.append(
            Round(
                n_labels=len(self._labels),
                n_matches=counts["matches"],
                n_non_matches=counts["non_matches"],
                n_unsure=counts["unsure"],
                n_predicted_matches=len(predicted),
                changed_share=changed,
            )
        )
        recent = [r.changed_share for r in self.history_[-self.patience :]]
        self.converged_ = len(recent) == self.patience and all(
            c is not None and c < self.tol for c in recent
        )
        return self

    def predict(self) -> pl.DataFrame:
        """Return every candidate pair with the current classifier's probability.

        Returns
        -------
        polars.DataFrame
            ``_row_l``, ``_row_r``, ``record_id_l``, ``record_id_r``,
            ``source_l``, ``source_r``, ``match_probability``.

        Raises
        ------
        NotFittedError
            Before the first classifier.
        """
        if not hasattr(self, "scorer_"):
            raise NotFittedError(
                "The ActiveLearner has no classifier yet; label at least "
                f"{self.min_per_class} matches and non-matches and call fit()."
            )
        probability = self.probabilities_
        if self._scored is not None:  # the rounds scored a sample; this, every pair
            probability = self.scorer_.predict_proba(self._vectors)
        return self._pairs.drop(_KEY).with_columns(
            pl.Series(schema.MATCH_PROBABILITY, probability, pl.Float64)
        )

    def summary(self) -> str:
        """Return one line: the labels file, its counts, and the last round."""
        c = self.counts
        line = (
            f"{sum(c.values())} labelled pair(s) in {str(self.labels_path)!r}: "
            f"{c['matches']} match(es), {c['non_matches']} non-match(es), "
            f"{c['unsure']} unsure"
        )
        if self.history_:
            line += (
                f"; {self.history_[-1].n_predicted_matches} predicted match(es) after "
                f"{len(self.history_)} round(s)"
                + ("; converged" if self.converged_ else "")
            )
        return line

    def history(self) -> pl.DataFrame:
        """Return :attr:`history_` as a frame, one row per round."""
        columns: dict[str, pl.DataType] = {
            name: pl.Float64() if name == "changed_share" else pl.Int64()
            for name in Round.__dataclass_fields__
        }
        return pl.DataFrame([asdict(r) for r in self.history_], schema=columns)

    def pair_view(self, row_l: int, row_r: int) -> pl.DataFrame:
        """Return the two records side by side: one row per compared column.

        Returns
        -------
        polars.DataFrame
            ``column``, ``left``, ``right`` (values as text): the record ids,
            then the columns the comparisons read.
        """
        columns = [
            c
            for c in dict.fromkeys(c.column for c in self.linker.config.comparisons)
            if c in self.records.columns
        ]
        shown = [schema.RECORD_ID, schema.SOURCE, *columns]
        values = self.records.select(pl.col(shown).cast(pl.String))
        return pl.DataFrame(
            {
                "column": shown,
                "left": list(values.row(row_l)),
                "right": list(values.row(row_r)),
            },
            schema={"column": pl.String, "left": pl.String, "right": pl.String},
        )


# --------------------------------------------------------------------------- #
# interactive loop
# --------------------------------------------------------------------------- #
_YES: Final = ("y", "yes")
_NO: Final = ("n", "no")
_UNSURE: Final = ("u", "unsure", "?")
_QUIT: Final = ("q", "quit")
PROMPT: Final = "match? [y]es / [n]o / [u]nsure / [q]uit: "


def parse_answer(text: str) -> bool | Literal["quit"] | None:
    """Read one answer: y/yes, n/no, u/unsure/?, q/quit (any case).

    Returns
    -------
    bool, None or "quit"
        True (match), False (non-match), None (unsure) or ``"quit"``.

    Raises
    ------
    ValueError
        If the answer is none of those.

    Examples
    --------
    >>> [parse_answer(a) for a in ("Y", " no ", "u", "quit")]
    [True, False, None, 'quit']
    """
    answer = text.strip().lower()
    if answer in _YES:
        return True
    if answer in _NO:
        return False
    if answer in _UNSURE:
        return None
    if answer in _QUIT:
        return "quit"
    raise ValueError(f"please answer y, n, u (unsure) or q (quit); got {text!r}")


def _default_show(obj: object) -> None:
    """``IPython.display.display`` inside IPython, ``print`` elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        print(obj)
        return
    if get_ipython() is None:
        print(obj)
    else:
        display(obj)


def label_interactively(
    learner: ActiveLearner,
    *,
    ask: Callable[[str], str] = input,
    show: Callable[[object], None] | None = None,
    max_rounds: int | None = None,
) -> LabelSession:
    """Show proposed pairs, take answers, retrain; until quit or converged.

    Each pair is shown as a line (its place, why it was picked, the model's
    match probability) and :meth:`ActiveLearner.pair_view`. Answers are
    ``y``/``yes``, ``n``/``no``, ``u``/``unsure``, ``q``/``quit``; anything
    else is asked again. Each answer is on disk before the next pair shows,
    so an interrupted session loses nothing: start again with the same
    labels file and it carries on.

    Parameters
    ----------
    learner
        The learner (its labels file is appended to).
    ask
        Shows a prompt and returns the answer (``input`` by default; end of
        input, ``EOFError``, counts as quit).
    show
        Shows a line or a frame (``display`` in Jupyter, else ``print``).
    max_rounds
        Stop after this many batches (default: until converged or quit).

    Returns
    -------
    LabelSession
        Answers given, batches proposed and why it stopped.
    """
    if max_rounds is not None:
        _check_int(max_rounds, "max_rounds", minimum=1)
    show = _default_show if show is None else show
    answered = rounds = 0
    learner.fit()
    while True:
        if learner.converged_:
            return LabelSession(answered, rounds, "converged")
        if max_rounds is not None and rounds >= max_rounds:
            return LabelSession(answered, rounds, "max_rounds")
        batch = learner.propose()
        if batch.height == 0:
            return LabelSession(answered, rounds, "exhausted")
        rounds += 1
        model = "classifier" if hasattr(learner, "scorer_") else "Fellegi-Sunter"
        for i, pair in enumerate(batch.iter_rows(named=True), start=1):
            show(
                f"round {rounds}, pair {i}/{batch.height} ({pair[REASON]}): "
                f"{model} match probability {pair[schema.MATCH_PROBABILITY]:.3f}"
            )
            with pl.Config(
                tbl_rows=-1,
                fmt_str_lengths=60,
                tbl_hide_dataframe_shape=True,
                tbl_hide_column_data_types=True,
            ):
                show(learner.pair_view(pair[schema.ROW_L], pair[schema.ROW_R]))
            answer = _ask_until_valid(ask, show)
            if answer == "quit":
                return LabelSession(answered, rounds, "quit")
            learner.add_label(pair[schema.ROW_L], pair[schema.ROW_R], answer)
            answered += 1
        learner.fit()
        if learner.history_:
            last = learner.history_[-1]
            changed = (
                ""
                if last.changed_share is None
                else f", {last.changed_share:.1%} changed"
            )
            show(
                f"retrained on {last.n_matches} matches and {last.n_non_matches} "
                f"non-matches: {last.n_predicted_matches} predicted matches{changed}"
            )


def _ask_until_valid(
    ask: Callable[[str], str], show: Callable[[object], None]
) -> bool | Literal["quit"] | None:
    while True:
        try:
            text = ask(PROMPT)
        except EOFError:
            return "quit"
        try:
            return parse_answer(text)
        except ValueError as exc:
            show(str(exc))


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _key(row_l: int, row_r: int) -> int:
    lo, hi = min(row_l, row_r), max(row_l, row_r)
    return int(pack_pair_keys(np.array([lo]), np.array([hi]))[0])


def _check_int(value: object, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"The {name!r} parameter must be an int >= {minimum}; got {value!r}."
        )


class _LabelFile:
    """Append-only CSV of labels; each row is flushed and fsynced at once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _header(self) -> list[str] | None:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return None
        with self.path.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), None)
        if not header:
            return None
        required = (schema.RECORD_ID_L, schema.RECORD_ID_R, schema.IS_MATCH)
        missing = [c for c in required if c not in header]
        if missing:
            raise LabelError(
                f"The labels file {str(self.path)!r} lacks column(s) {missing}; its "
                f"header is {header}. Use a new file, or one with {list(LABEL_COLUMNS)}."
            )
        return header

    def append(self, row: dict[str, object]) -> None:
        header = self._header()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if header is None:
            header = list(LABEL_COLUMNS)
            writer.writerow(header)
        elif not _ends_with_newline(self.path):
            buffer.write("\n")
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in header])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="", encoding="utf-8") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
