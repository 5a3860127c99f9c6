"""The clinical and numerical cores import no Django: data in, result out, testable without a database."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORES = [
    "registry/eligibility.py", "registry/plausibility.py", "registry/rair.py", "registry/staging.py",
    "registry/iodine.py", "registry/units.py", "registry/deidentify.py",
    "assessment/recist.py", "registry/volumes.py", "assessment/thyroglobulin.py", "assessment/stats.py",
    "assessment/toxicity.py", "assessment/mda.py", "assessment/schedule.py", "assessment/survival.py",
    "dosimetry/tg43.py", "dosimetry/sources.py", "dosimetry/dvh.py", "dosimetry/dicom_io.py",
    "demo/dicom_synth.py", "dosimetry/import_checks.py", "dosimetry/deviations.py",
]
PROJECT_PACKAGES = {"registry", "assessment", "dosimetry", "reports", "config", "demo"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("core", [c for c in CORES if (ROOT / c).exists()])
def test_core_imports_no_django(core):
    imported = _imports(ROOT / core)
    assert not {n for n in imported if n.split(".")[0] in {"django", "rest_framework", "simple_history"}}, imported
    # A core may use another core, never a Django module of the project (models, services, views…).
    for name in imported:
        top, _, rest = name.partition(".")
        if top in PROJECT_PACKAGES:
            assert f"{top}/{rest.replace('.', '/')}.py" in CORES, f"{core} imports {name}, which is not a pure core"
