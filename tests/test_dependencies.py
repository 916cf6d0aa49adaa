"""The packages' dependency rules, read from the source with `ast` (no imports, well under a second):

- `engine` imports neither `daemon` nor `integrations`; `integrations` imports neither `daemon` nor `engine`;
- inside `daemon`, infrastructure does not reach up into what uses it: the catalog, settings, logs, job
  payloads/outcomes/runner and the scheduling decisions import no stage, no CLI and not the service;
  the stages import neither the CLI nor the service;
- no module imports itself back through others (no import cycle), counting imports made inside functions
  (which hide cycles rather than remove them) and leaving out `if TYPE_CHECKING:` blocks.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("daemon", "engine", "integrations")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports (a `from package import module` counts as the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


@functools.cache
def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


FORBIDDEN: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("engine",), ("daemon", "integrations")),
    (("integrations",), ("daemon", "engine")),
    (
        (
            "daemon.catalog",
            "daemon.settings",
            "daemon.logs",
            "daemon.crontab",
            "daemon.jobs.payloads",
            "daemon.jobs.outcomes",
            "daemon.jobs.runner",
            "daemon.scheduling",
        ),
        ("daemon.stages", "daemon.cli", "daemon.service"),
    ),
    (("daemon.stages",), ("daemon.cli", "daemon.service", "daemon.demo")),
]


def test_each_package_imports_only_what_it_may() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        for sources, banned in FORBIDDEN
        if under(module, *sources)
        for target in sorted(targets)
        if under(target, *banned)
    ]
    assert wrong == []


def test_there_is_no_import_cycle() -> None:
    edges = graph()  # parsed once for both tests
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert cycles == []
