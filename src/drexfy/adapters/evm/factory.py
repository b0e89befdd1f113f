"""Connecting to the chain, deploying the suite and building the EvmLedger."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3

from drexfy.adapters.evm.abi import load_artifact
from drexfy.adapters.evm.config import EvmConfig
from drexfy.adapters.evm.deployment import ADMIN_KEY, PAYMENTS_ATTESTOR_KEY, PLATFORM_KEYS, TREASURY_KEY, Deployment
from drexfy.adapters.evm.ledger import EvmLedger
from drexfy.adapters.evm.relayer import Relayer, TxOutcome
from drexfy.adapters.secp256k1 import evm_address
from drexfy.domain.errors import ConfigurationError, KeyNotFound, LedgerUnavailable
from drexfy.domain.ports import JournalStatus, KeyVault, OperationJournal

log = logging.getLogger(__name__)

#: Holders per Distribution batch accepted by the contract (a 250-holder batch uses ~8 M gas).
MAX_BATCH = 250
#: Native coin given to each sending platform key on dev chains that have unlocked, funded accounts
#: (10 coins: thousands of 250-holder batches at dev-chain fees; four keys per deploy, and anvil's
#: first account has 10,000 coins for every deploy a test session makes).
DEV_FUNDING_WEI = 10**19


async def connect(config: EvmConfig) -> AsyncWeb3[Any]:
    """An AsyncWeb3 for the configured endpoint (or an in-process eth-tester chain)."""
    if config.embedded:
        try:
            from web3.providers.eth_tester import AsyncEthereumTesterProvider
        except ImportError as exc:  # pragma: no cover - the extra is part of the install
            raise ConfigurationError("embedded EVM needs the 'embedded-evm' extra (eth-tester[py-evm])") from exc
        return AsyncWeb3(AsyncEthereumTesterProvider())
    # web3 asks eth_chainId for every transaction it validates (six per settlement); the chain id
    # never changes, so it is answered from web3's request cache (nothing else is cached).
    provider = AsyncHTTPProvider(
        config.rpc_url,
        request_kwargs={"timeout": 30},
        cache_allowed_requests=True,
        cacheable_requests={"eth_chainId"},
    )
    # web3's default session closes the TCP connection after every call (force_close); a pooled
    # keep-alive session saves a handshake per RPC, which is most of the cost on a busy relayer.
    await provider.cache_async_session(
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30), raise_for_status=True)
    )
    w3 = AsyncWeb3(provider)
    try:
        try:
            chain_id = await w3.eth.chain_id
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            raise LedgerUnavailable(f"EVM node {config.rpc_url} unreachable: {type(exc).__name__}") from exc
        if chain_id != config.chain_id:
            raise ConfigurationError(f"{config.rpc_url} serves chain {chain_id}, configuration says {config.chain_id}")
    except BaseException:
        await _disconnect(w3)  # a refused start must not leak the pooled session
        raise
    return w3


async def _disconnect(w3: AsyncWeb3[Any]) -> None:
    if isinstance(w3.provider, AsyncHTTPProvider):
        await w3.provider.disconnect()


def _quiet(_: str) -> None:
    pass


async def _ensure_funded(w3: AsyncWeb3[Any], addresses: list[str], progress: Callable[[str], None] = _quiet) -> None:
    """Dev chains (anvil, eth-tester) have unlocked funded accounts: top the platform keys up from
    the first. On a real network the operator funds them; deploying stops with their addresses."""
    accounts = await w3.eth.accounts
    empty = [a for a in addresses if await w3.eth.get_balance(a) < DEV_FUNDING_WEI // 100]  # type: ignore[arg-type]
    if not empty:
        return
    if not accounts:
        raise ConfigurationError("fund these platform addresses with the native coin first: " + ", ".join(empty))
    for address in empty:
        tx_hash = await w3.eth.send_transaction({"from": accounts[0], "to": address, "value": DEV_FUNDING_WEI})  # type: ignore[typeddict-item]
        progress(f"funding {address} from the node's first account: sent {tx_hash.to_0x_hex()}")
        receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
        progress(f"funding {address}: mined in block {receipt['blockNumber']}")


def _role(name: str) -> bytes:
    return keccak(text=name)


async def deploy_suite(
    w3: AsyncWeb3[Any],
    vault: KeyVault,
    journal: OperationJournal,
    config: EvmConfig,
    label: str = "default",
    progress: Callable[[str], None] = _quiet,
) -> Deployment:
    """Deploy InvestorClassification, InstrumentRegistry, Stablecoin, Settlement and Distribution
    with their roles, one vault key per duty (docs/evm.md, "Keys"):

    - "platform:admin" deploys and keeps DEFAULT_ADMIN_ROLE everywhere (registers instruments,
      grants roles) and the stablecoin's PAUSER_ROLE;
    - "platform:relayer" submits settlements (RELAYER on Settlement), repayment batches
      (DISTRIBUTOR on Distribution) and cash-out burns (BURNER on the stablecoin, each needs the
      holder's permit), deploys instruments and pays the gas: it creates nothing on its own;
    - "platform:registrar" classifies and freezes (REGISTRAR and COMPLIANCE on the registry,
      COMPLIANCE on the stablecoin);
    - "platform:payments-attestor" signs payment attestations (PAYMENTS_ATTESTOR on Settlement);
    - "platform:treasury" signs repayment attestations (TREASURY on Distribution);
    - "platform:agent" holds each instrument's AGENT_ROLE (forced transfer, recovery);
    - "platform:issuer" is the securitization company's wallet (allow-listed on the stablecoin).

    Every step is a journalled operation ("deploy:<chain>:<label>:<step>"), so a deploy
    interrupted half-way resumes where it stopped when run again. `progress` is told each step as
    its transaction is sent and as it is mined (a deploy waits for about 20 blocks).
    """
    chain_id = await w3.eth.chain_id

    for key in PLATFORM_KEYS:
        await vault.create_key(key)
    admin, relayer_addr, issuer, registrar, attestor, treasury, agent = [
        evm_address(await vault.public_key(k)) for k in PLATFORM_KEYS
    ]
    await _ensure_funded(w3, [admin, relayer_addr, registrar, agent], progress)
    relayer = Relayer(w3, chain_id, vault, journal, config)
    blocks: list[int] = []
    prefix = f"deploy:{chain_id}:{label}"

    async def run(step: str, what: str, fingerprint: str, to: str | None, data: bytes) -> TxOutcome:
        op_id = f"{prefix}:{step}"
        done = await journal.get(op_id)
        if done is not None and done.status is JournalStatus.CONFIRMED:
            progress(f"{what}: done in an earlier run (journal {op_id})")
            return await relayer.execute(op_id, fingerprint, ADMIN_KEY, to, data)
        started = time.monotonic()
        progress(f"{what}: sending")
        outcome = await relayer.execute(
            op_id, fingerprint, ADMIN_KEY, to, data, on_sent=lambda: progress(f"{what}: sent, waiting to be mined")
        )
        progress(f"{what}: mined in block {outcome.block} (tx {outcome.tx_id}, {time.monotonic() - started:.1f} s)")
        return outcome

    async def create(step: str, name: str, *args: Any) -> str:
        artifact = load_artifact(name)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        data = bytes.fromhex(factory.constructor(*args).data_in_transaction[2:])
        outcome = await run(step, f"deploy {name}", f"{step}:{artifact.source_hash}", None, data)
        assert outcome.contract_address is not None
        blocks.append(outcome.block)
        log.info("deployed %s at %s (tx %s)", name, outcome.contract_address, outcome.tx_id)
        progress(f"deploy {name}: at {outcome.contract_address}")
        return outcome.contract_address

    async def call(step: str, name: str, address: str, fn: str, *args: Any) -> None:
        contract = w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name).abi)
        data = bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])
        await run(step, f"{name}.{fn} ({step})", f"{step}:{address}", contract.address, data)

    registry = await create("registry", "InvestorClassification", admin)
    instruments = await create("instruments", "InstrumentRegistry", registry, admin)
    stablecoin = await create("stablecoin", "Stablecoin", registry, admin)
    settlement = await create("settlement", "Settlement", stablecoin, instruments, admin, relayer_addr, attestor)
    distribution = await create(
        "distribution", "Distribution", stablecoin, instruments, MAX_BATCH, admin, relayer_addr, treasury
    )
    # The registrar key anchors the audit log's head (it already holds the compliance duty).
    audit_anchor = await create("audit-anchor", "AuditAnchor", admin, registrar)
    reg, coin = "InvestorClassification", "Stablecoin"
    await call("role-registrar", reg, registry, "grantRole", _role("REGISTRAR_ROLE"), registrar)
    await call("role-registry-compliance", reg, registry, "grantRole", _role("COMPLIANCE_ROLE"), registrar)
    await call("role-minter-settlement", coin, stablecoin, "grantRole", _role("MINTER_ROLE"), settlement)
    await call("role-minter-distribution", coin, stablecoin, "grantRole", _role("MINTER_ROLE"), distribution)
    await call("role-burner", coin, stablecoin, "grantRole", _role("BURNER_ROLE"), relayer_addr)
    await call("role-coin-compliance", coin, stablecoin, "grantRole", _role("COMPLIANCE_ROLE"), registrar)
    await call("role-pauser", coin, stablecoin, "grantRole", _role("PAUSER_ROLE"), admin)
    await call("allow-issuer", coin, stablecoin, "setAllowListed", issuer, True)
    # Settlement spends the buyer's coins on the buyer's permit: spenders are screened, and
    # Settlement is a platform contract, not a classified investor.
    await call("allow-settlement", coin, stablecoin, "setAllowListed", settlement, True)
    return Deployment(
        chain_id=chain_id,
        registry=registry,
        stablecoin=stablecoin,
        settlement=settlement,
        distribution=distribution,
        admin=admin,
        relayer=relayer_addr,
        issuer=issuer,
        max_batch=MAX_BATCH,
        block=min(blocks),  # where log scans (holders) start: never after the first contract
        source_hash=load_artifact("InvestorClassification").source_hash,
        instruments=instruments,
        registrar=registrar,
        payments_attestor=attestor,
        treasury=treasury,
        agent=agent,
        audit_anchor=audit_anchor,
    )


async def check_duty_keys(deployment: Deployment, vault: KeyVault, config: EvmConfig) -> None:
    """Every mint of dEUR needs the payments attestor's signature and every repayment the
    treasury's: a production start without either is refused here, naming what to fix, rather than
    at the first payment."""
    where = f"ledger.evm.deployment_file ({config.deployment_file})"
    for duty, key_id, recorded in (
        ("payments attestor", PAYMENTS_ATTESTOR_KEY, deployment.payments_attestor),
        ("treasury", TREASURY_KEY, deployment.treasury),
    ):
        if not recorded:
            raise ConfigurationError(f"{where}: names no {duty} key; deploy the suite with `drexfy contracts deploy`")
        try:
            held = evm_address(await vault.public_key(key_id))
        except KeyNotFound:
            raise ConfigurationError(f"vault: holds no {duty} key ({key_id}) for {where}") from None
        if held.lower() != recorded.lower():
            raise ConfigurationError(f"vault: its {duty} key ({key_id}) is not the one {where} names")


async def build_evm_ledger(
    config: EvmConfig, vault: KeyVault, journal: OperationJournal, *, require_duty_keys: bool = False
) -> EvmLedger:
    """The container's factory.

    Embedded: a fresh in-process chain with the suite deployed on it (the container gives it an
    in-memory journal, since the chain does not outlive the process). RPC: reads the deployment
    file written by `drexfy contracts deploy` and checks it names this chain. `require_duty_keys`
    (production): the deployment names a payments attestor and a treasury and the vault holds both
    keys (`check_duty_keys`)."""
    w3 = await connect(config)
    try:
        if config.embedded:
            deployment = await deploy_suite(w3, vault, journal, config)
            deployment.save(config.deployment_file)
        else:
            if not config.deployment_file.exists():
                raise ConfigurationError(
                    f"no EVM deployment at {config.deployment_file}; run `drexfy contracts deploy` first"
                )
            deployment = Deployment.load(config.deployment_file)
            if deployment.chain_id != config.chain_id:
                raise ConfigurationError(f"{config.deployment_file} is for chain {deployment.chain_id}")
        if require_duty_keys:
            await check_duty_keys(deployment, vault, config)
        chain_id = await w3.eth.chain_id
        relayer = Relayer(w3, chain_id, vault, journal, config)
        await _ensure_funded(w3, [a for a in (deployment.relayer, deployment.registrar) if a])
    except BaseException:
        await _disconnect(w3)
        raise
    return EvmLedger(w3, deployment, relayer, config.batch_size, config.log_chunk_blocks)
