"""The `drexfy` command line.

Each area registers its own sub-commands (`register(subparsers)` in a `cli_*` module); this module
only assembles them, so adding a command never means editing a long central file.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from drexfy.domain.errors import ConfigurationError, DomainError

#: Modules contributing sub-commands; a module that is absent from an installation is skipped.
COMMAND_MODULES = (
    "drexfy.entrypoints.cli_http",
    "drexfy.entrypoints.cli_ops",
    "drexfy.entrypoints.cli_people",
    "drexfy.entrypoints.cli_repayments",
    "drexfy.entrypoints.cli_agent",
    "drexfy.entrypoints.cli_approvals",
    "drexfy.entrypoints.cli_bank",
    "drexfy.entrypoints.cli_refunds",
    "drexfy.entrypoints.demo_http",
    "drexfy.entrypoints.cli_evm",
    "drexfy.entrypoints.cli_xrpl",
    "drexfy.entrypoints.cli_aws",
    "drexfy.entrypoints.cli_audit",
    "drexfy.entrypoints.cli_compliance",
)


def _demo(args: argparse.Namespace) -> int:
    from drexfy.entrypoints.demo import main as demo_main

    return demo_main(args)


def _config_check(args: argparse.Namespace) -> int:
    import json

    from drexfy.entrypoints.config import load_settings

    settings = load_settings(args.config)
    redacted = settings.as_dict()
    for key, value in redacted["http"].items():
        if ("secret" in key or "token" in key) and value:  # current and previous (rotation) secrets alike
            redacted["http"][key] = "***"
    print(json.dumps(redacted, indent=2))
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("drexfy")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drexfy", description="Drexfy: tokenized SME credit, compliant on chain.")
    parser.add_argument("--config", help="TOML configuration file (default: DREXFY_CONFIG or embedded defaults)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole lifecycle through the processes and print each step")
    demo.add_argument("--ledger", default="evm", choices=("memory", "evm", "xrpl"), help="ledger to run on")
    demo.add_argument("--data-dir", help="keep the demo's store and keys here (default: a temporary directory)")
    demo.add_argument(
        "--via",
        default="processes",
        choices=("processes", "http"),
        help="processes: call the use cases and print every transaction (default); http: start the service "
        "and drive its API and signed webhooks exactly as the frontend and the providers would",
    )
    demo.set_defaults(func=_demo)

    check = sub.add_parser("config", help="validate the configuration and print it (secrets redacted)")
    check.set_defaults(func=_config_check)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigurationError as error:
        print(f"configuration error: {error.message}", file=sys.stderr)
        return 2
    except DomainError as error:  # a known failure (node unreachable, a refusal): its words, no traceback
        print(f"error: {error.code}: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
