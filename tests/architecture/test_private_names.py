"""No app imports another app's private name: a leading underscore means "this app only" (issue 11).

import-linter sees modules, not names, so this reads the ``from X import Y`` statements of every module
(migrations aside) with the ast module. Within one app a private helper may be shared freely.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ["common", "registry", "dosimetry", "assessment", "reports", "demo", "config"]


def _private_imports(path: Path, own_app: str) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
            continue
        app = node.module.split(".")[0]
        if app not in APPS or app == own_app:
            continue
        parts = node.module.split(".")[1:]
        names = [a.name for a in node.names]
        private = [p for p in parts if p.startswith("_") and not p.startswith("__")]
        private += [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private:
            found.append(f"l.{node.lineno}: from {node.module} import {', '.join(names)}")
    return found


def _modules(app: str) -> list[Path]:
    return sorted(p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("app", [a for a in APPS if (ROOT / a).is_dir()])
def test_app_imports_no_private_name_of_another_app(app):
    offending = {
        str(path.relative_to(ROOT)): found for path in _modules(app) if (found := _private_imports(path, app))
    }
    assert not offending, offending


def test_the_check_sees_a_private_import(tmp_path):
    module = tmp_path / "views.py"
    module.write_text("from registry.services import _assign, store\nfrom registry import _helpers\n")
    assert _private_imports(module, "assessment") == [
        "l.1: from registry.services import _assign, store", "l.2: from registry import _helpers",
    ]
    assert _private_imports(module, "registry") == []
