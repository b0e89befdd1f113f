// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Stablecoin} from "./Stablecoin.sol";
import {FinancialInstrument} from "./FinancialInstrument.sol";

/// @title Distribution — repayments to many holders in capped batches
/// @notice A repayment round is paid in batches of at most {maxBatch} holders, each under its own
///         batch id, which pays at most once. A batch mints each holder's share of the repayment
///         (stablecoin issued 1:1 against the fiat the SME borrowers paid the issuer) and retires the
///         principal part of their units. At maturity {redeem} burns every unit of the holders.
///         A frozen or sanctioned holder makes the whole batch revert: shares are never paid into a
///         frozen wallet; the platform holds them back off chain and pays them after unblocking.
contract Distribution is AccessControl {
    /// @notice May pay and redeem batches (the platform relayer).
    bytes32 public constant DISTRIBUTOR_ROLE = keccak256("DISTRIBUTOR_ROLE");

    /// @notice The settlement token.
    Stablecoin public immutable stablecoin;
    /// @notice Most holders in one batch (keeps a batch well inside a block's gas limit).
    uint256 public immutable maxBatch;

    mapping(bytes32 batchId => bool) private _done;

    /// @notice A batch of a repayment was paid: `holders` holders, `amount` in total, `unitsRetired` burned.
    event BatchPaid(
        bytes32 indexed batchId, address indexed instrument, uint256 holders, uint256 amount, uint256 unitsRetired
    );
    /// @notice A batch of holders was redeemed at maturity.
    event BatchRedeemed(bytes32 indexed batchId, address indexed instrument, uint256 holders, uint256 unitsRedeemed);

    /// @notice The batch id was used before.
    error BatchAlreadyDone(bytes32 batchId);
    /// @notice The batch is empty or larger than {maxBatch}.
    error InvalidBatchSize(uint256 size, uint256 maxBatch);
    /// @notice Arrays of a batch differ in length.
    error LengthMismatch(uint256 holders, uint256 other);

    constructor(Stablecoin stablecoin_, uint256 maxBatch_, address admin, address distributor) {
        stablecoin = stablecoin_;
        maxBatch = maxBatch_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(DISTRIBUTOR_ROLE, distributor);
    }

    /// @notice Whether `batchId` was paid or redeemed.
    function isDone(bytes32 batchId) external view returns (bool) {
        return _done[batchId];
    }

    /// @notice Pay `amounts[i]` to `holders[i]` and retire `unitsToRetire[i]` of their units
    ///         (`unitsToRetire` may be empty when the round repays no principal).
    function pay(
        bytes32 batchId,
        FinancialInstrument instrument,
        address[] calldata holders,
        uint256[] calldata amounts,
        uint256[] calldata unitsToRetire
    ) external onlyRole(DISTRIBUTOR_ROLE) {
        uint256 n = holders.length;
        _claim(batchId, n);
        if (amounts.length != n) revert LengthMismatch(n, amounts.length);
        uint256 total;
        for (uint256 i; i < n; ) {
            total += amounts[i];
            unchecked {
                ++i;
            }
        }
        stablecoin.mintBatch(holders, amounts);
        uint256 retired;
        if (unitsToRetire.length != 0) {
            if (unitsToRetire.length != n) revert LengthMismatch(n, unitsToRetire.length);
            retired = instrument.retireBatch(holders, unitsToRetire);
        }
        emit BatchPaid(batchId, address(instrument), n, total, retired);
    }

    /// @notice Burn every unit of `holders` at maturity.
    function redeem(bytes32 batchId, FinancialInstrument instrument, address[] calldata holders)
        external
        onlyRole(DISTRIBUTOR_ROLE)
    {
        _claim(batchId, holders.length);
        uint256 redeemed = instrument.redeemBatch(holders);
        emit BatchRedeemed(batchId, address(instrument), holders.length, redeemed);
    }

    function _claim(bytes32 batchId, uint256 n) private {
        if (n == 0 || n > maxBatch) revert InvalidBatchSize(n, maxBatch);
        if (_done[batchId]) revert BatchAlreadyDone(batchId);
        _done[batchId] = true;
    }
}
