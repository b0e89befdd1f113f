"""The committed contract artifacts are what the sources compile to (needs node_modules: `make node`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from drexfy.adapters.evm.abi import SUITE, load_artifact

ROOT = Path(__file__).resolve().parents[3]
BUILD = ROOT / "tools" / "build-contracts.js"
ARTIFACTS = ROOT / "src" / "drexfy" / "adapters" / "evm" / "artifacts"
BENCH_ARTIFACTS = ROOT / "bench" / "contracts" / "artifacts"


def check(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(BUILD), "--check", *extra], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_committed_artifacts_match_the_sources() -> None:
    result = check()
    assert result.returncode == 0, result.stderr


def test_the_check_notices_a_stale_artifact(tmp_path: Path) -> None:
    suite, bench = tmp_path / "suite", tmp_path / "bench"
    shutil.copytree(ARTIFACTS, suite)
    shutil.copytree(BENCH_ARTIFACTS, bench)
    stale = suite / "Stablecoin.json"
    data = json.loads(stale.read_text())
    data["bytecode"] = data["bytecode"][:-2] + "00"
    stale.write_text(json.dumps(data, indent=2) + "\n")
    result = check("--out", str(suite), "--bench-out", str(bench))
    assert result.returncode == 1
    assert "Stablecoin.json" in result.stderr and "Settlement.json" not in result.stderr


def test_artifacts_record_compiler_settings_and_source_hash() -> None:
    manifest = json.loads((ARTIFACTS / "manifest.json").read_text())
    assert manifest["compiler"]["version"].startswith("0.8.28")
    assert manifest["settings"]["evmVersion"] == "paris"
    assert manifest["settings"]["optimizer"]["enabled"] is True
    assert sorted(manifest["contracts"]) == sorted(SUITE)
    for name in SUITE:
        artifact = load_artifact(name)
        assert artifact.source_hash == manifest["sourceHash"]
        assert artifact.bytecode.startswith("0x") and len(artifact.bytecode) > 1000


def test_every_contract_fits_the_eip170_size_limit() -> None:
    for name in SUITE:
        runtime = json.loads((ARTIFACTS / f"{name}.json").read_text())["deployedBytecode"]
        assert (len(runtime) - 2) // 2 <= 24_576, name
