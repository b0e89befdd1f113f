"""The deployed suite's addresses, persisted as a small JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import attrs

#: Vault wallet ids of the platform's own keys, one per duty (created at deploy; docs/evm.md, "Keys").
ADMIN_KEY = "platform:admin"
RELAYER_KEY = "platform:relayer"
ISSUER_KEY = "platform:issuer"
REGISTRAR_KEY = "platform:registrar"
PAYMENTS_ATTESTOR_KEY = "platform:payments-attestor"
TREASURY_KEY = "platform:treasury"
AGENT_KEY = "platform:agent"
#: Every platform key, in the order `deploy_suite` creates them.
PLATFORM_KEYS = (ADMIN_KEY, RELAYER_KEY, ISSUER_KEY, REGISTRAR_KEY, PAYMENTS_ATTESTOR_KEY, TREASURY_KEY, AGENT_KEY)


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
    #: The InstrumentRegistry and the duty keys' addresses (empty in files of older suites).
    instruments: str = ""
    registrar: str = ""
    payments_attestor: str = ""
    treasury: str = ""
    agent: str = ""
    #: The AuditAnchor contract (empty in files of suites deployed before it).
    audit_anchor: str = ""
    #: Instruments replaced by `drexfy contracts migrate`: old address -> new address.
    migrations: dict[str, str] = attrs.field(factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(attrs.asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        return cls(**json.loads(path.read_text()))
