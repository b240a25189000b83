"""The root ``flm-bench`` command. Importing this module must not import torch."""

from __future__ import annotations

import logging
import sys

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer vendors click; not re-exported

from flm_bench.cli import (
    compare_cmd,
    data_cmd,
    leaderboard_cmd,
    listing,
    plugins_cmd,
    pretrain_cmd,
    publish_cmd,
    run,
    tune,
)
from flm_bench.cli.common import err
from flm_bench.errors import ConfigError, FlmBenchError, UnknownNameError

app = typer.Typer(
    name="flm-bench",
    help="Does pretraining a recommender, then adapting it, beat training from scratch?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("run")(run.run_command)
app.command("pretrain")(pretrain_cmd.pretrain_command)
app.command("tune")(tune.tune_command)
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


INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)
USAGE = 2
FAILED = 1


def main() -> None:
    """Console-script entry point: plugin commands, then the command's exit code.

    Usage errors (options, suites, names: what was asked for cannot be) exit 2 with one line;
    runtime errors (data, records, checkpoints, plugins, and anything unforeseen) exit 1 with one
    line, ``-v`` adding the traceback; Ctrl-C exits 130 saying what was kept; a command's own exit
    code (``render --check``, ``data verify``) is the process's.
    """
    from flm_bench.plugins import default_plugins

    default_plugins().register_commands(app)  # failures are reported by the command itself
    sys.exit(_invoke())


def _invoke() -> int:
    try:
        code = app(standalone_mode=False)  # returns the code of typer.Exit instead of exiting
    except (KeyboardInterrupt, typer.Abort):
        code = INTERRUPTED
    except NoArgsIsHelpError as exc:  # plain `flm-bench`, or a group without its command
        print(exc.format_message())
        return 2
    except typer.TyperException as exc:  # usage: unknown option or command, a value of the wrong type, ...
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "flm-bench"
        err.print(f"error: {' '.join(exc.format_message().split())} (see '{command} --help')", markup=False)
        return int(getattr(exc, "exit_code", 2))
    except (ConfigError, UnknownNameError) as exc:  # what was asked for cannot be: a usage error
        return _failed(exc, USAGE)
    except FlmBenchError as exc:  # data, records, checkpoints, plugins: the work itself failed
        return _failed(exc, FAILED)
    except Exception as exc:  # a failure nobody foresaw still gets one line; -v shows where
        return _failed(exc, FAILED, unexpected=True)
    if code == INTERRUPTED:  # typer turns Ctrl-C into this exit code
        err.print("interrupted; completed records are kept, rerun to resume", markup=False)
    return code if isinstance(code, int) else 0


def _failed(exc: Exception, code: int, *, unexpected: bool = False) -> int:
    """Report ``exc`` on one line (with ``-v``, its traceback first) and return ``code``."""
    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    if verbose:
        logging.getLogger("flm_bench").exception("error")
    text = " ".join((f"{type(exc).__name__}: {exc}" if unexpected else str(exc)).split())
    hint = " (flm-bench -v shows the traceback)" if unexpected and not verbose else ""
    err.print(f"error: {text}{hint}", markup=False)
    return code
