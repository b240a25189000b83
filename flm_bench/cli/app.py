"""The root ``flm-bench`` command. Importing this module must not import torch."""

from __future__ import annotations

import logging
import sys

import typer

from flm_bench.cli import (
    compare_cmd,
    data_cmd,
    leaderboard_cmd,
    listing,
    plugins_cmd,
    pretrain_cmd,
    publish_cmd,
    run,
)
from flm_bench.cli.common import err
from flm_bench.errors import FlmBenchError

app = typer.Typer(
    name="flm-bench",
    help="Does pretraining a recommender, then adapting it, beat training from scratch?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("run")(run.run_command)
app.command("pretrain")(pretrain_cmd.pretrain_command)
app.command("list")(listing.list_command)
app.command("publish")(publish_cmd.publish_command)
app.command("compare")(compare_cmd.compare_command)
app.add_typer(plugins_cmd.app, name="plugins")
app.add_typer(data_cmd.app, name="data")
app.add_typer(leaderboard_cmd.app, name="leaderboard")


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details on stderr.")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    """Console-script entry point: plugin commands, then one clear line per error."""
    from flm_bench.plugins import default_plugins

    default_plugins().register_commands(app)  # failures are reported by the command itself
    try:
        app(standalone_mode=False)
    except FlmBenchError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted; completed records are kept, rerun to resume", markup=False)
        sys.exit(130)
