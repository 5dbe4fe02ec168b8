"""``python -m er_toolkit.label``: label candidate pairs in a terminal, by active learning."""

from __future__ import annotations

import sys
from pathlib import Path

from er_toolkit.active_learning import ActiveLearner, label_interactively
from er_toolkit.cli import ArgumentParser, run_cli
from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import ConfigError
from er_toolkit.score.classifier import ESTIMATORS

__all__ = ["main"]

EXIT_INTERRUPTED = 130


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="er-toolkit label",
        description="Label the candidate pairs a classifier is least sure of (and a "
        "few random ones), retraining after each batch, until you quit (q, or end "
        "of input) or the predicted matches stop changing. Every answer is saved "
        "to the labels file at once; run again with the same file to carry on.",
    )
    parser.add_argument("--config", required=True, help="path to a TOML config")
    parser.add_argument(
        "--labels",
        default=None,
        help="labels CSV to append to (default: the config's [training] labels_path, "
        "relative to the config file)",
    )
    parser.add_argument(
        "--batch", type=int, default=10, help="pairs per round (default 10)"
    )
    parser.add_argument(
        "--random",
        type=int,
        default=2,
        help="of which drawn at random for coverage (default 2)",
    )
    parser.add_argument(
        "--max-rounds", type=int, default=None, help="stop after this many rounds"
    )
    parser.add_argument(
        "--tol",
        type=float,
        default=0.01,
        help="converged when the predicted matches change by less than this share "
        "(default 0.01) ...",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=2,
        help="... in this many rounds in a row (default 2)",
    )
    parser.add_argument(
        "--estimator",
        default="logistic_regression",
        choices=ESTIMATORS,
        help="classifier retrained each round (default logistic_regression)",
    )
    return parser


def _labels_path(config: LinkageConfig, given: str | None) -> Path:
    if given is not None:
        return Path(given)
    name = config.training.labels_path
    if name is None:
        raise ConfigError(
            "Where should the labels go? Give --labels PATH, or set [training] "
            "labels_path in the config."
        )
    path = Path(name)
    return path if path.is_absolute() else config.base_dir / path


def _ask(prompt: str) -> str:
    """``input``, ending the prompt's line when input ends."""
    try:
        return input(prompt)
    except EOFError:
        if sys.stdin.isatty():
            print()  # Ctrl-D leaves the cursor after the prompt
        raise


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m er_toolkit.label``."""
    args = _parser().parse_args(argv)

    def job() -> int:
        if args.batch < 1 or not 0 <= args.random <= args.batch:
            raise ConfigError(
                "--batch must be >= 1 and --random between 0 and --batch; got "
                f"--batch {args.batch} --random {args.random}."
            )
        config = LinkageConfig.from_toml(Path(args.config))
        learner = ActiveLearner.from_config(
            config,
            labels_path=_labels_path(config, args.labels),
            n_uncertain=args.batch - args.random,
            n_random=args.random,
            tol=args.tol,
            patience=args.patience,
            estimator=args.estimator,
        )
        try:
            session = label_interactively(
                learner, ask=_ask, show=print, max_rounds=args.max_rounds
            )
        except KeyboardInterrupt:
            print(f"\ninterrupted: {learner.summary()}")
            return EXIT_INTERRUPTED
        if not sys.stdin.isatty():
            print()  # the prompt's line: piped answers are not echoed
        print(
            f"stopped ({session.stopped}) after {session.answered} answer(s): "
            f"{learner.summary()}"
        )
        return 0

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
