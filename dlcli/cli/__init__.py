"""The command-line interface: a thin Typer layer over the core library.

Every failure ends the same way: one line on stderr, exit 2 for bad input, exit 1 for a failed run.
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from dlcli import __version__
from dlcli.cli.render import error_line
from dlcli.errors import InputError, RunError

PROG = "dlcli"

# Subcommands load on first use: `dlcli activations eval` never imports the perceptron, vanish or graph
# modules. Each module exposes a Typer app `app` (with add_completion=False: completion is installed once,
# from the root); a one-command app becomes that command. Adding a command is one line here.
SUBCOMMANDS: dict[str, str] = {
    "activations": "dlcli.cli.activations",
    "graph": "dlcli.cli.graph",
    "perceptron": "dlcli.cli.perceptron",
    "train": "dlcli.cli.train",
    "vanish": "dlcli.cli.vanish",
}


class DlcliGroup(TyperGroup):
    """The root group: loads subcommands lazily; turns every error into one line on stderr and an exit code."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in SUBCOMMANDS and cmd_name not in self.commands:
            module = importlib.import_module(SUBCOMMANDS[cmd_name])
            command = typer.main.get_command(module.app)
            command.name = cmd_name
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
        from typer.exceptions import Abort

        try:
            result = super().main(args=args, prog_name=prog_name or PROG, complete_var=complete_var,
                                  standalone_mode=False, windows_expand_args=windows_expand_args, **extra)
        except NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            result = 0
        except ClickException as exc:
            hint = ""
            ctx = getattr(exc, "ctx", None)
            if ctx is not None and exc.exit_code == 2:
                hint = f" (see '{ctx.command_path} --help')"
            error_line(exc.format_message() + hint)
            result = exc.exit_code
        except InputError as exc:
            error_line(str(exc))
            result = 2
        except RunError as exc:
            error_line(str(exc))
            result = 1
        except (Abort, KeyboardInterrupt):
            error_line("interrupted")
            result = 130
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=DlcliGroup,
    name=PROG,
    help="See how a neural network's pieces behave: activation functions, perceptrons, "
    "gradient flow and backpropagation, in the terminal.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """See how a neural network's pieces behave, in the terminal."""



def main(prog_name: str = PROG) -> None:
    """Console-script entry point (also used by `python -m dlcli`)."""
    # Die quietly when the reader of a pipe goes away (`dlcli ... | head -1`), like any Unix filter.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app(prog_name=prog_name)
