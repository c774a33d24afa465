"""`dlcli graph EXPR NAME=VALUE ...`: every forward value and every gradient of an expression's graph."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from dlcli import numio
from dlcli.cli import render
from dlcli.cli.render import Format
from dlcli.errors import InputError, RunError
from dlcli.graph.examples import EXAMPLES, example

if TYPE_CHECKING:  # the parser, the registry and the graph core load when the command runs, not for --help
    from dlcli.expr.parser import ExprError

HELP = (
    "Build the computational graph of EXPR, run it forward and backward, and show every step.\n\n"
    "EXPR uses numbers, names, + - * / **, parentheses and the functions exp log sqrt abs sin cos max min "
    "plus every element-wise activation (sigmoid(x), leaky_relu(x, alpha=0.1), ...). A name or "
    "subexpression that appears twice is one node; its gradient is the sum over its branches. Put EXPR in "
    "quotes; an EXPR like \"-h*x\" that starts with '-' and a letter needs a space in front (\" -h*x\") or "
    "to come after '--'.\n\n"
    "[bold]Examples[/bold]: dlcli graph \"(x+y)*z\" x=-2 y=5 z=-4  ·  "
    "dlcli graph --example sigmoid-neuron --check"
)


app = typer.Typer(rich_markup_mode="rich", pretty_exceptions_enable=False, add_completion=False)


def complete_example(incomplete: str) -> list[str]:
    return [name for name in EXAMPLES if name.startswith(incomplete)]


def parse_values(pairs: list[str]) -> dict[str, float]:
    """NAME=VALUE strings into a dict of finite floats; InputError for anything else."""
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"expected NAME=VALUE, got '{pair}'")
        if not name.isidentifier() or not name.isascii():
            raise InputError(f"'{name}' is not a variable name (in '{pair}')")
        if name in values:
            raise InputError(f"{name} is given twice")
        value = numio.parse_number(text.strip(), where=name)
        if value != value or value in (float("inf"), float("-inf")):
            raise InputError(f"{name}={text.strip()} is not a finite number")
        values[name] = value
    return values


# Unknown '-...' words become arguments, so "-x*y" is an expression, not an unknown option.
@app.command("graph", help=HELP, context_settings={"ignore_unknown_options": True})
def command(
    expression: Annotated[str | None, typer.Argument(metavar="EXPR", help="The expression, e.g. \"(x+y)*z\".",
                                                     show_default=False)] = None,
    assignments: Annotated[list[str] | None, typer.Argument(metavar="NAME=VALUE...",
                                                            help="A value for every name in EXPR.",
                                                            show_default=False)] = None,
    example_name: Annotated[str | None, typer.Option(
        "--example", autocompletion=complete_example, help=f"Run a built-in example: {', '.join(EXAMPLES)}."
    )] = None,
    check: Annotated[bool, typer.Option("--check", help="Compare every input gradient with central finite "
                                        "differences; exit 1 if one is off.")] = False,
    dot: Annotated[bool, typer.Option("--dot", help="Print the graph as Graphviz DOT instead.")] = False,
    fmt: Annotated[Format | None, typer.Option("--format", "-f", help="Output format \\[default: table on a "
                                               "terminal, plain when piped].")] = None,
) -> None:
    """Forward values, local gradients and backprop through an expression's computational graph."""
    from dlcli import activations
    from dlcli.cli import graph_output
    from dlcli.expr.parser import ExprError
    from dlcli.graph import computation as core
    from dlcli.graph import draw

    expression, values = _inputs(None if expression is None else expression.strip(), assignments or [],
                                 example_name)
    try:
        graph = core.build(expression, activations.functions())
        result = core.backprop(graph, values)
    except ExprError as error:
        _fail_with_caret(error)
    unused = [name for name in values if name not in graph.inputs]
    if unused:
        render.message(f"note: not in the expression, ignored: {', '.join(unused)}")
    rows = core.finite_difference_check(result) if check else None
    if dot:
        sys.stdout.write(draw.to_dot(result, render.fmt_short))
        if rows is not None:
            for row in rows:
                render.message(f"check {row.name}: backprop {render.fmt_float(row.backprop)}, "
                               f"finite difference {render.fmt_float(row.finite_difference)}, "
                               f"error {row.abs_error:.2g}" + ("" if row.ok else "  OFF"))
    else:
        graph_output.show(result, rows, render.resolve_format(fmt))
    if rows is not None and not all(row.ok for row in rows):
        off = ", ".join(row.name for row in rows if not row.ok)
        raise RunError(f"gradient check failed for {off} (a kink or a domain edge within the step?)")


def _inputs(
    expression: str | None, assignments: list[str], name: str | None
) -> tuple[str, dict[str, float]]:
    """The expression and values to run: from the command line, or from the built-in example `name`."""
    if name is not None:
        if expression is not None:
            raise InputError("give either EXPR with values or --example NAME, not both")
        chosen = example(name)
        render.message(f"example {name}: {chosen.about}")
        return chosen.expression, dict(chosen.values)
    if expression is None:
        raise InputError(f"give an expression, e.g. dlcli graph \"(x+y)*z\" x=-2 y=5 z=-4, or --example NAME "
                         f"({', '.join(EXAMPLES)})")
    return expression, parse_values(assignments)


def _fail_with_caret(error: ExprError) -> None:
    """The one error line, then the expression with a caret under the offending column; exit 2."""
    render.error_line(str(error))
    text, caret = error.caret_lines()
    start = len(caret) - len(caret.lstrip())
    width = len(caret.strip())
    shown = render.escape_controls(text)
    left = len(render.escape_controls(text[:start]))
    span = max(1, len(render.escape_controls(text[start:start + width])))
    marker = caret.strip() or "^"
    if span != len(marker):  # an escaped character widened the span
        marker = marker[0] + (marker[1] if len(marker) > 1 else "^") * (span - 1)
    sys.stderr.write(f"  {shown}\n  {' ' * left}{marker}\n")
    raise typer.Exit(2)
