"""`drexfy xrpl demo`: the whole lifecycle on the XRPL ledger double, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xrpl
ROOT = Path(__file__).resolve().parents[3]


def test_the_demo_runs_the_lifecycle_on_the_double(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "drexfy.entrypoints.cli", "xrpl", "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for marker in (
        "Drexfy demo on the xrpl ledger",
        "issuer: set ASF_REQUIRE_AUTH",
        "class US_ACCREDITED (on chain: US_ACCREDITED)",
        "refused: classification EU_NON_ACCREDITED is not eligible for SMEUS26",
        "HELD_BACK",
        "Carla unblocked; on chain EU_ACCREDITED",
        "SMEA26 MATURED; units left on chain: 0",
        "Demo finished: every step did what it says.",
    ):
        assert marker in out, marker
    master = (tmp_path / "vault-master.key").read_text().strip()
    assert master not in out and master not in result.stderr
