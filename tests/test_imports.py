"""The import graph of briefbot: no module imports itself through others, and none reaches for
another module's private names (`from briefbot.x import _y`), so each module's public names are
its whole contract."""

import ast
from pathlib import Path

import briefbot

PACKAGE = Path(briefbot.__file__).parent

# Circles closed only by an import inside a function, each with why it stands. The test fails when
# one disappears as well, so this list says what is true.
KNOWN_LAZY_CIRCLES = {
    # make_backend(isolated=True) starts a worker process, and the worker builds its backend with make_backend.
    frozenset({"briefbot.backends", "briefbot.backends.worker"}),
    # load_briefing hands HTML, PDF and DOCX to readers.read_isolated, and readers builds briefing.Page
    # records; Page in a module of its own would end the circle.
    frozenset({"briefbot.briefing", "briefbot.readers"}),
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _statements(tree: ast.Module, lazy: bool):
    """Import statements run when the module is imported (class bodies included), or all of them."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif lazy or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            pending += [child for child in ast.iter_child_nodes(node) if isinstance(child, (ast.stmt, ast.excepthandler))]


def _imports(name: str, lazy: bool) -> set[str]:
    """The briefbot modules `name` imports: a name imported from a package is its submodule if
    there is one, else the package."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _statements(ast.parse(path.read_text(encoding="utf-8")), lazy):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in MODULES}
            continue
        base = node.module or ""
        if node.level:
            base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *([base] if base else [])])
        for alias in node.names:
            target = f"{base}.{alias.name}"
            found.add(target if target in MODULES else base)
    return (found & MODULES.keys()) - {name}


def _circles(lazy: bool) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    graph = {name: _imports(name, lazy) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.add(frozenset(component))

    for name in graph:
        if name not in index:
            visit(name)
    return circles


def test_the_walk_sees_the_package():
    assert {"briefbot", "briefbot.bot", "briefbot.backends", "briefbot.backends.base", "briefbot.eval.suite"} <= MODULES.keys()
    assert "briefbot.backends.base" in _imports("briefbot.backends", lazy=False)
    assert "briefbot.eval.report" in _imports("briefbot.eval.suite", lazy=False)
    assert "briefbot.backends.worker" in _imports("briefbot.backends", lazy=True)
    assert "briefbot.backends.worker" not in _imports("briefbot.backends", lazy=False)


def test_no_circle_among_module_level_imports():
    assert _circles(lazy=False) == set()


def test_no_circle_through_function_level_imports_but_the_known_ones():
    assert _circles(lazy=True) == KNOWN_LAZY_CIRCLES


def test_no_private_name_is_imported_from_another_module():
    borrowed = []
    for name, path in MODULES.items():
        for node in _statements(ast.parse(path.read_text(encoding="utf-8")), lazy=True):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "briefbot"):
                borrowed += [f"{name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert borrowed == []
