"""The HTML run report: content, masking, escaping, the CLI, and a real browser."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.cli.report import main as report_main
from er_toolkit.compare import compare_pairs
from er_toolkit.config import LinkageConfig
from er_toolkit.evaluate import blocking_recall
from er_toolkit.pipeline import Linker
from er_toolkit.report import (
    ExplainedPair,
    blocking_summary,
    build_report,
    comparison_importance,
    explain_sample,
    label_pairs,
    mask_value,
    self_match_scores,
    table_html,
    term_frequency_table,
    training_report,
    write_report,
)
from er_toolkit.score import ClassifierScorer
from er_toolkit.score.labels import training_pairs

DATA = Path(__file__).parent / "data"
DEDUPE_CONFIG = DATA / "people_dedupe.toml"
LINK_CONFIG = DATA / "people_link.toml"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small data: OpenMP threads in the models cost more than they save."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _run(config_path: Path) -> dict[str, object]:
    linker = Linker(LinkageConfig.from_toml(config_path))
    records = linker.records()
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    scored = linker.predict(records, candidate_pairs=pairs)
    return {
        "linker": linker,
        "records": records,
        "pairs": pairs,
        "scored": scored,
        "clusters": linker.cluster(records, scored),
        "truth": linker.true_pairs(records),
    }


@pytest.fixture(scope="module")
def dedupe():
    return _run(DEDUPE_CONFIG)


@pytest.fixture(scope="module")
def report(dedupe):
    return training_report(
        dedupe["linker"],
        dedupe["records"],
        candidate_pairs=dedupe["pairs"],
        scored=dedupe["scored"],
        clusters=dedupe["clusters"],
        truth=dedupe["truth"],
        sample_size=4,
        self_match_sample=300,
    )


def _record_values(dedupe, pairs: list[ExplainedPair]) -> set[str]:
    """Raw values of the explained pairs that could not appear by chance."""
    values = set()
    for pair in pairs:
        for column in ("value_l", "value_r"):
            values |= {v for v in pair.comparisons[column].drop_nulls() if len(v) >= 4}
    return values


# --------------------------------------------------------------------------- #
# content
# --------------------------------------------------------------------------- #
def test_report_has_every_section_chart_and_table(report):
    page = report.html
    expected = {
        "completeness",
        "profile",
        "blocking",
        "match_weights",
        "term_frequency",
        "precision_recall",
        "threshold",
        "match_weight_histogram",
        "cluster_sizes",
        "unlinkable",
    }
    assert set(report.figures) == expected
    for name in expected:
        assert f'<figure id="chart-{name}">' in page
    for section in (
        "run",
        "metrics",
        "quality",
        "blocking",
        "model",
        "evaluation",
        "clusters",
        "pairs",
        "config",
    ):
        assert f'<section id="{section}">' in page
    # one image per chart and one waterfall per explained pair
    assert page.count("<img ") == len(expected) + len(report.explained)
    assert len(report.explained) == 4
    assert {"profile", "blocking", "match_weights", "term_frequency"} <= set(
        report.tables
    )
    assert f'content="{CSP}"' in page
    assert "pairwise_f1" in page and "blocking_recall" in page


def test_explained_pairs_include_missed_matches_and_both_sides_of_the_threshold(
    report, dedupe
):
    reasons = [p.summary["reason"] for p in report.explained]
    threshold = dedupe["linker"].threshold_
    above = [p.summary["match_probability"] >= threshold for p in report.explained]
    assert any(above) and not all(above)
    keys = {
        (p.summary["record_id_l"], p.summary["record_id_r"]) for p in report.explained
    }
    assert len(keys) == len(report.explained)
    for pair in report.explained:
        assert pair.summary["is_match"] in (True, False)
        assert pair.comparisons.height == len(dedupe["linker"].config.comparisons)
        # the contributions and the prior make the weight
        total = pair.comparisons["bf"].sum() + dedupe["linker"].scorer_.prior_weight_
        assert total == pytest.approx(pair.summary["match_weight"])
    assert len(set(reasons)) >= 2


def test_explain_sample_prefers_false_and_missed_matches(dedupe):
    linker, truth = dedupe["linker"], dedupe["truth"]
    scored = dedupe["scored"]
    # move the threshold so that there are false and missed matches to find
    strict = Linker(replace(linker.config, threshold=0.999999))
    strict.scorer_ = linker.scorer_
    picked = explain_sample(strict, dedupe["records"], scored, truth=truth, n=6, seed=1)
    assert picked[0].summary["reason"].startswith(("false match", "missed match"))
    for pair in picked:
        if pair.summary["reason"].startswith("missed match"):
            assert (
                pair.summary["is_match"]
                and pair.summary["match_probability"] < 0.999999
            )
        if pair.summary["reason"].startswith("false match"):
            assert not pair.summary["is_match"]
    assert len(picked) == 6
    assert explain_sample(strict, dedupe["records"], scored.head(0), n=3) == []


def _without_images(page: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)


def test_values_are_masked_by_default(report, dedupe):
    page = _without_images(report.html)
    raw = _record_values(dedupe, report.explained)
    assert raw, "the sample should have values to hide"
    # a value counts as leaked where it stands as a whole token: a masked
    # page still prints timings and counts, and a 4-digit postcode can occur
    # inside "0.2615 s" by chance
    leaked = {
        v
        for v in raw
        if re.search(rf"(?<![0-9A-Za-z.]){re.escape(v)}(?![0-9A-Za-z])", page)
    }
    assert leaked == set()
    assert "Record values are masked" in page
    # the profile's most frequent values are personal data too
    top = dedupe["linker"].profile(dedupe["records"]).get_column("top_values")[0]
    assert html.escape(top) not in page
    assert "<td><i>hidden</i></td>" in page


def test_values_are_shown_when_asked(report, dedupe):
    page = build_report(title="t", explained=report.explained, show_values=True)
    raw = _record_values(dedupe, report.explained)
    assert all(html.escape(v) in page for v in raw)
    assert "Record values are shown as they are." in page


def test_everything_is_escaped():
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    pair = ExplainedPair(
        summary={
            "record_id_l": hostile,
            "record_id_r": "b",
            "reason": hostile,
            "is_match": None,
        },
        comparisons=pl.DataFrame(
            {
                "comparison": [hostile],
                "column": ["name"],
                "value_l": [hostile],
                "value_r": [None],
                "level": [hostile],
                "similarity": [0.5],
                "bf": [1.0],
            }
        ),
    )
    page = build_report(
        title=hostile,
        facts={hostile: hostile},
        config={"name": hostile},
        metrics={hostile: 1.0},
        tables={hostile: pl.DataFrame({hostile: [hostile]})},
        explained=[pair],
        show_values=True,
    )
    assert "<script" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;" in page


def test_masking_keeps_first_character_length_and_equality():
    key = b"0123456789abcdef"
    masked = mask_value("Smith", key=key)
    assert masked is not None and masked.startswith("S••••")
    assert masked == mask_value("Smith", key=key)
    assert masked != mask_value("Smyth", key=key)
    assert masked != mask_value("Smith", key=b"another key 1234")
    assert mask_value(None, key=key) is None
    assert mask_value("", key=key) == ""
    assert mask_value(19870514, key=key).startswith("1•••••••")  # type: ignore[union-attr]


def test_table_html_hides_columns_and_says_how_many_rows_are_left_out():
    frame = pl.DataFrame({"a": list(range(5)), "top_values": ["x (1)"] * 5})
    out = table_html(frame, max_rows=2, hidden=("top_values",))
    assert out.count("<tr>") == 3 and "3 more rows not shown" in out
    assert "x (1)" not in out


def test_write_report_is_atomic_and_makes_the_folder(tmp_path):
    target = tmp_path / "deep" / "report.html"
    assert write_report(target, "<p>one</p>") == target
    write_report(target, "<p>two</p>")
    assert target.read_text() == "<p>two</p>"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


# --------------------------------------------------------------------------- #
# the frames behind the charts
# --------------------------------------------------------------------------- #
def test_blocking_summary_adds_up_to_the_candidates_and_blocking_recall(dedupe):
    table = blocking_summary(
        dedupe["linker"].blocking_report(dedupe["records"]),
        dedupe["pairs"],
        truth=dedupe["truth"],
    )
    assert table.get_column("cumulative_pairs")[-1] == dedupe["pairs"].height
    assert table.get_column("new_pairs").sum() == dedupe["pairs"].height
    assert table.get_column("cumulative_recall")[-1] == pytest.approx(
        blocking_recall(dedupe["pairs"], dedupe["truth"])
    )
    assert (table.get_column("new_pairs") <= table.get_column("pairs")).all()
    assert table.get_column("cumulative_recall").is_sorted()


def test_term_frequency_weights_are_the_models_own(dedupe):
    linker, records = dedupe["linker"], dedupe["records"]
    fs = linker.scorer_
    table = term_frequency_table(records, fs, common=10_000)
    explained = linker.predict(records, candidate_pairs=dedupe["pairs"], explain=True)
    comp = next(c for c in linker.config.comparisons if c.tf_gamma is not None)
    exact = explained.filter(pl.col(schema.gamma(comp.name)) == comp.tf_gamma)
    values = records.select(
        schema.ROW, pl.col(comp.column).str.strip_chars().alias("value")
    )
    joined = exact.join(values, left_on=schema.ROW_L, right_on=schema.ROW).join(
        table.filter(pl.col("comparison") == comp.name), on="value"
    )
    assert joined.height == exact.height > 0
    np.testing.assert_allclose(
        joined["weight"], joined[schema.bf(comp.name)], rtol=1e-5
    )
    # the rarest values are grouped by count, never listed
    grouped = term_frequency_table(records, fs, common=3, rare=2)
    assert grouped.filter(pl.col("value").is_null()).get_column("count").to_list()[
        -2:
    ] == [2, 1]
    masked = term_frequency_table(records, fs, common=3, mask_key=b"k" * 16)
    assert masked.get_column("value").drop_nulls().str.contains("•").all()


def test_term_frequency_table_lists_each_tf_level_of_a_comparison() -> None:
    from er_toolkit.compare import Comparison, ExactLevel
    from er_toolkit.score import FellegiSunter

    names = Comparison(
        "names",
        "first",
        (
            ExactLevel(column="sur", term_frequency=True),
            ExactLevel(term_frequency=True),
        ),
    )
    fs = FellegiSunter([names])
    fs.m_ = {"names": np.array([0.1, 0.3, 0.6])}
    fs.u_ = {"names": np.array([0.8, 0.15, 0.05])}
    fs.n_records_ = 4
    records = pl.DataFrame({"first": ["ann", "ann", "bob", "cy"], "sur": list("xxxy")})
    table = term_frequency_table(records, fs, common=1)
    rows = table.select("comparison", "value", "count", "weight").rows()
    # each level's m over its own column's frequencies
    assert rows[0] == ("names (sur)", "x", 3, pytest.approx(np.log2(0.6 / 0.75)))
    assert rows[2] == ("names (first)", "ann", 2, pytest.approx(np.log2(0.3 / 0.5)))
    assert {r[0] for r in rows} == {"names (sur)", "names (first)"}


def test_self_match_scores_one_row_per_record_sampled(dedupe):
    linker, records = dedupe["linker"], dedupe["records"]
    every = self_match_scores(linker, records, max_records=None)
    assert every.height == records.height
    assert (
        every.get_column(schema.ROW).to_list()
        == records.get_column(schema.ROW).to_list()
    )
    # a record compared with itself agrees on every field it has
    assert (every.get_column(schema.MATCH_PROBABILITY) > 0.5).mean() > 0.95
    assert self_match_scores(linker, records, max_records=50).height == 50


def test_label_pairs_either_orientation():
    pairs = pl.DataFrame(
        {"_row_l": [1, 0, 2]}, schema={"_row_l": pl.UInt32}
    ).with_columns(pl.Series("_row_r", [0, 2, 3], dtype=pl.UInt32))
    truth = pl.DataFrame({"_row_l": [0, 3], "_row_r": [1, 2]})
    assert label_pairs(pairs, truth).get_column("is_match").to_list() == [
        True,
        False,
        True,
    ]


@pytest.fixture(scope="module")
def stacked(dedupe):
    config = dedupe["linker"].config
    train = training_pairs(dedupe["pairs"], true_pairs=dedupe["truth"])
    vectors = compare_pairs(dedupe["records"], train.pairs, config.comparisons)
    scorer = ClassifierScorer(
        config.comparisons,
        estimator="logistic_regression",
        fellegi_sunter=dedupe["linker"].scorer_,
        calibration="sigmoid",
        cv=2,
    ).fit(vectors, train.y)
    return scorer, vectors, train.y


def test_comparison_importance_sees_a_field_behind_the_stacked_weight():
    from er_toolkit.compare import Comparison, ExactLevel
    from er_toolkit.score import FellegiSunter

    rng = np.random.default_rng(0)
    n = 2_000
    y = rng.random(n) < 0.3
    gamma_a = np.where(rng.random(n) < 0.9, y, ~y).astype(np.int8)  # the evidence
    gamma_b = (rng.random(n) < 0.5).astype(np.int8)  # noise
    vectors = pl.DataFrame(
        {
            "_row_l": np.arange(n, dtype=np.uint32),
            "_row_r": np.arange(n, 2 * n, dtype=np.uint32),
            "gamma_a": gamma_a,
            "gamma_b": gamma_b,
        }
    )
    a, b = (Comparison(name, name, (ExactLevel(),)) for name in ("a", "b"))
    fs = FellegiSunter([a, b])
    fs.m_ = {"a": np.array([0.1, 0.9]), "b": np.array([0.5, 0.5])}
    fs.u_ = {"a": np.array([0.9, 0.1]), "b": np.array([0.5, 0.5])}
    fs.probability_two_random_records_match_ = 0.3
    fs.n_records_ = 2 * n
    scorer = ClassifierScorer(
        [a, b],
        estimator="logistic_regression",
        fellegi_sunter=fs,
        calibration="sigmoid",
        cv=3,
    ).fit(vectors, y)
    one_at_a_time = dict(
        zip(scorer.feature_names_, scorer.feature_importances_, strict=True)
    )
    table = comparison_importance(scorer, vectors, y, n_repeats=3)
    by_name = dict(table.select("comparison", "importance").iter_rows())
    assert table.get_column("comparison").to_list() == ["a", "b"]
    assert by_name["a"] > 0.2
    assert abs(by_name["b"]) < 0.02
    # one at a time, a's own features look far less important: the stacked
    # weight still carries their evidence
    assert by_name["a"] > 2 * max(one_at_a_time["gamma_a"], one_at_a_time["bf_a"])
    with pytest.raises(Exception, match="one label per pair"):
        comparison_importance(scorer, vectors, y[:-1])


def test_report_of_a_stacked_classifier(dedupe, stacked):
    scorer, _, _ = stacked
    config = dedupe["linker"].config
    linker = Linker(
        replace(
            config,
            threshold=scorer.threshold_,
            model=replace(config.model, kind="classifier"),
        )
    )
    linker.scorer_ = scorer
    scored = linker.predict(dedupe["records"], candidate_pairs=dedupe["pairs"])
    built = training_report(
        linker,
        dedupe["records"],
        candidate_pairs=dedupe["pairs"],
        scored=scored,
        clusters=dedupe["clusters"],
        truth=dedupe["truth"],
        sample_size=2,
        self_match_sample=100,
        importance_sample=800,
    )
    assert {
        "feature_importance",
        "precision_recall_threshold_choice",
        "match_weights",
    } <= set(built.figures)
    assert "comparison_importance" in built.tables
    assert "ClassifierScorer" in built.html and "threshold reason" in built.html


def test_report_of_a_link_job():
    run = _run(LINK_CONFIG)
    built = training_report(
        run["linker"],
        run["records"],
        candidate_pairs=run["pairs"],
        scored=run["scored"],
        clusters=run["clusters"],
        truth=run["truth"],
        sample_size=2,
        self_match_sample=100,
    )
    assert "people_a, people_b" in built.html
    completeness = built.figures["completeness"].axes[0]
    assert [t.get_text() for t in completeness.get_xticklabels()] == [
        "people_a",
        "people_b",
    ]


# --------------------------------------------------------------------------- #
# the command line
# --------------------------------------------------------------------------- #
def test_cli_writes_the_report(dedupe, tmp_path, capsys):
    model = dedupe["linker"].save(tmp_path / "model.json")
    out = tmp_path / "report.html"
    code = report_main(
        [
            "--model",
            str(model),
            "--config",
            str(DEDUPE_CONFIG),
            "--output",
            str(out),
            "--sample",
            "2",
        ]
    )
    assert code == 0
    assert "report: " in capsys.readouterr().out
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "Explained pairs" in page


def test_cli_refuses_a_config_of_other_comparisons(dedupe, tmp_path, capsys):
    model = dedupe["linker"].save(tmp_path / "model.json")
    other = tmp_path / "other.toml"
    text = DEDUPE_CONFIG.read_text().replace('name = "soc_sec_id"', 'name = "ssn"')
    other.write_text(
        text.replace('path = "people.csv"', f'path = "{DATA / "people.csv"}"')
    )
    code = report_main(
        [
            "--model",
            str(model),
            "--config",
            str(other),
            "--output",
            str(tmp_path / "r.html"),
        ]
    )
    assert code == 2
    assert "the model was trained with" in capsys.readouterr().err


# --------------------------------------------------------------------------- #
# in a real browser
# --------------------------------------------------------------------------- #
_PROBE = """<script nonce="probe">(() => {
  const errors = [];
  for (const level of ["error", "warn"]) {
    const original = console[level];
    console[level] = (...args) => { errors.push(level + ": " + args.join(" ")); original.apply(console, args); };
  }
  window.addEventListener("error", (e) => {
    const target = e.target && e.target.tagName ? e.target.tagName + " failed to load" : "";
    errors.push("error: " + (e.message || target));
  }, true);
  document.addEventListener("securitypolicyviolation", (e) => {
    errors.push("csp: " + e.violatedDirective + " " + e.blockedURI);
  });
  window.addEventListener("load", () => {
    const images = [...document.images].map((i) => ({complete: i.complete, width: i.naturalWidth}));
    const out = document.createElement("pre");
    out.id = "er-probe";
    out.textContent = JSON.stringify({images, errors});
    document.body.appendChild(out);
  });
})();</script>"""


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no Chromium binary on PATH (looked for " + ", ".join(CHROMIUM_NAMES) + "); "
        "install it with: apt-get install -y chromium"
    )


def _open_in_chromium(page: str, folder: Path) -> tuple[dict[str, list], list[str]]:
    """Load ``page`` in headless Chromium; return what the probe saw and console lines.

    The probe script is let in by a nonce added to the page's own content
    security policy, which is otherwise left as it is.
    """
    assert f'content="{CSP}"' in page, "the report must carry its security policy"
    probed = page.replace(
        f'content="{CSP}">', f"content=\"{CSP}; script-src 'nonce-probe'\">{_PROBE}", 1
    )
    path = folder / "probe.html"
    path.write_text(probed, encoding="utf-8")
    proc = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",  # CI runs as root; the page is our own local file
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={folder / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=20000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="er-probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, "the page did not finish loading: " + proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(found.group(1))), console


def test_every_chart_renders_in_chromium_without_console_errors(report, tmp_path):
    probe, console = _open_in_chromium(report.html, tmp_path)
    images = probe["images"]
    assert len(images) == report.html.count("<img ")
    assert images and all(i["complete"] and i["width"] > 0 for i in images), images
    assert probe["errors"] == []
    assert console == []


def test_the_browser_check_catches_broken_images_and_console_errors(tmp_path):
    broken = (
        "<!DOCTYPE html><html><head>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        "</head><body>"
        '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">'
        '<img src="data:image/png;base64,AAAA">'
        '<img src="https://example.invalid/x.png">'
        '<script nonce="probe">console.error("boom")</script>'
        "</body></html>"
    )
    probe, console = _open_in_chromium(broken, tmp_path)
    widths = [i["width"] for i in probe["images"]]
    assert widths == [1, 0, 0]
    assert "error: boom" in probe["errors"]
    assert any(e.startswith("csp: img-src") for e in probe["errors"])
    assert console  # Chromium logs the page's console to stderr
