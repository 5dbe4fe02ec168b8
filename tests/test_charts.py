from __future__ import annotations

import io
import itertools

import matplotlib
import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from er_toolkit import charts
from er_toolkit.charts import (
    blocking_chart,
    cluster_size_chart,
    completeness_chart,
    feature_importance_chart,
    match_weight_histogram,
    match_weights_chart,
    precision_recall_chart,
    probability_to_weight,
    term_frequency_chart,
    threshold_chart,
    unlinkable_chart,
    waterfall_chart,
    weight_to_probability,
)
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.standardise import profile_frame

# --------------------------------------------------------------------------- #
# inputs shaped like the real ones
# --------------------------------------------------------------------------- #
BAYES_FACTORS = pl.DataFrame(
    {
        "comparison": ["given_name"] * 3 + ["date_of_birth"] * 3,
        "gamma": [0, 1, 2, 0, 1, 2],
        "level": [
            "else",
            "jaro_winkler >= 0.92",
            "exact (tf)",
            "else",
            "day/month swapped",
            "exact",
        ],
        "m": [0.12, 0.15, 0.73, 0.05, 1e-12, 0.95],
        "u": [0.99, 0.006, 0.004, 0.998, 2e-4, 0.002],
    }
).with_columns((pl.col("m").log(2) - pl.col("u").log(2)).alias("log2_bayes_factor"))

LEVELS = {
    "given_name": ["else", "jaro_winkler >= 0.92", "exact (tf)"],
    "date_of_birth": ["else", "day/month swapped", "exact"],
}


def _curve(n_true: int = 1000, near_one: bool = True) -> pl.DataFrame:
    """A precision-recall curve like FEBRL's: precision 1 until recall 0.998."""
    thresholds = np.r_[1.0, np.linspace(0.999, 0.5, 50), np.geomspace(0.4, 1e-20, 50)]
    if near_one:
        tp = np.r_[np.linspace(100, 998, 51), np.full(50, 999)].astype(int)
        predicted = np.r_[tp[:51], 999 + np.geomspace(1, 10_000, 50)].astype(int)
    else:
        tp = np.linspace(50, 700, 101).astype(int)
        predicted = (tp / np.linspace(0.9, 0.2, 101)).astype(int)
    precision = tp / predicted
    recall = tp / n_true
    return pl.DataFrame(
        {
            "threshold": thresholds,
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall),
        }
    )


PROFILE = profile_frame(
    pl.DataFrame(
        {
            "source": ["crm", "crm", "erp", "erp"],
            "name": ["Ann", None, "Bob", "Cy"],
            "phone": [None, None, "1", "2"],
        }
    )
)

# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def _texts(fig: Figure, renderer=None) -> list[Text]:
    """Visible, non-empty texts; with a renderer, tick labels only of drawn ticks."""
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    if renderer is None:
        return texts
    outside = set()
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for axis, along in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for label in (tick.label1, tick.label2):
                    at = label.get_window_extent(renderer)
                    centre = (
                        (at.x0 + at.x1) / 2 if along == "x" else (at.y0 + at.y1) / 2
                    )
                    low, high = (box.x0, box.x1) if along == "x" else (box.y0, box.y1)
                    if not low - 1 <= centre <= high + 1:
                        outside.add(id(label))  # a tick outside the view: not drawn
    return [t for t in texts if id(t) not in outside]


