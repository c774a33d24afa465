"""`dlcli graph EXPR NAME=VALUE ...`: every forward value and every gradient of an expression's graph."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dlcli import graph as core
from dlcli import graph_draw as draw
from dlcli import numio
from dlcli.cli import render
from dlcli.cli.render import Format
from dlcli.errors import InputError, RunError
from dlcli.expr import ExprError

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
    return [name for name in core.EXAMPLES if name.startswith(incomplete)]


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
    example: Annotated[str | None, typer.Option("--example", autocompletion=complete_example,
                                                help=f"Run a built-in example: {', '.join(core.EXAMPLES)}.")
                       ] = None,
    check: Annotated[bool, typer.Option("--check", help="Compare every input gradient with central finite "
                                        "differences; exit 1 if one is off.")] = False,
    dot: Annotated[bool, typer.Option("--dot", help="Print the graph as Graphviz DOT instead.")] = False,
    fmt: Annotated[Format | None, typer.Option("--format", "-f", help="Output format \\[default: table on a "
                                               "terminal, plain when piped].")] = None,
) -> None:
    """Forward values, local gradients and backprop through an expression's computational graph."""
    expression, values = _inputs(expression, assignments or [], example)
    try:
        graph = core.build(expression)
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
        _show(result, rows, render.resolve_format(fmt))
    if rows is not None and not all(row.ok for row in rows):
        off = ", ".join(row.name for row in rows if not row.ok)
        raise RunError(f"gradient check failed for {off} (a kink or a domain edge within the step?)")


def _inputs(
    expression: str | None, assignments: list[str], example: str | None
) -> tuple[str, dict[str, float]]:
    if example is not None:
        if expression is not None:
            raise InputError("give either EXPR with values or --example NAME, not both")
        chosen = core.example(example)
        render.message(f"example {example}: {chosen.about}")
        return chosen.expression, dict(chosen.values)
    if expression is None:
        raise InputError(f"give an expression, e.g. dlcli graph \"(x+y)*z\" x=-2 y=5 z=-4, or --example NAME "
                         f"({', '.join(core.EXAMPLES)})")
    return expression, parse_values(assignments)


def _fail_with_caret(error: ExprError) -> None:
    """The one error line, then the expression with a caret under the offending column; exit 2."""
    render.error_line(str(error))
    text, caret = error.caret_lines()
    sys.stderr.write(f"  {text}\n  {caret}\n")
    raise typer.Exit(2)


# --- output -------------------------------------------------------------------------------------

def json_document(result: core.GraphResult, rows: list[core.CheckRow] | None) -> dict[str, Any]:
    """The JSON contract: expression, value, gradients, nodes (id, op, inputs, value, grad) plus details."""
    nodes = []
    for node in result.nodes:
        nodes.append({
            "id": node.node.id,
            "op": node.node.op,
            "inputs": [result.nodes[i].node.id for i in node.node.inputs],
            "value": node.value,
            "grad": node.grad,
            "label": node.node.label,
            "params": dict(node.node.params),
            "local_grads": list(node.local),
            "grad_terms": [{"from": result.nodes[i].node.id, "grad": g} for i, g in node.terms],
            "role": node.role or None,
        })
    document: dict[str, Any] = {
        "expression": result.graph.expression,
        "value": result.value,
        "gradients": result.gradients,
        "nodes": nodes,
    }
    if rows is not None:
        document["check"] = [
            {"name": r.name, "backprop": r.backprop, "finite_difference": r.finite_difference, "step": r.step,
             "abs_error": r.abs_error, "rel_error": r.rel_error, "ok": r.ok}
            for r in rows
        ]
    return document


def _show(result: core.GraphResult, rows: list[core.CheckRow] | None, fmt: Format) -> None:
    if fmt is Format.json:
        render.write_json(json_document(result, rows))
    elif fmt is Format.csv:
        render.write_csv(["id", "op", "expression", "inputs", "value", "local_grads", "grad", "role"],
                         ([*_node_cells(node, result, render.fmt_float), node.role] for node in result.nodes))
    elif fmt is Format.plain:
        render.write_plain(_plain_lines(result, rows))
    else:
        _show_tables(result, rows)


