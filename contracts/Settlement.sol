// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Stablecoin} from "./Stablecoin.sol";
import {FinancialInstrument} from "./FinancialInstrument.sol";

/// @title Settlement — atomic delivery versus payment for paid orders
/// @notice One {settle} call carries the three legs of a purchase, or none of them:
///         1. stablecoin for the fiat received is minted 1:1 to the buyer ({PaymentMinted});
///         2. the buyer's coins move to the issuer on the buyer's ERC-2612 permit, signed with the
///            buyer's custodial key ({PaymentCollected});
///         3. the instrument's units move from the issuer's inventory to the buyer ({UnitsDelivered}).
///         The platform's relayer submits the transaction and pays its gas (gas sponsorship): the
///         buyer's wallet never holds the native coin. An order id settles at most once.
/// @dev Why not Moonbeam's Call Permit (0x...080a) and Batch (0x...0808) precompiles: a contract
///      gives the same atomicity (any failing leg reverts all three) on every EVM chain, and runs
///      unchanged on anvil and the in-process EVM the tests and the demo use, where those precompiles
///      do not exist. Call Permit would dispatch one call as the buyer; the payment still needs the
///      mint and the delivery around it, which Batch would execute as the relayer, not the buyer,
///      so the buyer's authorisation would still have to be a token-level permit. ERC-2612 gives
///      that authorisation in a portable, audited form and keeps the order-id replay guard on chain.
contract Settlement is AccessControl {
    /// @notice May submit settlements (the platform relayer).
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");

    /// @notice The settlement token.
    Stablecoin public immutable stablecoin;
    /// @notice Receives every payment (the securitization company).
    address public immutable issuer;

    mapping(bytes32 orderId => bool) private _settled;

    /// @notice Leg 1: `amount` was minted to `buyer` for the fiat received.
    event PaymentMinted(bytes32 indexed orderId, address indexed buyer, uint256 amount);
    /// @notice Leg 2: `amount` moved from `buyer` to `issuer` on the buyer's permit.
    event PaymentCollected(bytes32 indexed orderId, address indexed buyer, address indexed issuer, uint256 amount);
    /// @notice Leg 3: `units` of `instrument` moved to `buyer`.
    event UnitsDelivered(bytes32 indexed orderId, address indexed instrument, address indexed buyer, uint256 units);

    /// @notice The order was settled before.
    error OrderAlreadySettled(bytes32 orderId);
    /// @notice Zero units or zero amount.
    error EmptySettlement(bytes32 orderId);

    constructor(Stablecoin stablecoin_, address issuer_, address admin, address relayer) {
        stablecoin = stablecoin_;
        issuer = issuer_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(RELAYER_ROLE, relayer);
    }

    /// @notice Whether `orderId` has settled.
    function isSettled(bytes32 orderId) external view returns (bool) {
        return _settled[orderId];
    }

    /// @notice Settle a paid order atomically. (`deadline`, `v`, `r`, `s`) is the buyer's ERC-2612
    ///         permit for this contract over exactly `amount`.
    function settle(
        bytes32 orderId,
        address buyer,
        FinancialInstrument instrument,
        uint256 units,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external onlyRole(RELAYER_ROLE) {
        if (_settled[orderId]) revert OrderAlreadySettled(orderId);
        if (units == 0 || amount == 0) revert EmptySettlement(orderId);
        _settled[orderId] = true;

        stablecoin.mint(buyer, amount);
        emit PaymentMinted(orderId, buyer, amount);

        // A permit submitted by someone else first must not block the order: accept it if the
        // allowance is in place anyway, otherwise surface the permit's own error.
        try stablecoin.permit(buyer, address(this), amount, deadline, v, r, s) {}
        catch (bytes memory reason) {
            if (stablecoin.allowance(buyer, address(this)) < amount) {
                assembly ("memory-safe") {
                    revert(add(reason, 32), mload(reason))
                }
            }
        }
        stablecoin.transferFrom(buyer, issuer, amount);
        emit PaymentCollected(orderId, buyer, issuer, amount);

        instrument.deliver(buyer, units);
        emit UnitsDelivered(orderId, address(instrument), buyer, units);
    }
}
