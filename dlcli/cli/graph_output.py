"""What `dlcli graph` prints: the node table, the tree drawing, gradients, check rows, JSON, CSV and plain."""

from __future__ import annotations

from dlcli.cli import render
from dlcli.cli.render import Format
from dlcli.graph import computation as core
from dlcli.graph import draw


def show(result: core.GraphResult, rows: list[core.CheckRow] | None, fmt: Format) -> None:
    """Write `result` (and the check `rows`, if any) to stdout in format `fmt`."""
    if fmt is Format.json:
        render.write_json(result.as_dict(rows))
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
                              "role", title=f"nodes in topological order: {result.graph.expression[:60]}",
                              drop=("expression", "role"))
    shown = result.nodes if len(result.nodes) <= MAX_TABLE_ROWS else result.nodes[-MAX_TABLE_ROWS:]
    for node in shown:
        cells = _node_cells(node, result, fmt, sep=", ", no_local="—", no_grad="—")
        table.add_row(*cells[:6], draw.branch_sum(node, fmt), node.role)
    console.print(table)
    if len(shown) < len(result.nodes):
        render.message(f"table shows the last {len(shown)} of {render.count(len(result.nodes), 'node')}; "
                       "--format plain/csv/json list them all")
    console.print(Text("the graph (output at the root, inputs at the leaves):", style="bold"))
    for row, text in _tree_texts(result):
        style = "dim" if row.repeat or row.index is None else ""
        line = Text()
        line.append(row.prefix, style="dim")
        line.append(text, style=style)
        console.print(line, overflow="fold")
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
