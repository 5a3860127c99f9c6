"""The clinical and numerical cores import no Django: data in, result out, testable without a database."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORES = [
    "registry/eligibility.py", "registry/plausibility.py", "registry/rair.py", "registry/staging.py",
    "registry/iodine.py", "registry/units.py", "registry/deidentify.py",
    "assessment/recist.py", "registry/volumes.py", "assessment/recist_contract.py", "assessment/thyroglobulin.py",
    "assessment/stats.py", "assessment/toxicity.py", "assessment/mda.py", "assessment/schedule.py",
    "assessment/survival.py",
    "assessment/cohort_data.py", "assessment/cohort_tables.py", "assessment/cohort_lesions.py",
    "assessment/protocol.py", "dosimetry/protocol.py",
    "dosimetry/tg43.py", "dosimetry/sources.py", "dosimetry/dvh.py", "dosimetry/dicom_io.py",
    "demo/dicom_synth.py", "dosimetry/import_checks.py", "dosimetry/deviations.py",
    "reports/plots.py",
]
PROJECT_PACKAGES = {"registry", "assessment", "dosimetry", "reports", "config", "common", "demo"}
# Of the ground floor a core may use only the error base (pure Python); common's other modules use Django.
COMMON_FOR_CORES = {"common.errors"}


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
    # A core may use another core and common.errors, never a Django module of the project (models, services, …).
    for name in imported:
        top, _, rest = name.partition(".")
        if top == "common":
            assert name in COMMON_FOR_CORES, f"{core} imports {name}; of common/ a core may import only common.errors"
        elif top in PROJECT_PACKAGES:
            assert f"{top}/{rest.replace('.', '/')}.py" in CORES, f"{core} imports {name}, which is not a pure core"


def test_common_errors_is_pure_and_imports_no_app():
    imported = _imports(ROOT / "common/errors.py")
    assert not {n for n in imported if n.split(".")[0] in {"django", *PROJECT_PACKAGES}}, imported


def test_a_core_importing_another_common_module_is_refused(tmp_path, monkeypatch):
    """The rule above can fail: a core that imports common.writes (Django) is named."""
    core = tmp_path / "registry" / "fake_core.py"
    core.parent.mkdir()
    core.write_text("from common.errors import InputError\nfrom common.writes import update\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    monkeypatch.setattr(f"{__name__}.CORES", ["registry/fake_core.py"])
    with pytest.raises(AssertionError, match="common.writes"):
        test_core_imports_no_django("registry/fake_core.py")
