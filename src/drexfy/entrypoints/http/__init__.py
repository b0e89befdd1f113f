"""The aiohttp HTTP service: provider webhooks, the platform API, health, readiness and metrics."""

from drexfy.entrypoints.http.app import create_app
from drexfy.entrypoints.http.auth import Role, issue_token

__all__ = ["Role", "create_app", "issue_token"]
