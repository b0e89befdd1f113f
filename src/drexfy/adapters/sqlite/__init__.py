"""The embedded store: SQLite in WAL mode, schema migrations from `migrations/*.sql`."""

from drexfy.adapters.sqlite.db import NestedWriteError
from drexfy.adapters.sqlite.store import SqliteStore, open_sqlite_store
from drexfy.adapters.sqlite.uow import SqliteUnitOfWork

__all__ = ["NestedWriteError", "SqliteStore", "SqliteUnitOfWork", "open_sqlite_store"]
