// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {DelayedAdmin} from "./DelayedAdmin.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Stablecoin} from "./Stablecoin.sol";
import {FinancialInstrument} from "./FinancialInstrument.sol";
import {InstrumentRegistry} from "./InstrumentRegistry.sol";

/// @title Settlement — atomic delivery versus payment for paid orders
/// @notice One {settle} call carries the three legs of a purchase, or none of them:
///         1. stablecoin for the fiat received is minted 1:1 to the buyer ({PaymentMinted}), only
///            against an EIP-712 {Payment} attestation signed by a holder of
///            {PAYMENTS_ATTESTOR_ROLE} for exactly this order (order id, nonce, buyer, amount,
///            instrument, units, deadline); the attestation's nonce is usable once (a bit in a shared
///            bitmap word, as Permit2's unordered nonces), and the platform gives each order exactly
///            one nonce, so an order settles once;
///         2. the buyer's coins move to the instrument's issuer on the buyer's ERC-2612 permit,
///            signed with the buyer's custodial key ({PaymentCollected}); a leftover allowance is
///            never used in its place. Legs 1 and 2 are one stablecoin call
///            ({Stablecoin-mintWithPermit}): the events show the mint to the buyer and the buyer's
///            payment, and the buyer's balance, unchanged in the end, is not written;
///         3. the instrument's units move from the issuer's inventory to the buyer ({UnitsDelivered}).
///         The instrument must be registered in the {InstrumentRegistry}; its issuer is read there.
///         The platform's relayer submits the transaction and pays its gas (gas sponsorship): the
///         buyer's wallet never holds the native coin. The relayer alone can settle nothing: it
///         needs the attestor's signature and the buyer's permit.
/// @dev Why not Moonbeam's Call Permit (0x...080a) and Batch (0x...0808) precompiles: a contract
///      gives the same atomicity (any failing leg reverts all three) on every EVM chain, and runs
///      unchanged on anvil and the in-process EVM the tests and the demo use, where those precompiles
///      do not exist. Call Permit would dispatch one call as the buyer; the payment still needs the
///      mint and the delivery around it, which Batch would execute as the relayer, not the buyer,
///      so the buyer's authorisation would still have to be a token-level permit. ERC-2612 gives
///      that authorisation in a portable, audited form and keeps the once-only guard on chain.
contract Settlement is DelayedAdmin, EIP712 {
    /// @notice May submit settlements (the platform relayer).
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    /// @notice Signs {Payment} attestations of fiat received (the payments attestor's key).
    bytes32 public constant PAYMENTS_ATTESTOR_ROLE = keccak256("PAYMENTS_ATTESTOR_ROLE");

    bytes32 private constant PAYMENT_TYPEHASH = keccak256(
        "Payment(bytes32 orderId,uint256 nonce,address buyer,uint256 amount,address instrument,uint256 units,uint256 deadline)"
    );

    /// @notice The fiat receipt of one order, as the payments attestor signs it (EIP-712).
    struct Payment {
        bytes32 orderId;
        /// @dev The order's one settlement nonce (allocated once per order by the platform): bit
        ///      `nonce & 255` of bitmap word `nonce >> 8`. Sequential nonces share a word, so marking
        ///      one used writes a word already non-zero (~5,000 gas) instead of a fresh slot (22,100).
        uint256 nonce;
        address buyer;
        uint256 amount;
        address instrument;
        uint256 units;
        uint256 deadline;
    }

    /// @notice The settlement token.
    Stablecoin public immutable stablecoin;
    /// @notice The instruments this contract may deliver (and whose issuers it pays).
    InstrumentRegistry public immutable instruments;

    mapping(uint256 word => uint256 bits) private _usedNonces;

    /// @notice Leg 1: `amount` was minted to `buyer` for the fiat received.
    event PaymentMinted(bytes32 indexed orderId, address indexed buyer, uint256 amount);
    /// @notice Leg 2: `amount` moved from `buyer` to `issuer` on the buyer's permit.
    event PaymentCollected(bytes32 indexed orderId, address indexed buyer, address indexed issuer, uint256 amount);
    /// @notice Leg 3: `units` of `instrument` moved to `buyer`.
    event UnitsDelivered(bytes32 indexed orderId, address indexed instrument, address indexed buyer, uint256 units);

    /// @notice The attestation's nonce was used before (this order settled, or the nonce is another's).
    error NonceAlreadyUsed(bytes32 orderId, uint256 nonce);
    /// @notice Zero units or zero amount.
    error EmptySettlement(bytes32 orderId);
    /// @notice The attestation was not signed by a payments attestor (or signs other terms).
    error InvalidAttestation(address signer);
    /// @notice The attestation's deadline has passed.
    error AttestationExpired(uint256 deadline);

    constructor(Stablecoin stablecoin_, InstrumentRegistry instruments_, address admin, address relayer, address attestor)
        DelayedAdmin(admin)
        EIP712("Drexfy Settlement", "1")
    {
        stablecoin = stablecoin_;
        instruments = instruments_;
        _grantRole(RELAYER_ROLE, relayer);
        _grantRole(PAYMENTS_ATTESTOR_ROLE, attestor);
    }

    /// @notice Whether the settlement nonce `nonce` has been used (its order settled).
    function isNonceUsed(uint256 nonce) external view returns (bool) {
        return _usedNonces[nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @notice Bitmap word `word` of used nonces (bit i: nonce `word * 256 + i`).
    function nonceBitmap(uint256 word) external view returns (uint256) {
        return _usedNonces[word];
    }

    /// @notice The EIP-712 digest the payments attestor signs for `payment`.
    function paymentDigest(Payment calldata payment) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PAYMENT_TYPEHASH, payment)));
    }

    /// @notice Settle a paid order atomically. `attestation` is the payments attestor's signature
    ///         of `payment`; (`permitDeadline`, `v`, `r`, `s`) the buyer's ERC-2612 permit for this
    ///         contract over exactly `payment.amount`.
    function settle(
        Payment calldata payment,
        bytes calldata attestation,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external onlyRole(RELAYER_ROLE) {
        address issuer = _admit(payment, attestation, paymentDigest(payment));
        bytes32 orderId = payment.orderId;
        address buyer = payment.buyer;
        uint256 amount = payment.amount;
        // Legs 1 and 2 in one call: minted to the buyer, paid on to the issuer on the buyer's permit.
        stablecoin.mintWithPermit(buyer, issuer, amount, permitDeadline, v, r, s);
        emit PaymentMinted(orderId, buyer, amount);
        emit PaymentCollected(orderId, buyer, issuer, amount);

        _deliver(payment);
    }

    /// @dev The checks before any leg: the nonce is unused and the order not empty, the attestation
    ///      (`digest`: of {Payment} or of {BalancePayment}) valid and signed by a payments attestor,
    ///      the instrument registered. Marks the nonce used and returns the instrument's issuer.
    function _admit(Payment calldata payment, bytes calldata attestation, bytes32 digest)
        private
        returns (address issuer)
    {
        bytes32 orderId = payment.orderId;
        uint256 nonce = payment.nonce;
        uint256 bit = 1 << (nonce & 0xff);
        uint256 bits = _usedNonces[nonce >> 8];
        if (bits & bit != 0) revert NonceAlreadyUsed(orderId, nonce);
        if (payment.units == 0 || payment.amount == 0) revert EmptySettlement(orderId);
        if (block.timestamp > payment.deadline) revert AttestationExpired(payment.deadline);
        address signer = ECDSA.recover(digest, attestation);
        if (!hasRole(PAYMENTS_ATTESTOR_ROLE, signer)) revert InvalidAttestation(signer);
        issuer = instruments.issuerOf(payment.instrument);
        _usedNonces[nonce >> 8] = bits | bit;
    }

    function _deliver(Payment calldata payment) private {
        FinancialInstrument(payment.instrument).deliver(payment.buyer, payment.units);
        emit UnitsDelivered(payment.orderId, payment.instrument, payment.buyer, payment.units);
    }

    // ------------------------------------------------------------------------------------------
    // Bank deposits and orders paid from the stablecoin balance (added for bank transfers)
    // ------------------------------------------------------------------------------------------

    bytes32 private constant DEPOSIT_TYPEHASH =
        keccak256("Deposit(bytes32 depositId,address investor,uint256 amount,uint256 deadline)");
    bytes32 private constant BALANCE_PAYMENT_TYPEHASH = keccak256(
        "BalancePayment(bytes32 orderId,uint256 nonce,address buyer,uint256 amount,address instrument,uint256 units,uint256 deadline)"
    );

    /// @notice Fiat received on the platform's bank account for `investor` (a bank transfer, or a
    ///         payout the bank returned), as the payments attestor signs it (EIP-712). `depositId`
    ///         identifies the bank entry: it mints once.
    struct Deposit {
        bytes32 depositId;
        address investor;
        uint256 amount;
        uint256 deadline;
    }

    mapping(bytes32 depositId => bool) private _deposited;

    /// @notice `amount` was minted to `investor` for the bank credit `depositId`.
    event DepositMinted(bytes32 indexed depositId, address indexed investor, uint256 amount);

    /// @notice The deposit was minted before.
    error DepositAlreadyMinted(bytes32 depositId);
    /// @notice A deposit of zero.
    error EmptyDeposit(bytes32 depositId);

    /// @notice Whether the bank credit `depositId` has been minted.
    function isDeposited(bytes32 depositId) external view returns (bool) {
        return _deposited[depositId];
    }

    /// @notice The EIP-712 digest the payments attestor signs for `deposit`.
    function depositDigest(Deposit calldata deposit) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(DEPOSIT_TYPEHASH, deposit)));
    }

    /// @notice The EIP-712 digest the payments attestor signs for an order paid from the buyer's
    ///         balance: a `BalancePayment` with the fields of {Payment}. A distinct type, so such
    ///         an attestation can never mint through {settle}.
    function balancePaymentDigest(Payment calldata payment) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(BALANCE_PAYMENT_TYPEHASH, payment)));
    }

    /// @notice Mint a bank deposit 1:1 to the investor, against the payments attestor's signature
    ///         of exactly this deposit; each `depositId` mints once. The stablecoin screens the
    ///         receiver (classified, not frozen).
    function mintDeposit(Deposit calldata deposit, bytes calldata attestation) external onlyRole(RELAYER_ROLE) {
        bytes32 depositId = deposit.depositId;
        if (_deposited[depositId]) revert DepositAlreadyMinted(depositId);
        if (deposit.amount == 0) revert EmptyDeposit(depositId);
        if (block.timestamp > deposit.deadline) revert AttestationExpired(deposit.deadline);
        address signer = ECDSA.recover(depositDigest(deposit), attestation);
        if (!hasRole(PAYMENTS_ATTESTOR_ROLE, signer)) revert InvalidAttestation(signer);
        _deposited[depositId] = true;
        stablecoin.mint(deposit.investor, deposit.amount);
        emit DepositMinted(depositId, deposit.investor, deposit.amount);
    }

    /// @notice Settle an order paid from the buyer's stablecoin balance: legs 2 and 3 of {settle},
    ///         no mint. `attestation` is the payments attestor's `BalancePayment` signature of the
    ///         order's terms (so the relayer cannot change the price of the units); the permit is
    ///         the buyer's, over exactly `payment.amount`. The nonce (the order's one nonce) is used
    ///         once, whichever way the order settles.
    function settleFromBalance(
        Payment calldata payment,
        bytes calldata attestation,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external onlyRole(RELAYER_ROLE) {
        address issuer = _admit(payment, attestation, balancePaymentDigest(payment));
        stablecoin.transferWithPermit(payment.buyer, issuer, payment.amount, permitDeadline, v, r, s);
        emit PaymentCollected(payment.orderId, payment.buyer, issuer, payment.amount);

        _deliver(payment);
    }
}
