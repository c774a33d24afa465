"""Text layouts of a differentiated graph: a tree drawing (with shared nodes drawn once) and Graphviz DOT.

Both are pure: they return rows or a string and take a float formatter, so the CLI decides styling.
Both walk the graph with explicit stacks; the tree is cut at `max_depth` and `max_rows` so a graph with
10,000 nested gates still draws in a screenful (DOT has no such limit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dlcli.graph.computation import GraphResult, NodeResult, describe_op

Formatter = Callable[[float], str]


def short(value: float) -> str:
    return f"{value:.4g}"


@dataclass(frozen=True)
class TreeRow:
    """One line of the tree drawing: box-drawing `prefix`, then the node (or an elision note)."""

    prefix: str
    index: int | None  # None for an elision line ("…")
    repeat: bool = False  # a shared node already drawn above
    edge_grad: float | None = None  # gradient flowing back along the edge into the parent
    hidden: int = 0  # for an elision line: how many nodes it stands for


def edge_gradient(result: GraphResult, parent: int, position: int) -> float | None:
    """upstream × local: what the edge from input `position` of `parent` carries back."""
    node = result.nodes[parent]
    local = node.local[position]
    return None if node.grad is None or local is None else node.grad * local


def tree_rows(result: GraphResult, *, max_depth: int = 12, max_rows: int = 80) -> list[TreeRow]:
    """The output node at the root, each gate's inputs below it; a shared node is expanded once."""
    rows: list[TreeRow] = []
    drawn: set[int] = set()
    root = result.graph.output
    # (index, depth, prefix of this row, prefix for its children, parent, position in parent)
    stack: list[tuple[int, int, str, str, int | None, int]] = [(root, 0, "", "", None, 0)]
    while stack:
        index, depth, prefix, child_prefix, parent, position = stack.pop()
        if len(rows) >= max_rows - 1:
            rows.append(TreeRow(prefix, None, hidden=len(result.nodes) - len(drawn)))
            break
        edge = edge_gradient(result, parent, position) if parent is not None else None
        repeat = index in drawn
        rows.append(TreeRow(prefix, index, repeat, edge))
        if repeat:
            continue
        drawn.add(index)
        inputs = result.graph.nodes[index].inputs
        if inputs and depth + 1 > max_depth:
            rows.append(TreeRow(child_prefix + "└── ", None, hidden=_count_below(result, index, drawn)))
            continue
        for position_, source in reversed(list(enumerate(inputs))):
            last = position_ == len(inputs) - 1
            stack.append((source, depth + 1, child_prefix + ("└── " if last else "├── "),
                          child_prefix + ("    " if last else "│   "), index, position_))
    return rows


def _count_below(result: GraphResult, index: int, drawn: set[int]) -> int:
    """Nodes under `index` not drawn yet (they are left out of a depth-limited drawing)."""
    seen: set[int] = set()
    stack = list(result.graph.nodes[index].inputs)
    while stack:
        i = stack.pop()
        if i in seen or i in drawn:
            continue
        seen.add(i)
        stack.extend(result.graph.nodes[i].inputs)
    return len(seen)


def branch_sum(node: NodeResult, fmt: Formatter = short) -> str:
    """'6 = 3 + 3' for a node whose gradient adds up over several out-edges, else just the gradient."""
    if node.grad is None:
        return "—"
    if len(node.terms) < 2:
        return fmt(node.grad)
    parts = " + ".join(fmt(t) if t >= 0 or i == 0 else f"({fmt(t)})" for i, (_, t) in enumerate(node.terms))
    return f"{fmt(node.grad)} = {parts}"


def node_title(node: NodeResult) -> str:
    """'n3 + (x+y)', 'n1 x', 'n2 2': id, gate and the node's text in the expression."""
    op = node.node.op
    if op in ("input", "const"):
        return f"{node.node.id} {node.node.label}"
    return f"{node.node.id} {describe_op(node.node)} {node.node.label}"


def to_dot(result: GraphResult, fmt: Formatter = short) -> str:
    """Graphviz DOT: a box per gate with value and gradient; each edge labelled with the gradient it carries."""
    lines = [
        "digraph expression {",
        "  rankdir=LR;",
        '  node [shape=box, fontname="monospace"];',
        f"  label={_quote(result.graph.expression if len(result.graph.expression) < 200 else 'expression')};",
        "  labelloc=t;",
    ]
    for node in result.nodes:
        shape = {"input": "ellipse", "const": "plaintext"}.get(node.node.op, "box")
        text = [node_title(node), f"value {fmt(node.value)}"]
        if node.grad is not None:
            text.append(f"grad {branch_sum(node, fmt)}")
        if node.role:
            text.append(node.role)
        lines.append(f"  {node.node.id} [shape={shape}, label={_quote(chr(10).join(text))}];")
    for node in result.nodes:
        for position, source in enumerate(node.node.inputs):
            edge = edge_gradient(result, node.node.index, position)
            label = f" [label={_quote(fmt(edge))}]" if edge is not None else ""
            lines.append(f"  {result.nodes[source].node.id} -> {node.node.id}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
