"""`drexfy demo` as a user runs it: a separate process, every step checked, exit code 0."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("ledger", ["memory", "evm"])
def test_the_demo_runs_the_whole_lifecycle(ledger, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "drexfy.entrypoints.cli", "demo", "--ledger", ledger, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for marker in (
        "class US_ACCREDITED (on chain: US_ACCREDITED)",
        "refused: classification EU_NON_ACCREDITED is not eligible for SMEUS26",
        "HELD_BACK",
        "Carla unblocked; on chain EU_ACCREDITED",
        "SMEA26 MATURED; units left on chain: 0",
        "Demo finished: every step did what it says.",
    ):
        assert marker in out, marker
    # Nothing secret is printed: the vault master key stays in its file.
    master = (tmp_path / "vault-master.key").read_text().strip()
    assert master not in out and master not in result.stderr


def test_the_demo_through_http_drives_the_api_and_signed_webhooks(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "drexfy.entrypoints.cli",
            "demo",
            "--via",
            "http",
            "--ledger",
            "evm",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "redelivered -> HTTP 200 (duplicate)" in result.stdout
    assert "order SETTLED on the ledger" in result.stdout


def test_the_demo_refuses_a_production_configuration_with_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "drexfy.entrypoints.cli", "demo", "--ledger", "memory", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DREXFY_MODE": "production", "DREXFY_HTTP__JWT_SECRET": "x"},
    )
    assert result.returncode != 0
    assert "ConfigurationError: ledger.kind: the memory ledger is for tests only" in result.stderr
