"""The deployed suite's addresses, persisted as a small JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import attrs

#: Vault wallet ids of the platform's own keys (created at deploy).
ADMIN_KEY = "platform:admin"
RELAYER_KEY = "platform:relayer"
ISSUER_KEY = "platform:issuer"


@attrs.frozen
class Deployment:
    chain_id: int
    registry: str
    stablecoin: str
    settlement: str
    distribution: str
    admin: str
    relayer: str
    issuer: str
    max_batch: int
    block: int = 0
    source_hash: str = ""

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(attrs.asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        return cls(**json.loads(path.read_text()))