def _overlapping_texts(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of visible texts whose drawn boxes overlap (after layout)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # runs the layout engine
    renderer = canvas.get_renderer()
    boxes = [
        (t.get_text(), t.get_window_extent(renderer)) for t in _texts(fig, renderer)
    ]
    clashes = []
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        inter_w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
        inter_h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
        if inter_w > 1 and inter_h > 1:  # a pixel of tolerance for touching edges
            clashes.append((a, b))
    return clashes


def _labelled(fig: Figure) -> None:
    """Every chart has a title and labels on both axes of its first panel."""
    assert isinstance(fig, Figure)
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    assert any(titles), "no title"
    ax = fig.axes[0]
    assert ax.get_xlabel()
    assert ax.get_ylabel() or ax.get_yticklabels(), "no y label or tick labels"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# --------------------------------------------------------------------------- #
# every chart
# --------------------------------------------------------------------------- #
CASES = {
    "match_weights": lambda: match_weights_chart(BAYES_FACTORS, prior_weight=-10.9),
    "waterfall": lambda: waterfall_chart(
        {
            "bf_given_name": 7.4,
            "gamma_given_name": 2,
            "bf_date_of_birth": -4.3,
            "gamma_date_of_birth": 0,
        },
        prior_weight=-10.9,
        level_labels=LEVELS,
        threshold=0.5,
    ),
    "term_frequency": lambda: term_frequency_chart(
        pl.DataFrame(
            {
                "comparison": ["given_name"] * 4,
                "value": ["j••••• #9ee8", "e••••• #c652", None, None],
                "values": [1, 1, 126, 701],
                "count": [81, 69, 2, 1],
                "weight": [5.1, 5.4, 10.5, 11.5],
                "base_weight": [7.4] * 4,
            }
        )
    ),
    "precision_recall": lambda: precision_recall_chart(
        _curve(), threshold=0.5, blocking_recall=0.9992
    ),
    "precision_recall_linear": lambda: precision_recall_chart(
        _curve(near_one=False), threshold=0.5, blocking_recall=0.8
    ),
    "threshold": lambda: threshold_chart(
        _curve(), threshold=0.5, blocking_recall=0.9992
    ),
    "histogram": lambda: match_weight_histogram(
        pl.DataFrame(
            {
                "match_weight": np.r_[
                    np.linspace(-40, -5, 300), np.linspace(5, 40, 30)
                ],
                "is_match": [False] * 300 + [True] * 30,
            }
        ),
        threshold=0.5,
    ),
    "cluster_sizes": lambda: cluster_size_chart(
        pl.DataFrame({"cluster_id": ["a", "a", "b", "c", "c", "c", "d"]})
    ),
    "blocking": lambda: blocking_chart(
        pl.DataFrame(
            {
                "blocked_by": ["given_name", "surname", "sn(soc_sec_id,w=5)"],
                "pairs": [39_775, 37_255, -1],
                "new_pairs": [39_775, 34_902, 14_006],
                "cumulative_pairs": [39_775, 74_677, 88_683],
                "cumulative_recall": [0.5537, 0.7632, 0.9992],
            }
        )
    ),
    "completeness": lambda: completeness_chart(PROFILE),
    "unlinkable": lambda: unlinkable_chart(
        pl.DataFrame({"match_weight": [-3.0, 2.0, 30.0, 60.0]}), threshold=0.5
    ),
    "feature_importance": lambda: feature_importance_chart(
        pl.DataFrame(
            {
                "feature": [
                    "fs_match_weight",
                    "gamma_given_name",
                    "sim_given_name",
                    "bf_given_name",
                    "gamma_date_of_birth",
                    "bf_date_of_birth",
                ],
                "importance": [0.56, 0.0, 0.01, 0.002, 0.0, -0.001],
                "std": [0.01, 0.0, 0.004, 0.001, 0.0, 0.001],
            }
        ),
        by_comparison=pl.DataFrame(
            {
                "comparison": ["date_of_birth", "given_name"],
                "importance": [0.03, 0.007],
                "std": [0.005, 0.001],
            }
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_chart_is_a_labelled_figure_that_renders(name):
    fig = CASES[name]()
    _labelled(fig)
    assert _png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_chart_text_does_not_overlap(name):
    assert _overlapping_texts(CASES[name]()) == []


def test_charts_leave_no_pyplot_figures_behind():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for make in CASES.values():
        make()
    assert plt.get_fignums() == before


def test_charts_work_on_the_headless_agg_backend():
    # Figures are made without pyplot, so no display or backend switch is needed
    assert isinstance(CASES["match_weights"]().canvas.get_width_height(), tuple)
    assert matplotlib.get_backend()  # whatever it is, the charts did not change it


def test_public_names_are_exported():
    assert sorted(charts.__all__) == sorted(
        name
        for name in dir(charts)
        if not name.startswith("_") and callable(getattr(charts, name))
    )


# --------------------------------------------------------------------------- #
# empty and bad inputs
# --------------------------------------------------------------------------- #
EMPTY = {
    "match_weights": lambda: match_weights_chart(
        BAYES_FACTORS.head(0), prior_weight=-3.0
    ),
    "waterfall": lambda: waterfall_chart({}, prior_weight=-3.0),
    "term_frequency": lambda: term_frequency_chart(
        pl.DataFrame(
            schema={
                "comparison": pl.String,
                "value": pl.String,
                "values": pl.Int64,
                "count": pl.Int64,
                "weight": pl.Float64,
                "base_weight": pl.Float64,
            }
        )
    ),
    "precision_recall": lambda: precision_recall_chart(_curve().head(0), threshold=0.5),
    "threshold": lambda: threshold_chart(_curve().head(0), threshold=0.5),
    "histogram": lambda: match_weight_histogram(
        pl.DataFrame(
            {"match_weight": [None, float("nan")]}, schema={"match_weight": pl.Float64}
        )
    ),
    "cluster_sizes": lambda: cluster_size_chart(
        pl.DataFrame(schema={"cluster_id": pl.String})
    ),
    "blocking": lambda: blocking_chart(
        pl.DataFrame(schema={"blocked_by": pl.String, "pairs": pl.Int64})
    ),
    "completeness": lambda: completeness_chart(PROFILE.head(0)),
    "unlinkable": lambda: unlinkable_chart(
        pl.DataFrame(schema={"match_weight": pl.Float64}), threshold=0.5
    ),
    "feature_importance": lambda: feature_importance_chart(
        pl.DataFrame(
            schema={"feature": pl.String, "importance": pl.Float64, "std": pl.Float64}
        )
    ),
}


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_empty_input_gives_a_labelled_figure_saying_so(name):
    fig = EMPTY[name]()
    _labelled(fig)
    texts = [t.get_text() for t in _texts(fig)]
    assert any(word in " ".join(texts) for word in ("no ", "nothing")), texts
    assert _png(fig)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: match_weights_chart(pl.DataFrame({"x": [1]}), prior_weight=0.0),
            "match_weights_chart needs column",
        ),
        (
            lambda: precision_recall_chart(pl.DataFrame({"recall": [1.0]})),
            "precision_recall_chart needs column",
        ),
        (
            lambda: cluster_size_chart(pl.DataFrame({"id": [1]})),
            "cluster_size_chart needs column(s) ['cluster_id']",
        ),
        (
            lambda: completeness_chart(pl.DataFrame({"column": ["a"]})),
            "completeness_chart needs column",
        ),
        (
            lambda: waterfall_chart(
                pl.DataFrame({"bf_a": [1.0, 2.0]}), prior_weight=0.0
            ),
            "explains one pair; got a frame of 2 rows",
        ),
    ],
)
def test_wrong_frames_are_refused_with_what_is_missing(make, message):
    with pytest.raises(
        SchemaError,
        match=message.replace("[", r"\[")
        .replace("]", r"\]")
        .replace("(", r"\(")
        .replace(")", r"\)"),
    ):
        make()


def test_unknown_scale_is_refused():
    with pytest.raises(
        ConfigError,
        match=r"scale must be one of \['auto', 'linear', 'logit'\]; got 'log'",
    ):
        precision_recall_chart(_curve(), scale="log")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- #
# what the charts draw
# --------------------------------------------------------------------------- #
def test_weights_round_trip_and_saturate_at_zero_and_one():
    p = np.array([1e-20, 0.01, 0.5, 0.99, 1 - 1e-12])
    np.testing.assert_allclose(
        weight_to_probability(probability_to_weight(p)), p, rtol=1e-9
    )
    assert probability_to_weight([0.0, 1.0]).tolist() == [-60.0, 60.0]


def test_match_weights_bars_are_the_prior_then_each_level():
    fig = match_weights_chart(BAYES_FACTORS, prior_weight=-10.9)
    bars = [p.get_width() for p in fig.axes[0].patches]
    expected = [-10.9, *BAYES_FACTORS.get_column("log2_bayes_factor")]
    np.testing.assert_allclose(bars, expected)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "prior odds (λ)"
    assert labels[3] == "given_name: exact (tf)"
    # m and u are drawn beside each level, on a log axis
    assert fig.axes[1].get_xscale() == "log"
    m_points = fig.axes[1].collections[1].get_offsets()
    np.testing.assert_allclose(m_points[:, 0], BAYES_FACTORS.get_column("m"))
    np.testing.assert_allclose(m_points[:, 1], np.arange(1, 7))


def test_waterfall_steps_add_up_to_the_total():
    pair = {"bf_a": 7.5, "gamma_a": 2, "bf_b": -3.0, "gamma_b": -1, "bf_c": 12.25}
    fig = waterfall_chart(
        pair, prior_weight=-10.0, level_labels={"a": ["else", "fuzzy", "exact"]}
    )
    ax = fig.axes[0]
    bars = ax.patches
    starts = [b.get_x() for b in bars]
    widths = [b.get_width() for b in bars]
    assert widths == [-10.0, 7.5, -3.0, 12.25, pytest.approx(6.75)]
    # each step starts where the previous ended
    assert starts[1] == pytest.approx(-10.0)
    assert starts[2] == pytest.approx(-2.5)
    assert starts[3] == pytest.approx(-5.5)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[1].startswith("a: exact") and labels[2].startswith("b: null")
    assert labels[3].startswith("c") and labels[-1] == "total   +6.75"
    assert "+6.75 bits" in ax.get_title()


def test_waterfall_reads_a_classifiers_float_gamma():
    fig = waterfall_chart(
        pl.DataFrame({"bf_a": [2.0], "gamma_a": [1.0]}),
        prior_weight=0.0,
        level_labels={"a": ["else", "exact"]},
    )
    assert fig.axes[0].get_yticklabels()[1].get_text().startswith("a: exact")


def test_precision_recall_near_one_goes_to_logit_axes_and_marks_threshold_and_ceiling():
    curve = _curve()
    fig = precision_recall_chart(curve, threshold=0.5, blocking_recall=0.9992)
    ax = fig.axes[0]
    assert ax.get_xscale() == "logit" and ax.get_yscale() == "logit"
    # the operating point: the lowest threshold still >= 0.5
    at = curve.filter(pl.col("threshold") >= 0.5).tail(1).row(0, named=True)
    point = ax.collections[0].get_offsets()[0]
    assert point[0] == pytest.approx(at["recall"])
    ceiling = [line for line in ax.get_lines() if "ceiling" in str(line.get_label())]
    assert ceiling and ceiling[0].get_xdata()[0] == pytest.approx(0.9992)
    # 0.9, 0.99, 0.999 are ticks, and precision 1 is drawn at the tick that reads 1
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert {"0.9", "0.99", "0.999", "1"} <= set(labels)
    one = ax.get_yticks()[labels.index("1")]
    assert ax.get_lines()[0].get_ydata().max() == pytest.approx(one)


def test_precision_recall_far_from_one_stays_linear_unless_asked():
    curve = _curve(near_one=False)
    assert precision_recall_chart(curve).axes[0].get_xscale() == "linear"
    assert precision_recall_chart(curve, scale="logit").axes[0].get_xscale() == "logit"
    assert (
        precision_recall_chart(_curve(), scale="linear").axes[0].get_yscale()
        == "linear"
    )


def test_threshold_chart_draws_three_curves_and_the_threshold_as_a_weight():
    fig = threshold_chart(_curve(), threshold=0.8, blocking_recall=0.9992)
    ax = fig.axes[0]
    labels = [str(line.get_label()) for line in ax.get_lines()]
    assert labels[:3] == ["precision", "recall", "f1"]
    vertical = [
        line
        for line in ax.get_lines()
        if str(line.get_label()).startswith("threshold 0.8")
    ]
    assert vertical[0].get_xdata()[0] == pytest.approx(2.0)  # log2(0.8 / 0.2)
    assert "precision 1.0000" in str(vertical[0].get_label())


def test_histogram_counts_every_pair_and_splits_by_truth():
    scored = pl.DataFrame(
        {
            "match_weight": [-20.0, -19.5, -3.0, 8.0, 9.0],
            "is_match": [False, False, False, True, True],
        }
    )
    fig = match_weight_histogram(scored, threshold=0.5)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert sum(heights) == 5
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == "not a match (3)" and legend[1] == "true match (2)"
    assert "2 pairs above" in legend[2]


def test_cluster_sizes_count_clusters_per_size():
    clusters = pl.DataFrame({"cluster_id": [*"aabcccdddd", "e"]})
    fig = cluster_size_chart(clusters)
    ax = fig.axes[0]
    bars = {round(p.get_x() + p.get_width() / 2): p.get_height() for p in ax.patches}
    assert bars == {1: 2, 2: 1, 3: 1, 4: 1}
    assert "5 clusters of 11 records, 2 singletons, largest 4" in ax.get_title()


def test_cluster_sizes_bin_a_long_tail():
    sizes = np.r_[np.ones(500, int), np.arange(2, 80)]
    ids = np.repeat(np.arange(sizes.size), sizes).astype(str)
    fig = cluster_size_chart(pl.DataFrame({"cluster_id": ids}))
    assert fig.axes[0].get_xscale() == "log"
    assert sum(p.get_height() for p in fig.axes[0].patches) == sizes.size


def test_blocking_chart_shows_own_and_new_pairs_and_running_totals():
    table = CASES["blocking"]()
    own, running, recall = table.axes
    widths = [p.get_width() for p in own.patches]
    assert widths[:2] == [39_775, 37_255] and np.isnan(widths[2])
    assert widths[3:] == [39_775, 34_902, 14_006]
    assert [p.get_width() for p in running.patches] == [39_775, 74_677, 88_683]
    np.testing.assert_allclose(
        recall.get_lines()[0].get_xdata(), [0.5537, 0.7632, 0.9992]
    )
    assert "count unknown" in [t.get_text() for t in own.texts]


def test_blocking_chart_takes_the_linkers_report_alone():
    fig = blocking_chart(pl.DataFrame({"blocked_by": ["a", "b"], "pairs": [10, 20]}))
    assert len(fig.axes) == 1


def test_completeness_cells_are_the_profile():
    fig = completeness_chart(PROFILE)
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    # rows are columns (name, phone), columns are sources (crm, erp)
    np.testing.assert_allclose(np.asarray(image), [[0.5, 1.0], [0.0, 1.0]])
    assert {t.get_text() for t in ax.texts} == {"50.0%", "100.0%", "0.0%"}


def test_unlinkable_share_below_threshold():
    fig = unlinkable_chart(
        pl.DataFrame({"match_weight": [-3.0, -1.0, 2.0, 30.0]}), threshold=0.5
    )
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "2 records (50.00%) below" in legend[1]
    y = fig.axes[0].get_lines()[0].get_ydata()
    assert y[-1] == pytest.approx(100.0)


def test_term_frequency_chart_names_common_values_and_groups_rare_ones():
    fig = CASES["term_frequency"]()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "j••••• #9ee8 (81 records)",
        "e••••• #c652 (69 records)",
        "126 other values, 2 records each",
        "701 other values, 1 record each",
    ]
    assert [p.get_width() for p in ax.patches] == [5.1, 5.4, 10.5, 11.5]


