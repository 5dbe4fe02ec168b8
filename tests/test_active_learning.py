"""Tests of the active-learning loop: proposals, the labels file, the Jupyter loop."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.active_learning import (
    LABEL_COLUMNS,
    PROMPT,
    ActiveLearner,
    label_interactively,
    parse_answer,
)
from er_toolkit.config import LinkageConfig, TrainingConfig
from er_toolkit.evaluate import pairwise_metrics
from er_toolkit.exceptions import ConfigError, LabelError, NotFittedError, SchemaError
from er_toolkit.pipeline import Linker

DATA = Path(__file__).parent / "data"
DEDUPE_CONFIG = DATA / "people_dedupe.toml"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small data: OpenMP threads cost more than they save."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def people():
    """Records, candidate pairs, their vectors, the truth and an FS-fitted linker."""
    linker = Linker(LinkageConfig.from_toml(DEDUPE_CONFIG))
    records = linker.records()
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    truth = linker.true_pairs(records)
    assert truth is not None
    return {
        "linker": linker,
        "records": records,
        "pairs": pairs,
        "vectors": linker.compare(records, pairs),
        "truth": truth,
        "entity": dict(
            zip(
                records["record_id"].to_list(),
                records["entity_id"].to_list(),
                strict=True,
            )
        ),
    }


def _learner(people, path: Path, **kwargs) -> ActiveLearner:
    return ActiveLearner(
        people["linker"],
        people["records"],
        people["pairs"],
        vectors=people["vectors"],
        labels_path=path,
        **kwargs,
    )


class Oracle:
    """Answers from the entity ids; ``script`` answers first, ``crash_after`` raises."""

    def __init__(self, entity, *, script=(), crash_after=None, quit_after=None):
        self.entity = entity
        self.script = list(script)
        self.crash_after = crash_after
        self.quit_after = quit_after
        self.asked: list[tuple[str, str]] = []
        self.answered: list[tuple[str, str]] = []
        self.lines: list[str] = []
        self.pair: tuple[str, str] | None = None

    def show(self, obj):
        if isinstance(obj, pl.DataFrame):
            assert obj.columns == ["column", "left", "right"]
            self.pair = (obj["left"][0], obj["right"][0])
        else:
            self.lines.append(str(obj))

    def ask(self, prompt):
        assert prompt == PROMPT
        assert self.pair is not None
        if not self.asked or self.asked[-1] != self.pair:
            self.asked.append(self.pair)
        if self.crash_after is not None and len(self.answered) == self.crash_after:
            raise RuntimeError("the kernel died")
        if self.quit_after is not None and len(self.answered) == self.quit_after:
            return "q"
        if self.script:
            answer = self.script.pop(0)
        else:
            left, right = self.pair
            answer = "y" if self.entity[left] == self.entity[right] else "n"
        try:
            valid = parse_answer(answer) != "quit"
        except ValueError:
            valid = False
        if valid:
            self.answered.append(self.pair)
        return answer


def _file_rows(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


# ------------------------------------------------------------- the loop
@pytest.fixture(scope="module")
def five_rounds(people, tmp_path_factory):
    """Five rounds of ten oracle answers (8 uncertain + 2 random)."""
    path = tmp_path_factory.mktemp("labels") / "labels.csv"
    learner = _learner(people, path, n_uncertain=8, n_random=2, tol=0.0)
    oracle = Oracle(people["entity"])
    session = label_interactively(
        learner, ask=oracle.ask, show=oracle.show, max_rounds=5
    )
    return learner, oracle, session, path


def test_oracle_labels_reach_f1_095_after_five_rounds(people, five_rounds):
    learner, _, session, _ = five_rounds
    assert session.stopped == "max_rounds"
    assert session.answered == 50
    predicted = learner.predict().filter(pl.col(schema.MATCH_PROBABILITY) >= 0.5)
    f1 = pairwise_metrics(predicted, people["truth"])["f1"]
    # Measured 2026-11-23: 1.0000 (0.9977 after the ten seed labels; ten
    # random picks a round instead give 0.9977 at 50 labels). FS weights are
    # stacked and the fixture is easy, so this pins that the loop trains a
    # sound model, not that uncertainty sampling beats random sampling.
    assert f1 >= 0.95
    history = learner.history()
    assert history["n_labels"].to_list() == [10, 20, 30, 40, 50]
    assert history["changed_share"][0] is None
    assert learner.scorer_.n_train_ == 50


def test_proposed_pairs_are_never_repeated(five_rounds):
    _, oracle, _, path = five_rounds
    assert len(oracle.asked) == 50
    assert len({tuple(sorted(p)) for p in oracle.asked}) == 50
    rows = _file_rows(path)
    assert rows.height == 50
    assert list(zip(rows["record_id_l"], rows["record_id_r"], strict=True)) == (
        oracle.asked
    )


def test_labels_file_holds_ids_and_answers_only(people, five_rounds):
    _, _, _, path = five_rounds
    rows = _file_rows(path)
    assert tuple(rows.columns) == LABEL_COLUMNS
    assert set(rows["is_match"]) <= {"y", "n"}
    assert set(rows["source_l"]) == {"people"}
    ids = set(people["records"]["record_id"])
    assert set(rows["record_id_l"]) <= ids
    text = path.read_text()
    for value in people["records"]["surname"].drop_nulls().head(50):
        assert f",{value}," not in text


def test_next_proposal_uncertain_first_then_random(people, five_rounds):
    learner, _, _, _ = five_rounds
    batch = learner.propose()
    assert batch["reason"].to_list() == ["uncertain"] * 8 + ["random"] * 2
    scored = learner.predict()
    labelled = learner.labels()
    free = scored.join(labelled, on=["_row_l", "_row_r"], how="anti")
    assert batch.join(labelled, on=["_row_l", "_row_r"], how="semi").height == 0
    assert batch.select("_row_l", "_row_r").n_unique() == 10
    distance = (pl.col(schema.MATCH_PROBABILITY) - 0.5).abs()
    uncertain = batch.filter(pl.col("reason") == "uncertain").select(distance)
    random = batch.filter(pl.col("reason") == "random").select(distance)
    # the eight nearest 0.5 among all unlabelled pairs (ties broken at random)
    nearest = free.select(distance).to_series().sort().head(8)
    np.testing.assert_allclose(uncertain.to_series().sort().to_numpy(), nearest)
    assert uncertain.to_series().max() <= random.to_series().min()


def test_score_sample_scores_a_fixed_sample_and_picks_uncertain_from_it(
    people, tmp_path
):
    n_pairs = people["vectors"].height
    size = n_pairs // 3
    learner = _learner(people, tmp_path / "labels.csv", score_sample=size, tol=0.0)
    entity = people["entity"]
    for _ in range(4):
        batch = learner.propose()
        for lo, hi, left, right in batch.select(
            schema.ROW_L, schema.ROW_R, "record_id_l", "record_id_r"
        ).rows():
            learner.add_label(lo, hi, entity[left] == entity[right])
        learner.fit()
    assert hasattr(learner, "scorer_")
    scored = ~np.isnan(learner.probabilities_)
    assert scored.sum() == size
    batch = learner.propose()
    uncertain = batch.filter(pl.col("reason") == "uncertain")
    assert uncertain.height > 0
    assert uncertain[schema.MATCH_PROBABILITY].is_nan().sum() == 0
    # the sample is drawn once: a later round scores the same pairs
    for lo, hi, left, right in batch.select(
        schema.ROW_L, schema.ROW_R, "record_id_l", "record_id_r"
    ).rows():
        learner.add_label(lo, hi, entity[left] == entity[right])
    rounds = len(learner.history_)
    learner.fit()
    assert len(learner.history_) == rounds + 1
    assert np.array_equal(~np.isnan(learner.probabilities_), scored)
    # predict() scores every pair
    assert learner.predict()[schema.MATCH_PROBABILITY].is_nan().sum() == 0


def test_seed_batch_before_any_classifier(people, tmp_path):
    learner = _learner(people, tmp_path / "labels.csv", n_uncertain=6, n_random=0)
    with pytest.raises(NotFittedError, match="no classifier yet"):
        learner.predict()
    batch = learner.propose()
    assert batch["reason"].to_list() == ["seed_high"] * 3 + ["seed_low"] * 3
    weights = learner.fellegi_sunter_.predict(people["vectors"])["match_weight"]
    scored = people["linker"].scorer_.predict(people["vectors"])
    for reason, descending in (("seed_high", True), ("seed_low", False)):
        picked = scored.join(
            batch.filter(pl.col("reason") == reason), on=["_row_l", "_row_r"]
        )["match_weight"]
        np.testing.assert_allclose(
            picked.sort(descending=descending).to_numpy(),
            weights.sort(descending=descending).head(3).to_numpy(),
        )
    learner.fit()  # no labels yet: nothing to train on
    assert not hasattr(learner, "scorer_")
    assert learner.history().height == 0


# ------------------------------------------------------- crash and resume
def test_every_answer_is_on_disk_and_a_restart_skips_it(people, tmp_path):
    path = tmp_path / "labels.csv"
    crashing = Oracle(people["entity"], crash_after=3)
    with pytest.raises(RuntimeError, match="kernel died"):
        label_interactively(
            _learner(people, path), ask=crashing.ask, show=crashing.show
        )
    rows = _file_rows(path)
    assert rows.height == 3
    assert list(zip(rows["record_id_l"], rows["record_id_r"], strict=True)) == (
        crashing.answered
    )

    resumed = _learner(people, path)
    assert resumed.labels().height == 3
    again = Oracle(people["entity"], quit_after=12)
    session = label_interactively(resumed, ask=again.ask, show=again.show)
    assert session.stopped == "quit"
    assert session.answered == 12
    assert not set(again.answered) & set(crashing.answered)
    assert _file_rows(path).height == 15


def test_a_partial_last_line_is_not_glued_to_the_next_answer(people, tmp_path):
    path = tmp_path / "labels.csv"
    learner = _learner(people, path)
    learner.add_label(0, 1, False)
    path.write_text(path.read_text().rstrip("\n"))
    learner.add_label(0, 2, True)
    assert _file_rows(path)["is_match"].to_list() == ["n", "y"]


# --------------------------------------------------------------- answers
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("y", True),
        ("YES", True),
        (" n ", False),
        ("no", False),
        ("u", None),
        ("unsure", None),
        ("?", None),
        ("q", "quit"),
        ("Quit", "quit"),
    ],
)
def test_parse_answer(text, expected):
    assert parse_answer(text) == expected


@pytest.mark.parametrize("text", ["", "maybe", "yy", "1"])
def test_parse_answer_refuses(text):
    with pytest.raises(ValueError, match=r"please answer y, n, u \(unsure\) or q"):
        parse_answer(text)


def test_invalid_answers_are_asked_again(people, tmp_path):
    path = tmp_path / "labels.csv"
    oracle = Oracle(people["entity"], script=["maybe", "", "Y"], quit_after=1)
    session = label_interactively(
        _learner(people, path), ask=oracle.ask, show=oracle.show
    )
    assert session.answered == 1
    assert sum(line.startswith("please answer") for line in oracle.lines) == 2
    assert _file_rows(path)["is_match"].to_list() == ["y"]


def test_quit_first_writes_nothing(people, tmp_path):
    path = tmp_path / "labels.csv"
    oracle = Oracle(people["entity"], quit_after=0)
    session = label_interactively(
        _learner(people, path), ask=oracle.ask, show=oracle.show
    )
    assert (session.answered, session.rounds, session.stopped) == (0, 1, "quit")
    assert not path.exists()


def test_end_of_input_quits(people, tmp_path):
    def ask(prompt):
        raise EOFError

    session = label_interactively(
        _learner(people, tmp_path / "labels.csv"), ask=ask, show=lambda obj: None
    )
    assert session.stopped == "quit"


def test_unsure_is_stored_never_asked_again_and_not_trained_on(people, tmp_path):
    path = tmp_path / "labels.csv"
    oracle = Oracle(people["entity"], script=["u", "unsure"])
    learner = _learner(people, path)
    session = label_interactively(
        learner, ask=oracle.ask, show=oracle.show, max_rounds=2
    )
    assert session.answered == 20
    rows = _file_rows(path)
    assert rows["is_match"].to_list()[:2] == ["unsure", "unsure"]
    counts = learner.counts
    assert counts["unsure"] == 2
    assert learner.scorer_.n_train_ == counts["matches"] + counts["non_matches"] == 18
    assert learner.history_[-1].n_unsure == 2

    resumed = _learner(people, path)
    assert resumed.counts == counts
    assert resumed.labels()["is_match"].null_count() == 2
    unsure_rows = resumed.labels().filter(pl.col("is_match").is_null())
    assert (
        resumed.propose().join(unsure_rows, on=["_row_l", "_row_r"], how="semi").height
        == 0
    )

    # and the training pipeline reads the same file, leaving the unsure out
    linker = people["linker"]
    config = replace(linker.config, training=TrainingConfig(labels_path=str(path)))
    read = Linker(config).labelled_pairs(people["records"])
    assert read is not None
    assert read.height == 18
    mine = learner.labels().drop_nulls()
    assert read.sort("_row_l", "_row_r").equals(mine.sort("_row_l", "_row_r"))


# ----------------------------------------------------------- convergence
def test_converged_when_predictions_stop_changing(people, tmp_path):
    learner = _learner(people, tmp_path / "labels.csv", tol=0.05, patience=2)
    oracle = Oracle(people["entity"])
    session = label_interactively(
        learner, ask=oracle.ask, show=oracle.show, max_rounds=10
    )
    assert session.stopped == "converged"
    assert learner.converged_
    shares = learner.history()["changed_share"].to_list()
    assert all(s is not None and s < 0.05 for s in shares[-2:])
    assert not all(s is not None and s < 0.05 for s in shares[-3:-1])
    # a converged learner asks nothing more
    again = label_interactively(learner, ask=oracle.ask, show=oracle.show)
    assert (again.answered, again.stopped) == (0, "converged")


def test_a_model_predicting_no_matches_has_not_converged(people, tmp_path):
    learner = _learner(people, tmp_path / "labels.csv", tol=0.5, patience=1)
    # a classifier that predicts the base rate (< 0.5) for every pair, as
    # gradient boosting does on a dozen labels (20 pairs per leaf)
    from sklearn.dummy import DummyClassifier

    learner.estimator = DummyClassifier(strategy="prior")
    for left, right in people["truth"].head(5).rows():
        learner.add_label(left, right, True)
    negatives = people["pairs"].join(
        people["truth"], on=["_row_l", "_row_r"], how="anti"
    )
    for left, right in negatives.select("_row_l", "_row_r").head(6).rows():
        learner.add_label(left, right, False)
    learner.fit()
    learner.add_label(*negatives.select("_row_l", "_row_r").row(6), False)
    learner.fit()
    assert learner.history()["n_predicted_matches"].to_list() == [0, 0]
    assert learner.history_[-1].changed_share is None
    assert not learner.converged_


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_uncertain": -1}, r"'n_uncertain' parameter must be an int >= 0; got -1"),
        ({"n_uncertain": 0, "n_random": 0}, r"n_uncertain \+ n_random >= 1"),
        ({"tol": 1.5}, r"'tol' parameter of ActiveLearner must be in \[0, 1\)"),
        ({"patience": 0}, r"'patience' parameter must be an int >= 1"),
        ({"min_per_class": 2}, r"'min_per_class' parameter must be an int >= 4"),
        ({"score_sample": 0}, r"'score_sample' parameter must be an int >= 1"),
    ],
)
def test_bad_parameters(people, tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        _learner(people, tmp_path / "labels.csv", **kwargs)


def test_a_labels_file_without_the_columns_is_refused(people, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("left,right,label\na,b,y\n")
    with pytest.raises(LabelError, match=r"lacks column\(s\) \['record_id_l'"):
        _learner(people, path)


def test_a_labels_file_of_other_records_is_refused(people, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "record_id_l,record_id_r,source_l,source_r,is_match\nx-1,x-2,people,people,y\n"
    )
    with pytest.raises(SchemaError, match=r"not in records"):
        _learner(people, path)


def test_add_label_checks_its_input(people, tmp_path):
    learner = _learner(people, tmp_path / "labels.csv")
    with pytest.raises(LabelError, match="two different rows"):
        learner.add_label(3, 3, True)
    with pytest.raises(LabelError, match="True, False or None"):
        learner.add_label(0, 1, "y")  # type: ignore[arg-type]
    assert not (tmp_path / "labels.csv").exists()
