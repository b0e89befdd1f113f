"""All-or-nothing XLS-56 Batch submission, on the submitter's journal, locks and sequence rules.

One journal entry holds the outer blob, the inner transactions' ids and sequences and who signs each,
so a restart can re-broadcast or re-sign it; if the batch applied none of its inner transactions
their sequences are filled with no-ops. It is the submitter's other half (`Submitter.batches`) and
uses its internals on purpose: one set of rules for claiming, broadcasting, tracking and filling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from xrpl.core.addresscodec import decode_classic_address
from xrpl.core.binarycodec import encode, encode_for_signing, encode_for_signing_batch
from xrpl.models.transactions.transaction import Transaction

from drexfy.adapters.xrpl.errors import refused_for_good, to_domain_error
from drexfy.adapters.xrpl.signing import (
    Outcome,
    Signer,
    der_signature,
    entry_outcome,
    fingerprint_of,
    sha512half,
    signer_fields,
    tx_hash,
)
from drexfy.domain.errors import LedgerUnavailable, OperationConflict
from drexfy.domain.ports import JournalEntry, JournalStatus

if TYPE_CHECKING:
    from drexfy.adapters.xrpl.submission import Submitter

log = logging.getLogger(__name__)

TF_INNER_BATCH_TXN = 0x40000000
TF_ALL_OR_NOTHING = 0x00010000


class Batches:
    """Batches of one submitter."""

    def __init__(self, submitter: Submitter) -> None:
        self.sub = submitter

    async def run(self, op_id: str, payer: Signer, inners: Sequence[tuple[Signer, Transaction]], what: str) -> Outcome:
        """Carry out `inners` as one all-or-nothing XLS-56 Batch submitted (and paid for) by `payer`;
        every other account co-signs through a BatchSigner. Outcome.extras["inner"] lists the inner
        transaction ids, which are the ones that moved value."""
        intents = [(signer, tx.to_xrpl()) for signer, tx in inners]
        fingerprint = fingerprint_of({"Batch": [fingerprint_of(tx) for _, tx in intents], "Account": payer.address})
        accounts = sorted({payer.address, *(signer.address for signer, _ in intents)})
        async with contextlib.AsyncExitStack() as stack:
            for address in accounts:  # a fixed order, so two batches never wait on each other
                await stack.enter_async_context(self.sub._locks.setdefault(address, asyncio.Lock()))
            entry = await self.sub.journal.get(op_id)
            if entry is None:
                entry = await self._prepare_batch(op_id, fingerprint, payer, intents)
            elif entry.fingerprint != fingerprint:
                raise OperationConflict(f"operation {op_id} was used for another XRPL batch")
            return await self._drive_batch(entry, what)

    async def resume(self, op_id: str, what: str) -> Outcome:
        """Drive an existing batch entry to its end (its intents are in the journal)."""
        entry = await self.sub.journal.get(op_id)
        assert entry is not None and entry.result.get("batch")
        return await self._drive_batch(entry, what)

    async def _prepare_batch(
        self, op_id: str, fingerprint: str, payer: Signer, intents: list[tuple[Signer, dict[str, Any]]]
    ) -> JournalEntry:
        sequences: list[int] = []
        for index, address in enumerate([payer.address, *(signer.address for signer, _ in intents)]):
            chain_next = await self.sub.chain_sequence(address)
            sequences.append(await self.sub.journal.allocate_sequence(address, chain_next, f"{op_id}#{index}"))
        signers = {payer.address: signer_fields(payer)}
        signers.update({signer.address: signer_fields(signer) for signer, _ in intents})
        plan = {
            "batch": True,
            "payer": payer.address,
            "intents": [{"account": signer.address, "tx": tx} for signer, tx in intents],
            "sequences": sequences,
            "signers": signers,
        }
        blob, digest, lls, inner_ids = await self._sign_batch(plan)
        return await self.sub._claim(
            op_id,
            fingerprint,
            payer.address,
            sequences[0],
            digest,
            blob,
            {**plan, "last_ledger_sequence": lls, "inner": inner_ids, **signer_fields(payer)},
            "batch",
        )

    async def _sign_batch(self, plan: Mapping[str, Any]) -> tuple[str, str, int, list[str]]:
        signers = {address: Signer(f["wallet_id"], address, f["public_key"]) for address, f in plan["signers"].items()}
        payer = signers[plan["payer"]]
        outer_sequence, *inner_sequences = plan["sequences"]
        raws = []
        for intent, sequence in zip(plan["intents"], inner_sequences, strict=True):
            inner = dict(intent["tx"])
            inner.update(Sequence=sequence, Fee="0", SigningPubKey="")
            inner["Flags"] = int(inner.get("Flags", 0)) | TF_INNER_BATCH_TXN
            raws.append(inner)
        inner_ids = [tx_hash(encode(inner)) for inner in raws]
        cosigners = sorted({r["Account"] for r in raws} - {payer.address}, key=decode_classic_address)
        fee = await self.sub._fee() * (2 + len(raws) + len(cosigners))  # XLS-56 batch cost
        outer: dict[str, Any] = {
            "TransactionType": "Batch",
            "Account": payer.address,
            "Flags": TF_ALL_OR_NOTHING,
            "RawTransactions": [{"RawTransaction": inner} for inner in raws],
            "Sequence": outer_sequence,
            "Fee": str(fee),
            "LastLedgerSequence": await self.sub.validated_index() + self.sub.ledger_offset,
            "SigningPubKey": payer.public_key.upper(),
        }
        batch_signers = []
        for address in cosigners:
            message = encode_for_signing_batch(
                {
                    "account": payer.address,
                    "sequence": outer_sequence,
                    "flags": TF_ALL_OR_NOTHING,
                    "transaction_ids": inner_ids,
                    "batch_account": address,
                }
            )
            signature = await self.sub.vault.sign_digest(signers[address].wallet_id, sha512half(bytes.fromhex(message)))
            batch_signers.append(
                {
                    "BatchSigner": {
                        "Account": address,
                        "SigningPubKey": signers[address].public_key.upper(),
                        "TxnSignature": der_signature(signature.r, signature.s).hex().upper(),
                    }
                }
            )
        if batch_signers:
            outer["BatchSigners"] = batch_signers  # not a signing field: the outer signature omits it
        digest = sha512half(bytes.fromhex(encode_for_signing(outer)))
        signature = await self.sub.vault.sign_digest(payer.wallet_id, digest)
        outer["TxnSignature"] = der_signature(signature.r, signature.s).hex().upper()
        blob = encode(outer)
        return blob, tx_hash(blob), int(outer["LastLedgerSequence"]), inner_ids

    async def _drive_batch(self, entry: JournalEntry, what: str) -> Outcome:
        deadline = self.sub._deadline()
        while True:
            if entry.status is JournalStatus.CONFIRMED:
                return entry_outcome(entry)
            if entry.status is JournalStatus.FAILED:
                raise to_domain_error(
                    entry.result.get("code", "tecUNKNOWN"), what, entry.tx_id, entry.result.get("detail", "")
                )
            preliminary, detail = await self.sub._broadcast(entry)
            if refused_for_good(preliminary):
                await self.sub._finish(entry, JournalStatus.FAILED, code=preliminary, detail=detail)
                await self._fill_batch_gaps(entry, outer_used=False)
                raise to_domain_error(preliminary, what, entry.tx_id, detail)
            found = await self.sub._track(entry, deadline)
            if found is None:
                if asyncio.get_running_loop().time() >= deadline:
                    raise self.sub._not_yet(f"{what}: no validated result for {entry.tx_id} yet; retry resumes it")
                entry = await self._replace_batch(entry)
                continue
            _, result, ledger_index, _meta = found
            if result != "tesSUCCESS":
                await self.sub._finish(entry, JournalStatus.FAILED, code=result, ledger_index=ledger_index)
                await self._fill_batch_gaps(entry, outer_used=True)
                raise to_domain_error(result, what, entry.tx_id)
            inner = [await self.sub._lookup(tx_id) for tx_id in entry.result["inner"]]
            if all(item is not None and item[1] == "tesSUCCESS" for item in inner):
                extras: dict[str, Any] = {"inner": list(entry.result["inner"])}
                for item in inner:
                    assert item is not None
                    extras.update(
                        {k: item[3][k] for k in ("nftoken_id", "offer_id", "mpt_issuance_id") if k in item[3]}
                    )
                await self.sub._finish(
                    entry, JournalStatus.CONFIRMED, code=result, ledger_index=ledger_index, extras=extras
                )
                return entry_outcome(entry)
            # All or nothing: an inner transaction could not succeed, so none was applied.
            detail = "an inner transaction failed, so the all-or-nothing batch applied none"
            await self.sub._finish(
                entry, JournalStatus.FAILED, code="batch-rolled-back", detail=detail, ledger_index=ledger_index
            )
            await self._fill_batch_gaps(entry, outer_used=True)
            raise to_domain_error("batch-rolled-back", what, entry.tx_id, detail)

    async def _replace_batch(self, entry: JournalEntry) -> JournalEntry:
        """The batch expired unincluded: re-sign it with the same sequences (none was used)."""
        payer = entry.result["payer"]
        if await self.sub.chain_sequence(payer, "validated") > entry.result["sequences"][0]:
            raise LedgerUnavailable(
                f"sequence {entry.result['sequences'][0]} of {payer} was used but batch {entry.op_id} is not"
                " found on this node; check a full-history node before retrying"
            )
        blob, digest, lls, inner_ids = await self._sign_batch(entry.result)
        superseded = [*entry.result.get("superseded", []), entry.tx_id]
        log.warning("batch %s expired unvalidated; replacing it with %s", entry.tx_id, digest)
        entry.tx_id, entry.payload, entry.status = digest, blob, JournalStatus.PREPARED
        entry.result = {**entry.result, "last_ledger_sequence": lls, "inner": inner_ids, "superseded": superseded}
        entry.updated_at = datetime.now(UTC)
        await self.sub.journal.update(entry)
        return entry

    async def _fill_batch_gaps(self, entry: JournalEntry, *, outer_used: bool) -> None:
        """The inner transactions of a batch that did not apply leave their sequences unused."""
        accounts = [entry.result["payer"], *(intent["account"] for intent in entry.result["intents"])]
        for index, (address, sequence) in enumerate(zip(accounts, entry.result["sequences"], strict=True)):
            if index == 0 and outer_used:
                continue
            fields = entry.result["signers"][address]
            signer = Signer(fields["wallet_id"], address, fields["public_key"])
            await self.sub._fill_sequence(f"{entry.op_id}#gap{index}", signer, sequence)