def test_feature_importance_keeps_the_stacked_weight_apart_and_groups_fields():
    fig = CASES["feature_importance"]()
    other, features, by_comparison = fig.axes[:3]
    assert [t.get_text() for t in other.get_yticklabels()] == ["fs_match_weight"]
    # comparisons in order of their grouped importance
    assert [t.get_text() for t in features.get_yticklabels()] == [
        "date_of_birth",
        "given_name",
    ]
    assert [t.get_text() for t in by_comparison.get_yticklabels()] == [
        "date_of_birth",
        "given_name",
    ]
    legend = [t.get_text() for t in features.get_legend().get_texts()]
    assert legend == [
        "gamma level",
        "raw similarity",
        "Fellegi-Sunter contribution (bf_)",
    ]
    # the stacked weight's scale does not squash the fields: own x axes
    assert features.get_xlim()[1] < 0.1 < other.get_xlim()[1]


def test_feature_importance_says_when_every_field_scores_zero():
    table = pl.DataFrame(
        {
            "feature": ["fs_match_weight", "gamma_a", "bf_a"],
            "importance": [0.5, 0.0, 0.0],
            "std": [0.0] * 3,
        }
    )
    texts = " ".join(
        t.get_text() for t in feature_importance_chart(table).axes[1].texts
    )
    assert "every feature scores 0 alone" in texts


def test_the_overlap_check_finds_overlapping_text():
    fig = Figure()
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, "one label")
    ax.text(0.52, 0.5, "another label")
    assert _overlapping_texts(fig) == [("one label", "another label")]


def test_a_chart_shows_itself_as_png_in_jupyter_without_pyplot():
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _ = formatters.DisplayFormatter().format(CASES["cluster_sizes"]())
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
