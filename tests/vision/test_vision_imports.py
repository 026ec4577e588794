"""vision/ has no import cycle: registry imports the model classes, they import spec.py, never registry (issue 10)."""

from __future__ import annotations

import ast

from vision_data import REPO

VISION = REPO / "daemon" / "analysis" / "vision"


def imports_within_vision() -> dict[str, set[str]]:
    """Module name -> the daemon.analysis.vision modules it imports at module level or below (static, from the AST)."""
    names = {p.stem for p in VISION.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for path in VISION.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("daemon.analysis.vision"):
                sub = node.module.removeprefix("daemon.analysis.vision").lstrip(".")
                if sub:
                    deps.add(sub)
                else:  # `from daemon.analysis.vision import transforms`: the submodule, or the package itself
                    deps |= {a.name if a.name in names else "__init__" for a in node.names}
        graph[path.stem] = deps - {path.stem}
    return graph


def test_vision_has_no_import_cycle() -> None:
    graph = imports_within_vision()
    assert graph["registry"] >= {"yolo", "yunet", "sface"}  # the walk sees real imports

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(dep == goal or reaches(dep, goal, seen | {dep}) for dep in graph.get(start, set()) - seen)

    cycles = sorted(m for m in graph if m != "__init__" and reaches(m, m, set()))
    assert cycles == []
    assert "spec" in graph["registry"] and graph["spec"] == set()  # spec sits below everything else in vision/
