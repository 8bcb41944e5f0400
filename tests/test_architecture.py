"""The import structure ``lint-imports`` cannot check by itself.

* No import cycle between modules, function-local imports included (grimp counts them): import-linter's
  ``acyclic_siblings`` would also forbid cycles between whole domain packages.
* The contracts in ``pyproject.toml`` name their modules, so a new view or service module must be added
  there; these tests fail until it is.
"""

import re
import tomllib
from functools import cache
from pathlib import Path

import grimp
import pytest

import clinic

ROOT = Path(__file__).resolve().parents[1]
NOT_DOMAINS = {"clinic.web", "clinic.migrations"}
"""Children of ``clinic`` that are not domain packages: the web kit and the migrations."""


@cache
def graph() -> grimp.ImportGraph:
    assert Path(clinic.__file__).resolve().parents[1] == ROOT, "grimp must read this checkout's modules"
    return grimp.build_graph("clinic", "outreach", "scheduling", cache_dir=None)


def strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the components with more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def describe(component: list[str], edges: dict[str, set[str]]) -> str:
    """One cycle through the component's first module, with the line of each import in it."""
    first = component[0]
    second = sorted(edges[first] & set(component))[0]
    path = [first, *graph().find_shortest_chain(importer=second, imported=first)]
    lines = []
    for importer, imported in zip(path, path[1:], strict=False):
        details = graph().get_import_details(importer=importer, imported=imported)
        where = "; ".join(f"line {d['line_number']}: {d['line_contents']}" for d in details)
        lines.append(f"  {importer} -> {imported} ({where})")
    return f"{len(component)} modules import each other: {', '.join(component)}\n" + "\n".join(lines)


def test_no_module_imports_itself_through_others() -> None:
    modules = set(graph().modules)
    edges = {m: graph().find_modules_directly_imported_by(m) & modules for m in modules}
    cycles = strongly_connected(modules, edges)
    assert not cycles, "import cycles:\n" + "\n".join(describe(c, edges) for c in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    cycles = strongly_connected(set(edges), edges)
    assert cycles == [["a", "b", "c"]]


@cache
def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"] if "id" in c}


def matches(module: str, expressions: list[str]) -> bool:
    return any(re.fullmatch(re.escape(e).replace(r"\*", r"[^.]+"), module) for e in expressions)


def domain_modules() -> list[str]:
    packages = {m for m in graph().find_children("clinic") if graph().find_children(m)} - NOT_DOMAINS
    return sorted(m for p in packages for m in graph().find_children(p))


def is_view(module: str) -> bool:
    return module.rsplit(".", 1)[1].endswith("views")


@pytest.mark.parametrize("contract", ["views"])
def test_every_view_module_is_in_the_views_contract(contract: str) -> None:
    listed = contracts()[contract]["modules"]
    missing = [m for m in domain_modules() if is_view(m) and not matches(m, listed)]
    assert not missing, f"add to the {contract!r} contract in pyproject.toml: {missing}"


@pytest.mark.parametrize("contract", ["services", "services-flask"])
def test_every_service_module_is_in_the_services_contracts(contract: str) -> None:
    listed = contracts()[contract]["source_modules"]
    missing = [m for m in domain_modules() if not is_view(m) and not matches(m, listed)]
    assert not missing, f"add to the {contract!r} contract in pyproject.toml: {missing}"
