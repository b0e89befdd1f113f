"""NFToken transactions of the ledger double: mint, burn, sell offers with a destination, accept,
cancel. Each handler cites the xrpl.org page it follows; reserves as rippled's NFTokenUtils.cpp
(one NFTokenPage per up to 32 tokens, modelled as ceil(n / 32) pages) and NFTokenCreateOffer.cpp
(one owned object per offer)."""

from __future__ import annotations

from typing import Any

from tests.support.xrpl_double.engine import (
    TF_SELL_NFTOKEN,
    TF_TRANSFERABLE,
    Engine,
    NFTOffer,
    NFToken,
    Result,
    account_id,
    handler,
    sha512half,
)

# ================================================================================================
# NFTs — https://xrpl.org/docs/concepts/tokens/nfts and the NFToken* transaction pages
# ================================================================================================


def _nft_id(flags: int, fee: int, issuer: str, taxon: int, serial: int) -> str:
    """NFTokenID layout and taxon scrambling (https://xrpl.org/docs/references/protocol/
    data-types/nftoken)."""
    scrambled = taxon ^ ((384160001 * serial + 2459) % 2**32)
    raw = (
        flags.to_bytes(2, "big")
        + fee.to_bytes(2, "big")
        + account_id(issuer)
        + scrambled.to_bytes(4, "big")
        + serial.to_bytes(4, "big")
    )
    return raw.hex().upper()


def _gain_nft(engine: Engine, account: str, prior_balance: int) -> None:
    """Adding an NFT may need a new NFTokenPage, one owner reserve per 32 NFTs."""
    count = len(engine.open.nfts_of(account))
    if engine.nft_pages(account, count + 1) > engine.nft_pages(account, count):
        engine.require_reserve(engine.open.accounts[account], prior_balance)
        engine.adjust_owner(account, +1)


def _lose_nft(engine: Engine, account: str) -> None:
    count = len(engine.open.nfts_of(account))  # after removal
    if engine.nft_pages(account, count) < engine.nft_pages(account, count + 1):
        engine.adjust_owner(account, -1)


@handler("NFTokenMint")
def nftoken_mint(engine: Engine, tx: dict[str, Any], prior_balance: int) -> dict[str, Any]:
    flags = int(tx.get("Flags", 0)) & 0xFFFF
    if "NFTokenTaxon" not in tx:
        raise Result("temMALFORMED", "NFTokenTaxon is required")
    fee = int(tx.get("TransferFee", 0))
    if fee and not flags & TF_TRANSFERABLE:
        raise Result("temMALFORMED", "TransferFee needs tfTransferable")
    if fee > 50_000:
        raise Result("temBAD_NFTOKEN_TRANSFER_FEE")
    uri = tx.get("URI")
    if uri is not None and not 1 <= len(uri) // 2 <= 256:
        raise Result("temMALFORMED", "URI must be 1 to 256 bytes")
    root = engine.open.accounts[tx["Account"]]
    serial = root.minted_nftokens
    nft = NFToken(
        id=_nft_id(flags, fee, root.account, int(tx["NFTokenTaxon"]), serial),
        owner=root.account,
        issuer=root.account,
        flags=flags,
        taxon=int(tx["NFTokenTaxon"]),
        serial=serial,
        uri=uri,
    )
    _gain_nft(engine, root.account, prior_balance)
    engine.open.nfts[nft.id] = nft
    root.minted_nftokens += 1
    return {"nftoken_id": nft.id}


def _drop_offers_for(engine: Engine, nft_id: str) -> None:
    for index, offer in list(engine.open.nft_offers.items()):
        if offer.nftoken_id == nft_id:
            del engine.open.nft_offers[index]
            engine.adjust_owner(offer.owner, -1)


