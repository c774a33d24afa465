"""Lint, type-check and the architecture rules, as part of the test suite the README's one command runs."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

PACKAGE = ROOT / "dlcli"
# The pure core: every module outside the CLI layer, recursively.
CORE = sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts[:1]
              and p.name != "__main__.py")


def module_name(path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path) -> set[str]:
    """Every dlcli module `path` imports, at the top or inside a function (`from a import b`: a.b if b is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dlcli")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dlcli"):
            for a in node.names:
                candidate = f"{node.module}.{a.name}"
                is_module = (ROOT / candidate.replace(".", "/")).with_suffix(".py").exists() or \
                    (ROOT / candidate.replace(".", "/") / "__init__.py").exists()
                found.add(candidate if is_module else node.module)
    return found


def test_ruff():
    if shutil.which("ruff") is None:
        pytest.skip("ruff not installed (pip install -e '.[test]')")
    out = subprocess.run(["ruff", "check", "dlcli", "tests", "benchmarks"], capture_output=True, cwd=ROOT, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_on_the_core():
    paths = sorted({str(p.parent.relative_to(ROOT)) if p.parent != PACKAGE else str(p.relative_to(ROOT)) for p in CORE})
    out = subprocess.run([sys.executable, "-m", "mypy", *paths], capture_output=True, cwd=ROOT, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_core_never_imports_the_cli_layer_or_prints():
    assert len(CORE) > 20
    for path in CORE:
        text = path.read_text()
        assert "import typer" not in text and "from rich" not in text and "import rich" not in text, path
        assert "dlcli.cli" not in text and "import click" not in text, path
        assert "print(" not in text, path


def test_no_two_modules_import_each_other():
    """No import ring of any length, counting imports inside functions (package facades excepted: they are lazy)."""
    graph = {module_name(p): imported_modules(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    graph = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                raise AssertionError("import ring: " + " -> ".join([*path[path.index(dep):], dep]))
            if dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_expression_language_sits_below_activations_and_graph():
    """activations and graph never import each other (what a formula or a graph may call is passed in), and expr,
    the language both use, imports neither."""
    forbidden = {"activations": {"graph"}, "graph": {"activations"}, "expr": {"activations", "graph"}}
    for package, others in forbidden.items():
        paths = list((PACKAGE / package).rglob("*.py"))
        assert paths, package
        for path in paths:
            for dep in imported_modules(path):
                parts = dep.split(".")
                assert len(parts) < 2 or parts[1] not in others, f"{path.relative_to(ROOT)} imports {dep}"


def test_no_command_module_imports_another():
    commands = {"activations", "diff", "graph", "perceptron", "vanish", "train", "report"}
    for path in (PACKAGE / "cli").glob("*.py"):
        for dep in imported_modules(path):
            parts = dep.split(".")
            if parts[:2] == ["dlcli", "cli"] and len(parts) == 3 and parts[2] in commands:
                assert path.stem == parts[2], f"{path.name} imports the command module {dep}"
