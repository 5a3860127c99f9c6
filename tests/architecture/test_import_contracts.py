"""The floors of the code are a test: the import-linter contracts of pyproject.toml, as `make lint` runs them.

Each contract runs as its own test (``lint-imports --contract ID`` in a subprocess, the report in the failure),
marked ``import_contracts``. The lists of pure cores in pyproject.toml (the two core contracts and mypy's strict
override) must be the list of test_pure_cores.py plus reports/plots.py and common/errors.py, so the three
checks of "pure" cannot drift apart. The two custom contract types are tested on small graphs.
"""

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

from tests.architecture.contracts import (
    AcyclicModulesContract,
    PureCoresContract,
    one_cycle,
    strongly_connected_components,
)
from tests.architecture.test_pure_cores import CORES

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONTRACTS = PYPROJECT["tool"]["importlinter"]["contracts"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.mark.import_contracts
@pytest.mark.parametrize("contract", CONTRACTS, ids=[c["id"] for c in CONTRACTS])
def test_import_contract_is_kept(contract):
    run = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", contract["id"]],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, f"contract {contract['name']!r} broken:\n{run.stdout}{run.stderr}"


def _dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def test_pyproject_lists_the_pure_cores_of_the_ast_test():
    expected = {_dotted(c) for c in CORES} | {"reports.plots", "common.errors"}
    by_id = {c["id"]: c for c in CONTRACTS}
    assert set(by_id["cores-no-django"]["source_modules"]) == expected
    assert set(by_id["cores-pure"]["cores"]) == expected
    strict = [o for o in PYPROJECT["tool"]["mypy"]["overrides"] if o.get("disallow_untyped_calls")]
    assert len(strict) == 1 and set(strict[0]["module"]) == expected


def _graph(imports: list[tuple[str, str]]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import")
    return graph


def _check(contract_class, graph, **options):
    contract = contract_class("test", {"root_packages": ["app", "lib"]}, options)
    return contract.check(graph, verbose=False)


def test_pure_core_may_import_cores_and_outside_packages_only():
    graph = _graph([("app.core", "app.other_core"), ("app.core", "numpy"), ("app.views", "app.core")])
    assert _check(PureCoresContract, graph, cores=["app.core", "app.other_core"]).kept


def test_pure_core_importing_a_non_core_module_breaks_the_contract():
    graph = _graph([("app.core", "app.other_core"), ("app.other_core", "lib.models")])
    check = _check(PureCoresContract, graph, cores=["app.core", "app.other_core"])
    assert not check.kept
    assert check.metadata["offending"] == [("app.other_core", "lib.models", "l.1")]


def test_a_listed_core_that_does_not_exist_breaks_the_contract():
    check = _check(PureCoresContract, _graph([("app.core", "numpy")]), cores=["app.core", "app.gone"])
    assert not check.kept and check.metadata["missing"] == ["app.gone"]


def test_no_cycle_keeps_the_acyclic_contract():
    graph = _graph([("app.a", "app.b"), ("app.b", "lib.c"), ("app.a", "lib.c")])
    assert _check(AcyclicModulesContract, graph).kept


def test_a_cycle_through_two_packages_is_named_import_by_import():
    graph = _graph([("app.a", "lib.b"), ("lib.b", "app.c"), ("app.c", "app.a"), ("app.a", "lib.d")])
    check = _check(AcyclicModulesContract, graph)
    assert not check.kept
    [cycle] = check.metadata["cycles"]
    assert cycle["size"] == 3
    assert [(a, b) for a, b, _ in cycle["links"]] == [("app.a", "lib.b"), ("lib.b", "app.c"), ("app.c", "app.a")]


def test_components_and_shortest_cycle():
    edges = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c", "e"}, "e": set(), "f": {"f"}}
    # A module importing itself is no cycle between modules; a and b, c and d are two components.
    assert strongly_connected_components(set(edges), edges) == [["a", "b"], ["c", "d"]]
    edges = {"a": {"b", "x"}, "b": {"c"}, "c": {"a"}, "x": {"a"}}
    assert one_cycle(["a", "b", "c", "x"], edges) == ["a", "x", "a"]
