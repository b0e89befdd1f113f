"""The domain imports nothing outside the standard library, attrs and itself."""

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "src" / "drexfy" / "domain"
ALLOWED_THIRD_PARTY = {"attrs", "attr"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_domain_imports_only_stdlib_attrs_and_itself():
    offenders = []
    files = sorted(DOMAIN.rglob("*.py"))
    assert len(files) >= 8, "the domain package was not found"
    for path in files:
        for line, module in _imports(path):
            top = module.split(".")[0]
            if module.startswith("drexfy.domain") or top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names:
                continue
            offenders.append(f"{path.relative_to(DOMAIN)}:{line} imports {module}")
    assert offenders == []


def test_the_purity_check_would_catch_an_adapter_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import web3\nfrom drexfy.adapters.memory import MemoryLedger\nimport json\n")
    modules = [m for _, m in _imports(bad)]
    flagged = [
        m
        for m in modules
        if not (m.startswith("drexfy.domain") or m.split(".")[0] in ALLOWED_THIRD_PARTY | set(sys.stdlib_module_names))
    ]
    assert flagged == ["web3", "drexfy.adapters.memory"]


ENTRYPOINTS = DOMAIN.parent / "entrypoints"


def test_the_worker_and_the_shared_runtime_import_nothing_from_the_http_package():
    """The worker runs without the HTTP service: what both use lives in `entrypoints/runtime`."""
    offenders = []
    for path in [ENTRYPOINTS / "worker.py", *sorted((ENTRYPOINTS / "runtime").rglob("*.py"))]:
        offenders += [f"{path.name}:{line} imports {m}" for line, m in _imports(path) if "entrypoints.http" in m]
    assert offenders == []


def test_the_demo_imports_no_command_module():
    """The commands call the demo; the demo never imports a command module back (no cycles)."""
    demo = ENTRYPOINTS / "demo.py"
    assert [m for _, m in _imports(demo) if ".cli_" in m] == []
