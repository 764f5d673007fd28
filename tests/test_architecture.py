"""The house rules that keep the rooms apart (DESIGN.md, "Rules of the house"), checked on the source.

- No import circle among `portal/` modules, counting imports written inside functions.
- A service never imports a `jobs.py`: it asks for work by name through `jobs.enqueue`; only
  `portal/jobs/tasks.py` imports the rooms' jobs modules, and every task lives in its room's `jobs.py`.
- No module imports a views module (what two rooms' pages share is a presenter), except the app factory.
- Nothing in `portal/` imports the app factory (`portal.app`) but the job consumer's registry.
- Views (every `views.py` and `webhooks.py`, every staff view module in `backoffice/`) run no query of their own
  (the health check, which asks the database whether it answers, is the one page module that may).
- No import of a `portal` module inside a function (unless listed below with its reason: none today).
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PORTAL = ROOT / "portal"

# module → why it imports portal modules inside functions (an import cycle with a third-party library); none today
INNER_IMPORTS_ALLOWED: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PORTAL.rglob("*.py"):
        if path.is_relative_to(PORTAL / "migrations"):
            continue  # Alembic's scripts, loaded by path (env.py is an entry point like wsgi.py), not modules
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str, path: Path) -> list[tuple[str, bool, int]]:
    """(imported portal module, written inside a function?, line) for every import of `name`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner.update(id(child) for child in ast.walk(node) if child is not node)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = _package(name, path).split(".")[: len(_package(name, path).split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, id(node) in inner, node.lineno))
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    graph = {name: sorted({target for target, _, _ in found}) for name, found in IMPORTS.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return components


def test_no_import_circle():
    assert _cycles() == []


def test_the_checker_sees_a_circle_inside_functions(monkeypatch):
    """The check itself: an import written inside a function counts."""
    money, clock = "portal.shared.money", "portal.shared.clock"
    for module, other in ((money, clock), (clock, money)):
        monkeypatch.setitem(IMPORTS, module, [*IMPORTS[module], (other, True, 1)])
    assert [clock, money] in _cycles()


def test_only_the_task_list_imports_jobs_modules():
    offenders = sorted(f"{name} imports {target}" for name, found in IMPORTS.items() for target, _, _ in found
                       if target.endswith(".jobs") and target != "portal.jobs"
                       and name not in {"portal.jobs.tasks", "portal.jobs.registry"})
    assert offenders == []


def test_no_module_imports_views():
    offenders = sorted(f"{name} imports {target}" for name, found in IMPORTS.items() if name != "portal.app"
                       for target, _, _ in found if target.rpartition(".")[2] == "views")
    assert offenders == []


ENTRY_POINTS = {"portal.jobs.registry", "portal.wsgi", "portal.console"}  # the consumer's, gunicorn's, `portal`'s


def test_only_the_entry_points_import_the_app_factory():
    assert sorted(name for name, found in IMPORTS.items() for target, _, _ in found
                  if target == "portal.app" and name not in ENTRY_POINTS) == []


def test_imports_inside_functions_only_where_listed():
    offenders = sorted(f"{MODULES[name].relative_to(ROOT)}:{line} imports {target}"
                       for name, found in IMPORTS.items() if name not in INNER_IMPORTS_ALLOWED
                       for target, inside, line in found if inside)
    assert offenders == []


def _view_modules() -> list[Path]:
    views = [path for name in ("views.py", "webhooks.py") for path in PORTAL.rglob(name)]
    staff = [path for path in (PORTAL / "backoffice").rglob("*.py") if path.name not in {"forms.py"}
             and not path.name.endswith("_forms.py")]
    return sorted(set(views) | set(staff))


@pytest.mark.parametrize("path", _view_modules(), ids=lambda path: str(path.relative_to(PORTAL)))
def test_views_run_no_query(path):
    source = path.read_text(encoding="utf-8")
    assert not re.findall(r"\bselect\(|db\.session", source), "a view calls its room's service for data"


def test_every_task_lives_in_its_rooms_jobs_module(app):
    from portal.jobs import _TASKS

    assert sorted(name for name, (module, _) in _TASKS.items() if not module.endswith(".jobs")) == []


def test_every_enqueued_name_is_a_task(app):
    from portal.jobs import registered_tasks

    names = set(registered_tasks())
    asked = {(path.relative_to(ROOT).as_posix(), match) for path in PORTAL.rglob("*.py")
             for match in re.findall(r"enqueue(?:_now)?\(\s*\"([^\"]+)\"", path.read_text(encoding="utf-8"))}
    assert asked, "the check found no enqueue at all"
    assert sorted((path, name) for path, name in asked if name not in names) == []
