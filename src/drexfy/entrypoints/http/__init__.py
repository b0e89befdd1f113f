"""The aiohttp HTTP service: provider webhooks, the platform API, health, readiness and metrics."""

from drexfy.entrypoints.http.app import create_app
from drexfy.entrypoints.http.auth import Role, issue_token
from drexfy.entrypoints.http.metrics import Metrics
from drexfy.entrypoints.http.settings import HttpSettings, WorkerSettings

__all__ = ["HttpSettings", "Metrics", "Role", "WorkerSettings", "create_app", "issue_token"]
