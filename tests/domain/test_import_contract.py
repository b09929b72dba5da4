"""The import contract that keeps the layers apart, read from the source with `ast` (nothing is imported).

1. The domain (clients, plans, inbound, triage, escalation, delivery, texts, db, migrations, and the top-level
   config, clock, callbacks and services) imports no `telegram` module: not at module level, not inside a
   function, not through another aftercare_bot module that does. The domain reaches Telegram through the ports
   in delivery/ports.py, which bot/ implements.
2. db/ and migrations/ import, from aftercare_bot, only aftercare_bot.db.*, aftercare_bot.migrations.*,
   aftercare_bot.config and aftercare_bot.clock, wherever the import statement is.
3. No import cycle between aftercare_bot's modules at module level: imports inside functions and under
   `if TYPE_CHECKING:` are not counted, since they run after every module involved has loaded. Packages, taken
   as wholes, do depend on each other both ways (delivery and escalation, plans and texts, services and the
   packages it holds); that is not part of this contract.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT

PACKAGE = "aftercare_bot"
PACKAGE_DIR = ROOT / PACKAGE

DOMAIN = (
    "clients", "plans", "inbound", "triage", "escalation", "delivery", "texts", "db", "migrations", "api", "reporting",
)
DOMAIN_MODULES = ("config", "clock", "callbacks", "services")
DB_LAYER = ("db", "migrations")
DB_MAY_IMPORT = ("db", "migrations", "config", "clock")


@dataclass(frozen=True)
class Import:
    target: str  # the module imported, resolved to the most precise module that exists
    line: int
    at_module_level: bool  # runs while the importing module loads


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in MODULES else base


def imports_in(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import statement in a module's source, and whether it runs when the module loads."""
    found: list[Import] = []

    def visit(node: ast.AST, at_module_level: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            targets = _targets(module, is_package, node)
            found.extend(Import(target, node.lineno, at_module_level) for target in targets)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            at_module_level = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, at_module_level)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, at_module_level)

    visit(ast.parse(source), True)
    return found


IMPORTS = {
    module: imports_in(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    for module, path in MODULES.items()
}


def _in(module: str, names: tuple[str, ...]) -> bool:
    return any(module == f"{PACKAGE}.{name}" or module.startswith(f"{PACKAGE}.{name}.") for name in names)


def _is_telegram(target: str) -> bool:
    return target == "telegram" or target.startswith("telegram.")


def _own(target: str) -> str | None:
    """The aftercare_bot module an import names, or None for anything outside the package."""
    if target != PACKAGE and not target.startswith(f"{PACKAGE}."):
        return None
    while target not in MODULES:
        target = target.rsplit(".", 1)[0]
    return target


def _reaches_telegram() -> dict[str, list[str]]:
    """For each module that loads telegram when it runs (counting imports inside functions too): how."""
    paths: dict[str, list[str]] = {}
    for module, imports in IMPORTS.items():
        if any(_is_telegram(item.target) for item in imports):
            paths[module] = [module, "telegram"]
    changed = True
    while changed:
        changed = False
        for module, imports in IMPORTS.items():
            if module in paths:
                continue
            for item in imports:
                own = _own(item.target)
                if own in paths:
                    paths[module] = [module, *paths[own]]
                    changed = True
                    break
    return paths


def test_the_domain_imports_no_telegram() -> None:
    missing = [name for name in DOMAIN + DOMAIN_MODULES if f"{PACKAGE}.{name}" not in MODULES]
    assert missing == [], f"the contract names packages that no longer exist: {missing}"
    domain = {m for m in MODULES if _in(m, DOMAIN) or _in(m, DOMAIN_MODULES)}
    reaching = _reaches_telegram()

    def crossing(item: Import) -> str | None:
        """How an import brings telegram into the domain: itself, or through a module outside the domain."""
        if _is_telegram(item.target):
            return item.target
        own = _own(item.target)
        return " -> ".join(reaching[own]) if own in reaching and own not in domain else None

    violations = [
        f"{module}:{item.line} imports {how}"
        for module in sorted(domain)
        for item in IMPORTS[module]
        if (how := crossing(item)) is not None
    ]
    assert violations == [], "domain modules that load python-telegram-bot:\n" + "\n".join(violations)


def test_db_imports_nothing_above_it() -> None:
    violations = [
        f"{module}:{item.line} imports {own}"
        for module, imports in IMPORTS.items()
        if _in(module, DB_LAYER)
        for item in imports
        if (own := _own(item.target)) is not None and own != PACKAGE and not _in(own, DB_MAY_IMPORT)
    ]
    assert violations == [], "db/ and migrations/ reach above themselves:\n" + "\n".join(violations)


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in the graph, as the list of modules along it (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def module_level_graph() -> dict[str, set[str]]:
    return {
        module: {own for item in imports if item.at_module_level and (own := _own(item.target)) not in (None, module)}
        for module, imports in IMPORTS.items()
    }


def test_no_import_cycles_at_module_level() -> None:
    cycle = _find_cycle(module_level_graph())
    assert cycle is None, "import cycle at module level: " + " -> ".join(cycle or [])


def test_the_checks_see_what_they_are_meant_to() -> None:
    """The checks themselves: a lazy import counts for telegram, TYPE_CHECKING does not count for cycles."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from aftercare_bot.a import A\n"
        "def f():\n    import telegram\n"
        "class C:\n    from aftercare_bot import config\n"
        "from .texts import catalog\n"
    )
    found = imports_in(source, "aftercare_bot.probe")
    assert [(i.target, i.at_module_level) for i in found] == [
        ("typing", True),
        ("aftercare_bot.a", False),
        ("telegram", False),
        ("aftercare_bot.config", True),
        ("aftercare_bot.texts.catalog", True),
    ]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}}) is None
