"""What a run on hard data gets wrong: false-positive and false-negative pair types.

Usage::

    python -m benchmarks.hard_errors --n 100000 --seed 0 --out benchmarks/out \
        [--tool er_toolkit]

Reads the side-by-side runner's prepared hard data
(``OUT/data/customers_hard_n{n}_seed{seed}.parquet``) and one tool's run
(``OUT/runs/{tool}_hard_n{n}_seed{seed}``: its clusters and its pairs at the
threshold), makes the generator's truth again (households, relations,
namesakes and the corruption flags of every record) and prints markdown
tables:

- false positives (pairs at the threshold, and pairs in one cluster, of
  different entities) by what the two entities are to each other: household
  members (by relation), namesakes, sharers of a placeholder, other people
  with the same name, or other;
- how often the two records of false-positive pairs agree, field by field;
- false negatives (pairs of one entity in different clusters) by the first
  cause that applies, and each cause's share among false-negative and among
  all true pairs (its lift).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from benchmarks.compare_prepare import prepared_path
from benchmarks.synthetic import generate_customers

__all__ = [
    "FIELDS",
    "false_negative_causes",
    "false_positive_kinds",
    "field_agreement",
    "labelled_records",
    "main",
    "pairs_of",
]

#: Prepared fields compared in the agreement table.
FIELDS: tuple[str, ...] = (
    "first_name",
    "surname",
    "date_of_birth",
    "email",
    "phone",
    "postcode",
    "city",
)


def labelled_records(
    n: int, seed: int, prepared: pl.DataFrame, clusters: pl.DataFrame
) -> pl.DataFrame:
    """One row per record: prepared fields, cluster, and the generator's truth.

    ``prepared`` is the runner's prepared file (``unique_id`` is the row of
    the generated frame), ``clusters`` the run's ``unique_id, cluster_id``.
    """
    _, truth = generate_customers(
        n, seed=seed, n_sources=4, difficulty="hard", return_truth=True
    )
    flags = [c for c in truth.columns if c.startswith("c_")]
    truth = truth.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("unique_id"),
        pl.col("entity_id").alias("truth_entity"),
        "household",
        "relation",
        "namesake_of",
        *flags,
    )
    out = (
        prepared.select("unique_id", "source", "entity_id", *FIELDS)
        .with_columns(pl.col("unique_id").cast(pl.Int64))
        .join(truth, on="unique_id")
        .join(
            clusters.select(
                pl.col("unique_id").cast(pl.Int64), pl.col("cluster_id").cast(pl.String)
            ),
            on="unique_id",
        )
    )
    if (
        out.height != prepared.height
        or not (out["entity_id"] == out["truth_entity"]).all()
    ):
        raise ValueError(
            "the prepared file does not line up with generate_customers(n, seed, "
            "difficulty='hard'): pass the n and seed it was made with"
        )
    return out.drop("truth_entity")


def pairs_of(records: pl.DataFrame, left: pl.DataFrame) -> pl.DataFrame:
    """Attach both records' columns (``_l``, ``_r``) to ``unique_id_l, unique_id_r``."""

    def side(s: str) -> pl.DataFrame:
        return records.rename({c: f"{c}_{s}" for c in records.columns})

    return left.join(side("l"), on="unique_id_l").join(side("r"), on="unique_id_r")


def _both(flag: str, field: str) -> pl.Expr:
    return (
        pl.col(f"{flag}_l")
        & pl.col(f"{flag}_r")
        & (pl.col(f"{field}_l") == pl.col(f"{field}_r"))
    )


def _kind() -> pl.Expr:
    household = pl.col("household_l") == pl.col("household_r")
    namesake = (
        (pl.col("namesake_of_l") == pl.col("entity_id_r"))
        | (pl.col("namesake_of_r") == pl.col("entity_id_l"))
        | (pl.col("namesake_of_l") == pl.col("namesake_of_r"))
    ).fill_null(False)
    same_name = (pl.col("first_name_l") == pl.col("first_name_r")) & (
        pl.col("surname_l") == pl.col("surname_r")
    )
    relations = pl.concat_str(
        [
            pl.min_horizontal("relation_l", "relation_r"),
            pl.lit("+"),
            pl.max_horizontal("relation_l", "relation_r"),
        ]
    )
    return (
        pl.when(household)
        .then(pl.lit("household: ") + relations)
        .when(namesake)
        .then(pl.lit("namesake in one city (planted)"))
        .when(_both("c_placeholder_email", "email"))
        .then(pl.lit("shared placeholder e-mail"))
        .when(_both("c_placeholder_phone", "phone"))
        .then(pl.lit("shared placeholder phone"))
        .when(_both("c_dob_placeholder", "date_of_birth"))
        .then(pl.lit("shared placeholder date of birth"))
        .when(same_name.fill_null(False))
        .then(pl.lit("other people of the same name"))
        .when(
            (pl.col("surname_l") == pl.col("surname_r"))
            & (pl.col("postcode_l") == pl.col("postcode_r"))
        )
        .then(pl.lit("same surname and postcode, other households"))
        .otherwise(pl.lit("other"))
        .alias("kind")
    )


