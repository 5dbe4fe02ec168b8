"""The Fellegi-Sunter model: u by sampling, m and λ by EM, scores per pair."""

from __future__ import annotations

import itertools
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import polars as pl

from er_toolkit import __version__, schema
from er_toolkit.blocking import Blocker, ExactRule, as_blocker
from er_toolkit.compare import Comparison, ExactLevel
from er_toolkit.compare.levels import exact_columns
from er_toolkit.engines.base import Engine, Frame, as_engine
from er_toolkit.exceptions import (
    ConfigError,
    ModelFormatError,
    SuspiciousParametersWarning,
)
from er_toolkit.progress import Bar, progress_bar
from er_toolkit.schema import LinkType
from er_toolkit.score.base import (
    LinkageData,
    ScorerReport,
    SklearnParams,
    learned_attributes,
    reset_learned,
)
from er_toolkit.score.em import Patterns, run_em
from er_toolkit.score.validation import load_model_json, validate_fellegi_sunter_dict

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
LEARNED = frozenset(
    {
        "threshold_",
        "n_records_",
        "total_pairs_",
        "u_sample_pairs_",
        "u_",
        "m_",
        "sessions_",
        "lambda_method_",
        "probability_two_random_records_match_",
        "lambda_estimates_",
        "candidate_match_share_",
    }
)
"""Every attribute fitting may learn; a model file's ``fitted`` holds only these."""
_PROB_FLOOR = 1e-9
SCORE_FLOOR = 1e-300
"""Smallest m or u scoring reads (Splink's ``M_U_CLAMP_MIN``): a zero is
raised to it, so a weight is log2(m / u) however small m or u (an imported
model's may be far smaller than er_toolkit's own estimates, which EM keeps
near or above ``PROBABILITY_FLOOR``)."""
SCORE_CHUNK: Final = 1 << 20
"""Pairs whose Bayes factors are summed at a time when scoring."""
SUSPICIOUS_M: Final = 1e-9
"""An m at or below this was driven to EM's floor (1e-12): no match reached the level."""
SUSPICIOUS_GAP: Final = 5.0
"""A level weighing this many bits below its comparison's "else" level is flagged."""
LambdaMethod = Literal["auto", "given", "deterministic", "em"]
RuleSpec = Blocker | Mapping[str, Any] | Sequence[str]
"""A blocker, its declaration, or a list of columns (an exact rule on them)."""


