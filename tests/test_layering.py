"""The architecture's two promises, checked on the import graph: the pytest layer imports no torch
(a project with the plugin installed but no --privacy-audit pays nothing), and the engine imports
no pytest (scripts, the CLI and `privacy-checks reproduce` drive it without pytest)."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import privacy_checks


def _runtime_imports(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, lazy ones inside functions included, except those under
    ``if TYPE_CHECKING:`` (annotations only: never executed)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skipped]


PACKAGE = Path(privacy_checks.__file__).parent
ENGINE_SIDE = ("engine", "model", "data", "features", "stats", "config", "reporting", "study", "attackers")


def _modules(prefix: str) -> list[str]:
    package = __import__(f"privacy_checks.{prefix}", fromlist=["_"]) if prefix else privacy_checks
    found = [package.__name__]
    found += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return found


def _loaded_after_importing(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_the_pytest_layer_imports_no_torch() -> None:
    loaded = _loaded_after_importing(_modules("pytest_plugin"))
    assert "torch" not in loaded


def test_the_engine_imports_no_pytest() -> None:
    modules = [m for prefix in ENGINE_SIDE for m in _modules(prefix)]
    modules += ["privacy_checks.cli", "privacy_checks.progress", "privacy_checks.seeds", "privacy_checks.digests"]
    loaded = _loaded_after_importing(modules)
    assert not {"pytest", "_pytest"} & loaded, sorted({"pytest", "_pytest"} & loaded)


def test_no_import_cycles_between_modules() -> None:
    """The modules of privacy_checks import each other without a cycle, lazy imports inside
    functions included (a lazy import that closes a cycle only hides it)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        edges = graph.setdefault(name, set())
        for node in _runtime_imports(path):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("privacy_checks"):
                edges.add(node.module)
                edges.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name.startswith("privacy_checks"))
    for name in graph:
        graph[name] = {e for e in graph[name] if e in graph and e != name}

    # A package's __init__ re-exporting its own submodules is not a cycle of responsibilities.
    def own_child(parent: str, child: str) -> bool:
        return child.startswith(parent + ".")

    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if own_child(node, nxt):
                continue
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_subpackages_depend_on_each_other_without_a_cycle() -> None:
    """engine -> model -> features, never back: a layer of the architecture may use the layers
    below it only (the top-level modules errors, fileio, progress, seeds, digests are shared leaves)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        source = parts[0]
        edges = graph.setdefault(source, set())
        for node in _runtime_imports(path):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("privacy_checks"):
                names = node.module.split(".")[1:2] or [a.name for a in node.names]
                edges.update(n for n in names if n != source)
    cycles = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join(path + [nxt]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    assert not cycles, cycles
