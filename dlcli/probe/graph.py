"""Who feeds whom, read from the pass itself: the autograd graph from the loss down, with each row's output
node(s) marked. Residual adds, in-place ops, broadcast inputs and functional calls are all in it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dlcli.probe.kinds import FUNCTIONAL_ACTIVATIONS

# Backward nodes that only reshape or move their input: an activation reached through them took a row's output.
VIEW_NODES = frozenset({"ViewBackward0", "ReshapeAliasBackward0", "UnsafeViewBackward0", "PermuteBackward0",
                        "TransposeBackward0", "TransposeBackward1", "UnsqueezeBackward0", "SqueezeBackward0",
                        "SqueezeBackward1", "ExpandBackward0", "CloneBackward0", "ToCopyBackward0",
                        "SliceBackward0", "ContiguousBackward0", "AliasBackward0", "AsStridedBackward0"})

# ... and element-wise ops with a constant (F.relu(fc(x) - 3)): the activation still takes that row's output.
PASS_NODES = VIEW_NODES | {"AddBackward1", "SubBackward1", "MulBackward1", "DivBackward1", "RsubBackward1",
                           "NegBackward0", "AddBackward0", "SubBackward0", "MulBackward0", "DivBackward0"}


@dataclass
class Graph:
    """The autograd graph below the loss: rows' edges, functional activations on rows' outputs, and for each
    node the nodes that take its output (`users`), so a row's path to the loss can be followed upwards."""

    edges: set[tuple[int, int]] = field(default_factory=set)       # (row feeding, row fed)
    activations: list[tuple[int, str, Any]] = field(default_factory=list)  # (row, node name, node)
    users: dict[int, list[Any]] = field(default_factory=dict)      # id(node) -> nodes taking its output
    params_of: dict[int, Any] = field(default_factory=dict)        # id(AccumulateGrad) -> its parameter
    root: Any = None

    def upstream(self, row: int) -> set[int]:
        """Every row whose output reaches `row`'s, transitively."""
        return reachable(self.edges, row, downward=False)

    def scales_above(self, starts: Iterable[Any], is_scale: Any) -> tuple[set[int], bool]:
        """Following the output of `starts` (nodes) up to the loss: the parameters (ids) for which
        `is_scale(param)` holds that every path meets first, and whether some path reaches the loss without one."""
        found: set[int] = set()
        open_path = False
        seen: set[int] = set()
        todo = list(starts)
        while todo:
            node = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            scale = self._scale_param(node, is_scale)
            if scale is not None:
                found.add(id(scale))
                continue
            users = self.users.get(id(node), [])
            if node is self.root:
                open_path = True
            todo.extend(users)
        return found, open_path

    def through_softmax(self, start: Any, row_nodes: dict[int, int]) -> bool:
        """Whether every path from `start` up to the next module's output or the loss passes a softmax first
        (as attention's query and key do: their gradient is the attention logits')."""
        seen: set[int] = set()
        todo = [start]
        while todo:
            node = todo.pop()
            for user in self.users.get(id(node), []):
                kind = type(user).__name__
                if "Softmax" in kind and "LogSoftmax" not in kind:  # not the loss's log-softmax
                    continue
                if "ScaledDotProduct" in kind:
                    inputs = [c for c, _ in user.next_functions]
                    if node in inputs[:2] and node is not (inputs[2] if len(inputs) > 2 else None):
                        continue
                if id(user) in row_nodes or user is self.root:
                    return False
                if id(user) not in seen:
                    seen.add(id(user))
                    todo.append(user)
        return True

    def _scale_param(self, node: Any, is_scale: Any) -> Any:
        for child, _ in getattr(node, "next_functions", ()):
            if child is None:
                continue
            if type(child).__name__ in VIEW_NODES:  # gamma.view(1, -1, 1, 1) * x
                inner = child.next_functions[0][0] if child.next_functions else None
                child = inner if inner is not None else child
            p = self.params_of.get(id(child))
            if p is not None and is_scale(p):
                return p
        return None


def reachable(edges: Iterable[tuple[Hashable, Hashable]], start: Hashable, downward: bool = True) -> set[Any]:
    """Every node `start` reaches along (src, dst) edges (downward), or that reaches it (upward), transitively."""
    step: dict[Hashable, set[Hashable]] = {}
    for src, dst in edges:
        a, b = (src, dst) if downward else (dst, src)
        step.setdefault(a, set()).add(b)
    seen: set[Hashable] = set()
    todo = [start]
    while todo:
        for nxt in step.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def read_graph(root: Any, row_of_node: dict[int, int]) -> Graph:
    """One walk of the autograd graph from `root` (the loss's grad_fn); `row_of_node`: id(row output node) -> row."""
    graph = Graph(root=root)
    if root is None:
        return graph
    order: list[Any] = []
    seen = {id(root)}
    todo = [root]
    while todo:  # every node once; users recorded on the way
        node = todo.pop()
        order.append(node)
        variable = getattr(node, "variable", None)
        if variable is not None:
            graph.params_of[id(node)] = variable
        for child, _ in node.next_functions:
            if child is None:
                continue
            graph.users.setdefault(id(child), []).append(node)
            if id(child) not in seen:
                seen.add(id(child))
                todo.append(child)
    nearest: dict[int, frozenset[int]] = {}  # node -> the rows met first going down from it
    for node in _post_order(root):
        rows: set[int] = set()
        for child, _ in node.next_functions:
            if child is None:
                continue
            own = row_of_node.get(id(child))
            rows |= {own} if own is not None else nearest.get(id(child), frozenset())
        nearest[id(node)] = frozenset(rows)
    for node in order:
        row = row_of_node.get(id(node))
        if row is not None:
            graph.edges |= {(src, row) for src in nearest[id(node)] if src != row}
        kind = type(node).__name__
        if kind in FUNCTIONAL_ACTIVATIONS and node.next_functions:
            below = node.next_functions[0][0]
            while below is not None and id(below) not in row_of_node and type(below).__name__ in PASS_NODES \
                    and sum(c is not None for c, _ in below.next_functions) == 1:
                below = below.next_functions[0][0] if below.next_functions else None
            if below is not None and id(below) in row_of_node:
                graph.activations.append((row_of_node[id(below)], kind, node))
    return graph


def _post_order(root: Any) -> list[Any]:
    """Nodes children first (iteratively: graphs are deeper than Python's recursion limit)."""
    out: list[Any] = []
    done: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            out.append(node)
            continue
        if id(node) in done:
            continue
        done.add(id(node))
        stack.append((node, True))
        for child, _ in node.next_functions:
            if child is not None and id(child) not in done:
                stack.append((child, False))
    return out