@handler("NFTokenBurn")
def nftoken_burn(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    """The owner burns, or the issuer if the NFT was minted with tfBurnable
    (https://xrpl.org/docs/references/protocol/transactions/types/nftokenburn)."""
    account = tx["Account"]
    owner = tx.get("Owner", account)
    nft = engine.open.nfts.get(tx.get("NFTokenID", ""))
    if nft is None or nft.owner != owner:
        raise Result("tecNO_ENTRY", "no such NFToken held by that owner")
    if account != owner and not (account == nft.issuer and nft.flags & 0x0001):
        raise Result("tecNO_PERMISSION", "only the owner, or the issuer of a burnable NFToken, may burn it")
    del engine.open.nfts[nft.id]
    _lose_nft(engine, owner)
    engine.open.accounts[nft.issuer].burned_nftokens += 1
    _drop_offers_for(engine, nft.id)


def _transferable_between(nft: NFToken, a: str, b: str | None) -> bool:
    """A non-transferable NFToken may only move to or from its issuer."""
    return bool(nft.flags & TF_TRANSFERABLE) or nft.issuer in (a, b)


@handler("NFTokenCreateOffer")
def nftoken_create_offer(engine: Engine, tx: dict[str, Any], prior_balance: int) -> dict[str, Any]:
    """(https://xrpl.org/docs/references/protocol/transactions/types/nftokencreateoffer)."""
    account = tx["Account"]
    sell = bool(int(tx.get("Flags", 0)) & TF_SELL_NFTOKEN)
    amount = tx.get("Amount")
    if not isinstance(amount, str) or not amount.isdigit():
        raise Result("temBAD_AMOUNT", "the double supports XRP-priced NFT offers only")
    if not sell and int(amount) == 0:
        raise Result("temBAD_AMOUNT", "a buy offer needs a price")
    owner_field = tx.get("Owner")
    if sell and owner_field:
        raise Result("temMALFORMED", "a sell offer has no Owner")
    if not sell and (not owner_field or owner_field == account):
        raise Result("temMALFORMED", "a buy offer names another Owner")
    destination = tx.get("Destination")
    if destination == account:
        raise Result("temMALFORMED", "Destination may not be the offer's account")
    nft = engine.open.nfts.get(tx.get("NFTokenID", ""))
    holder = account if sell else owner_field
    if nft is None or nft.owner != holder:
        raise Result("tecNO_ENTRY", "no such NFToken held by the expected owner")
    counterparty = destination if sell else owner_field
    if not _transferable_between(nft, account, counterparty):
        raise Result("tefNFTOKEN_IS_NOT_TRANSFERABLE", "a non-transferable NFToken can only go to or from its issuer")
    if destination:
        engine.account(destination)
    root = engine.open.accounts[account]
    engine.require_reserve(root, prior_balance)
    index = sha512half(b"\x00q" + account_id(account) + int(tx["Sequence"]).to_bytes(4, "big")).hex().upper()
    engine.open.nft_offers[index] = NFTOffer(index, account, nft.id, amount, 1 if sell else 0, destination)
    engine.adjust_owner(account, +1)
    return {"offer_id": index}


@handler("NFTokenAcceptOffer")
def nftoken_accept_offer(engine: Engine, tx: dict[str, Any], prior_balance: int) -> dict[str, Any]:
    """Direct mode, sell offers only (https://xrpl.org/docs/references/protocol/transactions/
    types/nftokenacceptoffer)."""
    account = tx["Account"]
    if tx.get("NFTokenBuyOffer") or tx.get("NFTokenBrokerFee"):
        raise Result("temMALFORMED", "the double accepts sell offers only (no buy/brokered mode)")
    offer = engine.open.nft_offers.get(tx.get("NFTokenSellOffer", ""))
    if offer is None:
        raise Result("tecOBJECT_NOT_FOUND", "no such offer")
    if offer.owner == account:
        raise Result("tecCANT_ACCEPT_OWN_NFTOKEN_OFFER")
    if offer.destination and offer.destination != account:
        raise Result("tecNO_PERMISSION", "the offer is reserved for another account")
    nft = engine.open.nfts.get(offer.nftoken_id)
    if nft is None or nft.owner != offer.owner:
        raise Result("tecNO_ENTRY", "the seller no longer holds the NFToken")
    if not _transferable_between(nft, offer.owner, account):
        raise Result("tefNFTOKEN_IS_NOT_TRANSFERABLE")
    price = int(offer.amount)
    buyer = engine.open.accounts[account]
    if prior_balance - int(tx["Fee"]) - price < engine.fees.reserve(buyer.owner_count):
        raise Result("tecINSUFFICIENT_FUNDS", "the buyer cannot pay the price and keep its reserve")
    _gain_nft(engine, account, prior_balance)
    seller = engine.open.accounts[offer.owner]
    buyer.balance -= price
    seller.balance += price
    nft.owner = account
    _lose_nft(engine, offer.owner)
    _drop_offers_for(engine, nft.id)
    return {"nftoken_id": nft.id}


@handler("NFTokenCancelOffer")
def nftoken_cancel_offer(engine: Engine, tx: dict[str, Any], prior_balance: int) -> None:
    for index in tx.get("NFTokenOffers", []):
        offer = engine.open.nft_offers.get(index)
        if offer is None:
            continue
        if tx["Account"] not in (offer.owner, offer.destination):
            raise Result("tecNO_PERMISSION", "only the offer's owner or destination may cancel it")
        del engine.open.nft_offers[index]
        engine.adjust_owner(offer.owner, -1)
