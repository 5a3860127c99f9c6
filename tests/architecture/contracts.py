"""Two import-linter contract types that the built-in ones cannot express (pyproject.toml [tool.importlinter]).

``pure_cores``: a pure core may import, of the project, only other pure cores. The built-in ``forbidden`` type
skips a source that lies inside a forbidden package, so "registry.rair must not import registry.models, but may
import registry.units" cannot be written with it.

``acyclic_modules``: no module of the root packages reaches itself through its imports. The built-in
``acyclic_siblings`` type compares the children of one package, so it misses a cycle that runs through two apps
and it counts a subpackage as one node. Here every strongly connected component of the module graph with more
than one module is a broken contract, and the report names one cycle of it, import by import.

Both are loaded by ``lint-imports`` from the project root (``contract_types`` in pyproject.toml), which puts
the working directory on ``sys.path``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Set

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def _project_modules(graph: grimp.ImportGraph, root_packages: Iterable[str]) -> set[str]:
    roots = set(root_packages)
    return {m for m in graph.modules if m.split(".")[0] in roots and not graph.is_module_squashed(m)}


def _line_numbers(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    lines = sorted({d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)})
    return ", ".join(f"l.{n}" for n in lines) or "l.?"


class PureCoresContract(Contract):
    """Each listed core imports, among the root packages, nothing but the listed cores (themselves included)."""

    type_name = "pure_cores"

    cores = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        cores = {module.name for module in self.cores}  # type: ignore[attr-defined]
        missing = sorted(cores - graph.modules)
        project = _project_modules(graph, self.session_options["root_packages"])
        offending: list[tuple[str, str, str]] = []
        for core in sorted(cores & graph.modules):
            for imported in sorted(graph.find_modules_directly_imported_by(core) & project):
                if imported not in cores:
                    offending.append((core, imported, _line_numbers(graph, core, imported)))
        return ContractCheck(
            kept=not offending and not missing, metadata={"offending": offending, "missing": missing}
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for core in check.metadata["missing"]:
            output.print_error(f"{core} is listed as a core but does not exist (update the list).")
        for core, imported, lines in check.metadata["offending"]:
            output.print_error(f"{core} imports {imported} ({lines}), which is not a pure core.")
            output.new_line()


def strongly_connected_components(nodes: Set[str], edges: Mapping[str, Set[str]]) -> list[list[str]]:
    """Tarjan's algorithm without recursion; returns the components of more than one node, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(edges.get(start, ())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            if successors:
                successor = successors.pop()
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, sorted(edges.get(successor, ()))))
                elif successor in on_stack:
                    low[node] = min(low[node], index[successor])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return sorted(found)


def one_cycle(component: list[str], edges: Mapping[str, Set[str]]) -> list[str]:
    """The shortest cycle through the component's first module, as [m, …, m] (breadth-first in the component)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(edges.get(node, set()) & members):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if successor not in previous:
                previous[successor] = node
                queue.append(successor)
    raise AssertionError(f"{start} is in a strongly connected component but on no cycle")


class AcyclicModulesContract(Contract):
    """No module of the root packages imports itself through a chain of imports."""

    type_name = "acyclic_modules"

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        project = _project_modules(graph, self.session_options["root_packages"])
        edges = {m: graph.find_modules_directly_imported_by(m) & project for m in project}
        cycles = []
        for component in strongly_connected_components(project, edges):
            cycle = one_cycle(component, edges)
            links = [(a, b, _line_numbers(graph, a, b)) for a, b in zip(cycle, cycle[1:], strict=False)]
            cycles.append({"size": len(component), "links": links})
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(f"An import cycle among {cycle['size']} modules, for example:")
            for importer, imported, lines in cycle["links"]:
                output.indent_cursor()
                output.print_error(f"{importer} -> {imported} ({lines})", bold=False)
            output.new_line()
