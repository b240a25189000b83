"""The root ``flm-bench`` command. Importing this module must not import torch."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer vendors click; not re-exported
from typer.core import TyperArgument

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
from flm_bench.cli.common import alert, err
from flm_bench.cli.examples import epilog
from flm_bench.errors import ConfigError, FlmBenchError, UnknownNameError

app = typer.Typer(
    name="flm-bench",
    help="Does pretraining a recommender, then adapting it, beat training from scratch?",
    epilog=epilog(""),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no rich markup read in help texts, flags without a type
)
for _name, _command in (
    ("run", run.run_command),
    ("pretrain", pretrain_cmd.pretrain_command),
    ("tune", tune.tune_command),
    ("list", listing.list_command),
    ("publish", publish_cmd.publish_command),
    ("compare", compare_cmd.compare_command),
):
    app.command(_name, epilog=epilog(_name))(_command)
app.add_typer(plugins_cmd.app, name="plugins")
app.add_typer(data_cmd.app, name="data")
app.add_typer(leaderboard_cmd.app, name="leaderboard")


def _no_argument_type(self: TyperArgument, ctx: object) -> None:
    """None: an argument's help shows its metavar (``NAME...``) only, not also ``<list[str]>``."""
    return None


TyperArgument.display_type_rich = _no_argument_type  # type: ignore[method-assign,assignment]

#: Options of the root command that may also be given after the sub-command.
GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")


def _show_version(show: bool) -> None:
    if show:
        from flm_bench import __version__

        print(f"flm-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress details on stderr; errors with their traceback.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or information on stderr; warnings and errors only.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """-v and -q may come anywhere on the command line (see :func:`hoist_global_flags`)."""
    if verbose and quiet:
        raise ConfigError("-v/--verbose and -q/--quiet contradict each other: pass one")
    err.quiet = quiet
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def hoist_global_flags(args: list[str]) -> list[str]:
    """``args`` with :data:`GLOBAL_FLAGS` moved before the sub-command, so that they are accepted
    anywhere (up to a ``--``, after which everything is an argument)."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    return flags + [a for a in args[:end] if a not in GLOBAL_FLAGS] + args[end:]


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
        # standalone_mode=False: returns the code of typer.Exit instead of exiting
        code = app(args=hoist_global_flags(sys.argv[1:]), standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        code = INTERRUPTED
    except NoArgsIsHelpError as exc:  # plain `flm-bench`, or a group without its command
        print(exc.format_message())
        return 2
    except typer.TyperException as exc:  # usage: unknown option or command, a value of the wrong type, ...
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "flm-bench"
        alert.print(f"error: {' '.join(exc.format_message().split())} (see '{command} --help')")
        return int(getattr(exc, "exit_code", 2))
    except (ConfigError, UnknownNameError) as exc:  # what was asked for cannot be: a usage error
        return _failed(exc, USAGE)
    except FlmBenchError as exc:  # data, records, checkpoints, plugins: the work itself failed
        return _failed(exc, FAILED)
    except Exception as exc:  # a failure nobody foresaw still gets one line; -v shows where
        return _failed(exc, FAILED, unexpected=True)
    if code == INTERRUPTED:  # typer turns Ctrl-C into this exit code
        alert.print("interrupted; completed records are kept, rerun to resume")
    return code if isinstance(code, int) else 0


def _failed(exc: Exception, code: int, *, unexpected: bool = False) -> int:
    """Report ``exc`` on one line (with ``-v``, its traceback first) and return ``code``."""
    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    if verbose:
        logging.getLogger("flm_bench").exception("error")
    text = " ".join((f"{type(exc).__name__}: {exc}" if unexpected else str(exc)).split())
    hint = " (flm-bench -v shows the traceback)" if unexpected and not verbose else ""
    alert.print(f"error: {text}{hint}")
    return code