def _shares(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    return (
        frame.group_by(by)
        .len("pairs")
        .sort(["pairs", by], descending=[True, False])
        .with_columns((pl.col("pairs") / pl.col("pairs").sum()).round(4).alias("share"))
    )


def false_positive_kinds(pairs: pl.DataFrame) -> pl.DataFrame:
    """Pairs of different entities by what the two are to each other."""
    wrong = pairs.filter(pl.col("entity_id_l") != pl.col("entity_id_r"))
    return _shares(wrong.with_columns(_kind()), "kind")


def field_agreement(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per false-positive kind: the share of pairs equal in each field."""
    wrong = pairs.filter(pl.col("entity_id_l") != pl.col("entity_id_r"))
    return (
        wrong.with_columns(_kind())
        .group_by("kind")
        .agg(
            pl.len().alias("pairs"),
            *[
                (pl.col(f"{c}_l") == pl.col(f"{c}_r"))
                .fill_null(False)
                .mean()
                .round(2)
                .alias(c)
                for c in FIELDS
            ],
        )
        .sort(["pairs", "kind"], descending=[True, False])
    )


def _causes() -> dict[str, pl.Expr]:
    def either(flag: str) -> pl.Expr:
        return pl.col(f"{flag}_l") | pl.col(f"{flag}_r")

    def one(flag: str) -> pl.Expr:
        return pl.col(f"{flag}_l") != pl.col(f"{flag}_r")

    return {
        "packed name (support desk) on a side": (pl.col("source_l") == "support")
        | (pl.col("source_r") == "support"),
        "married / maiden surname": one("c_surname_change"),
        "first name and surname swapped": either("c_name_swap"),
        "moved, with a new phone": one("c_move_phone"),
        "moved": one("c_move"),
        "initial only": either("c_initial"),
        "placeholder": either("c_placeholder_email")
        | either("c_placeholder_phone")
        | either("c_dob_placeholder"),
        "nickname": either("c_nickname"),
        "transliterated or accents lost": either("c_transliterate")
        | either("c_accent_strip"),
        "typo in a name": either("c_typo_first_name")
        | either("c_typo_surname")
        | either("c_transposition_first_name")
        | either("c_transposition_surname"),
        "date of birth differs": pl.col("date_of_birth_l") != pl.col("date_of_birth_r"),
        "date of birth missing on a side": pl.col("date_of_birth_l").is_null()
        | pl.col("date_of_birth_r").is_null(),
    }


def false_negative_causes(true_pairs: pl.DataFrame) -> pl.DataFrame:
    """Pairs of one entity in different clusters, by cause.

    ``first cause`` attributes each pair to the first cause in the table's
    order that applies to it; ``share of FN`` and ``share of all`` are the
    share of false-negative and of all true pairs it applies to (several
    apply to one pair), and ``lift`` their ratio.
    """
    causes = _causes()
    missed = true_pairs.filter(pl.col("cluster_id_l") != pl.col("cluster_id_r"))
    first: pl.Expr = pl.lit("none of these")
    for name, cond in reversed(causes.items()):
        first = pl.when(cond.fill_null(False)).then(pl.lit(name)).otherwise(first)
    counts = dict(missed.select(first.alias("c"))["c"].value_counts().iter_rows())
    rows = []
    for name, cond in [*causes.items(), ("none of these", pl.lit(value=False))]:
        in_fn = missed.select(cond.fill_null(False).mean()).item() or 0.0
        in_all = true_pairs.select(cond.fill_null(False).mean()).item() or 0.0
        rows.append(
            {
                "cause": name,
                "first cause": int(counts.get(name, 0)),
                "share of FN": round(in_fn, 3),
                "share of all": round(in_all, 3),
                "lift": round(in_fn / in_all, 2) if in_all else None,
            }
        )
    return pl.DataFrame(rows)


def _markdown(frame: pl.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * frame.width
    body = [
        "| " + " | ".join("-" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
                          for v in row) + " |"
        for row in frame.iter_rows()
    ]  # fmt: skip
    return "\n".join([head, rule, *body])


def main(argv: Sequence[str] | None = None) -> int:
    """Print the error tables of one run; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hard_errors", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--tool", default="er_toolkit")
    args = parser.parse_args(argv)
    run = args.out / "runs" / f"{args.tool}_hard_n{args.n}_seed{args.seed}"
    prepared = pl.read_parquet(
        prepared_path(args.out / "data", args.n, args.seed, data="hard")
    )
    records = labelled_records(
        args.n, args.seed, prepared, pl.read_parquet(run / "clusters.parquet")
    )
    predicted = pairs_of(records, pl.read_parquet(run / "pairs.parquet"))
    ids = records.select("unique_id", "cluster_id", "entity_id")
    in_cluster = pairs_of(
        records,
        ids.join(ids, on="cluster_id", suffix="_r")
        .filter(pl.col("unique_id") < pl.col("unique_id_r"))
        .select(pl.col("unique_id").alias("unique_id_l"), "unique_id_r"),
    )
    true_pairs = pairs_of(
        records,
        ids.join(ids, on="entity_id", suffix="_r")
        .filter(pl.col("unique_id") < pl.col("unique_id_r"))
        .select(pl.col("unique_id").alias("unique_id_l"), "unique_id_r"),
    )
    print(f"## {args.tool} on {args.n:,} hard records (seed {args.seed})\n")
    print("### False positives at the threshold, by kind\n")
    print(_markdown(false_positive_kinds(predicted)) + "\n")
    print("### False positives within clusters, by kind\n")
    print(_markdown(false_positive_kinds(in_cluster)) + "\n")
    print("### Fields equal in false positives at the threshold (share of pairs)\n")
    print(_markdown(field_agreement(predicted)) + "\n")
    print("### False negatives (one entity, two clusters), by cause\n")
    print(_markdown(false_negative_causes(true_pairs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
