"""Result classes (who pays, which sequence is used) and owner-count reserves, as rippled does them."""

from __future__ import annotations

import pytest
from xrpl.models.transactions import (
    NFTokenAcceptOffer,
    NFTokenBurn,
    NFTokenCreateOffer,
    NFTokenCreateOfferFlag,
    NFTokenMint,
)

from tests.conformance.xrpl.conftest import Applied, issue_mpt, mpt, pay
from tests.integration.xrpl.chain import Chain

pytestmark = pytest.mark.xrpl


def test_tec_claims_the_fee_and_the_sequence_and_nothing_else(chain: Chain) -> None:
    """Transactor.cpp / applySteps: a tec result is included in the ledger, the fee is claimed and
    the sequence consumed, every other change of the transaction is discarded."""
    issuer, stranger = chain.new_account(), chain.new_account()
    ref = issue_mpt(chain, issuer)
    before = Applied(chain, issuer)
    outstanding = chain.engine.open.issuances[ref].outstanding
    assert pay(chain, issuer, stranger, mpt(ref, "5")) == "tecNO_AUTH"
    assert chain.final() == "tecNO_AUTH"
    assert before.fee_and_sequence_taken()
    assert chain.engine.open.issuances[ref].outstanding == outstanding


def test_tem_and_tef_change_nothing(chain: Chain) -> None:
    """tem (preflight: malformed) and tef (preclaim: cannot apply, e.g. a used sequence) are not
    applied: no fee, no sequence, not in any ledger."""
    alice = chain.new_account()
    before = Applied(chain, alice)
    bad_flags = {"TransactionType": "Payment", "Account": alice.address, "Destination": alice.address, "Amount": "1"}
    assert chain.submit_raw(alice, {**bad_flags, "Flags": 0x00000001}) == "temINVALID_FLAG"
    assert before.untouched()
    used = chain.engine.open.accounts[alice.address].sequence - 1
    to = chain.new_account()
    before = Applied(chain, alice)
    stale = {"TransactionType": "Payment", "Account": alice.address, "Destination": to.address, "Amount": "1"}
    assert chain.submit_raw(alice, {**stale, "Sequence": used}) == "tefPAST_SEQ"
    assert before.untouched()


def test_nft_pages_and_offers_are_owned_objects(chain: Chain) -> None:
    """NFTokenMint.cpp / NFTokenUtils.cpp: the first NFT of an account creates an NFTokenPage (one
    owner count; a page holds up to 32); NFTokenCreateOffer.cpp: an offer is one owned object;
    accepting moves the NFT (the seller's emptied page goes, the buyer's new page comes) and
    deletes the offer; burning the last NFT releases the page."""
    registrar, alice = chain.new_account(), chain.new_account()
    counts = (chain.owner_count(registrar.address), chain.owner_count(alice.address))
    assert chain.submit(registrar, NFTokenMint(account=registrar.address, nftoken_taxon=1, flags=1)) == "tesSUCCESS"
    assert chain.last is not None
    nft = str(chain.engine.txs[chain.last.hash].meta["nftoken_id"])
    assert chain.owner_count(registrar.address) == counts[0] + 1
    offer = NFTokenCreateOffer(
        account=registrar.address,
        nftoken_id=nft,
        amount="0",
        destination=alice.address,
        flags=NFTokenCreateOfferFlag.TF_SELL_NFTOKEN,
    )
    assert chain.submit(registrar, offer) == "tesSUCCESS"
    offer_id = str(chain.engine.txs[chain.last.hash].meta["offer_id"])
    assert chain.owner_count(registrar.address) == counts[0] + 2
    assert chain.submit(alice, NFTokenAcceptOffer(account=alice.address, nftoken_sell_offer=offer_id)) == "tesSUCCESS"
    assert chain.owner_count(registrar.address) == counts[0]
    assert chain.owner_count(alice.address) == counts[1] + 1
    burn = NFTokenBurn(account=registrar.address, nftoken_id=nft, owner=alice.address)
    assert chain.submit(registrar, burn) == "tesSUCCESS"  # tfBurnable: the issuer may burn it
    assert chain.owner_count(alice.address) == counts[1]
