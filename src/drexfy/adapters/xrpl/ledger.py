"""The Ledger port on the XRP Ledger.
(About 670 lines: one method per port operation, each a few XRPL transactions. Purchases live in
purchase.py, repayments in distribution.py, MPT authorisation and the pre-send checks in access.py, the agent's moves in agent.py.)

How the domain maps (see docs/xrpl.md for the why):
- stablecoin: an issued currency of the *issuer* account (asfRequireAuth, asfAllowTrustLineClawback,
  asfDefaultRipple); investors hold it on authorised trust lines (their TrustSet, then the issuer's
  TrustSet with tfSetfAuth) created at activation, before any funds arrive.
- instrument: one MPT issuance per instrument by the *instrument issuer* (the securitization
  company) with RequireAuth, CanTransfer, CanClawback, CanLock and XLS-89-style metadata that names
  the eligible classes. Eligibility is enforced on chain by authorisation: the issuer authorises a
  holder (MPTokenAuthorize with Holder) only if the holder's on-chain classification is eligible,
  and an unauthorised account can neither receive from the issuer nor from another holder.
- classification: a non-transferable NFToken (tfBurnable, no tfTransferable) minted by the
  *registrar*, URI "drexfy:classification:v1:<CLASS>", offered for free to the investor, who accepts
  it: the investor's wallet holds it and cannot pass it on (only back to the registrar). A
  reclassification burns it (the registrar may, thanks to tfBurnable) and mints a new one.
- freeze: the issuer freezes and deep-freezes the investor's trust line, locks the investor's MPT
  balances and revokes their MPT authorisation (rippled's lock binds only between holders);
  unfreeze clears all three where the holder is still eligible. A reclassification revokes or
  restores MPT authorisation per instrument (access.py). The stablecoin issuer could still pay a
  frozen trust line on the ledger, so payouts to frozen holders are refused before sending.
- purchase: a saga of five sub-operations, each journaled with its own id `{op}/{n}`: holder opt-in
  (MPTokenAuthorize), issuer authorisation, stablecoin issued to the buyer, buyer pays the
  instrument issuer, instrument issuer delivers the units. A retry resumes at the first unfinished
  step. With `batch = true` (XLS-56, not enabled on mainnet, off by default) the same legs go into
  one all-or-nothing Batch paid by the stablecoin issuer and co-signed by the buyer and the company.
- repayment: the stablecoin issuer pays each holder (fiat received 1:1); principal units are paid
  back by the holder to the instrument issuer, which burns them.
- withdrawal: the holder pays the stablecoin back to its issuer, which burns it.
The platform pays fees and reserves: the funding account funds each investor wallet with the
reserve read from `server_state` (base + owner reserve per object) plus a fee allowance, and tops
it up before every transaction the investor must sign.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from xrpl.core.binarycodec import decode
from xrpl.core.keypairs import derive_classic_address
from xrpl.models.amounts import IssuedCurrencyAmount
from xrpl.models.requests import (
    AccountInfo,
    AccountLines,
    AccountNFTs,
    LedgerEntry,
    ServerInfo,
    ServerState,
)
from xrpl.models.requests.ledger_entry import MPToken as MPTokenLookup
from xrpl.models.transactions import (
    MPTokenIssuanceCreate,
    MPTokenIssuanceCreateFlag,
    MPTokenIssuanceSet,
    MPTokenIssuanceSetFlag,
    NFTokenAcceptOffer,
    NFTokenBurn,
    NFTokenCreateOffer,
    NFTokenCreateOfferFlag,
    NFTokenMint,
    NFTokenMintFlag,
    Payment,
    TrustSet,
    TrustSetFlag,
)
from xrpl.models.transactions.transaction import Transaction

from drexfy.adapters.xrpl.access import TokenAccess
from drexfy.adapters.xrpl.agent import Agent
from drexfy.adapters.xrpl.anchors import anchor_head, read_anchor, read_anchors
from drexfy.adapters.xrpl.config import XrplConfig
from drexfy.adapters.xrpl.distribution import Distribution
from drexfy.adapters.xrpl.gaps import HoleKeeper, holes
from drexfy.adapters.xrpl.holders import NotClio, clio_holders, known_holders, scan_holders
from drexfy.adapters.xrpl.purchase import Purchases
from drexfy.adapters.xrpl.rpc import Rpc, RpcFailure
from drexfy.adapters.xrpl.signing import Outcome, Signer
from drexfy.adapters.xrpl.submission import Submitter
from drexfy.adapters.xrpl.transfers import read_transfers
from drexfy.domain.classification import Classification
from drexfy.domain.errors import (
    ComplianceRejected,
    ConfigurationError,
    InsufficientFunds,
    LedgerError,
    LedgerPending,
    LedgerRejected,
    LedgerUnavailable,
)
from drexfy.domain.model import Wallet
from drexfy.domain.money import MINOR_UNITS, Money
from drexfy.domain.ports import (
    AuditAnchor,
    InstrumentSpec,
    IssuedInstrument,
    JournalEntry,
    JournalStatus,
    KeyVault,
    LedgerHealth,
    LedgerResult,
    OperationJournal,
    Payout,
    Purchase,
    RepaymentFunding,
    TransferPage,
)

log = logging.getLogger(__name__)
#: How long a signed transaction may stay unvalidated before the keeper submits it again.
KEEPER_GRACE_S = 10.0

CLASS_TAXON = 1
CLASS_URI_PREFIX = "drexfy:classification:v1:"
#: Objects an investor wallet owns once active: the trust line, one MPToken, one NFToken page.
ACTIVATION_OBJECTS = 3
TF_SET_DEEP_FREEZE = 0x00400000
TF_CLEAR_DEEP_FREEZE = 0x00800000


class XrplLedger:
    """Ledger port on the XRP Ledger through xrpl-py's async JSON-RPC client."""

    kind = "xrpl"

    def __init__(self, config: XrplConfig, vault: KeyVault, journal: OperationJournal, rpc: Rpc | None = None) -> None:
        if config.currency not in MINOR_UNITS:
            raise ConfigurationError(f"ledger.currency {config.currency!r} is not a supported currency")
        self.config = config
        self.currency = config.currency
        self.vault = vault
        self.rpc = rpc or Rpc(config.rpc_url)
        self.submitter = Submitter(
            self.rpc,
            vault,
            journal,
            ledger_offset=config.ledger_offset,
            fee_cap_drops=config.fee_cap_drops,
            poll_interval=config.poll_interval,
            submit_timeout=config.submit_timeout,
            close_time_s=config.close_time_s,
        )
        self.journal = journal
        self._holes = HoleKeeper(KEEPER_GRACE_S)
        #: Whether the server answers Clio's `mpt_holders` (None: not asked yet).
        self._clio: bool | None = None
        self._platform: dict[str, Signer] = {}
        #: MPT authorisation kept in step with freezes and classifications, and pre-send checks.
        self.access = TokenAccess(self)
        self.purchases = Purchases(self)
        self.distribution = Distribution(self)
        self.agent = Agent(self)

    # --- accounts ------------------------------------------------------------------------------
    async def platform(self, role: str) -> Signer:
        """The platform account for `role` (issuer, instrument_issuer, funding, registrar); its key is
        created in the vault on first use."""
        signer = self._platform.get(role)
        if signer is None:
            wallet_id = getattr(self.config, f"{role}_wallet")
            public = await self.vault.create_key(wallet_id)
            signer = Signer(wallet_id, self.address_for(public), public.hex().upper())
            self._platform[role] = signer
        return signer

    def address_for(self, public_key: bytes) -> str:
        return derive_classic_address(public_key.hex().upper())

    @staticmethod
    def _investor(wallet: Wallet) -> Signer:
        return Signer(wallet.id, wallet.address, wallet.public_key.upper())

    async def _run(self, op_id: str, signer: Signer, tx: Transaction, what: str) -> Outcome:
        return await self.submitter.run(op_id, signer, tx, what)

    async def _pay_coin(self, op_id: str, signer: Signer, payment: Payment, what: str) -> Outcome:
        """A stablecoin payment. rippled reports a frozen or unauthorised trust line as a dry path
        (tecPATH_DRY / tecPATH_PARTIAL); the trust lines then say whether it was a compliance
        refusal, which the domain must tell apart from a lack of funds."""
        try:
            return await self._run(op_id, signer, payment, what)
        except LedgerRejected as rejected:
            raise await self._explain_dry_path(rejected, payment) from rejected

    async def _pay_coins(self, signer: Signer, payments: Sequence[tuple[str, Payment]], what: str) -> list[Outcome]:
        """Several stablecoin payments of one account, pipelined (`Submitter.run_pipelined`)."""
        by_op = dict(payments)

        async def explain(op_id: str, rejected: LedgerRejected) -> LedgerRejected:
            return await self._explain_dry_path(rejected, by_op[op_id])

        return await self.submitter.run_pipelined(signer, [(op, pay, what) for op, pay in payments], explain)

    async def _explain_dry_path(self, rejected: LedgerRejected, payment: Payment) -> LedgerRejected:
        """A dry path means a compliance refusal when a party's trust line is frozen or unauthorised.
        A compliance refusal of a payment from the issuer is about its payee: it is named."""
        if isinstance(rejected, ComplianceRejected):
            if rejected.party is None and payment.account == (await self.platform("issuer")).address:
                return ComplianceRejected(
                    rejected.message, reason=rejected.reason, tx_id=rejected.tx_id, party=payment.destination
                )
            return rejected
        if rejected.reason not in ("tecPATH_DRY", "tecPATH_PARTIAL"):
            return rejected
        issuer = await self.platform("issuer")
        for address in (payment.account, payment.destination):
            if address == issuer.address:
                continue
            line = await self._line(address, issuer.address)
            if line is None:
                continue
            if line.get("freeze_peer") or line.get("deep_freeze_peer"):
                why = f"{address}'s stablecoin trust line is frozen"
            elif not line.get("peer_authorized"):
                why = f"{address}'s stablecoin trust line is not authorised by the issuer"
            else:
                continue
            return ComplianceRejected(
                f"{rejected.message}: {why}", reason=rejected.reason, tx_id=rejected.tx_id, party=address
            )
        return rejected

    # --- amounts -------------------------------------------------------------------------------
    def _iou(self, issuer: str, money: Money) -> IssuedCurrencyAmount:
        if money.currency != self.currency:
            raise LedgerRejected(f"the XRPL stablecoin is {self.currency}, not {money.currency}", reason="currency")
        return IssuedCurrencyAmount(currency=self.config.currency_code, issuer=issuer, value=str(money.as_decimal()))

    def _money(self, value: str) -> Money:
        scaled = Decimal(value).scaleb(MINOR_UNITS[self.currency])
        if scaled != scaled.to_integral_value():
            raise LedgerRejected(f"ledger balance {value} has sub-minor-unit precision", reason="precision")
        return Money(int(scaled), self.currency)

    # --- network facts -------------------------------------------------------------------------
    async def reserves(self) -> tuple[int, int]:
        """(base, per owned object) in drops, from the validated ledger (never hard-coded)."""
        state = (await self.rpc.call(ServerState()))["state"]["validated_ledger"]
        return int(state["reserve_base"]), int(state["reserve_inc"])

    async def _account_root(self, address: str) -> dict[str, Any] | None:
        try:
            return dict((await self.rpc.call(AccountInfo(account=address, ledger_index="current")))["account_data"])
        except RpcFailure as failure:
            if failure.error == "actNotFound":
                return None
            raise LedgerUnavailable(f"account_info failed: {failure}") from failure

    async def _ensure_xrp(self, op_id: str, address: str, extra_objects: int) -> list[str]:
        """Fund `address` from the funding account so it holds the reserve for its objects plus
        `extra_objects`, and the fee allowance. Journaled under `op_id` (at most once)."""
        entry = await self.journal.get(op_id)
        if entry is not None and entry.result.get("noop"):
            return []  # decided before: nothing was needed
        if entry is not None and entry.payload is not None:
            amount = str(decode(entry.payload)["Amount"])  # resuming: the journaled amount stands
        else:
            base, inc = await self.reserves()
            root = await self._account_root(address)
            owners = int(root["OwnerCount"]) if root else 0
            balance = int(root["Balance"]) if root else 0
            target = base + inc * (owners + extra_objects) + self.config.investor_fee_allowance_drops
            # Top up only below half the allowance, to keep the number of funding payments low.
            if root is not None and balance >= target - self.config.investor_fee_allowance_drops // 2:
                # Journal the decision too: a retry must not decide again on a chain this very
                # operation has changed since (e.g. a new MPToken raising the reserve).
                now = datetime.now(UTC)
                noop = JournalEntry(
                    op_id=op_id,
                    ledger="xrpl",
                    fingerprint="no-top-up",
                    created_at=now,
                    status=JournalStatus.CONFIRMED,
                    account=address,
                    result={"noop": True},
                    updated_at=now,
                )
                if await self.journal.create(noop):
                    return []
                return await self._ensure_xrp(op_id, address, extra_objects)
            amount = str(target - balance)
        funding = await self.platform("funding")
        tx = Payment(account=funding.address, destination=address, amount=amount)
        outcome = await self._run(op_id, funding, tx, f"funding {address}")
        return [outcome.tx_id]

    # --- activation ----------------------------------------------------------------------------
    async def activate_wallet(self, op_id: str, wallet: Wallet) -> LedgerResult:
        """Reserve, then an authorised stablecoin trust line before any funds
        (https://xrpl.org/docs/concepts/tokens/fungible-tokens/authorized-trust-lines)."""
        issuer = await self.platform("issuer")
        tx_ids = await self._ensure_xrp(f"{op_id}/fund", wallet.address, ACTIVATION_OBJECTS)
        line = await self._line(wallet.address, issuer.address)
        if line is None or Decimal(line.get("limit", "0")) == 0 or await self.journal.get(f"{op_id}/trust"):
            trust = TrustSet(
                account=wallet.address,
                limit_amount=IssuedCurrencyAmount(
                    currency=self.config.currency_code, issuer=issuer.address, value=self.config.trust_limit
                ),
                flags=TrustSetFlag.TF_SET_NO_RIPPLE,
            )
            tx_ids.append((await self._run(f"{op_id}/trust", self._investor(wallet), trust, "trust line")).tx_id)
            line = await self._line(wallet.address, issuer.address)
        if line is None or not line.get("peer_authorized") or await self.journal.get(f"{op_id}/auth"):
            auth = TrustSet(
                account=issuer.address,
                limit_amount=IssuedCurrencyAmount(currency=self.config.currency_code, issuer=wallet.address, value="0"),
                flags=TrustSetFlag.TF_SET_AUTH,
            )
            tx_ids.append((await self._run(f"{op_id}/auth", issuer, auth, "trust line authorisation")).tx_id)
        return LedgerResult(tuple(tx_ids))

    async def _line(self, holder: str, issuer: str) -> dict[str, Any] | None:
        try:
            result = await self.rpc.call(AccountLines(account=holder, peer=issuer, ledger_index="validated"))
        except RpcFailure as failure:
            if failure.error == "actNotFound":
                return None
            raise LedgerUnavailable(f"account_lines failed: {failure}") from failure
        for line in result.get("lines", []):
            if line["currency"] == self.config.currency_code:
                return dict(line)
        return None

    # --- classification ------------------------------------------------------------------------
    async def _class_nfts(self, address: str) -> list[dict[str, Any]]:
        registrar = await self.platform("registrar")
        try:
            result = await self.rpc.call(AccountNFTs(account=address, ledger_index="validated"))
        except RpcFailure as failure:
            if failure.error == "actNotFound":
                return []
            raise LedgerUnavailable(f"account_nfts failed: {failure}") from failure
        return [
            n
            for n in result.get("account_nfts", [])
            if n.get("Issuer") == registrar.address and n.get("NFTokenTaxon") == CLASS_TAXON
        ]

    async def record_classification(self, op_id: str, wallet: Wallet, classification: Classification) -> LedgerResult:
        registrar = await self.platform("registrar")
        tx_ids: list[str] = []
        if await self.journal.get(f"{op_id}/mint") is None:
            # Not minted yet for this operation: burn whatever class NFT the wallet holds.
            for index, nft in enumerate(await self._class_nfts(wallet.address)):
                burn = NFTokenBurn(account=registrar.address, nftoken_id=nft["NFTokenID"], owner=wallet.address)
                tx_ids.append((await self._run(f"{op_id}/burn/{index}", registrar, burn, "classification burn")).tx_id)
        else:  # a retry: the burns (if any) were done before the mint was prepared
            index = 0
            while (burned := await self.submitter.outcome_of(f"{op_id}/burn/{index}")) is not None:
                tx_ids.append(burned.tx_id)
                index += 1
        uri = (CLASS_URI_PREFIX + classification.name).encode().hex().upper()
        mint = NFTokenMint(
            account=registrar.address, nftoken_taxon=CLASS_TAXON, uri=uri, flags=NFTokenMintFlag.TF_BURNABLE
        )  # no tfTransferable: soulbound
        minted = await self._run(f"{op_id}/mint", registrar, mint, "classification mint")
        tx_ids.append(minted.tx_id)
        nft_id = str(minted.extras["nftoken_id"])
        offer = NFTokenCreateOffer(
            account=registrar.address,
            nftoken_id=nft_id,
            amount="0",
            destination=wallet.address,
            flags=NFTokenCreateOfferFlag.TF_SELL_NFTOKEN,
        )
        offered = await self._run(f"{op_id}/offer", registrar, offer, "classification offer")
        tx_ids.append(offered.tx_id)
        tx_ids += await self._ensure_xrp(f"{op_id}/fees", wallet.address, 0)
        accept = NFTokenAcceptOffer(account=wallet.address, nftoken_sell_offer=str(offered.extras["offer_id"]))
        tx_ids.append(
            (await self._run(f"{op_id}/accept", self._investor(wallet), accept, "classification accept")).tx_id
        )
        # A class an instrument does not admit loses its MPT authorisation there (and an admitted one
        # regains it unless frozen): the ledger itself then keeps units away from the holder.
        tx_ids += await self.access.follow_classification(op_id, wallet, classification)
        return LedgerResult(tuple(tx_ids))

    async def classification_of(self, address: str) -> Classification | None:
        nfts = await self._class_nfts(address)
        if not nfts:
            return None
        latest = max(nfts, key=lambda n: int(n.get("nft_serial", 0)))
        text = bytes.fromhex(latest.get("URI", "")).decode(errors="replace")
        if not text.startswith(CLASS_URI_PREFIX):
            return None
        return Classification[text[len(CLASS_URI_PREFIX) :]]

    # --- instruments ---------------------------------------------------------------------------
    async def issue_instrument(self, op_id: str, spec: InstrumentSpec) -> IssuedInstrument:
        """https://xrpl.org/docs/references/protocol/transactions/types/mptokenissuancecreate"""
        issuer = await self.platform("instrument_issuer")
        metadata = {
            "ticker": spec.symbol,
            "name": spec.name,
            "asset_class": "rwa",
            "asset_subclass": "private_credit",
            "issuer_name": "Drexfy",
            "additional_info": {
                "instrument_id": spec.instrument_id,
                "unit_price": str(spec.unit_price),
                "eligible": sorted(c.name for c in spec.eligible),
            },
        }
        blob = json.dumps(metadata, separators=(",", ":"), sort_keys=True).encode()
        if len(blob) > 1024:
            raise LedgerRejected("instrument metadata exceeds the 1024 bytes an MPT issuance holds", reason="metadata")
        flags = (
            MPTokenIssuanceCreateFlag.TF_MPT_REQUIRE_AUTH
            | MPTokenIssuanceCreateFlag.TF_MPT_CAN_TRANSFER
            | MPTokenIssuanceCreateFlag.TF_MPT_CAN_CLAWBACK
            | MPTokenIssuanceCreateFlag.TF_MPT_CAN_LOCK
        )
        with warnings.catch_warnings():
            # xrpl-py warns that XLS-89 wants an icon URL; we have none to give, and it is optional.
            warnings.simplefilter("ignore", UserWarning)
            create = MPTokenIssuanceCreate(
                account=issuer.address,
                asset_scale=0,
                maximum_amount=str(spec.total_units),
                mptoken_metadata=blob.hex().upper(),
                flags=int(flags),
            )
        outcome = await self._run(op_id, issuer, create, f"issuing {spec.symbol}")
        return IssuedInstrument(str(outcome.extras["mpt_issuance_id"]), (outcome.tx_id,), position=outcome.ledger_index)

    async def _issuance(self, ref: str) -> dict[str, Any]:
        try:
            return dict((await self.rpc.call(LedgerEntry(mpt_issuance=ref, ledger_index="validated")))["node"])
        except RpcFailure as failure:
            if failure.error == "entryNotFound":
                raise LedgerRejected(f"no MPT issuance {ref} on the ledger", reason="tecOBJECT_NOT_FOUND") from failure
            raise LedgerUnavailable(f"ledger_entry failed: {failure}") from failure

    async def eligible_classes(self, ref: str) -> frozenset[Classification]:
        node = await self._issuance(ref)
        metadata = json.loads(bytes.fromhex(node.get("MPTokenMetadata", "")).decode() or "{}")
        names = metadata.get("additional_info", {}).get("eligible", [])
        return frozenset(Classification[name] for name in names)

    async def _mptoken(self, ref: str, address: str) -> dict[str, Any] | None:
        try:
            lookup = MPTokenLookup(mpt_issuance_id=ref, account=address)
            return dict((await self.rpc.call(LedgerEntry(mptoken=lookup, ledger_index="validated")))["node"])
        except RpcFailure as failure:
            if failure.error in ("entryNotFound", "actNotFound"):
                return None
            raise LedgerUnavailable(f"ledger_entry failed: {failure}") from failure

    # --- purchase (purchase.py) ----------------------------------------------------------------
    async def settle_purchase(self, op_id: str, purchase: Purchase) -> LedgerResult:
        """The resumable saga, or one all-or-nothing Batch with `batch = true` (purchase.py)."""
        return await self.purchases.settle(op_id, purchase)

    # --- repayment (distribution.py) -----------------------------------------------------------
    async def distribute(
        self,
        op_id: str,
        instrument_ref: str,
        payouts: Sequence[Payout],
        funding: RepaymentFunding | None = None,
    ) -> LedgerResult:
        """One Payment per holder and one unit return per retirement, not atomic (distribution.py).
        `funding` has no counterpart on the XRP Ledger: the stablecoin issuer pays what it is asked
        (docs/xrpl.md, "Known limits")."""
        return await self.distribution.distribute(op_id, instrument_ref, payouts)

    # --- compliance ----------------------------------------------------------------------------
    async def set_frozen(
        self, op_id: str, wallet: Wallet, frozen: bool, instrument_refs: Sequence[str]
    ) -> LedgerResult:
        """Trust-line freeze + deep freeze (https://xrpl.org/docs/concepts/tokens/fungible-tokens/
        deep-freeze), and per MPToken of the wallet a per-holder lock plus, on freezing, the MPT
        authorisation revoked (rippled's lock does not stop the issuer; see access.py). Unfreezing
        unlocks and authorises again where the holder's classification is eligible."""
        issuer = await self.platform("issuer")
        company = await self.platform("instrument_issuer")
        flags = (
            (TrustSetFlag.TF_SET_FREEZE | TF_SET_DEEP_FREEZE)
            if frozen
            else (TrustSetFlag.TF_CLEAR_FREEZE | TF_CLEAR_DEEP_FREEZE)
        )
        tx_ids: list[str] = []
        if await self._line(wallet.address, issuer.address) is not None or await self.journal.get(f"{op_id}/line"):
            line_tx = TrustSet(
                account=issuer.address,
                flags=int(flags),
                limit_amount=IssuedCurrencyAmount(currency=self.config.currency_code, issuer=wallet.address, value="0"),
            )
            tx_ids.append((await self._run(f"{op_id}/line", issuer, line_tx, "trust line freeze")).tx_id)
        # Every MPToken of the wallet, not only the instruments the domain names: an opted-in
        # holder without units must not stay authorised either.
        tokens = await self.access.tokens_of(wallet.address)
        classification = None if frozen else await self.classification_of(wallet.address)
        for ref in sorted(set(instrument_refs) | set(tokens)):
            token = tokens.get(ref)
            if token is None and not await self.journal.get(f"{op_id}/mpt/{ref}"):
                continue
            lock = MPTokenIssuanceSet(
                account=company.address,
                mptoken_issuance_id=ref,
                holder=wallet.address,
                flags=MPTokenIssuanceSetFlag.TF_MPT_LOCK if frozen else MPTokenIssuanceSetFlag.TF_MPT_UNLOCK,
            )
            tx_ids.append((await self._run(f"{op_id}/mpt/{ref}", company, lock, "MPT lock")).tx_id)
            # rippled's lock binds only between holders (Payment.cpp): the issuer could still pay a
            # locked holder and be paid by it. Revoking the authorisation stops both.
            if frozen:
                tx_ids += await self.access.revoke(f"{op_id}/deauth/{ref}", ref, wallet, token)
            elif await self.journal.get(f"{op_id}/auth/{ref}") or await self.access.may_hold(
                wallet, ref, classification
            ):
                tx_ids += await self.access.grant(f"{op_id}/auth/{ref}", ref, wallet, token)
        return LedgerResult(tuple(tx_ids))

    async def is_frozen(self, address: str) -> bool:
        issuer = await self.platform("issuer")
        line = await self._line(address, issuer.address)
        return bool(line and (line.get("freeze_peer") or line.get("deep_freeze_peer")))

    # --- agent (agent.py) ----------------------------------------------------------------------
    async def force_transfer(
        self, op_id: str, instrument_ref: str, sender: Wallet, receiver: Wallet, units: int
    ) -> LedgerResult:
        """MPT clawback from the sender, reissue to the receiver (agent.py)."""
        return await self.agent.force_transfer(op_id, instrument_ref, sender, receiver, units)

    async def recover_wallet(self, op_id: str, instrument_ref: str, lost: Wallet, new: Wallet) -> LedgerResult:
        """Clawback of the lost wallet's whole balance, reissue to the new wallet (agent.py)."""
        return await self.agent.recover_wallet(op_id, instrument_ref, lost, new)

    # --- withdrawals ---------------------------------------------------------------------------
    async def burn_stablecoin(self, op_id: str, wallet: Wallet, amount: Money) -> LedgerResult:
        """A payment back to the issuer destroys the issued currency
        (https://xrpl.org/docs/concepts/tokens/fungible-tokens/trust-line-tokens)."""
        issuer = await self.platform("issuer")
        if await self.journal.get(f"{op_id}/burn") is None:
            # XRPL lets a frozen holder pay its issuer; the platform's rule refuses it here.
            if await self.is_frozen(wallet.address):
                raise ComplianceRejected(f"{wallet.address} is frozen: no withdrawal", reason="tecFROZEN")
            balance = await self.stablecoin_balance(wallet.address)
            if balance < amount:
                raise InsufficientFunds(f"balance {balance} does not cover {amount}")
        tx_ids = await self._ensure_xrp(f"{op_id}/fees", wallet.address, 0)
        burn = Payment(account=wallet.address, destination=issuer.address, amount=self._iou(issuer.address, amount))
        tx_ids.append((await self._pay_coin(f"{op_id}/burn", self._investor(wallet), burn, "stablecoin burn")).tx_id)
        return LedgerResult(tuple(tx_ids))

    # --- bank money (purchase.py) ----------------------------------------------------------------
    async def mint_deposit(self, op_id: str, wallet: Wallet, amount: Money, deposit_id: str) -> LedgerResult:
        """The issuer pays the deposit to the investor's authorised trust line (purchase.py)."""
        return await self.purchases.deposit(op_id, wallet, amount)

    async def settle_from_balance(self, op_id: str, purchase: Purchase) -> LedgerResult:
        """The purchase saga (or Batch) without the issue to the buyer (purchase.py)."""
        return await self.purchases.settle(op_id, purchase, mint=False)

    # --- reads ---------------------------------------------------------------------------------
    async def stablecoin_balance(self, address: str) -> Money:
        issuer = await self.platform("issuer")
        line = await self._line(address, issuer.address)
        return self._money(line["balance"]) if line else Money.zero(self.currency)

    async def units_of(self, instrument_ref: str, address: str) -> int:
        token = await self._mptoken(instrument_ref, address)
        return int(token.get("MPTAmount", 0)) if token else 0

    async def holders(
        self, instrument_ref: str, since: int | None = None, known: Collection[str] = ()
    ) -> Mapping[str, int]:
        """The issuance's holders: Clio's `mpt_holders` where the server offers it, else the
        register's `known` addresses when they account for every outstanding unit, else a walk of
        the whole ledger (holders.py)."""
        if self._clio is not False:
            try:
                found = await clio_holders(self.rpc, instrument_ref)
                self._clio = True
                return found
            except NotClio:
                self._clio = False
        if known:
            checked = await known_holders(self.rpc, instrument_ref, known)
            if checked is not None:
                return checked
        return await scan_holders(self.rpc, instrument_ref)

    async def transfers(
        self, instrument_ref: str, after: str | None, limit: int, since: int | None = None
    ) -> TransferPage:
        """The issuance's MPT payments after the cursor (see `transfers.py`)."""
        return await read_transfers(self.rpc, instrument_ref, after, limit, since)

    async def resume_unfinished(self) -> list[str]:
        """After a restart: drive every PREPARED / SUBMITTED XRPL transaction of the journal to its
        final result (the same signed blob is broadcast again). Returns the final tx ids; failures
        are logged and left to the operation's own retry."""
        finished: list[str] = []
        for entry in await self.journal.unfinished("xrpl"):
            try:
                if entry.result.get("batch"):
                    finished.append((await self.submitter.batches.resume(entry.op_id, "batch")).tx_id)
                else:
                    finished.append((await self.submitter.resume(entry)).tx_id)
            except LedgerPending:
                log.info("%s is not validated yet after the restart; its own job finishes it", entry.op_id)
            except LedgerError as error:
                log.warning("could not finish %s after restart: %s", entry.op_id, error.message)
        return finished

    async def maintain(self) -> None:
        """One keeper pass: submit again every signed transaction the journal holds unvalidated for
        longer than `KEEPER_GRACE_S` (a restarted node forgets what it queued; submitting the same
        blob is idempotent), and spend on a no-op every sequence that was claimed but never sent
        while later transactions of its account wait behind it (gaps.py)."""
        now = datetime.now(UTC)
        try:
            unfinished = await self.journal.unfinished("xrpl")
            await self._holes.pass_(unfinished, self.submitter.chain_sequence, self.submitter.fill_hole, now)
            for entry in unfinished:
                age = (now - (entry.updated_at or entry.created_at)).total_seconds()
                if entry.payload is not None and age >= KEEPER_GRACE_S:
                    await self.submitter.rebroadcast(entry)
        except (LedgerError, RpcFailure) as error:
            log.warning("keeper: %s; next pass", error)

    async def health(self) -> LedgerHealth:
        """The validated ledger's age (server_info) and the platform accounts' unvalidated work."""
        try:
            info = (await self.rpc.call(ServerInfo()))["info"]
            age = info.get("validated_ledger", {}).get("age")
            now = datetime.now(UTC)
            signed = [e for e in await self.journal.unfinished("xrpl") if e.payload is not None]
            gap = unsent = 0
            for account in {e.account for e in signed if e.account}:
                highest = max(int(e.sequence or 0) for e in signed if e.account == account)
                gap += max(0, highest + 1 - await self.submitter.chain_sequence(account, "validated"))
                unsent += len(holes(account, await self.submitter.chain_sequence(account), signed))
        except RpcFailure as failure:
            raise LedgerUnavailable(f"server_info failed: {failure}") from failure
        oldest = min((e.updated_at or e.created_at for e in signed), default=None)
        return LedgerHealth(
            head_age_s=None if age is None else float(age),
            unconfirmed=len(signed),
            oldest_unconfirmed_s=None if oldest is None else (now - oldest).total_seconds(),
            sequence_gap=gap,
            unsigned_claims=unsent,
        )

    async def ping(self) -> None:
        try:
            await self.rpc.call(ServerInfo())
        except RpcFailure as failure:
            raise LedgerUnavailable(f"server_info failed: {failure}") from failure

    async def close(self) -> None:
        """Release the HTTP connection pool."""
        await self.rpc.close()

    # --- audit anchors (anchors.py) ------------------------------------------------------------
    async def anchor_audit_head(self, op_id: str, seq: int, head_hash: str) -> LedgerResult:
        return await anchor_head(self, op_id, seq, head_hash)

    async def audit_anchor(self, tx_id: str) -> AuditAnchor | None:
        return await read_anchor(self, tx_id)

    async def published_audit_anchors(self) -> list[AuditAnchor]:
        return await read_anchors(self)


async def build_xrpl_ledger(config: XrplConfig, vault: KeyVault, journal: OperationJournal) -> XrplLedger:
    """The container's factory. `vault`: the KeyVault holding the platform and investor keys.
    `journal`: the store's OperationJournal. The platform accounts must have been set up with
    `drexfy xrpl setup`."""
    return XrplLedger(config, vault, journal)
