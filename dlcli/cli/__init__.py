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
    "diff": "dlcli.cli.diff",
    "perceptron": "dlcli.cli.perceptron",
    "report": "dlcli.cli.report",
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
        args = protect_negative_numbers(sys.argv[1:] if args is None else list(args))
        try:
            result = super().main(args=args, prog_name=prog_name or PROG, complete_var=complete_var,
                                  standalone_mode=False, windows_expand_args=windows_expand_args, **extra)
            if result == 130:  # Typer turned Ctrl-C into Exit(130) and, not standalone, returns the code
                result = failure(KeyboardInterrupt())
        except BaseException as exc:  # every way a run can end becomes one line and an exit code
            result = failure(exc)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def protect_negative_numbers(args: list[str]) -> list[str]:
    """'-inf', '-Infinity', '-nan', '-1e-7' are numbers, never clusters of short options like '-i -n -f': a
    leading space (which every number parser skips) keeps the option parser from reading them as options."""
    out = []
    for word in args:
        if word == "--":
            out.extend(args[len(out):])
            break
        if len(word) > 1 and word[0] == "-" and word[1] != "-":
            try:
                float(word)
            except ValueError:
                pass
            else:
                word = " " + word
        out.append(word)
    return out


def failure(exc: BaseException) -> int:
    """Print the one error line for `exc` (nothing for a clean exit) and return the exit code."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
    from typer.exceptions import Abort, Exit

    from dlcli.cli.render import clear_progress

    clear_progress()

    if isinstance(exc, NoArgsIsHelpError):  # the help was drawn when the error was made (Rich prints it)
        text = exc.format_message()
        if text.strip():  # a plain-text help comes back as the message instead
            typer.echo(text)
        return 0
    if isinstance(exc, Exit) and exc.exit_code != 130:
        return exc.exit_code
    if isinstance(exc, SystemExit) and exc.code != 130:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if isinstance(exc, Abort | KeyboardInterrupt | Exit | SystemExit):  # Typer turns Ctrl-C into Exit(130)
        error_line("interrupted")
        return 130
    if isinstance(exc, ClickException):
        from dlcli.cli.options import click_message

        hint = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and exc.exit_code == 2:
            hint = f" (see '{ctx.command_path} --help')"
        error_line(click_message(exc) + hint)
        return exc.exit_code
    if isinstance(exc, InputError):
        error_line(str(exc))
        return 2
    if isinstance(exc, RunError):
        error_line(str(exc))
        return 1
    if isinstance(exc, MemoryError):
        error_line(f"out of memory{': ' + str(exc) if str(exc) else ''} (try a smaller input)")
        return 1
    if isinstance(exc, BrokenPipeError):  # the reader went away (`| head -1`): end quietly, like any filter
        _silence_stdout()
        return 0
    if isinstance(exc, OSError):
        error_line(_os_error_text(exc))
        _silence_stdout()
        return 1
    if isinstance(exc, Exception):
        error_line(f"internal error (please report it): {type(exc).__name__}: {exc}")
        return 1
    raise exc


def _os_error_text(exc: OSError) -> str:
    """'cannot write stdout: No space left on device', or the file and the reason for other I/O failures."""
    import errno

    why = exc.strerror or str(exc)
    if isinstance(exc.filename, str):
        return f"cannot write {exc.filename}: {why}" if exc.filename == "stdout" else f"{exc.filename}: {why}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EPIPE, errno.EBADF, errno.EIO):
        return f"cannot write stdout: {why}"
    return f"input/output error: {why}"


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's last flush of unwritable output raises nothing more."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


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
    from dlcli.cli.render import guard_standard_streams

    guard_standard_streams()
    app(prog_name=prog_name)