class FellegiSunter(SklearnParams):
    """Unsupervised probabilistic record linkage (Fellegi and Sunter, 1969).

    ``u`` (how often non-matching pairs reach each level) is estimated from
    seeded random record pairs, with the exact level computed from the value
    frequencies; ``m`` (how often matching pairs do) by EM over the distinct
    gamma patterns of pairs blocked on other fields, one training session per
    rule, never training a comparison on pairs blocked by its own column;
    λ, the prior probability that two random records match, from a given
    value, from deterministic rules, or by EM over the candidate pairs.

    Parameters
    ----------
    comparisons
        The comparisons that make up each pair's comparison vector.
    link_type
        ``"dedupe"``, ``"link"`` or ``"link_and_dedupe"``.
    training_rules
        The blockers of the EM sessions, one session each: blockers, their
        declarations (``{"kind": "sorted_neighbourhood", ...}``), or lists
        of column names (exact rules on them).
    deterministic_rules
        Blockers (as ``training_rules``) whose pairs are taken as matches to
        estimate λ.
    deterministic_recall
        The share of all true matches the deterministic rules are assumed to
        find.
    probability_two_random_records_match
        λ, when known.
    u_sample_size
        How many random pairs to draw for u.
    max_iter, tol
        EM stopping rule.
    max_pairs_per_session
        An EM session whose rule yields more pairs than this trains on a
        seeded random subset of the records, sized so that about this many
        pairs remain (a uniform sample of the pairs); ``None`` uses them all.
    threshold
        Match probability at or above which a pair links two records
        (``threshold_`` once fitted).
    n_jobs
        Threads for comparing the training pairs (``None``: every core).
    seed
        Seed of the random pair sample.

    Attributes
    ----------
    threshold_ : float
        The decision threshold (``threshold``).
    n_records_, total_pairs_ : int
        Records trained on and the pairs among them.
    u_sample_pairs_ : int
        Random pairs drawn for u.
    m_, u_ : dict[str, numpy.ndarray]
        Per comparison, probabilities indexed by gamma level.
    probability_two_random_records_match_ : float
        λ.
    lambda_method_ : str
        How λ was found.
    sessions_ : list[dict]
        What each EM session did.
    """

    def __init__(
        self,
        comparisons: Sequence[Comparison] = (),
        *,
        link_type: LinkType = "dedupe",
        training_rules: Sequence[RuleSpec] = (),
        deterministic_rules: Sequence[RuleSpec] = (),
        deterministic_recall: float = 0.9,
        probability_two_random_records_match: float | None = None,
        u_sample_size: int = 1_000_000,
        max_iter: int = 100,
        tol: float = 1e-5,
        max_pairs_per_session: int | None = 2_000_000,
        threshold: float = 0.5,
        n_jobs: int | None = None,
        seed: int = 0,
    ) -> None:
        self.comparisons = comparisons
        self.link_type = link_type
        self.training_rules = training_rules
        self.deterministic_rules = deterministic_rules
        self.deterministic_recall = deterministic_recall
        self.probability_two_random_records_match = probability_two_random_records_match
        self.u_sample_size = u_sample_size
        self.max_iter = max_iter
        self.max_pairs_per_session = max_pairs_per_session
        self.tol = tol
        self.threshold = threshold
        self.n_jobs = n_jobs
        self.seed = seed

    def __sklearn_is_fitted__(self) -> bool:
        """Whether :meth:`fit` has run (scikit-learn's ``check_is_fitted``)."""
        return hasattr(self, "m_")

    @property
    def needs_similarities(self) -> bool:
        """Fellegi-Sunter reads gamma levels only, never raw similarities."""
        return False

    @property
    def supervised(self) -> bool:
        """Fellegi-Sunter learns without labels (it uses them when given)."""
        return False

    # ------------------------------------------------------------------ fit
    def _validate(self) -> list[Comparison]:
        comparisons = list(self.comparisons)
        if not comparisons:
            raise ConfigError("FellegiSunter needs at least one comparison; got none.")
        if self.link_type not in schema.LINK_TYPES:
            raise ConfigError(
                f"The 'link_type' parameter must be one of {list(schema.LINK_TYPES)}; "
                f"got {self.link_type!r}."
            )
        lam = self.probability_two_random_records_match
        if lam is not None and not 0.0 < lam < 1.0:
            raise ConfigError(
                "The 'probability_two_random_records_match' parameter must be in "
                f"(0, 1); got {lam!r}."
            )
        if not 0.0 < self.deterministic_recall <= 1.0:
            raise ConfigError(
                "The 'deterministic_recall' parameter must be in (0, 1]; got "
                f"{self.deterministic_recall!r}."
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(
                f"The 'threshold' parameter must be in [0, 1]; got {self.threshold!r}."
            )
        return comparisons

    def fit(
        self,
        records: Frame,
        *,
        candidate_pairs: Frame | None = None,
        candidate_vectors: Frame | None = None,
        labels: pl.DataFrame | None = None,
        engine: Engine | None = None,
    ) -> FellegiSunter:
        """Estimate u, λ and m from ``records``.

        Parameters
        ----------
        records
            The records frame (from :func:`er_toolkit.io.prepare_records`).
        candidate_pairs
            The blocked candidate pairs (``_row_l``, ``_row_r``), used to
            estimate λ by EM when neither λ nor deterministic rules are
            given.
        candidate_vectors
            The candidate pairs' comparison vectors, when already computed:
            λ by EM then reuses them instead of comparing again (EM
            sessions compare their own capped samples).
        labels
            True matching pairs (``_row_l``, ``_row_r``). When given, m is
            counted from them instead of estimated by EM (and λ, unless
            given, is their share of all pairs).
        engine
            Where the sampling, blocking and comparing run (the polars
            engine by default; :class:`~er_toolkit.engines.SparkEngine` for
            records in Spark). EM runs here, over the pattern counts.

        Returns
        -------
        FellegiSunter
            self, fitted.
        """
        comparisons = self._validate()
        reset_learned(self)
        engine = as_engine(engine)
        with engine.cached(records):
            return self._fit(
                engine, records, comparisons, candidate_pairs, candidate_vectors, labels
            )

    def _fit(
        self,
        engine: Engine,
        records: Frame,
        comparisons: list[Comparison],
        candidate_pairs: Frame | None,
        candidate_vectors: Frame | None,
        labels: pl.DataFrame | None,
    ) -> FellegiSunter:
        names = [c.name for c in comparisons]
        self.threshold_ = float(self.threshold)
        self.n_records_ = engine.height(records)
        self.total_pairs_ = engine.total_pairs(records, link_type=self.link_type)
        steps = 2 if labels is not None else 2 + len(self.training_rules)
        with progress_bar(total=steps, desc="fit", unit="step") as bar:
            bar.describe("u from random pairs")
            self.u_ = self._estimate_u(engine, records, comparisons)
            bar.update()
            self.sessions_: list[dict[str, Any]] = []
            if labels is not None:
                bar.describe("m from labels")
                self.m_ = self._m_from_labels(engine, records, labels, comparisons)
                lam = self.probability_two_random_records_match
                if lam is None:
                    lam = max(labels.height, 1) / max(self.total_pairs_, 1)
                    self.lambda_method_ = "labels"
                else:
                    self.lambda_method_ = "given"
                self.probability_two_random_records_match_ = float(lam)
                bar.update()
                self._warn_if_suspicious()
                return self
            self.probability_two_random_records_match_ = self._initial_lambda(
                engine, records
            )
            self.m_ = self._m_by_em(
                engine,
                records,
                comparisons,
                names,
                bar=bar,
                candidate_pairs=candidate_pairs,
                candidate_vectors=candidate_vectors,
            )
            bar.describe("λ")
            if self.lambda_method_ == "pending":
                lam = self._lambda_from_sessions(engine, records, comparisons)
                if lam is not None:
                    self.probability_two_random_records_match_ = lam
                    self.lambda_method_ = "sessions"
                else:
                    self.probability_two_random_records_match_ = self._lambda_by_em(
                        engine,
                        records,
                        comparisons,
                        candidate_pairs,
                        candidate_vectors,
                    )
                    self.lambda_method_ = "em"
            bar.update()
        self._warn_if_suspicious()
        return self

    def fit_linkage(self, data: LinkageData) -> FellegiSunter:
        """Fit from what the pipeline hands over (the :class:`~er_toolkit.score.Scorer` call).

        Unsupervised unless ``data.labels`` are given: evaluation truth
        (``data.truth``) is never read. Reviewed labels (with ``is_match``)
        count m from their matches.
        """
        labels = data.labels
        if labels is not None and schema.IS_MATCH in labels.columns:
            labels = labels.filter(pl.col(schema.IS_MATCH).cast(pl.Boolean)).select(
                schema.ROW_L, schema.ROW_R
            )
        return self.fit(
            data.records,
            candidate_pairs=data.candidate_pairs,
            candidate_vectors=data.candidate_vectors,
            labels=labels,
            engine=data.engine,
        )

    def report(self) -> ScorerReport:
        """Return λ, the m/u table and the EM sessions of the fit."""
        self._check_fitted()
        sessions = pl.DataFrame(
            [
                {k: (str(v) if isinstance(v, list) else v) for k, v in s.items()}
                for s in self.sessions_
            ]
        )
        suspicious = self.suspicious_levels()
        tags = {"lambda_method": self.lambda_method_}
        if suspicious.height:
            tags["suspicious_levels"] = "; ".join(
                f"{c} {level!r}: {reason}"
                for c, level, reason in suspicious.select(
                    "comparison", "level", "reason"
                ).iter_rows()
            )
        return ScorerReport(
            metrics={
                "probability_two_random_records_match": (
                    self.probability_two_random_records_match_
                ),
                "threshold": self.threshold_,
                "suspicious_levels": float(suspicious.height),
            },
            tags=tags,
            tables={
                "match_weights": self.bayes_factor_table(),
                "em_sessions": sessions,
                "suspicious_levels": suspicious,
            },
        )

    def _session_sample(
        self, engine: Engine, records: Frame, rule: Blocker, total: int
    ) -> tuple[Frame, pl.DataFrame]:
        """Return a session's records (a sample when there are too many pairs) and its pair count.

        Keeping each record with probability f keeps each pair with
        probability f², so the pairs are a uniform sample; the session's pair
        count and match share are scaled back to the whole rule. That holds
        for blockers that pair records by their own values (exact rules,
        other key blockers); a sorted neighbourhood's window slides over the
        sample, so its sample only approximates its pairs, and its
        ``count_pairs`` is an upper bound.
        """
        cap = self.max_pairs_per_session
        if cap is None or total <= cap:
            counts = pl.DataFrame(
                {schema.BLOCKED_BY: [rule.name], "pairs": [total]},
                schema={schema.BLOCKED_BY: pl.String, "pairs": pl.Int64},
            )
            self._session_scale = 1.0
            return records, counts
        keep = float(np.sqrt(cap / total))
        columns = None
        if isinstance(records, pl.DataFrame):
            # The sample is only blocked on the rule (its pairs are compared
            # on the whole records): the rule's columns are all it needs, not
            # a copy of every column of a share of the records.
            needed = (schema.ROW, schema.RECORD_ID, schema.SOURCE, *rule.columns)
            columns = list(dict.fromkeys(c for c in needed if c in records.columns))
        sample = engine.sample_records(
            records, share=keep, seed=self.seed + 1, columns=columns
        )
        counts = engine.count_rule_pairs(sample, [rule], link_type=self.link_type)
        self._session_scale = total / max(int(counts.get_column("pairs")[0]), 1)
        return sample, counts

    def _lambda_from_sessions(
        self, engine: Engine, records: Frame, comparisons: list[Comparison]
    ) -> float | None:
        """Estimate λ from each EM session's match share and the rule's recall.

        A session blocked on exact agreement of some columns holds
        ``match_share * pairs`` matches; a true match lands in it when both
        records have the columns and agree on them, which the model says
        happens with probability ``Π m_exact * completeness²`` (m learnt in
        the other sessions). So all matches ≈ session matches / that recall,
        and λ = matches / all pairs; the median over sessions is taken. Unlike
        a mixture fit over all candidates, this does not drift towards
        "every candidate matches" when the comparisons are correlated.

        Only sessions of exact rules on plain columns (no prefixes, no block
        purging) that each have a comparison with an exact level say what
        their recall is; sessions of other blockers are skipped. Returns
        None when no session qualifies.
        """
        exact = {
            c.column: c
            for c in comparisons
            if isinstance(c.levels[0], ExactLevel)
            and c.levels[0].column in (None, c.column)
        }
        estimates = []
        for rule, session in zip(self._session_rules(), self.sessions_, strict=True):
            if not (
                isinstance(rule, ExactRule)
                and rule.on_plain_columns
                and rule.max_block_size is None
            ):
                continue  # another kind of blocker, prefixes, or purged blocks
            keys = list(rule.columns)
            if any(k not in exact for k in keys):
                continue  # columns without an exact level
            recall = 1.0
            for key in keys:
                comp = exact[key]
                complete = engine.completeness(records, key)
                recall *= float(self.m_[comp.name][-1]) * complete**2
            matches = session["match_share"] * session["pairs"]
            if recall > 0 and matches > 0:
                estimates.append(matches / recall / max(self.total_pairs_, 1))
        if not estimates:
            return None
        self.lambda_estimates_ = estimates
        return float(np.clip(np.median(estimates), _PROB_FLOOR, 0.5))

    def _initial_lambda(self, engine: Engine, records: Frame) -> float:
        lam = self.probability_two_random_records_match
        if lam is not None:
            self.lambda_method_ = "given"
            return float(lam)
        if self.deterministic_rules:
            rules = [
                as_blocker(r, where="a deterministic rule")
                for r in self.deterministic_rules
            ]
            pairs = engine.block(records, rules, link_type=self.link_type)
            found = engine.height(pairs) / self.deterministic_recall
            self.lambda_method_ = "deterministic"
            return float(np.clip(found / max(self.total_pairs_, 1), _PROB_FLOOR, 0.5))
        self.lambda_method_ = "pending"
        return 1e-4

    def _estimate_u(
        self, engine: Engine, records: Frame, comparisons: list[Comparison]
    ) -> dict[str, np.ndarray]:
        sample = engine.sample_pairs(
            records,
            n_pairs=self.u_sample_size,
            link_type=self.link_type,
            seed=self.seed,
        )
        self.u_sample_pairs_ = engine.height(sample)
        shares = {
            comp.name: exact_level_shares(engine, records, comp, self.link_type)
            for comp in comparisons
        }
        # A comparison whose levels are all exact has every u from the value
        # counts; its sampled counts would only be normalised away (the
        # "else" level's share is what the exact levels leave), so the
        # random pairs are compared on the other comparisons only.
        sampled = [c for c in comparisons if len(shares[c.name]) < c.n_levels - 1]
        compared = {c.name for c in sampled}
        patterns = (
            engine.gamma_patterns(records, sample, sampled, workers=self.n_jobs)
            if sampled
            else None
        )
        u: dict[str, np.ndarray] = {}
        for comp in comparisons:
            top = comp.n_levels - 1
            exact = shares[comp.name]
            counts = (
                patterns.level_counts(comp.name, comp.n_levels)
                if patterns is not None and comp.name in compared
                else np.zeros(comp.n_levels)
            )
            if exact:
                k = len(exact)
                rest = counts[: top - k + 1] + 0.5
                left = max(1.0 - sum(exact), _PROB_FLOOR)
                probs = np.append(rest / rest.sum() * left, exact[::-1])
            else:
                probs = (counts + 0.5) / (counts.sum() + 0.5 * comp.n_levels)
            u[comp.name] = np.maximum(probs, _PROB_FLOOR)
        return u

    def _session_rules(self) -> list[Blocker]:
        rules = [as_blocker(r, where="a training rule") for r in self.training_rules]
        if not rules:
            raise ConfigError(
                "FellegiSunter needs 'training_rules' (blocking rules for the EM "
                "sessions), labels, or both; got neither."
            )
        return rules

    def _m_by_em(
        self,
        engine: Engine,
        records: Frame,
        comparisons: list[Comparison],
        names: list[str],
        *,
        bar: Bar | None = None,
        candidate_pairs: Frame | None = None,
        candidate_vectors: Frame | None = None,
    ) -> dict[str, np.ndarray]:
        m_init = [_default_m(c.n_levels) for c in comparisons]
        known = _KnownVectors(
            candidate_vectors if isinstance(candidate_vectors, pl.DataFrame) else None,
            names,
            comparisons=comparisons,
        )
        # An engine that keeps its frames elsewhere (Spark) may count a
        # session's patterns among the candidates itself, with the same test.
        among_candidates = getattr(engine, "session_patterns", None)
        candidates = (
            candidate_vectors if candidate_vectors is not None else (candidate_pairs)
        )
        u = [self.u_[n] for n in names]
        estimates: dict[str, list[np.ndarray]] = {n: [] for n in names}
        rules = self._session_rules()
        totals = engine.count_rule_pairs(records, rules, link_type=self.link_type)
        for rule, total in zip(rules, totals.get_column("pairs"), strict=True):
            if bar is not None:
                bar.describe(f"EM session {rule.name}")
            sample, counts = self._session_sample(engine, records, rule, int(total))
            # A session whose pairs are all candidates (its rule is also a
            # blocking rule) takes their gammas from the candidates' vectors
            # (polars engine), without blocking; any other is blocked and
            # compared afresh. Same gammas either way.
            vectors = known.session(
                records,
                sample,
                rule,
                int(counts.get_column("pairs")[0]),
                engine=engine,
            )
            found = (
                among_candidates(
                    records,
                    sample,
                    rule,
                    int(counts.get_column("pairs")[0]),
                    candidates=candidates,
                    comparisons=comparisons,
                    link_type=self.link_type,
                )
                if vectors is None
                and among_candidates is not None
                and candidates is not None
                else None
            )
            if vectors is not None:
                n_pairs = vectors.height
                patterns = Patterns.from_vectors(vectors, names)
            elif found is not None:
                patterns = found
                n_pairs = int(patterns.counts.sum())
            else:
                pairs = engine.block(
                    sample, [rule], link_type=self.link_type, counts=counts
                )
                n_pairs = engine.height(pairs)
                # the two records of an exact rule's pair agree on its
                # columns: the engine compares those comparisons per record
                agreeing = (
                    rule.columns
                    if isinstance(rule, ExactRule)
                    and rule.on_plain_columns
                    and rule.max_block_size is None
                    else ()
                )
                patterns = engine.gamma_patterns(
                    records,
                    pairs,
                    comparisons,
                    workers=self.n_jobs,
                    agreeing=agreeing,
                )
            blocked_columns = set(rule.columns)
            # A comparison reading a blocked column agrees there on every pair
            # of the session (for a comparison of several columns, its levels
            # on that column do), so EM would learn a biased m from it.
            fixed = [
                any(column in blocked_columns for column in c.columns)
                for c in comparisons
            ]
            # A comparison on the blocked columns agrees on every pair of the
            # session, so it says nothing about which are matches: m = u makes
            # its Bayes factor 1 (otherwise it inflates every posterior and EM
            # drifts to "all pairs match").
            session_m = [
                u[k] if fixed[k] else m_init[k] for k in range(len(comparisons))
            ]
            result = run_em(
                patterns,
                m_init=session_m,
                u=u,
                probability_match_init=0.5,
                fixed=fixed,
                max_iter=self.max_iter,
                tol=self.tol,
            )
            trained = [n for n, f in zip(names, fixed, strict=True) if not f]
            for k, name in enumerate(names):
                if not fixed[k]:
                    estimates[name].append(result.m[k])
            self.sessions_.append(
                {
                    "rule": rule.name,
                    "kind": rule.kind,
                    "columns": list(rule.columns),
                    "pairs": round(n_pairs * self._session_scale),
                    "pairs_trained": n_pairs,
                    "patterns": len(patterns.counts),
                    "iterations": result.n_iter,
                    "converged": result.converged,
                    "match_share": result.probability_match,
                    "trained": trained,
                }
            )
            log.info(
                "EM session %s: %s pairs, %d patterns, %d iterations",
                rule.name,
                f"{n_pairs:,}",
                len(patterns.counts),
                result.n_iter,
            )
            if bar is not None:
                bar.update()
        untrained = [n for n in names if not estimates[n]]
        if untrained:
            raise ConfigError(
                f"Comparison(s) {untrained} were blocked on in every training session, "
                "so EM never estimated their m; add a training rule on other columns."
            )
        return {n: np.mean(estimates[n], axis=0) for n in names}

    def _lambda_by_em(
        self,
        engine: Engine,
        records: Frame,
        comparisons: list[Comparison],
        candidate_pairs: Frame | None,
        candidate_vectors: Frame | None,
    ) -> float:
        if candidate_vectors is not None:
            candidate_pairs = candidate_vectors.select(schema.ROW_L, schema.ROW_R)
        if candidate_pairs is None:
            candidate_pairs = engine.block(
                records, self._session_rules(), link_type=self.link_type
            )
        needed = [schema.gamma(c.name) for c in comparisons] + [
            schema.tf(c.name) for c in comparisons if c.tf_gamma is not None
        ]
        if candidate_vectors is not None and set(needed) <= set(
            candidate_vectors.columns
        ):
            vectors = candidate_vectors
        else:
            vectors = engine.compare(
                records,
                candidate_pairs.select(schema.ROW_L, schema.ROW_R),
                comparisons,
                raw_similarity=False,
                workers=self.n_jobs,
            )
        # The match share among candidates, with term frequencies counted:
        # a fixed point of λ_c = mean posterior, over each pair's own weight
        # (EM over gamma patterns would see only the average u of an exact
        # level and take pairs agreeing on common names for matches). An
        # engine may hand over distinct weights with their pair counts.
        weights, counts = engine.weight_counts(vectors, self._weights)
        n_pairs = weights.size if counts is None else float(counts.sum())
        share = 0.1
        for _ in range(self.max_iter):
            prior = np.log2(share) - np.log2(1.0 - share)
            posterior = 1.0 / (1.0 + np.exp2(-(weights + prior)))
            new = float(
                np.mean(posterior)
                if counts is None
                else np.sum(counts * posterior) / max(n_pairs, 1.0)
            )
            new = float(np.clip(new, 1e-12, 1 - 1e-9))
            if abs(new - share) < self.tol * max(share, 1e-6):
                share = new
                break
            share = new
        self.candidate_match_share_ = share
        expected = share * n_pairs
        return float(np.clip(expected / max(self.total_pairs_, 1), _PROB_FLOOR, 0.5))

    def _m_from_labels(
        self,
        engine: Engine,
        records: Frame,
        labels: pl.DataFrame,
        comparisons: list[Comparison],
    ) -> dict[str, np.ndarray]:
        patterns = engine.gamma_patterns(
            records,
            labels.select(schema.ROW_L, schema.ROW_R),
            comparisons,
            workers=self.n_jobs,
        )
        m: dict[str, np.ndarray] = {}
        for comp in comparisons:
            counts = patterns.level_counts(comp.name, comp.n_levels) + 0.5
            m[comp.name] = counts / counts.sum()
        return m

    # -------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "m_"):
            from er_toolkit.exceptions import NotFittedError

            raise NotFittedError(
                "This FellegiSunter is not fitted yet; call fit(records) or load a "
                "saved model first."
            )

    @property
    def prior_weight_(self) -> float:
        """log2 of the prior odds λ / (1 - λ)."""
        lam = self.probability_two_random_records_match_
        return float(np.log2(lam) - np.log2(1.0 - lam))

    def bayes_factor_table(self) -> pl.DataFrame:
        """Return m, u and the match weight of every comparison level."""
        self._check_fitted()
        rows = []
        for comp in self.comparisons:
            m, u = self.m_[comp.name], self.u_[comp.name]
            for g, label in enumerate(comp.level_labels):
                rows.append(
                    {
                        "comparison": comp.name,
                        "gamma": g,
                        "level": label,
                        "m": float(m[g]),
                        "u": float(u[g]),
                        "log2_bayes_factor": float(np.log2(m[g]) - np.log2(u[g])),
                    }
                )
        return pl.DataFrame(rows)

    def suspicious_levels(self) -> pl.DataFrame:
        """Return the levels whose fitted parameters look wrong.

        A level is flagged when EM drove its m to the floor (at most
        :data:`SUSPICIOUS_M`: no match in the training sessions reached it,
        so a pair that does is all but ruled out; an "else" level with a
        floored m says a disagreement on the field never happens between
        matches), or when a level other than "else" weighs more than
        :data:`SUSPICIOUS_GAP` bits below the comparison's "else" level (a
        closer agreement counting as stronger evidence against a match than
        no agreement at all).

        Returns
        -------
        polars.DataFrame
            The :meth:`bayes_factor_table` rows of those levels, with
            ``else_log2_bayes_factor`` and ``reason``; empty when none.

        Examples
        --------
        >>> from er_toolkit.compare import Comparison
        >>> fs = FellegiSunter([Comparison.from_dict({"name": "dob", "column": "dob",
        ...     "levels": [{"kind": "exact"}, {"kind": "distance",
        ...     "comparator": "levenshtein", "max_distance": 1}]})])
        >>> fs.m_ = {"dob": np.array([0.1, 1e-12, 0.9])}
        >>> fs.u_ = {"dob": np.array([0.9, 0.09, 0.01])}
        >>> fs.suspicious_levels().select("level", "reason").rows()
        [('levenshtein <= 1', 'm floored')]
        """
        table = self.bayes_factor_table()
        weight = pl.col("log2_bayes_factor")
        at_else = table.filter(pl.col("gamma") == 0).select(
            "comparison", weight.alias("else_log2_bayes_factor")
        )
        floored = pl.col("m") <= SUSPICIOUS_M
        below = pl.col("else_log2_bayes_factor") - weight > SUSPICIOUS_GAP
        return (
            table.join(at_else, on="comparison", how="left", maintain_order="left")
            .filter(floored | ((pl.col("gamma") > 0) & below))
            .with_columns(
                pl.when(floored)
                .then(pl.lit("m floored"))
                .otherwise(pl.lit("weight far below else"))
                .alias("reason")
            )
        )

    def _suspicious_lines(self) -> list[str]:
        return [
            f"{row['comparison']} {row['level']!r}: {row['reason']} (m {row['m']:.2g}, "
            f"{row['log2_bayes_factor']:.1f} bits against {row['else_log2_bayes_factor']:.1f} "
            "for 'else')"
            for row in self.suspicious_levels().iter_rows(named=True)
        ]

    def _warn_if_suspicious(self) -> None:
        lines = self._suspicious_lines()
        if not lines:
            return
        warnings.warn(
            SuspiciousParametersWarning(
                f"FellegiSunter: {len(lines)} level(s) look suspicious: "
                + "; ".join(lines)
                + ". Few or no matching pairs in the training sessions reached "
                "these levels, so a pair that does is all but ruled out; merge the "
                "level into a neighbour, or count m from labels. "
                "suspicious_levels() lists them."
            ),
            stacklevel=3,
        )

    # ---------------------------------------------------------------- display
    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        names = [c.name for c in self.comparisons]
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        head = f"FellegiSunter({self.link_type}, {len(names)} comparisons: {shown}"
        if not self.__sklearn_is_fitted__():
            return head + ", not fitted)"
        flagged = self.suspicious_levels().height
        return (
            f"{head}, fitted: λ={self.probability_two_random_records_match_:.3g} "
            f"({self.lambda_method_}), threshold {self.threshold_:.4g}"
            + (f", {flagged} suspicious level(s)" if flagged else "")
            + ")"
        )

    def _repr_html_(self) -> str:
        from sklearn.utils import estimator_html_repr

        from er_toolkit.display import html_summary

        params = [("estimator parameters", estimator_html_repr(self))]
        names = ", ".join(c.name for c in self.comparisons)
        facts: list[tuple[str, object]] = [
            ("link type", self.link_type),
            ("comparisons", names),
        ]
        if not self.__sklearn_is_fitted__():
            facts.append(("state", "not fitted"))
            return html_summary("FellegiSunter (not fitted)", facts, details=params)
        facts += [
            (
                "λ (two random records match)",
                self.probability_two_random_records_match_,
            ),
            ("λ from", self.lambda_method_),
            ("threshold", self.threshold_),
            ("records trained on", self.n_records_),
            ("random pairs for u", getattr(self, "u_sample_pairs_", None)),
            ("EM sessions", len(self.sessions_)),
        ]
        table = self.bayes_factor_table().select(
            "comparison", "level", "m", "u", "log2_bayes_factor"
        )
        return html_summary(
            "FellegiSunter (fitted)",
            facts,
            warnings=self._suspicious_lines(),
            tables=[("match weights per level (log2 m/u, bits)", table)],
            details=params,
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        """Jupyter's display: the fitted summary, not only scikit-learn's diagram."""
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def level_weights(self, name: str) -> np.ndarray:
        """Return one comparison's match weight per level, ``log2(m / u)`` in bits.

        The table scoring reads: m and u are raised to :data:`SCORE_FLOOR`
        first, and a term-frequency level's weight is this one before its
        adjustment (see :meth:`tf_level_weights`). A null (gamma -1) weighs 0.

        Parameters
        ----------
        name
            The comparison's name.

        Returns
        -------
        numpy.ndarray
            One weight per gamma level, level 0 first.

        Examples
        --------
        >>> from er_toolkit.compare import Comparison
        >>> fs = FellegiSunter([Comparison.from_dict({"name": "email",
        ...     "column": "email", "levels": [{"kind": "exact"}]})])
        >>> fs.m_ = {"email": np.array([0.1, 0.9])}
        >>> fs.u_ = {"email": np.array([0.99, 0.01])}
        >>> fs.level_weights("email").round(2).tolist()
        [-3.31, 6.49]
        """
        self._check_fitted()
        m, u = self.m_[name], self.u_[name]
        return np.log2(np.maximum(m, SCORE_FLOOR)) - np.log2(np.maximum(u, SCORE_FLOOR))

    def tf_level_weights(
        self, comp: Comparison, top: int, frequencies: np.ndarray
    ) -> np.ndarray:
        """Return the term-frequency adjusted weight of level ``top`` for each value frequency.

        The Bayes factor is ``m / u * (u / max(f, floor)) ** tf_weight``
        for a value's frequency ``f``, the floor being the level's
        ``tf_min_u`` or else one over the records trained on: Splink's
        adjustment, which with ``tf_weight`` 1 is ``m / max(f, floor)``.

        Parameters
        ----------
        comp
            The comparison.
        top
            The gamma of one of its term-frequency levels
            (``comp.tf_levels``).
        frequencies
            Known (not NaN) frequencies, in float64.

        Returns
        -------
        numpy.ndarray
            The weights in bits, one per frequency.

        Examples
        --------
        A rare surname (one record in a thousand) weighs more than a common
        one (one in ten):

        >>> from er_toolkit.compare import Comparison
        >>> surname = Comparison.from_dict({"name": "surname", "column": "surname",
        ...     "levels": [{"kind": "exact", "term_frequency": True}]})
        >>> fs = FellegiSunter([surname])
        >>> fs.m_ = {"surname": np.array([0.1, 0.9])}
        >>> fs.u_ = {"surname": np.array([0.99, 0.01])}
        >>> fs.n_records_ = 1000
        >>> fs.tf_level_weights(surname, 1, np.array([0.001, 0.1])).round(2).tolist()
        [9.81, 3.17]
        """
        level = next(lvl for t, lvl, _ in comp.tf_levels if t == top)
        m, u = self.m_[comp.name], self.u_[comp.name]
        floor = (
            1.0 / max(self.n_records_, 1) if level.tf_min_u is None else level.tf_min_u
        )
        log_freq = np.log2(np.maximum(frequencies, floor))
        if level.tf_weight == 1.0:
            return np.log2(m[top]) - log_freq
        return self.level_weights(comp.name)[top] + level.tf_weight * (
            np.log2(u[top]) - log_freq
        )

    def comparison_weights(self, vectors: pl.DataFrame, comp: Comparison) -> np.ndarray:
        """Return one comparison's match weight per pair, in bits (term-frequency adjusted).

        Each pair's ``gamma_<name>`` level reads :meth:`level_weights` (0
        for a null); at a term-frequency level with the pair's ``tf_<name>``
        frequency known, :meth:`tf_level_weights` instead.

        Parameters
        ----------
        vectors
            Comparison vectors with the comparison's ``gamma_`` (and, for
            term-frequency levels, ``tf_``) column.
        comp
            The comparison, one of this model's.

        Returns
        -------
        numpy.ndarray
            float64 weights, one per row of ``vectors``.

        Examples
        --------
        An exact agreement with a known frequency, a disagreement, a null,
        and an exact agreement whose frequency is unknown (the plain level):

        >>> import polars as pl
        >>> from er_toolkit.compare import Comparison
        >>> surname = Comparison.from_dict({"name": "surname", "column": "surname",
        ...     "levels": [{"kind": "exact", "term_frequency": True}]})
        >>> fs = FellegiSunter([surname])
        >>> fs.m_ = {"surname": np.array([0.1, 0.9])}
        >>> fs.u_ = {"surname": np.array([0.99, 0.01])}
        >>> fs.n_records_ = 1000
        >>> vectors = pl.DataFrame({"gamma_surname": [1, 0, -1, 1],
        ...     "tf_surname": [0.1, None, None, None]},
        ...     schema={"gamma_surname": pl.Int8, "tf_surname": pl.Float64})
        >>> fs.comparison_weights(vectors, surname).round(2).tolist()
        [3.17, -3.31, 0.0, 6.49]
        """
        table = self.level_weights(comp.name)
        gamma = vectors.get_column(schema.gamma(comp.name)).to_numpy()
        # gamma -1 (null) reads the appended 0.0 at index -1
        bf = np.append(table, 0.0)[gamma.astype(np.int64)]
        levels = comp.tf_levels
        if levels and schema.tf(comp.name) in vectors.columns:
            # in float64: a float32 log2 of float32 frequencies is off by ~1e-6 bits
            freq = (
                vectors.get_column(schema.tf(comp.name)).to_numpy().astype(np.float64)
            )
            known = ~np.isnan(freq)
            for top, _, _ in levels:
                at_top = (gamma == top) & known
                bf[at_top] = self.tf_level_weights(comp, top, freq[at_top])
        return bf

    def _contributions(self, vectors: pl.DataFrame) -> np.ndarray:
        """Return each comparison's log2 Bayes factor per pair (TF adjusted)."""
        if not self.comparisons:
            return np.empty((vectors.height, 0))
        return np.column_stack(
            [self.comparison_weights(vectors, c) for c in self.comparisons]
        ).reshape(vectors.height, len(self.comparisons))

    def _weights(self, vectors: pl.DataFrame) -> np.ndarray:
        """Return each pair's summed log2 Bayes factor, one comparison at a time.

        Pairs are summed :data:`SCORE_CHUNK` at a time, so the working
        arrays (level indices, frequencies, masks) are one slice's, not tens
        of millions of pairs' each; every pair's sum is the same.
        """
        total = np.zeros(vectors.height)
        for start in range(0, vectors.height, SCORE_CHUNK):
            part = vectors.slice(start, SCORE_CHUNK)
            out = total[start : start + part.height]
            for comp in self.comparisons:
                out += self.comparison_weights(part, comp)
        return total

    def predict(self, vectors: pl.DataFrame, *, explain: bool = False) -> pl.DataFrame:
        """Score comparison vectors.

        Parameters
        ----------
        vectors
            Output of :func:`er_toolkit.compare.compare_pairs` for this
            model's comparisons.
        explain
            Also return each comparison's contribution (``bf_<name>``, in
            bits) and its gamma level.

        Returns
        -------
        polars.DataFrame
            The pair columns (``_row_l``, ``_row_r``, ``blocked_by`` where
            present), ``match_weight`` (log2 Bayes factor with the prior) and
            ``match_probability``.
        """
        self._check_fitted()
        names = [c.name for c in self.comparisons]
        if explain:
            contributions = self._contributions(vectors)
            weight = np.zeros(vectors.height)
            for k in range(contributions.shape[1]):  # same order as _weights
                weight += contributions[:, k]
            weight += self.prior_weight_
        else:
            weight = self._weights(vectors)
            weight += self.prior_weight_
        # in place: 1 / (1 + 2 ** -weight) without full-length temporaries
        probability = np.negative(weight)
        np.exp2(probability, out=probability)
        probability += 1.0
        np.divide(1.0, probability, out=probability)
        keep = [
            c
            for c in (schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY)
            if c in vectors.columns
        ]
        out = _scored_frame(
            [vectors.get_column(c) for c in keep],
            pl.Series(schema.MATCH_WEIGHT, weight, dtype=pl.Float64),
            pl.Series(schema.MATCH_PROBABILITY, probability, dtype=pl.Float64),
        )
        if explain:
            out = out.with_columns(
                *[
                    pl.Series(schema.bf(n), contributions[:, k])
                    for k, n in enumerate(names)
                ],
                *[vectors.get_column(schema.gamma(n)) for n in names],
            )
        return out

    # ---------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as a JSON-ready dict (no record values).

        ``fitted`` holds every learned attribute (name ending in ``_``), so
        :meth:`from_dict` gives back an equal model.
        """
        self._check_fitted()
        fitted: dict[str, Any] = {}
        for name in learned_attributes(self):
            value = getattr(self, name)
            if isinstance(value, dict) and all(
                isinstance(v, np.ndarray) for v in value.values()
            ):
                value = {k: v.tolist() for k, v in value.items()}
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            fitted[name] = value
        return {
            "format_version": FORMAT_VERSION,
            "kind": "FellegiSunter",
            "er_toolkit_version": __version__,
            "link_type": self.link_type,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "params": {
                "training_rules": [
                    as_blocker(r).to_dict() for r in self.training_rules
                ],
                "deterministic_rules": [
                    as_blocker(r).to_dict() for r in self.deterministic_rules
                ],
                "deterministic_recall": self.deterministic_recall,
                "probability_two_random_records_match": (
                    self.probability_two_random_records_match
                ),
                "u_sample_size": self.u_sample_size,
                "max_iter": self.max_iter,
                "tol": self.tol,
                "max_pairs_per_session": self.max_pairs_per_session,
                "threshold": self.threshold,
                "seed": self.seed,
            },
            "fitted": fitted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FellegiSunter:
        """Rebuild a fitted model from :meth:`to_dict`'s output.

        Files of format version 1 (before the threshold and the full set of
        learned attributes were stored) are read too; their threshold is
        0.5 unless the linker's config says otherwise.

        Raises
        ------
        ModelFormatError
            Naming the first field that is missing, of the wrong type or out
            of range (see :func:`~er_toolkit.score.validation.validate_fellegi_sunter_dict`).
        """
        validate_fellegi_sunter_dict(data)
        version = data.get("format_version") if isinstance(data, dict) else None
        kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
        if kind != "FellegiSunter" or version not in READABLE_VERSIONS:
            raise ModelFormatError(
                f"Expected a FellegiSunter model of format_version "
                f"{list(READABLE_VERSIONS)}; got kind={kind!r}, "
                f"format_version={version!r}."
            )
        params = data["params"]
        model = cls(
            tuple(Comparison.from_dict(c) for c in data["comparisons"]),
            link_type=data["link_type"],
            # declarations, or (files written before blockers were plug-ins)
            # column lists
            training_rules=tuple(as_blocker(r) for r in params["training_rules"]),
            deterministic_rules=tuple(
                as_blocker(r) for r in params["deterministic_rules"]
            ),
            deterministic_recall=params["deterministic_recall"],
            probability_two_random_records_match=params[
                "probability_two_random_records_match"
            ],
            u_sample_size=params["u_sample_size"],
            max_iter=params["max_iter"],
            tol=params["tol"],
            max_pairs_per_session=params.get("max_pairs_per_session", 2_000_000),
            threshold=params.get("threshold", 0.5),
            seed=params["seed"],
        )
        fitted = dict(data["fitted"])
        if version == 1:
            fitted = {
                "probability_two_random_records_match_": fitted[
                    "probability_two_random_records_match"
                ],
                "lambda_method_": fitted["lambda_method"],
                "n_records_": fitted["n_records"],
                "m_": fitted["m"],
                "u_": fitted["u"],
                "sessions_": fitted.get("sessions", []),
                "threshold_": model.threshold,
            }
        unknown = sorted(set(fitted) - LEARNED)
        if unknown:
            raise ModelFormatError(
                f"The model file's 'fitted' holds unknown field(s) {unknown}; expected "
                f"only {sorted(LEARNED)}."
            )
        for name, value in fitted.items():
            if name in ("m_", "u_"):
                value = {k: np.asarray(v, dtype=np.float64) for k, v in value.items()}
            setattr(model, name, value)
        return model

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as JSON to ``path`` (atomically)."""
        from er_toolkit.io import write_json_atomic

        return write_json_atomic(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FellegiSunter:
        """Read a model written by :meth:`save`, with the checks of :meth:`from_dict`."""
        return cls.from_dict(load_model_json(path))


class _KnownVectors:
    """Find an EM session's pairs among already compared candidates (their gamma columns).

    A session of an exact rule (no block purging) pairs every two records of
    its sample that share the rule's key. The candidates whose two records
    share that key and are both in the sample are therefore among the
    session's pairs; when there are as many of them (all distinct) as the
    session has pairs, they are the session's pairs, and their gammas are
    the session's. That is numpy gathers over each record's key code: no
    join, no blocking.

    Where each key column has a text comparison whose first level is exact
    on it, a candidate can share the key only when that comparison's gamma
    is at its top level; the gathers then read only those candidates, and
    only those of them with both records in the sample.
    """

    def __init__(
        self,
        vectors: pl.DataFrame | None,
        names: Sequence[str],
        *,
        comparisons: Sequence[Comparison] = (),
    ) -> None:
        self.columns = [schema.gamma(n) for n in names]
        usable = (
            vectors is not None
            and vectors.height > 0
            and all(
                c in vectors.columns
                for c in (schema.ROW_L, schema.ROW_R, *self.columns)
            )
        )
        self.vectors = vectors if usable else None
        self.comparisons = tuple(comparisons)
        self._largest_row: int | None = None

    def _top_levels(self, rule: ExactRule) -> list[tuple[str, int]] | None:
        """Per key column, the gamma column and level that sharing the key implies, or None.

        A comparison on the column whose first level is exact on it, reading
        text only, puts every pair with equal non-null values (the same key)
        at that level: gamma = its number of levels.
        """
        assert self.vectors is not None
        out = []
        for column in rule.columns:
            found = None
            for comparison in self.comparisons:
                first = comparison.levels[0] if comparison.levels else None
                name = schema.gamma(comparison.name)
                if (
                    comparison.column == column
                    and isinstance(first, ExactLevel)
                    and first.extract is None
                    and first.column in (None, column)
                    and comparison.known_as == {"text"}
                    and name in self.vectors.columns
                ):
                    found = (name, len(comparison.levels))
                    break
            if found is None:
                return None
            out.append(found)
        return out

    def _pair_rows(
        self, top: list[tuple[str, int]] | None
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield the candidates' row numbers a slice at a time, with their positions in the slice.

        Slices, not whole columns: the candidates' rows are never copied out
        whole (two 4-byte columns of tens of millions of pairs), nor gathered
        whole into keys. With ``top``, only the candidates at those levels.
        """
        assert self.vectors is not None
        # Series, not a select: a select of a frame whose columns are
        # chunked unlike each other (candidates' rows and their compared
        # gammas) copies the whole frame to align them first
        left = self.vectors.get_column(schema.ROW_L)
        right = self.vectors.get_column(schema.ROW_R)
        gammas = [(self.vectors.get_column(c), level) for c, level in top or ()]
        for start in range(0, left.len(), KNOWN_CHUNK):
            rows_l = left.slice(start, KNOWN_CHUNK).to_numpy()
            rows_r = right.slice(start, KNOWN_CHUNK).to_numpy()
            if not gammas:
                yield np.arange(len(rows_l)), rows_l, rows_r
                continue
            at = np.ones(len(rows_l), dtype=bool)
            for gamma, level in gammas:
                at &= gamma.slice(start, KNOWN_CHUNK).to_numpy() == level
            where = np.flatnonzero(at)
            yield where, rows_l[where], rows_r[where]

    def _last_row(self) -> int:
        if self._largest_row is None:
            assert self.vectors is not None
            self._largest_row = max(
                int(self.vectors.get_column(c).max())  # type: ignore[arg-type]
                for c in (schema.ROW_L, schema.ROW_R)
            )
        return self._largest_row

    def session(
        self,
        records: Frame,
        sample: Frame,
        rule: Blocker,
        n_pairs: int,
        *,
        engine: Engine | None = None,
    ) -> pl.DataFrame | None:
        """Return the gamma columns of ``rule``'s ``n_pairs`` pairs among ``sample``, or None unless they are all candidates.

        Examples
        --------
        >>> recs = pl.DataFrame({"_row": [0, 1, 2], "s": ["a", "a", "b"]},
        ...                     schema_overrides={"_row": pl.UInt32})
        >>> vectors = pl.DataFrame({"_row_l": [0, 0], "_row_r": [1, 2], "gamma_s": [1, 0]},
        ...                        schema_overrides={"gamma_s": pl.Int8})
        >>> known = _KnownVectors(vectors, ["s"])
        >>> known.session(recs, recs, ExactRule(("s",)), 1).rows()
        [(1,)]
        >>> known.session(recs, recs, ExactRule(("s",)), 2) is None
        True
        """
        vectors = self.vectors
        if (
            vectors is None
            or n_pairs == 0
            or not isinstance(records, pl.DataFrame)
            or not isinstance(sample, pl.DataFrame)
            or not isinstance(rule, ExactRule)
            or rule.max_block_size is not None
        ):
            return None
        blocked_by = vectors.schema.get(schema.BLOCKED_BY)
        if isinstance(blocked_by, pl.Enum) and rule.name not in blocked_by.categories:
            # Not a blocking rule: its pairs are seldom all candidates (a
            # stricter rule's would be; those sessions are compared afresh).
            return None
        size = records.height
        last_row = records.get_column(schema.ROW).max()
        if not isinstance(last_row, int) or last_row >= size:
            return None  # rows not numbered 0 .. n - 1
        key = self._row_keys(records, rule, size, engine)
        in_sample: np.ndarray | None = None
        if sample is not records:
            in_sample = np.zeros(size, dtype=bool)
            in_sample[sample.get_column(schema.ROW).to_numpy()] = True
        if self._last_row() >= size:
            return None
        # A row without a key gets a negative key of its own, so one equality
        # test finds the pairs sharing a key; 32-bit keys where they fit
        # halve what the gathers over every candidate move.
        small = int(key.max(initial=0)) < np.iinfo(np.int32).max - 1 and size < (
            np.iinfo(np.int32).max
        )
        own = -1 - np.arange(size, dtype=np.int64)
        key = np.where(key >= 0, key, own).astype(np.int32 if small else np.int64)
        del own
        top = self._top_levels(rule) if rule.on_plain_columns else None
        hit = np.zeros(vectors.height, dtype=bool)
        packs = []
        found = 0
        start = 0
        for where, left, right in self._pair_rows(top):
            if in_sample is not None:
                both = in_sample[left] & in_sample[right]
                where, left, right = where[both], left[both], right[both]
            same = key[left] == key[right]
            where, left, right = where[same], left[same], right[same]
            found += len(where)
            if found > n_pairs:
                return None
            hit[start + where] = True
            start += KNOWN_CHUNK
            lo = np.minimum(left, right).astype(np.uint64)
            packs.append(lo * size + np.maximum(left, right))
        if found != n_pairs:
            return None
        packed = pl.Series(np.concatenate(packs))
        del packs
        if packed.n_unique() != found:
            return None  # repeated candidates: the count proves nothing
        return pl.DataFrame([vectors.get_column(c) for c in self.columns]).filter(
            pl.Series(hit)
        )

    @staticmethod
    def _row_keys(
        records: pl.DataFrame, rule: ExactRule, size: int, engine: Engine | None
    ) -> np.ndarray:
        """Return each row's key code under ``rule`` (-1 without a key)."""
        codes = getattr(engine, "exact_key_codes", None)
        key = codes(records, rule) if codes is not None else None
        if key is not None and len(key) == size:
            return np.asarray(key)
        keyed = rule.block_keys(records)
        out = np.full(size, -1, dtype=np.int64)
        out[keyed.get_column(schema.ROW).to_numpy()] = (
            keyed.get_column(schema.BLOCK_KEY)
            .cast(pl.Categorical)
            .to_physical()
            .to_numpy()
        )
        return out


def _default_m(n_levels: int) -> np.ndarray:
    """Return starting m: most matches at the top level, the rest spread below."""
    if n_levels == 1:
        return np.ones(1)
    m = np.full(n_levels, 0.15 / (n_levels - 1))
    m[-1] = 0.85
    return m


KNOWN_CHUNK: Final = 2_000_000
"""Candidates a session's pairs are looked for among at a time."""

MAX_EXACT_RUN: Final = 10
"""Most leading exact levels of a comparison whose u is counted from values."""


def exact_level_shares(
    engine: Engine, records: Frame, comparison: Comparison, link_type: LinkType
) -> list[float]:
    """Return u of a comparison's leading exact levels, from value counts.

    The leading run of levels that only ask for equal values (an exact
    level, or an ``and`` of exact levels over several columns) have u
    computed exactly rather than sampled: the share of random pairs (both
    with the comparison's own column) at each level, which for level ``j``
    of column sets ``S_1 .. S_j`` is, by inclusion and exclusion over the
    levels before it, ``sum over T of (-1)^|T| share(S_j and the S_t of T)``.
    Joint counts see what sampling misses at scale: people of one household
    share surname and postcode far more often than the product of the two
    shares says.

    Returns
    -------
    list of float
        u of each leading exact level, top level first (empty when the top
        level is not exact).
    """
    if comparison.null_columns:
        return []  # its non-null pairs are not those with its own column: sampled
    sets: list[frozenset[str]] = []
    for level in comparison.levels[:MAX_EXACT_RUN]:
        columns = exact_columns(level, main=comparison.column)
        if columns is None:
            break
        sets.append(frozenset(columns))
    if not sets:
        return []
    cache: dict[frozenset[str], float] = {}

    def share(columns: frozenset[str]) -> float:
        if columns not in cache:
            cache[columns] = engine.exact_agreement_share(
                records, sorted(columns), link_type=link_type, given=comparison.column
            )
        return cache[columns]

    out = []
    for j, own in enumerate(sets):
        total = 0.0
        earlier = sets[:j]
        for size in range(len(earlier) + 1):
            for chosen in itertools.combinations(earlier, size):
                union = own.union(*chosen)
                total += (-1) ** size * share(union)
        out.append(float(np.clip(total, _PROB_FLOOR, 1 - _PROB_FLOOR)))
    return out


_MAX_SHARED_CHUNKS: Final = 64  # more chunks than this: one copy, one chunk


def _scored_frame(pair_columns: list[pl.Series], *scores: pl.Series) -> pl.DataFrame:
    """Return the pair columns beside the score columns, the pair columns not copied.

    A select of the vectors would first copy all of them (gammas too) when
    their columns are chunked unlike each other, as compared candidates'
    are. When the pair columns share their chunks (a blocker's pairs: one
    chunk per rule), the scores are cut at the same boundaries and the
    frame keeps the pairs' own buffers (tens of millions of pairs: hundreds
    of MB); otherwise it is made one chunk.

    Examples
    --------
    >>> rows = pl.concat([pl.Series("_row_l", [0, 1]), pl.Series("_row_l", [2])],
    ...                  rechunk=False)
    >>> out = _scored_frame([rows], pl.Series("match_weight", [1.0, 2.0, 3.0]))
    >>> out.get_column("match_weight").chunk_lengths(), out.rows()
    ([2, 1], [(0, 1.0), (1, 2.0), (2, 3.0)])
    """
    lengths = {tuple(c.chunk_lengths()) for c in pair_columns}
    if len(lengths) != 1 or len(next(iter(lengths))) > _MAX_SHARED_CHUNKS:
        return pl.DataFrame([*pair_columns, *scores]).rechunk()
    (chunks,) = lengths
    if len(chunks) > 1:
        starts = np.cumsum((0, *chunks[:-1]))
        scores = tuple(_cut(s, starts, chunks) for s in scores)
    return pl.DataFrame([*pair_columns, *scores])


def _cut(scores: pl.Series, starts: np.ndarray, chunks: tuple[int, ...]) -> pl.Series:
    """Return ``scores`` in chunks of these lengths.

    Without nulls each chunk is a view of the scores' own buffer (a Series
    of a numpy slice is not copied): no second copy of tens of millions of
    scores.
    """
    parts = zip(starts, chunks, strict=True)
    if scores.null_count() == 0:
        values = scores.to_numpy()
        cut = [
            pl.Series(scores.name, values[a : a + n], dtype=scores.dtype)
            for a, n in parts
        ]
    else:
        cut = [scores.slice(int(a), n).rechunk() for a, n in parts]
    return pl.concat(cut, rechunk=False)
