"""Contract rules, on anvil: every rule of the suite and each of its refusals."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from tests.integration.evm.suite import (
    CENT,
    EU_ACC,
    EU_NON,
    SANCTIONED,
    US_ACC,
    US_NON,
    Suite,
    deploy,
    mask,
    revert_reason,
    role_id,
    send,
)

pytestmark = pytest.mark.anvil


def past(suite: Suite) -> int:
    """A deadline before the chain's clock (anvil's clock, not ours)."""
    return suite.w3.eth.get_block("latest")["timestamp"] - 1


def metadata(suite: Suite, wallet: str) -> dict:
    uri = suite.registry.functions.tokenURI(int(wallet, 16)).call()
    assert uri.startswith("data:application/json;base64,")
    return json.loads(base64.b64decode(uri.split(",", 1)[1]))


def traits(suite: Suite, wallet: str) -> dict:
    return {a["trait_type"]: a["value"] for a in metadata(suite, wallet)["attributes"]}


def holder(suite: Suite, classification: int, units: int = 100):
    """A classified investor holding `units` of the default instrument (forced in by the agent)."""
    account = suite.investor(classification)
    if units:
        send(suite.instrument.functions.forcedTransfer(suite.issuer, account.address, units), suite.agent)
    return account


# ================================================================ InvestorClassification


class TestClassification:
    def test_mint_records_class_and_locked_soulbound_token(self, suite: Suite) -> None:
        investor = suite.investor(None)
        receipt = send(suite.registry.functions.mint(investor.address, EU_ACC), suite.registrar)
        token_id = int(investor.address, 16)
        reg = suite.registry
        assert reg.functions.classOf(investor.address).call() == EU_ACC
        assert reg.functions.ownerOf(token_id).call() == investor.address
        assert reg.functions.balanceOf(investor.address).call() == 1
        assert reg.functions.locked(token_id).call() is True
        assert reg.events.Classified().process_receipt(receipt, errors=DISCARD)[0]["args"]["classCode"] == EU_ACC
        assert reg.events.Locked().process_receipt(receipt, errors=DISCARD)[0]["args"]["tokenId"] == token_id
        assert traits(suite, investor.address) == {"classification": "EU_ACCREDITED", "frozen": "false"}

    def test_supports_erc721_metadata_and_erc5192(self, suite: Suite) -> None:
        for interface in ("0x80ac58cd", "0x5b5e139f", "0xb45a3c0e", "0x49064906"):
            assert suite.registry.functions.supportsInterface(interface).call()
        assert not suite.registry.functions.supportsInterface("0xffffffff").call()

    def test_reclassification_changes_class_and_metadata(self, suite: Suite) -> None:
        investor = suite.investor(US_ACC)
        receipt = send(suite.registry.functions.reclassify(investor.address, SANCTIONED), suite.registrar)
        event = suite.registry.events.Reclassified().process_receipt(receipt, errors=DISCARD)[0]["args"]
        assert (event["previousClass"], event["newClass"]) == (US_ACC, SANCTIONED)
        assert suite.registry.events.MetadataUpdate().process_receipt(receipt, errors=DISCARD)
        assert suite.registry.functions.classOf(investor.address).call() == SANCTIONED
        assert traits(suite, investor.address)["classification"] == "SANCTIONED"

    def test_token_cannot_be_transferred_or_approved(self, suite: Suite) -> None:
        investor = suite.investor(EU_NON)
        other = suite.investor(None)
        token_id = int(investor.address, 16)
        reg = suite.registry.functions
        assert revert_reason(reg.transferFrom(investor.address, other.address, token_id), investor) == "Soulbound"
        assert revert_reason(reg.approve(other.address, token_id), investor) == "Soulbound"
        assert revert_reason(reg.setApprovalForAll(other.address, True), investor) == "Soulbound"

    def test_refusals(self, suite: Suite) -> None:
        investor = suite.investor(EU_ACC)
        fresh = suite.investor(None)
        reg = suite.registry.functions
        assert revert_reason(reg.mint(investor.address, US_ACC), suite.registrar) == "AlreadyClassified"
        assert revert_reason(reg.mint(fresh.address, 0), suite.registrar) == "InvalidClass"
        assert revert_reason(reg.mint(fresh.address, 6), suite.registrar) == "InvalidClass"
        assert revert_reason(reg.reclassify(fresh.address, US_ACC), suite.registrar) == "NotClassified"
        assert revert_reason(reg.reclassify(investor.address, EU_ACC), suite.registrar) == "ClassUnchanged"
        assert revert_reason(reg.revoke(fresh.address), suite.registrar) == "NotClassified"

    def test_only_the_registrar_classifies_and_only_compliance_freezes(self, suite: Suite) -> None:
        fresh = suite.investor(None)
        reg = suite.registry.functions
        for outsider in (fresh, suite.issuer):
            assert revert_reason(reg.mint(fresh.address, EU_ACC), outsider) == "AccessControlUnauthorizedAccount"
            assert revert_reason(reg.setFrozen(fresh.address, True), outsider) == "AccessControlUnauthorizedAccount"

    def test_revoke_burns_the_token_but_keeps_a_freeze(self, suite: Suite) -> None:
        investor = suite.investor(EU_ACC)
        send(suite.registry.functions.setFrozen(investor.address, True), suite.registrar)
        send(suite.registry.functions.revoke(investor.address), suite.registrar)
        assert suite.registry.functions.classOf(investor.address).call() == 0
        assert suite.registry.functions.isFrozen(investor.address).call()
        assert revert_reason(suite.registry.functions.ownerOf(int(investor.address, 16)), suite.admin) == (
            "ERC721NonexistentToken"
        )

    def test_freeze_shows_in_metadata_and_refuses_no_change(self, suite: Suite) -> None:
        investor = suite.investor(EU_ACC)
        send(suite.registry.functions.setFrozen(investor.address, True), suite.registrar)
        assert traits(suite, investor.address)["frozen"] == "true"
        fn = suite.registry.functions.setFrozen(investor.address, True)
        assert revert_reason(fn, suite.registrar) == "FreezeUnchanged"

    def test_status_pair_view_and_raw_entry_agree(self, suite: Suite) -> None:
        a, b = suite.investor(US_ACC), suite.investor(EU_NON)
        send(suite.registry.functions.setFrozen(b.address, True), suite.registrar)
        pair = suite.registry.functions.statusOfPair(a.address, b.address).call()
        assert pair == [US_ACC, EU_NON | 1 << 8]
        raw = suite.w3.eth.call(
            {
                "to": suite.registry.address,
                "data": "0xd2e3f500" + a.address[2:].lower().rjust(64, "0") + b.address[2:].lower().rjust(64, "0"),
            }
        )
        assert [int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")] == pair
        with pytest.raises(Exception):  # any other unknown call data reverts
            suite.w3.eth.call({"to": suite.registry.address, "data": "0xdeadbeef"})


# ================================================================ Stablecoin


class TestStablecoin:
    def test_decimals_and_minting_to_a_classified_wallet(self, suite: Suite) -> None:
        investor = suite.investor(EU_NON)
        assert suite.stablecoin.functions.decimals().call() == 6
        send(suite.stablecoin.functions.mint(investor.address, 150 * CENT), suite.minter)
        assert suite.stablecoin.functions.balanceOf(investor.address).call() == 150 * CENT

    def test_mint_refusals(self, suite: Suite) -> None:
        coin = suite.stablecoin.functions
        unclassified, sanctioned = suite.investor(None), suite.investor(SANCTIONED)
        frozen = suite.investor(US_ACC)
        send(suite.registry.functions.setFrozen(frozen.address, True), suite.registrar)
        minter = suite.minter
        assert revert_reason(coin.mint(unclassified.address, 1), minter) == "UnclassifiedWallet"
        assert revert_reason(coin.mint(sanctioned.address, 1), minter) == "SanctionedWallet"
        assert revert_reason(coin.mint(frozen.address, 1), minter) == "WalletFrozen"
        assert revert_reason(coin.mint(frozen.address, 1), suite.relayer) == "AccessControlUnauthorizedAccount"

    def test_transfers_only_between_unfrozen_non_sanctioned_wallets(self, suite: Suite) -> None:
        a, b, c = suite.investor(US_ACC), suite.investor(EU_NON), suite.investor(EU_ACC)
        minter = suite.minter
        send(suite.stablecoin.functions.mint(a.address, 10 * CENT), minter)
        send(suite.stablecoin.functions.transfer(b.address, CENT), a)
        assert suite.stablecoin.functions.balanceOf(b.address).call() == CENT
        coin = suite.stablecoin.functions
        # Registry freeze of the sender, token freeze of the receiver, sanctioned receiver.
        send(suite.registry.functions.setFrozen(a.address, True), suite.registrar)
        assert revert_reason(coin.transfer(b.address, 1), a) == "WalletFrozen"
        send(suite.registry.functions.setFrozen(a.address, False), suite.registrar)
        send(coin.setFrozen(b.address, True), suite.registrar)
        assert revert_reason(coin.transfer(b.address, 1), a) == "WalletFrozen"
        send(suite.registry.functions.reclassify(c.address, SANCTIONED), suite.registrar)
        assert revert_reason(coin.transfer(c.address, 1), a) == "SanctionedWallet"

    def test_allow_listed_issuer_receives_without_a_classification(self, suite: Suite) -> None:
        a = suite.investor(US_ACC)
        send(suite.stablecoin.functions.mint(a.address, 5 * CENT), suite.minter)
        send(suite.stablecoin.functions.transfer(suite.issuer, 5 * CENT), a)
        assert suite.stablecoin.functions.balanceOf(suite.issuer).call() == 5 * CENT
        outsider = suite.investor(None).address
        assert revert_reason(suite.stablecoin.functions.transfer(outsider, 1), suite.issuer) == "UnclassifiedWallet"

    def test_allow_list_is_the_admins_and_does_not_lift_a_freeze(self, suite: Suite) -> None:
        a = suite.investor(US_ACC)
        send(suite.stablecoin.functions.mint(a.address, CENT), suite.minter)
        fn = suite.stablecoin.functions.setAllowListed(a.address, True)
        assert revert_reason(fn, suite.relayer) == "AccessControlUnauthorizedAccount"
        send(suite.stablecoin.functions.setFrozen(suite.issuer, True), suite.registrar)
        assert revert_reason(suite.stablecoin.functions.transfer(suite.issuer, 1), a) == "WalletFrozen"

    def test_pause_stops_everything(self, suite: Suite) -> None:
        a, b = suite.investor(US_ACC), suite.investor(EU_NON)
        send(suite.stablecoin.functions.mint(a.address, CENT), suite.minter)
        send(suite.stablecoin.functions.pause(), suite.admin)
        assert revert_reason(suite.stablecoin.functions.transfer(b.address, 1), a) == "EnforcedPause"
        assert revert_reason(suite.stablecoin.functions.mint(b.address, 1), suite.minter) == "EnforcedPause"
        assert revert_reason(suite.stablecoin.functions.unpause(), a) == "AccessControlUnauthorizedAccount"

    def test_permit_sets_allowance_once(self, suite: Suite) -> None:
        owner = suite.investor(EU_ACC)
        spender = suite.relayer
        deadline, v, r, s = suite.permit(owner, spender, 7 * CENT)
        coin = suite.stablecoin.functions
        send(coin.permit(owner.address, spender, 7 * CENT, deadline, v, r, s), suite.admin)
        assert coin.allowance(owner.address, spender).call() == 7 * CENT
        assert coin.nonces(owner.address).call() == 1
        replay = coin.permit(owner.address, spender, 7 * CENT, deadline, v, r, s)
        assert revert_reason(replay, suite.admin) == "ERC2612InvalidSigner"

    def test_expired_and_forged_permits_are_refused(self, suite: Suite) -> None:
        owner, other = suite.investor(EU_ACC), suite.investor(EU_ACC)
        coin = suite.stablecoin.functions
        deadline, v, r, s = suite.permit(owner, suite.relayer, CENT, deadline=past(suite))
        assert revert_reason(coin.permit(owner.address, suite.relayer, CENT, deadline, v, r, s), suite.admin) == (
            "ERC2612ExpiredSignature"
        )
        deadline, v, r, s = suite.permit(other, suite.relayer, CENT)  # signed by someone else
        assert revert_reason(coin.permit(owner.address, suite.relayer, CENT, deadline, v, r, s), suite.admin) == (
            "ERC2612InvalidSigner"
        )

    def test_burn_with_permit_takes_coins_out_of_circulation(self, suite: Suite) -> None:
        owner = suite.investor(EU_ACC)
        send(suite.stablecoin.functions.mint(owner.address, 9 * CENT), suite.minter)
        supply = suite.stablecoin.functions.totalSupply().call()
        deadline, v, r, s = suite.permit(owner, suite.relayer, 4 * CENT)
        send(suite.stablecoin.functions.burnWithPermit(owner.address, 4 * CENT, deadline, v, r, s), suite.relayer)
        assert suite.stablecoin.functions.balanceOf(owner.address).call() == 5 * CENT
        assert suite.stablecoin.functions.totalSupply().call() == supply - 4 * CENT

    def test_a_frozen_wallet_cannot_cash_out(self, suite: Suite) -> None:
        owner = suite.investor(EU_ACC)
        send(suite.stablecoin.functions.mint(owner.address, 9 * CENT), suite.minter)
        send(suite.registry.functions.setFrozen(owner.address, True), suite.registrar)
        deadline, v, r, s = suite.permit(owner, suite.relayer, CENT)
        fn = suite.stablecoin.functions.burnWithPermit(owner.address, CENT, deadline, v, r, s)
        assert revert_reason(fn, suite.relayer) == "WalletFrozen"

    def test_mint_batch_needs_matching_lengths(self, suite: Suite) -> None:
        a = suite.investor(EU_ACC)
        fn = suite.stablecoin.functions.mintBatch([a.address], [1, 2])
        assert revert_reason(fn, suite.minter) == "LengthMismatch"

    def test_mint_batch_screens_every_recipient_as_mint_does(self, suite: Suite) -> None:
        coin, ok = suite.stablecoin, suite.investor(EU_ACC)
        frozen_globally, frozen_here = suite.investor(EU_ACC), suite.investor(EU_ACC)
        send(suite.registry.functions.setFrozen(frozen_globally.address, True), suite.registrar)
        send(coin.functions.setFrozen(frozen_here.address, True), suite.registrar)
        platform, frozen_platform = suite.investor(None), suite.investor(None)  # allow-listed, unclassified
        for wallet in (platform, frozen_platform):
            send(coin.functions.setAllowListed(wallet.address, True), suite.admin)
        send(suite.registry.functions.setFrozen(frozen_platform.address, True), suite.registrar)
        refused = [
            (frozen_globally, "WalletFrozen"),
            (frozen_here, "WalletFrozen"),
            (frozen_platform, "WalletFrozen"),
            (suite.investor(SANCTIONED), "SanctionedWallet"),
            (suite.investor(None), "UnclassifiedWallet"),
        ]
        for wallet, error in refused:
            assert revert_reason(coin.functions.mint(wallet.address, 1), suite.minter) == error
            fn = coin.functions.mintBatch([ok.address, wallet.address, ok.address], [1, 1, 1])
            assert revert_reason(fn, suite.minter) == error
        fn = coin.functions.mintBatch([ok.address, "0x" + "00" * 20], [1, 1])
        assert revert_reason(fn, suite.minter) == "ERC20InvalidReceiver"
        supply = coin.functions.totalSupply().call()
        receipt = send(coin.functions.mintBatch([ok.address, platform.address, ok.address], [1, 2, 3]), suite.minter)
        assert coin.functions.balanceOf(ok.address).call() == 4  # listed twice: credited twice
        assert coin.functions.balanceOf(platform.address).call() == 2
        assert coin.functions.totalSupply().call() == supply + 6
        events = [e["args"] for e in coin.events.Transfer().process_receipt(receipt, errors=DISCARD)]
        zero = "0x" + "00" * 20
        assert [(e["from"], e["to"], e["value"]) for e in events] == [
            (zero, ok.address, 1),
            (zero, platform.address, 2),
            (zero, ok.address, 3),
        ]

    def test_mint_batch_stops_while_paused_and_caps_the_supply(self, suite: Suite) -> None:
        coin, a = suite.stablecoin, suite.investor(EU_ACC)
        send(coin.functions.pause(), suite.admin)
        try:
            assert revert_reason(coin.functions.mintBatch([a.address], [1]), suite.minter) == "EnforcedPause"
        finally:
            send(coin.functions.unpause(), suite.admin)
        too_much = (1 << 248) - coin.functions.totalSupply().call()
        fn = coin.functions.mintBatch([a.address, a.address], [1, too_much])
        assert revert_reason(fn, suite.minter) == "SupplyOverflow"

    def test_registry_reads_many_status_words_in_one_call(self, suite: Suite) -> None:
        a, b, c = suite.investor(EU_ACC), suite.investor(SANCTIONED), suite.investor(None)
        send(suite.registry.functions.setFrozen(a.address, True), suite.registrar)
        wallets = [a.address, b.address, c.address, a.address]
        expected = [suite.registry.functions.statusOf(w).call() for w in wallets]
        assert expected == [(1 << 8) | EU_ACC, SANCTIONED, 0, (1 << 8) | EU_ACC]
        assert suite.registry.functions.statusOfMany(wallets).call() == expected
        assert suite.registry.functions.statusOfMany([]).call() == []
        # An address word with dirty high bits is refused, as ABI decoding refuses it.
        data = suite.registry.encode_abi("statusOfMany", args=[[a.address]])
        clean = {"to": suite.registry.address, "data": data}
        assert int.from_bytes(suite.w3.eth.call(clean)[-32:], "big") == expected[0]
        dirty = data[:-64] + "01" + data[-62:]
        with pytest.raises(ContractLogicError):
            suite.w3.eth.call({"to": suite.registry.address, "data": dirty})


# ================================================================ FinancialInstrument


class TestInstrument:
    def test_eligible_transfer_moves_units(self, suite: Suite) -> None:
        a, b = holder(suite, US_ACC), suite.investor(EU_NON)
        send(suite.instrument.functions.transfer(b.address, 40), a)
        assert suite.instrument.functions.balanceOf(b.address).call() == 40
        assert suite.instrument.functions.balanceOf(a.address).call() == 60

    @pytest.mark.parametrize(
        ("receiver_class", "error"),
        [(US_NON, "IneligibleReceiver"), (None, "IneligibleReceiver"), (SANCTIONED, "SanctionedWallet")],
    )
    def test_direct_transfer_to_an_ineligible_receiver_reverts(self, suite: Suite, receiver_class, error) -> None:
        a = holder(suite, EU_ACC)
        receiver = suite.investor(receiver_class)
        assert revert_reason(suite.instrument.functions.transfer(receiver.address, 1), a) == error

    def test_frozen_or_sanctioned_sender_cannot_transfer(self, suite: Suite) -> None:
        a, b = holder(suite, EU_ACC), suite.investor(EU_ACC)
        fn = suite.instrument.functions.transfer(b.address, 1)
        send(suite.registry.functions.setFrozen(a.address, True), suite.registrar)
        assert revert_reason(fn, a) == "WalletFrozen"
        send(suite.registry.functions.setFrozen(a.address, False), suite.registrar)
        send(suite.instrument.functions.setFrozen(a.address, True), suite.agent)  # this instrument only
        assert revert_reason(fn, a) == "WalletFrozen"
        assert suite.instrument.functions.isFrozen(a.address).call()
        send(suite.instrument.functions.setFrozen(a.address, False), suite.agent)
        send(suite.registry.functions.reclassify(a.address, SANCTIONED), suite.registrar)
        assert revert_reason(fn, a) == "SanctionedWallet"

    def test_frozen_receiver_cannot_receive(self, suite: Suite) -> None:
        a, b = holder(suite, EU_ACC), suite.investor(EU_ACC)
        send(suite.registry.functions.setFrozen(b.address, True), suite.registrar)
        assert revert_reason(suite.instrument.functions.transfer(b.address, 1), a) == "WalletFrozen"

    def test_transfer_from_spends_allowance_and_checks_rules(self, suite: Suite) -> None:
        a, b, spender = holder(suite, EU_ACC), suite.investor(US_NON), suite.investor(EU_ACC)
        send(suite.instrument.functions.approve(spender.address, 5), a)
        fn = suite.instrument.functions.transferFrom(a.address, b.address, 5)
        assert revert_reason(fn, spender) == "IneligibleReceiver"
        c = suite.investor(US_ACC)
        send(suite.instrument.functions.transferFrom(a.address, c.address, 5), spender)
        assert suite.instrument.functions.allowance(a.address, spender.address).call() == 0
        fn = suite.instrument.functions.transferFrom(a.address, c.address, 1)
        assert revert_reason(fn, spender) == "ERC20InsufficientAllowance"

    def test_pause_stops_transfers(self, suite: Suite) -> None:
        a, b = holder(suite, EU_ACC), suite.investor(EU_ACC)
        send(suite.instrument.functions.pause(), suite.agent)
        assert revert_reason(suite.instrument.functions.transfer(b.address, 1), a) == "EnforcedPause"

    def test_agent_forced_transfer_ignores_sender_freeze_not_receiver_rules(self, suite: Suite) -> None:
        a, b, bad = holder(suite, EU_ACC), suite.investor(EU_ACC), suite.investor(US_NON)
        send(suite.registry.functions.setFrozen(a.address, True), suite.registrar)
        receipt = send(suite.instrument.functions.forcedTransfer(a.address, b.address, 10), suite.agent)
        assert (
            suite.instrument.events.ForcedTransfer().process_receipt(receipt, errors=DISCARD)[0]["args"]["value"] == 10
        )
        fn = suite.instrument.functions.forcedTransfer(a.address, bad.address, 10)
        assert revert_reason(fn, suite.agent) == "IneligibleReceiver"
        assert revert_reason(fn, a) == "AccessControlUnauthorizedAccount"

    def test_agent_burn(self, suite: Suite) -> None:
        a = holder(suite, EU_ACC)
        supply = suite.instrument.functions.totalSupply().call()
        send(suite.instrument.functions.burn(a.address, 30), suite.agent)
        assert suite.instrument.functions.balanceOf(a.address).call() == 70
        assert suite.instrument.functions.totalSupply().call() == supply - 30
        assert revert_reason(suite.instrument.functions.burn(a.address, 71), suite.agent) == (
            "ERC20InsufficientBalance"
        )

    def test_wallet_recovery_moves_units_and_freeze_to_an_eligible_wallet(self, suite: Suite) -> None:
        lost, new, ineligible = holder(suite, EU_ACC), suite.investor(EU_ACC), suite.investor(US_NON)
        send(suite.instrument.functions.setFrozen(lost.address, True), suite.agent)
        fn = suite.instrument.functions.recoverWallet(lost.address, ineligible.address)
        assert revert_reason(fn, suite.agent) == "IneligibleReceiver"
        frozen = suite.investor(EU_ACC)
        send(suite.registry.functions.setFrozen(frozen.address, True), suite.registrar)
        fn = suite.instrument.functions.recoverWallet(lost.address, frozen.address)
        assert revert_reason(fn, suite.agent) == "WalletFrozen"
        receipt = send(suite.instrument.functions.recoverWallet(lost.address, new.address), suite.agent)
        moved = suite.instrument.events.AccountFrozen().process_receipt(receipt, errors=DISCARD)
        assert [(e["args"]["account"], e["args"]["frozen"]) for e in moved] == [
            (lost.address, False),
            (new.address, True),
        ]
        assert suite.instrument.functions.balanceOf(new.address).call() == 100
        assert suite.instrument.functions.balanceOf(lost.address).call() == 0
        assert suite.instrument.functions.isFrozen(new.address).call()
        assert not suite.instrument.functions.isFrozen(lost.address).call()
        fn = suite.instrument.functions.recoverWallet(lost.address, new.address)
        assert revert_reason(fn, suite.agent) == "NothingToRecover"

    def test_only_settlement_delivers_from_inventory(self, suite: Suite) -> None:
        a = suite.investor(EU_ACC)
        fn = suite.instrument.functions.deliver(a.address, 1)
        assert revert_reason(fn, suite.relayer) == "AccessControlUnauthorizedAccount"

    def test_eligible_set_never_includes_sanctioned(self, suite: Suite) -> None:
        with pytest.raises(Exception, match="0x"):
            suite.new_instrument(mask(EU_ACC, SANCTIONED), 10)
        with pytest.raises(Exception, match="0x"):
            suite.new_instrument(0, 10)
        inst = suite.new_instrument(mask(US_ACC), 10, "US1")
        assert inst.functions.isEligibleClass(US_ACC).call()
        assert not inst.functions.isEligibleClass(EU_ACC).call()
        assert inst.functions.balanceOf(suite.issuer).call() == 10
        assert inst.functions.decimals().call() == 0


# ================================================================ Settlement


class TestSettlement:
    def test_settle_moves_all_three_legs_with_an_event_each(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        issuer_coins = suite.stablecoin.functions.balanceOf(suite.issuer).call()
        order = Web3.keccak(text="order-1")
        receipt = suite.buy(buyer, units=25, amount=2500 * CENT, order=order)
        st = suite.settlement.events
        assert st.PaymentMinted().process_receipt(receipt, errors=DISCARD)[0]["args"]["amount"] == 2500 * CENT
        assert st.PaymentCollected().process_receipt(receipt, errors=DISCARD)[0]["args"]["issuer"] == suite.issuer
        assert st.UnitsDelivered().process_receipt(receipt, errors=DISCARD)[0]["args"]["units"] == 25
        assert suite.instrument.functions.balanceOf(buyer.address).call() == 25
        assert suite.stablecoin.functions.balanceOf(buyer.address).call() == 0
        assert suite.stablecoin.functions.balanceOf(suite.issuer).call() == issuer_coins + 2500 * CENT
        assert suite.stablecoin.functions.allowance(buyer.address, suite.settlement.address).call() == 0
        assert suite.settlement.functions.isNonceUsed(suite.nonce_of(order)).call()
        # One stablecoin call, and still the two movements an auditor reads: minted to the buyer,
        # paid by the buyer to the issuer.
        moves = [
            (e["args"]["from"], e["args"]["to"], e["args"]["value"])
            for e in suite.stablecoin.events.Transfer().process_receipt(receipt, errors=DISCARD)
            if e["address"] == suite.stablecoin.address
        ]
        zero = "0x" + "00" * 20
        assert moves == [(zero, buyer.address, 2500 * CENT), (buyer.address, suite.issuer, 2500 * CENT)]

    def test_an_order_settles_once(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        order = Web3.keccak(text="order-2")
        suite.buy(buyer, 1, CENT, order=order)
        fn = suite.settle_call(order, buyer, 1, CENT)
        assert revert_reason(fn, suite.relayer) == "NonceAlreadyUsed"

    @pytest.mark.parametrize(("cls", "error"), [(US_NON, "IneligibleReceiver"), (SANCTIONED, "SanctionedWallet")])
    def test_ineligible_buyer_gets_nothing_and_pays_nothing(self, suite: Suite, cls, error) -> None:
        buyer = suite.investor(cls)
        order = Web3.keccak(text="order-3")
        fn = suite.settle_call(order, buyer, 1, CENT)
        assert revert_reason(fn, suite.relayer) == error  # SANCTIONED: the stablecoin mint refuses first
        assert not suite.settlement.functions.isNonceUsed(suite.nonce_of(order)).call()

    def test_atomic_when_the_last_leg_fails(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        send(suite.instrument.functions.setFrozen(buyer.address, True), suite.agent)  # only the units leg fails
        order = Web3.keccak(text="order-4")
        fn = suite.settle_call(order, buyer, 1, CENT)
        supply = suite.stablecoin.functions.totalSupply().call()
        tx_hash = fn.transact({"from": suite.relayer, "gas": 500_000})  # explicit gas: no pre-check
        assert suite.w3.eth.wait_for_transaction_receipt(tx_hash).status == 0
        # Mined and reverted: no leg left a trace.
        assert suite.stablecoin.functions.totalSupply().call() == supply
        assert suite.stablecoin.functions.balanceOf(buyer.address).call() == 0
        assert suite.stablecoin.functions.nonces(buyer.address).call() == 0
        assert suite.instrument.functions.balanceOf(buyer.address).call() == 0

    def test_expired_replayed_and_wrong_permits(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        spender = suite.settlement.address
        expired = suite.permit(buyer, spender, CENT, deadline=past(suite))
        fn = suite.settle_call(Web3.keccak(text="o5"), buyer, 1, CENT, permit=expired)
        assert revert_reason(fn, suite.relayer) == "ERC2612ExpiredSignature"
        permit = suite.permit(buyer, spender, CENT)
        send(suite.settle_call(Web3.keccak(text="o6"), buyer, 1, CENT, permit=permit), suite.relayer)
        # The same permit again: it was used for o6 (and nothing it granted is left).
        fn = suite.settle_call(Web3.keccak(text="o7"), buyer, 1, CENT, permit=permit)
        assert revert_reason(fn, suite.relayer) == "ERC2612InvalidSigner"
        permit = suite.permit(buyer, spender, CENT)  # for 1 cent, used for 2
        fn = suite.settle_call(Web3.keccak(text="o8"), buyer, 1, 2 * CENT, permit=permit)
        assert revert_reason(fn, suite.relayer) == "ERC2612InvalidSigner"

    def test_a_front_run_permit_does_not_block_the_order(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        permit = suite.permit(buyer, suite.settlement.address, CENT)
        deadline, v, r, s = permit
        coin = suite.stablecoin.functions
        send(coin.permit(buyer.address, suite.settlement.address, CENT, deadline, v, r, s), suite.admin)
        send(suite.settle_call(Web3.keccak(text="o9"), buyer, 1, CENT, permit=permit), suite.relayer)
        assert suite.instrument.functions.balanceOf(buyer.address).call() == 1
        assert coin.allowance(buyer.address, suite.settlement.address).call() == 0

    def test_a_leftover_allowance_does_not_stand_in_for_the_permit(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        send(suite.stablecoin.functions.approve(suite.settlement.address, 10 * CENT), buyer)
        bogus = (int(time.time()) + 3600, 27, b"\x01" * 32, b"\x02" * 32)
        fn = suite.settle_call(Web3.keccak(text="o-bogus"), buyer, 1, CENT, permit=bogus)
        assert revert_reason(fn, suite.relayer) == "ERC2612InvalidSigner"

    def test_only_the_relayer_settles(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        fn = suite.settle_call(Web3.keccak(text="o10"), buyer, 1, CENT)
        assert revert_reason(fn, buyer) == "AccessControlUnauthorizedAccount"

    def test_empty_order_is_refused(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        fn = suite.settle_call(Web3.keccak(text="o11"), buyer, 0, 0)
        assert revert_reason(fn, suite.relayer) == "EmptySettlement"

    def test_the_attestation_must_be_the_attestors_for_these_terms_and_unexpired(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        order = Web3.keccak(text="o12")
        inst = suite.instrument.address
        forged = suite.attest_payment(order, buyer.address, CENT, inst, 1, signer=buyer)
        fn = suite.settle_call(order, buyer, 1, CENT, attested=forged)
        assert revert_reason(fn, suite.relayer) == "InvalidAttestation"
        # Attested for 1 unit at 1 cent; the call asks for 5 units at 1 cent.
        payment, signature = suite.attest_payment(order, buyer.address, CENT, inst, 1)
        fn = suite.settle_call(order, buyer, 5, CENT, attested=((*payment[:5], 5, payment[6]), signature))
        assert revert_reason(fn, suite.relayer) == "InvalidAttestation"
        expired = suite.attest_payment(order, buyer.address, CENT, inst, 1, deadline=past(suite))
        fn = suite.settle_call(order, buyer, 1, CENT, attested=expired)
        assert revert_reason(fn, suite.relayer) == "AttestationExpired"

    def test_unregistered_instruments_are_refused_and_each_issuer_is_paid(self, suite: Suite) -> None:
        buyer = suite.investor(EU_ACC)
        unlisted = suite.new_instrument(mask(EU_ACC), 100, "UNL", register=False)
        fn = suite.settle_call(Web3.keccak(text="o13"), buyer, 1, CENT, instrument=unlisted.address)
        assert revert_reason(fn, suite.relayer) == "UnregisteredInstrument"
        assert suite.instruments.functions.issuerOf(suite.instrument.address).call() == suite.issuer


class TestMintWithPermit:
    """`Stablecoin.mintWithPermit`: the purchase's mint and payment in one call keep every rule of
    `mint(buyer)` followed by `transferWithPermit(buyer, payee)`."""

    @pytest.fixture
    def minter(self, suite: Suite) -> str:
        send(suite.stablecoin.functions.setAllowListed(suite.minter, True), suite.admin)  # as Settlement is
        return suite.minter

    def call(self, suite: Suite, buyer: Any, value: int, permit: tuple[int, int, bytes, bytes] | None = None) -> Any:
        deadline, v, r, s = permit or suite.permit(buyer, suite.minter, value)
        return suite.stablecoin.functions.mintWithPermit(buyer.address, suite.issuer, value, deadline, v, r, s)

    def test_minted_to_the_buyer_and_paid_on_to_the_payee(self, suite: Suite, minter: str) -> None:
        buyer = suite.investor(EU_ACC)
        coin = suite.stablecoin.functions
        supply, payee = coin.totalSupply().call(), coin.balanceOf(suite.issuer).call()
        receipt = send(self.call(suite, buyer, 7 * CENT), minter)
        moves = [
            (e["args"]["from"], e["args"]["to"], e["args"]["value"])
            for e in suite.stablecoin.events.Transfer().process_receipt(receipt, errors=DISCARD)
        ]
        assert moves == [("0x" + "00" * 20, buyer.address, 7 * CENT), (buyer.address, suite.issuer, 7 * CENT)]
        assert coin.totalSupply().call() == supply + 7 * CENT
        assert coin.balanceOf(suite.issuer).call() == payee + 7 * CENT
        assert coin.balanceOf(buyer.address).call() == 0
        assert coin.nonces(buyer.address).call() == 1  # the buyer's permit was used

    def test_only_a_minter_and_only_on_the_buyers_own_permit(self, suite: Suite, minter: str) -> None:
        buyer, other = suite.investor(EU_ACC), suite.investor(EU_ACC)
        assert revert_reason(self.call(suite, buyer, CENT), suite.relayer) == "AccessControlUnauthorizedAccount"
        # Signed by another wallet, or for another value: not the buyer's permit for this payment.
        deadline, v, r, s = suite.permit(other, suite.minter, CENT)
        assert revert_reason(self.call(suite, buyer, CENT, (deadline, v, r, s)), minter) == "ERC2612InvalidSigner"
        assert revert_reason(self.call(suite, buyer, 2 * CENT, suite.permit(buyer, minter, CENT)), minter) == (
            "ERC2612InvalidSigner"
        )
        # A leftover allowance never stands in for the permit.
        send(suite.stablecoin.functions.approve(minter, 10 * CENT), buyer)
        bogus = (int(time.time()) + 3600, 27, b"\x01" * 32, b"\x02" * 32)
        assert revert_reason(self.call(suite, buyer, CENT, bogus), minter) == "ERC2612InvalidSigner"

    @pytest.mark.parametrize("state", ["unclassified", "sanctioned", "frozen in the registry", "frozen in the coin"])
    def test_the_buyer_is_screened(self, suite: Suite, minter: str, state: str) -> None:
        buyer = suite.investor(None if state == "unclassified" else SANCTIONED if state == "sanctioned" else EU_ACC)
        if state == "frozen in the registry":
            send(suite.registry.functions.setFrozen(buyer.address, True), suite.registrar)
        if state == "frozen in the coin":
            send(suite.stablecoin.functions.setFrozen(buyer.address, True), suite.registrar)
        supply = suite.stablecoin.functions.totalSupply().call()
        expected = {"unclassified": "UnclassifiedWallet", "sanctioned": "SanctionedWallet"}.get(state, "WalletFrozen")
        assert revert_reason(self.call(suite, buyer, CENT), minter) == expected  # a valid permit of the buyer's
        assert suite.stablecoin.functions.totalSupply().call() == supply


# ================================================================ Distribution


class TestDistribution:
    def test_pays_holders_and_retires_units_pro_rata(self, suite: Suite) -> None:
        a, b = holder(suite, EU_ACC, 300), holder(suite, US_ACC, 100)
        supply = suite.instrument.functions.totalSupply().call()
        batch = Web3.keccak(text="round-1#0")
        fn = suite.pay_call(batch, [a.address, b.address], [300 * CENT, 100 * CENT], [30, 10])
        receipt = send(fn, suite.relayer)
        event = suite.distribution.events.BatchPaid().process_receipt(receipt, errors=DISCARD)[0]["args"]
        assert (event["holders"], event["amount"], event["unitsRetired"]) == (2, 400 * CENT, 40)
        assert suite.stablecoin.functions.balanceOf(a.address).call() == 300 * CENT
        assert suite.instrument.functions.balanceOf(a.address).call() == 270
        assert suite.instrument.functions.balanceOf(b.address).call() == 90
        assert suite.instrument.functions.totalSupply().call() == supply - 40
        again = suite.pay_call(batch, [a.address], [1], total=10**12)
        assert revert_reason(again, suite.relayer) == "BatchAlreadyDone"

    def test_a_frozen_holder_blocks_the_whole_batch(self, suite: Suite) -> None:
        a, b = holder(suite, EU_ACC), holder(suite, EU_ACC)
        send(suite.registry.functions.setFrozen(b.address, True), suite.registrar)
        fn = suite.pay_call(Web3.keccak(text="round-2#0"), [a.address, b.address], [CENT, CENT])
        assert revert_reason(fn, suite.relayer) == "WalletFrozen"

    def test_batch_size_cap_and_role(self, suite: Suite) -> None:
        cap = suite.distribution.functions.maxBatch().call()
        too_many = [suite.admin] * (cap + 1)
        fn = suite.pay_call(Web3.keccak(text="r3"), too_many, [1] * (cap + 1))
        assert revert_reason(fn, suite.relayer) == "InvalidBatchSize"
        fn = suite.pay_call(Web3.keccak(text="r4"), [], [])
        assert revert_reason(fn, suite.relayer) == "InvalidBatchSize"
        a = holder(suite, EU_ACC)
        fn = suite.pay_call(Web3.keccak(text="r5"), [a.address], [1])
        assert revert_reason(fn, a) == "AccessControlUnauthorizedAccount"
        fn = suite.pay_call(Web3.keccak(text="r6"), [a.address], [1, 2])
        assert revert_reason(fn, suite.relayer) == "LengthMismatch"

    def test_batches_of_one_period_never_pay_more_than_the_attested_total(self, suite: Suite) -> None:
        a, b = holder(suite, EU_ACC), holder(suite, EU_ACC)
        period = Web3.keccak(text="2026-11")
        send(suite.pay_call(Web3.keccak(text="p#0"), [a.address], [60], total=100, period=period), suite.relayer)
        fn = suite.pay_call(Web3.keccak(text="p#1"), [b.address], [41], total=100, period=period)
        assert revert_reason(fn, suite.relayer) == "RepaymentExceeded"
        send(suite.pay_call(Web3.keccak(text="p#2"), [b.address], [40], total=100, period=period), suite.relayer)
        assert suite.distribution.functions.paidOf(suite.instrument.address, period).call() == 100

    def test_only_holders_of_a_registered_instrument_with_a_treasury_attestation_are_paid(self, suite: Suite) -> None:
        a, outsider = holder(suite, EU_ACC), suite.investor(EU_ACC)
        fn = suite.pay_call(Web3.keccak(text="h#0"), [a.address, outsider.address], [1, 1])
        assert revert_reason(fn, suite.relayer) == "NotAHolder"
        forged = suite.attest_repayment(suite.instrument.address, Web3.keccak(text="h#1"), 1, signer=outsider)
        fn = suite.pay_call(Web3.keccak(text="h#1"), [a.address], [1], attested=forged)
        assert revert_reason(fn, suite.relayer) == "InvalidAttestation"
        unlisted = suite.new_instrument(mask(EU_ACC), 100, "UNL", register=False)
        fn = suite.pay_call(Web3.keccak(text="h#2"), [a.address], [1], instrument=unlisted.address)
        assert revert_reason(fn, suite.relayer) == "UnregisteredInstrument"

    def test_a_registered_instrument_without_code_pays_nobody(self, suite: Suite) -> None:
        """The holder check is the instrument's answer: an instrument address that answers nothing
        (its code gone) must not let a batch through unchecked."""
        a = holder(suite, EU_ACC)
        gone = suite.new_instrument(mask(EU_ACC), 100, "GONE")
        suite.node.rpc("anvil_setCode", gone.address, "0x")
        fn = suite.pay_call(Web3.keccak(text="gone#0"), [a.address], [1], instrument=gone.address)
        with pytest.raises(ContractLogicError):
            fn.estimate_gas({"from": suite.relayer})


def test_baseline_contracts_are_not_part_of_the_suite(suite: Suite) -> None:
    with pytest.raises(FileNotFoundError):
        deploy(suite.w3, suite.admin, "BaselineERC20")
    assert role_id("MINTER_ROLE") == suite.stablecoin.functions.MINTER_ROLE().call()
