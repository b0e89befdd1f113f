"""A small driver for the double's engine in tests: sign with xrpl-py wallets, submit blobs, close."""

from __future__ import annotations

from typing import Any

from xrpl.constants import CryptoAlgorithm
from xrpl.core import keypairs
from xrpl.core.binarycodec import encode, encode_for_signing
from xrpl.models.transactions import Payment
from xrpl.models.transactions.transaction import Transaction
from xrpl.transaction import sign
from xrpl.wallet import Wallet

from tests.support.xrpl_double import GENESIS_SEED, Engine, Fees
from tests.support.xrpl_double.engine import SubmitOutcome


class Chain:
    """Submits signed transactions straight to an `Engine` (no HTTP), closing a ledger after each."""

    def __init__(self, fees: Fees | None = None) -> None:
        self.engine = Engine(fees)
        self.genesis = Wallet.from_seed(GENESIS_SEED, algorithm=CryptoAlgorithm.SECP256K1)
        self.last: SubmitOutcome | None = None

    def blob(self, wallet: Wallet, tx: Transaction, **fields: Any) -> str:
        data = tx.to_xrpl()
        account = self.engine.open.accounts.get(data["Account"])
        data.setdefault("Sequence", account.sequence if account else 1)
        data.setdefault("Fee", "10")
        data.update(fields)
        return encode(sign(Transaction.from_xrpl(data), wallet).to_xrpl())

    def raw_blob(self, wallet: Wallet, data: dict[str, Any], *, autofill: bool = True) -> str:
        """Sign a transaction given as JSON, without xrpl-py's model checks (for what rippled
        refuses itself: malformed flags, out-of-range fields, missing fields)."""
        data = dict(data)
        if autofill:
            account = self.engine.open.accounts.get(data["Account"])
            data.setdefault("Sequence", account.sequence if account else 1)
            data.setdefault("Fee", "10")
        data["SigningPubKey"] = wallet.public_key
        data["TxnSignature"] = keypairs.sign(bytes.fromhex(encode_for_signing(data)), wallet.private_key)
        return encode(data)

    def submit_raw(self, wallet: Wallet, data: dict[str, Any], *, close: bool = True) -> str:
        self.last = self.engine.submit(self.raw_blob(wallet, data))
        if close:
            self.engine.close()
        return self.last.engine_result

    def submit(self, wallet: Wallet, tx: Transaction, *, close: bool = True, **fields: Any) -> str:
        self.last = self.engine.submit(self.blob(wallet, tx, **fields))
        if close:
            self.engine.close()
        return self.last.engine_result

    def final(self) -> str:
        """The validated result of the last submission."""
        assert self.last is not None
        record = self.engine.txs[self.last.hash]
        assert record.ledger_index is not None, "not validated yet"
        return str(record.meta["TransactionResult"])

    def new_account(self, drops: int = 50_000_000) -> Wallet:
        wallet = Wallet.create(CryptoAlgorithm.SECP256K1)
        assert (
            self.submit(
                self.genesis, Payment(account=self.genesis.address, destination=wallet.address, amount=str(drops))
            )
            == "tesSUCCESS"
        )
        return wallet

    def balance(self, address: str) -> int:
        return self.engine.open.accounts[address].balance

    def owner_count(self, address: str) -> int:
        return self.engine.open.accounts[address].owner_count
