"""No import cycles in daemon/: the module-level import graph read from the source with ast (imports inside
functions are lazy and left out) must be acyclic, both as it runs and with the `if TYPE_CHECKING:` imports
counted (a type-only cycle still ties the modules together); and every module imports in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from harness import REPO

PACKAGE = REPO / "daemon"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(body: list[ast.stmt], typing: bool) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            test = node.test
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" and not typing:
                found += _imports(node.orelse, typing)
                continue
            found += _imports(node.body, typing) + _imports(node.orelse, typing)
        elif isinstance(node, ast.Try):
            found += _imports(node.body, typing)
            for handler in node.handlers:
                found += _imports(handler.body, typing)
            found += _imports(node.orelse, typing) + _imports(node.finalbody, typing)
    return found


def graph(*, typing: bool) -> dict[str, set[str]]:
    """module -> the daemon modules it imports at import time (and under TYPE_CHECKING with `typing`)."""
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text()).body, typing):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name in MODULES}
            elif node.module is not None and node.level == 0 and node.module in MODULES:
                # `from pkg import sub` needs the submodule; `from pkg import name` needs pkg/__init__ run.
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in MODULES else node.module)
        edges[name] = targets - {name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_at_run_time() -> None:
    assert cycles(graph(typing=False)) == []


def test_no_import_cycles_with_type_imports_outside_vision() -> None:
    found = [c for c in cycles(graph(typing=True)) if not all(m.startswith("daemon.analysis.vision") for m in c)]
    assert found == [], f"import cycles: {found}"


def test_no_import_cycles_in_vision() -> None:
    # ModelSpec lives in vision/spec.py, below the model classes (it was in registry.py, imported back by them).
    assert cycles(graph(typing=True)) == []


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    # One interpreter per module would cost a second each: one fresh interpreter imports them all, in reverse
    # name order (submodules before their package).
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    names = sorted(MODULES, reverse=True)
    result = subprocess.run([sys.executable, "-c", code, *names], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_command_line_loads_no_web_library_until_pictod_web_runs() -> None:
    # Every command builds the whole parser: registering `pictod web` must not import its libraries (about 0.3 s
    # of start-up for `pictod scan`, `pictod status`, ...).
    code = (
        "import sys\n"
        "from daemon.cli import main as cli\n"
        "cli.build_parser().parse_args(['web', '--help'][:1])\n"
        "print(' '.join(sorted(m for m in ('starlette', 'jinja2', 'uvicorn', 'daemon.web.server', 'daemon.web.app')"
        " if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
