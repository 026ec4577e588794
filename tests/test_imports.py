"""The import graph of daemon/, read from the source with ast: no cycles (as it runs at import time, with the
`if TYPE_CHECKING:` imports counted, and with every lazy import inside a function counted too: a lazy cycle still
ties the modules together); the layers of ARCHITECTURE.md (no module imports a layer above it, lazy and type-only
imports included); every module imports in a fresh interpreter; the command line loads no web library."""

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


def _every_import(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement anywhere in the module: module level, TYPE_CHECKING blocks, inside functions."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def graph(*, typing: bool, lazy: bool = False) -> dict[str, set[str]]:
    """module -> the daemon modules it imports at import time (and under TYPE_CHECKING with `typing`; and every
    import inside a function too with `lazy`)."""
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text())
        for node in _every_import(tree) if lazy else _imports(tree.body, typing):
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


def test_no_import_cycles_with_lazy_imports_counted() -> None:
    # The cli/photos.py and cli/metadata.py <-> cli/main.py cycle went through lazy imports of main's helpers.
    assert cycles(graph(typing=True, lazy=True)) == []


# The layers of ARCHITECTURE.md, top to bottom: the front ends; the use cases (library/) with the running daemon
# (runtime/) beside them, since the daemon drives the analysis and the people; the domain packages; the store;
# the base modules every layer may use. An import only ever points to its own layer or one below.
LAYERS: dict[str, int] = {
    "daemon.__main__": 5,  # `python -m daemon`: the entry point above the front ends
    "daemon.cli": 4, "daemon.web": 4,
    "daemon.library": 3, "daemon.runtime": 3,
    "daemon.people": 2, "daemon.analysis": 2, "daemon.metadata": 2,
    "daemon.store": 1,
    "daemon": 0, "daemon.config": 0, "daemon.errors": 0, "daemon.logs": 0, "daemon.types": 0,
}


def layer_of(module: str) -> int:
    """The layer of a daemon module: its longest listed package prefix (KeyError for a module in no layer)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise KeyError(module)


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import that points to a higher layer, as 'importer -> imported'."""
    return [f"{a} -> {b}" for a, targets in sorted(edges.items()) for b in sorted(targets)
            if layer_of(b) > layer_of(a)]


def test_the_layer_check_finds_an_upward_import() -> None:
    assert upward({"daemon.store.faces": {"daemon.library.reads"}, "daemon.cli.main": {"daemon.store"}}) == [
        "daemon.store.faces -> daemon.library.reads"]
    assert layer_of("daemon.analysis.vision.yolo") == 2 and layer_of("daemon.web.app") == 4


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_layer_above_it() -> None:
    assert upward(graph(typing=True, lazy=True)) == []


def test_the_front_ends_reach_the_store_only_through_the_use_cases() -> None:
    # cli/ and web/ call daemon/library/ and nothing else of the library's data: no store query module, no
    # people manager, no sidecar writer. Allowed: `Store` (types), the daemon's lock (is one running?), the
    # daemon itself and its progress line (`run`, `scan`), the analysis chain (`analyze`, no library) and the
    # decoders behind the web app's thumbnails (photos, and a video's frames).
    allowed = {"daemon.store", "daemon.store.store", "daemon.runtime.lock", "daemon.runtime.service",
               "daemon.runtime.progress", "daemon.analysis.analyzer", "daemon.analysis.imaging",
               "daemon.analysis.video"}
    found = [f"{a} -> {b}" for a, targets in sorted(graph(typing=True, lazy=True).items())
             if a.startswith(("daemon.cli", "daemon.web")) for b in sorted(targets)
             if b.startswith(("daemon.store", "daemon.people", "daemon.runtime", "daemon.analysis", "daemon.metadata"))
             and b not in allowed]
    assert found == [], found


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