def _node_cells(
    node: core.NodeResult, result: core.GraphResult, fmt: draw.Formatter, sep: str = " ",
    no_local: str = "null", no_grad: str = ""
) -> list[str]:
    """id, gate, text, inputs, value, local gradients, gradient as text (constants have no gradient)."""
    local = sep.join(no_local if g is None else fmt(g) for g in node.local)
    grad = no_grad if node.grad is None else fmt(node.grad)
    inputs = sep.join(result.nodes[i].node.id for i in node.node.inputs)
    return [node.node.id, core.describe_op(node.node), node.node.label, inputs, fmt(node.value), local, grad]


def _plain_lines(result: core.GraphResult, rows: list[core.CheckRow] | None):
    yield f"expression\t{result.graph.expression}"
    yield f"value\t{render.fmt_float(result.value)}"
    for name, grad in result.gradients.items():
        yield f"grad\t{name}\t{render.fmt_float(grad)}"
    yield ""
    yield "id\top\texpression\tinputs\tvalue\tlocal_grads\tgrad\trole"
    for node in result.nodes:
        yield "\t".join([*_node_cells(node, result, render.fmt_float), node.role])
    yield ""
    yield from _tree_lines(result)
    if rows is not None:
        yield ""
        yield "check\tname\tbackprop\tfinite_difference\tabs_error\tok"
        for row in rows:
            numbers = (render.fmt_float(v) for v in (row.backprop, row.finite_difference, row.abs_error))
            yield "\t".join(["check", row.name, *numbers, "ok" if row.ok else "OFF"])


def _tree_lines(result: core.GraphResult) -> list[str]:
    return [row.prefix + text for row, text in _tree_texts(result)]


def _tree_texts(result: core.GraphResult) -> list[tuple[draw.TreeRow, str]]:
    out = []
    fmt = render.fmt_short
    for row in draw.tree_rows(result):
        if row.index is None:
            out.append((row, f"… {row.hidden} more node{'s' if row.hidden != 1 else ''} not drawn "
                             "(--format plain/csv/json list them all, --dot draws them)"))
            continue
        node = result.nodes[row.index]
        several = row.edge_grad is not None and len(node.terms) > 1
        branch = f"  ← this branch {fmt(row.edge_grad)}" if several else ""
        if row.repeat:
            out.append((row, f"↑ {draw.node_title(node)} (shared, drawn above){branch}"))
            continue
        grad = "" if node.grad is None else f"  grad {draw.branch_sum(node, fmt)}"
        role = f"  [{node.role}]" if node.role else ""
        out.append((row, f"{draw.node_title(node)} = {fmt(node.value)}{grad}{branch}{role}"))
    return out


MAX_TABLE_ROWS = 200


def _show_tables(result: core.GraphResult, rows: list[core.CheckRow] | None) -> None:
    from rich.text import Text

    console = render.console()
    fmt = render.fmt_short
    table = render.make_table("node", "gate", "expression", "inputs", ">value", ">local grads", ">∂f/∂node",
                              "role", title=f"nodes in topological order: {result.graph.expression[:60]}")
    shown = result.nodes if len(result.nodes) <= MAX_TABLE_ROWS else result.nodes[-MAX_TABLE_ROWS:]
    for node in shown:
        cells = _node_cells(node, result, fmt, sep=", ", no_local="—", no_grad="—")
        table.add_row(*cells[:6], draw.branch_sum(node, fmt), node.role)
    console.print(table)
    if len(shown) < len(result.nodes):
        render.message(f"table shows the last {len(shown)} of {len(result.nodes)} nodes; "
                       "--format plain/csv/json list them all")
    console.print(Text("the graph (output at the root, inputs at the leaves):", style="bold"))
    for row, text in _tree_texts(result):
        style = "dim" if row.repeat or row.index is None else ""
        line = Text()
        line.append(row.prefix, style="dim")
        line.append(text, style=style)
        console.print(line, no_wrap=True, overflow="ellipsis")
    grads = render.make_table("input", ">value", ">∂f/∂input", title=f"f = {fmt(result.value)}")
    for name, grad in result.gradients.items():
        grads.add_row(name, fmt(result.values[name]), fmt(grad))
    console.print(grads)
    if rows is not None:
        check = render.make_table("input", ">backprop", ">finite difference", ">abs error", ">rel error",
                                  "ok", title="gradient check (central differences)")
        for row in rows:
            check.add_row(row.name, fmt(row.backprop), fmt(row.finite_difference), f"{row.abs_error:.2g}",
                          f"{row.rel_error:.2g}", "ok" if row.ok else "OFF")
        console.print(check)
