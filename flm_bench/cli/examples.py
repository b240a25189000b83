"""The examples that end every command's ``--help``, kept in one place (a test parses each one
against the command it names)."""

from __future__ import annotations

#: Command path (as typed after ``flm-bench``) -> (what it does, the command line).
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "": (
        ("the built-in quickstart on synthetic data", "flm-bench run"),
        ("what the plugins registered", "flm-bench list datasets"),
        (
            "one model on one dataset, printing only the board",
            "flm-bench -q run --dataset synthetic-media --model popularity",
        ),
    ),
    "run": (
        ("the built-in quickstart (synthetic data, no downloads)", "flm-bench run"),
        (
            "chosen cells on real data (suite 'adhoc', in flm-bench-adhoc/)",
            "flm-bench run --dataset movielens-100k --model popularity --model itemknn --data-dir ../shared/datasets",
        ),
        (
            "a suite file, quietly, records in runs/standard",
            "flm-bench run --suite suites/standard.toml --data-dir ../shared/datasets -o runs/standard -q",
        ),
        (
            "data without order, your own CSV file",
            "flm-bench run --csv mine=ratings.csv --dataset mine --split random-holdout",
        ),
    ),
    "pretrain": (
        ("the quickstart's checkpoints", "flm-bench pretrain"),
        (
            "a suite's checkpoints, for a later run on the same output",
            "flm-bench pretrain --suite suites/standard.toml -o runs/standard",
        ),
    ),
    "tune": (
        ("tune a suite's cells on validation, 40 trials per study", "flm-bench tune --suite suite.toml --trials 40"),
        (
            "one worker of several sharing the studies (run it on each machine)",
            "flm-bench tune --suite suite.toml --trials 40 --storage postgresql://db-host/flm --study mine",
        ),
        (
            "trials as Ray tasks, several at once, on the cluster this node belongs to",
            "flm-bench tune --suite suite.toml --trials 40 --executor ray --ray-address auto --storage postgresql://db-host/flm",
        ),
        ("then run with the tuned parameters", "flm-bench run --suite suite.toml --overlay flm-bench-runs/tuned.toml"),
    ),
    "list": (
        ("datasets and the plugin of each", "flm-bench list datasets"),
        ("models with every parameter's type, range and search space", "flm-bench list models --json"),
    ),
    "publish": (
        ("validate a run's records and add them to ./leaderboards", "flm-bench publish runs/standard/records"),
        (
            "into another board, replacing cells already there",
            "flm-bench publish runs/standard -o board --replace --data-dir ../shared/datasets",
        ),
    ),
    "compare": (
        (
            "cells chosen in a records folder (scratch is the control)",
            "flm-bench compare runs/standard --dataset filmtrust --model sasrec --strategy scratch --strategy finetune",
        ),
        (
            "one folder or record per set, the first the control",
            "flm-bench compare runs/a runs/b --test wilcoxon --json",
        ),
    ),
    "plugins": (
        ("loaded and failed plugins", "flm-bench plugins"),
        ("the same as JSON", "flm-bench plugins --json"),
    ),
    "plugins new": (("a plugin package in ./flm-bench-mydata", "flm-bench plugins new flm-bench-mydata -o ."),),
    "data": (
        ("check every dataset file present", "flm-bench data verify --data-dir ../shared/datasets"),
        ("what a dataset is", "flm-bench data info movielens-100k --data-dir ../shared/datasets"),
    ),
    "data info": (
        ("counts, side data, license and files", "flm-bench data info filmtrust --data-dir ../shared/datasets"),
    ),
    "data verify": (
        ("every dataset with files", "flm-bench data verify --data-dir ../shared/datasets"),
        ("one dataset, as JSON", "flm-bench data verify movielens-100k --json --data-dir ../shared/datasets"),
    ),
    "data prepare": (
        (
            "fetch and cache ahead of a run, from a mirror",
            "flm-bench data prepare filmtrust coil2000 --mirror https://example.org/datasets",
        ),
    ),
    "leaderboard": (("the boards of ./leaderboards", "flm-bench leaderboard render"),),
    "leaderboard render": (
        ("the boards of ./leaderboards", "flm-bench leaderboard render"),
        ("are the published boards up to date?", "flm-bench leaderboard render --check"),
        ("another records folder into another folder", "flm-bench leaderboard render --from board/records -o board"),
    ),
    "leaderboard export": (
        ("the headline table for a paper", "flm-bench leaderboard export --format latex -o table.tex"),
        ("every row and number as CSV on standard output", "flm-bench leaderboard export --format csv"),
    ),
}


def epilog(command: str) -> str:
    """The examples of ``command`` for its ``--help`` (kept as typed: click does not rewrap them)."""
    lines = [f"  # {what}\n  {line}" for what, line in EXAMPLES[command]]
    return "\b\nExamples:\n" + "\n".join(lines)
