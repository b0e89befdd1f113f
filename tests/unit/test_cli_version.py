"""`drexfy --version` names the installed version."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from drexfy.entrypoints.cli import build_parser


def test_version_prints_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"drexfy {version('drexfy')}"
