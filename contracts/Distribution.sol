// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {DelayedAdmin} from "./DelayedAdmin.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Stablecoin} from "./Stablecoin.sol";
import {FinancialInstrument} from "./FinancialInstrument.sol";
import {InstrumentRegistry} from "./InstrumentRegistry.sol";

/// @title Distribution — treasury-attested repayments to many holders in capped batches
/// @notice A repayment round is paid in batches of at most {maxBatch} holders, each under its own
///         batch id, which pays at most once. Every batch carries the treasury's EIP-712
///         {Repayment} attestation (instrument, period, total): the funding the SME borrowers paid
///         the issuer for that period. All batches of one period together never pay more than
///         the attested total. A batch mints each holder's share (stablecoin issued 1:1 against that
///         funding) and retires the principal part of their units; every payee must hold units of
///         the instrument, which must be registered.
///         A frozen or sanctioned holder makes the whole batch revert: shares are never paid into a
///         frozen wallet; the platform holds them back off chain and pays them after unblocking.
///         The relayer alone can pay nothing: it needs the treasury's signature.
contract Distribution is DelayedAdmin, EIP712 {
    /// @notice May submit batches (the platform relayer).
    bytes32 public constant DISTRIBUTOR_ROLE = keccak256("DISTRIBUTOR_ROLE");
    /// @notice Signs {Repayment} attestations (the treasury's key).
    bytes32 public constant TREASURY_ROLE = keccak256("TREASURY_ROLE");

    bytes32 private constant REPAYMENT_TYPEHASH = keccak256("Repayment(address instrument,bytes32 period,uint256 total)");

    /// @notice A repayment the treasury attests was funded: `total` for `period` of `instrument`.
    struct Repayment {
        address instrument;
        bytes32 period;
        uint256 total;
    }

    /// @notice The settlement token.
    Stablecoin public immutable stablecoin;
    /// @notice The instruments whose holders may be paid.
    InstrumentRegistry public immutable instruments;
    /// @notice Most holders in one batch (keeps a batch well inside a block's gas limit).
    uint256 public immutable maxBatch;

    mapping(bytes32 batchId => bool) private _done;
    mapping(address instrument => mapping(bytes32 period => uint256)) private _paid;

    /// @notice A batch of a repayment was paid: `holders` holders, `amount` in total, `unitsRetired` burned.
    event BatchPaid(
        bytes32 indexed batchId, address indexed instrument, uint256 holders, uint256 amount, uint256 unitsRetired
    );

    /// @notice The batch id was used before.
    error BatchAlreadyDone(bytes32 batchId);
    /// @notice The batch is empty or larger than {maxBatch}.
    error InvalidBatchSize(uint256 size, uint256 maxBatch);
    /// @notice Arrays of a batch differ in length.
    error LengthMismatch(uint256 holders, uint256 other);
    /// @notice The instrument is not registered in the {InstrumentRegistry}.
    error UnregisteredInstrument(address instrument);
    /// @notice The attestation was not signed by the treasury (or signs other terms).
    error InvalidAttestation(address signer);
    /// @notice Paying this batch would take the period's payments past the attested total.
    error RepaymentExceeded(address instrument, bytes32 period, uint256 total, uint256 paid);

    constructor(
        Stablecoin stablecoin_,
        InstrumentRegistry instruments_,
        uint256 maxBatch_,
        address admin,
        address distributor,
        address treasury
    ) DelayedAdmin(admin) EIP712("Drexfy Distribution", "1") {
        stablecoin = stablecoin_;
        instruments = instruments_;
        maxBatch = maxBatch_;
        _grantRole(DISTRIBUTOR_ROLE, distributor);
        _grantRole(TREASURY_ROLE, treasury);
    }

    /// @notice Whether `batchId` was paid.
    function isDone(bytes32 batchId) external view returns (bool) {
        return _done[batchId];
    }

    /// @notice The EIP-712 digest the treasury signs for `repayment`.
    function repaymentDigest(Repayment calldata repayment) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(REPAYMENT_TYPEHASH, repayment)));
    }

    /// @notice How much was paid so far for `period` of `instrument` (never more than the attested
    ///         total presented with the last batch: a smaller re-attested total caps what is left).
    function paidOf(address instrument, bytes32 period) external view returns (uint256) {
        return _paid[instrument][period];
    }

    /// @notice Pay `amounts[i]` to `holders[i]` and retire `unitsToRetire[i]` of their units
    ///         (`unitsToRetire` may be empty when the round repays no principal), out of the
    ///         treasury-attested `repayment`.
    function pay(
        bytes32 batchId,
        Repayment calldata repayment,
        bytes calldata attestation,
        address[] calldata holders,
        uint256[] calldata amounts,
        uint256[] calldata unitsToRetire
    ) external onlyRole(DISTRIBUTOR_ROLE) {
        uint256 n = holders.length;
        if (n == 0 || n > maxBatch) revert InvalidBatchSize(n, maxBatch);
        if (_done[batchId]) revert BatchAlreadyDone(batchId);
        if (amounts.length != n) revert LengthMismatch(n, amounts.length);
        if (unitsToRetire.length != 0 && unitsToRetire.length != n) revert LengthMismatch(n, unitsToRetire.length);
        _done[batchId] = true;
        uint256 total = _draw(repayment, attestation, amounts);

        address instrument = repayment.instrument;
        // Checks every payee holds units (and retires principal) before anything is minted.
        uint256 retired = _callWithArrays(
            instrument,
            FinancialInstrument.retireBatch.selector,
            _region(holders),
            _region(unitsToRetire),
            true
        );
        _callWithArrays(address(stablecoin), Stablecoin.mintBatch.selector, _region(holders), _region(amounts), false);
        emit BatchPaid(batchId, instrument, n, total, retired);
    }

    /// @dev A calldata array of 32-byte words as (offset of its first word, length).
    struct Region {
        uint256 offset;
        uint256 length;
    }

    /// @dev Where `a` sits in this call's calldata (solc checked on entry that it fits).
    function _region(address[] calldata a) private pure returns (Region memory r) {
        assembly ("memory-safe") {
            mstore(r, a.offset)
            mstore(add(r, 0x20), a.length)
        }
    }

    /// @dev Where `a` sits in this call's calldata.
    function _region(uint256[] calldata a) private pure returns (Region memory r) {
        assembly ("memory-safe") {
            mstore(r, a.offset)
            mstore(add(r, 0x20), a.length)
        }
    }

    /// @dev `target.f(a, b)` for `f(T[] calldata, U[] calldata)` with `selector`, both arrays of
    ///      32-byte words forwarded from this call's calldata with one calldatacopy each (the
    ///      ABI encoder re-encodes them element by element: ~300 gas per holder when measured,
    ///      docs/evm.md section 6). Bubbles a revert up. With `wantWord` the answer must be at
    ///      least one word (a target without code answers nothing and is refused) and its first
    ///      word is returned. The callee's ABI decoder validates every element.
    function _callWithArrays(address target, bytes4 selector, Region memory a, Region memory b, bool wantWord)
        private
        returns (uint256 word)
    {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), 0x40) // offset of a
            let aSize := shl(5, mload(add(a, 0x20)))
            mstore(add(ptr, 0x24), add(0x60, aSize)) // offset of b: after a's length and words
            mstore(add(ptr, 0x44), mload(add(a, 0x20)))
            calldatacopy(add(ptr, 0x64), mload(a), aSize)
            let end := add(add(ptr, 0x64), aSize) // b's length word
            let bSize := shl(5, mload(add(b, 0x20)))
            mstore(end, mload(add(b, 0x20)))
            calldatacopy(add(end, 0x20), mload(b), bSize)
            end := add(add(end, 0x20), bSize)
            if iszero(call(gas(), target, 0, ptr, sub(end, ptr), 0x00, 0x20)) {
                returndatacopy(ptr, 0x00, returndatasize())
                revert(ptr, returndatasize())
            }
            if wantWord {
                if lt(returndatasize(), 0x20) { revert(0x00, 0x00) }
                word := mload(0x00)
            }
        }
    }

    /// @dev Check the treasury's attestation and the instrument's registration, and book the
    ///      batch's total against the attested total. Returns the batch's total.
    function _draw(Repayment calldata repayment, bytes calldata attestation, uint256[] calldata amounts)
        private
        returns (uint256 total)
    {
        bytes32 digest = repaymentDigest(repayment);
        address signer = ECDSA.recover(digest, attestation);
        if (!hasRole(TREASURY_ROLE, signer)) revert InvalidAttestation(signer);
        if (!instruments.isRegistered(repayment.instrument)) revert UnregisteredInstrument(repayment.instrument);
        uint256 n = amounts.length;
        for (uint256 i; i < n; ) {
            total += amounts[i];
            unchecked {
                ++i;
            }
        }
        uint256 paid = _paid[repayment.instrument][repayment.period] + total;
        if (paid > repayment.total) revert RepaymentExceeded(repayment.instrument, repayment.period, repayment.total, paid);
        _paid[repayment.instrument][repayment.period] = paid;
    }
}
