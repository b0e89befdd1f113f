"""One-time setup of the platform's XRPL accounts (`drexfy xrpl setup`). Safe to run again.

Order matters on XRPL:
1. asfAllowTrustLineClawback can only be enabled while the issuer's owner directory is empty
   (https://xrpl.org/docs/concepts/tokens/fungible-tokens/clawing-back-tokens);
2. asfRequireAuth only while it has no trust lines
   (https://xrpl.org/docs/concepts/tokens/fungible-tokens/authorized-trust-lines);
3. asfDefaultRipple before trust lines exist, so investor payments to the securitization company
   can ripple through the issuer (https://xrpl.org/docs/concepts/tokens/fungible-tokens/rippling);
4. then the company's own authorised trust line, to receive purchase payments.
"""

from __future__ import annotations

import asyncio
from typing import Any

from xrpl.asyncio.clients import AsyncJsonRpcClient
from xrpl.asyncio.transaction import autofill_and_sign
from xrpl.constants import CryptoAlgorithm
from xrpl.core.binarycodec import encode
from xrpl.models.amounts import IssuedCurrencyAmount
from xrpl.models.requests import AccountInfo, SubmitOnly, Tx
from xrpl.models.transactions import AccountSet, AccountSetAsfFlag, Payment, TrustSet, TrustSetFlag
from xrpl.wallet import Wallet as XrplWallet

from drexfy.adapters.xrpl.ledger import XrplLedger
from drexfy.adapters.xrpl.rpc import RpcFailure
from drexfy.domain.errors import LedgerRejected, LedgerUnavailable
from drexfy.domain.ports import JournalStatus

LSF_REQUIRE_AUTH = 0x00040000
LSF_DEFAULT_RIPPLE = 0x00800000
LSF_ALLOW_TRUSTLINE_CLAWBACK = 0x80000000

#: rippled stand-alone's genesis seed (public; only for a local double or stand-alone node).
STANDALONE_GENESIS_SEED = "snoPBrXtMeMyMHUVTgbuqAfg1SUTb"


async def _root(ledger: XrplLedger, address: str) -> dict[str, Any] | None:
    try:
        return dict((await ledger.rpc.call(AccountInfo(account=address, ledger_index="current")))["account_data"])
    except RpcFailure as failure:
        if failure.error == "actNotFound":
            return None
        raise


async def _wait_validated(ledger: XrplLedger, tx_id: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ledger.config.submit_timeout
    while loop.time() < deadline:
        try:
            result = await ledger.rpc.call(Tx(transaction=tx_id))
            if result.get("validated"):
                code = result["meta"]["TransactionResult"]
                if code != "tesSUCCESS":
                    raise LedgerRejected(f"funding from the genesis wallet failed: {code}", reason=code)
                return
        except RpcFailure:
            pass
        await asyncio.sleep(ledger.config.poll_interval)
    raise LedgerUnavailable(f"funding transaction {tx_id} not validated in time")


async def _unfinished(ledger: XrplLedger, op_id: str) -> bool:
    """A step journaled but not final (a crash mid-setup): it must be resumed, not repeated."""
    entry = await ledger.journal.get(op_id)
    return entry is not None and entry.status in (JournalStatus.PREPARED, JournalStatus.SUBMITTED)


async def setup_platform(
    ledger: XrplLedger,
    *,
    fund_from_seed: str | None = None,
    funding_drops: int = 10_000_000_000,
    platform_drops: int = 100_000_000,
) -> list[str]:
    """Create the platform keys, fund the accounts and set their flags. Returns what it did.

    `fund_from_seed` (development only) funds the funding account from a local wallet, such as a
    stand-alone node's genesis; in production the funding account is funded from outside.
    """
    done: list[str] = []
    roles = ("funding", "issuer", "instrument_issuer", "registrar")
    signers = {role: await ledger.platform(role) for role in roles}
    for role, signer in signers.items():
        done.append(f"{role}: {signer.address} (vault wallet {signer.wallet_id})")

    funding = signers["funding"]
    if fund_from_seed is not None:
        root = await _root(ledger, funding.address)
        if root is None or int(root["Balance"]) < funding_drops // 2:
            source = XrplWallet.from_seed(fund_from_seed, algorithm=CryptoAlgorithm.SECP256K1)
            client = AsyncJsonRpcClient(ledger.config.rpc_url)
            signed = await autofill_and_sign(
                Payment(account=source.address, destination=funding.address, amount=str(funding_drops)), client, source
            )
            result = await ledger.rpc.call(SubmitOnly(tx_blob=encode(signed.to_xrpl())))
            if result.get("engine_result") != "tesSUCCESS":
                raise LedgerRejected(
                    f"funding from the genesis wallet failed: {result.get('engine_result')}",
                    reason=str(result.get("engine_result")),
                )
            await _wait_validated(ledger, signed.get_hash())
            done.append(f"funded the funding account with {funding_drops} drops from {source.address}")
    for role in ("issuer", "instrument_issuer", "registrar"):
        signer = signers[role]
        root = await _root(ledger, signer.address)
        if root is None or await _unfinished(ledger, f"xrpl-setup:fund:{role}"):
            pay = Payment(account=funding.address, destination=signer.address, amount=str(platform_drops))
            await ledger.submitter.run(f"xrpl-setup:fund:{role}", funding, pay, f"funding {role}")
            done.append(f"funded {role} with {platform_drops} drops")

    issuer = signers["issuer"]
    for flag, lsf, name in (
        (AccountSetAsfFlag.ASF_ALLOW_TRUSTLINE_CLAWBACK, LSF_ALLOW_TRUSTLINE_CLAWBACK, "clawback"),
        (AccountSetAsfFlag.ASF_REQUIRE_AUTH, LSF_REQUIRE_AUTH, "require-auth"),
        (AccountSetAsfFlag.ASF_DEFAULT_RIPPLE, LSF_DEFAULT_RIPPLE, "default-ripple"),
    ):
        root = await _root(ledger, issuer.address)
        assert root is not None
        if int(root["Flags"]) & lsf and not await _unfinished(ledger, f"xrpl-setup:issuer:{name}"):
            continue
        tx = AccountSet(account=issuer.address, set_flag=flag)
        await ledger.submitter.run(f"xrpl-setup:issuer:{name}", issuer, tx, f"issuer flag {name}")
        done.append(f"issuer: set {flag.name}")

    company = signers["instrument_issuer"]
    line = await ledger._line(company.address, issuer.address)
    code = ledger.config.currency_code
    if line is None or await _unfinished(ledger, "xrpl-setup:company:trust"):
        trust = TrustSet(
            account=company.address,
            limit_amount=IssuedCurrencyAmount(currency=code, issuer=issuer.address, value=ledger.config.trust_limit),
        )
        await ledger.submitter.run("xrpl-setup:company:trust", company, trust, "company trust line")
        done.append("instrument issuer: stablecoin trust line")
        line = await ledger._line(company.address, issuer.address)
    if line is None or not line.get("peer_authorized") or await _unfinished(ledger, "xrpl-setup:company:auth"):
        auth = TrustSet(
            account=issuer.address,
            flags=TrustSetFlag.TF_SET_AUTH,
            limit_amount=IssuedCurrencyAmount(currency=code, issuer=company.address, value="0"),
        )
        await ledger.submitter.run("xrpl-setup:company:auth", issuer, auth, "company trust line authorisation")
        done.append("issuer: authorised the instrument issuer's trust line")
    return done
