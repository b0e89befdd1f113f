// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IComplianceRegistry} from "./Compliance.sol";
import {FinancialInstrument} from "./FinancialInstrument.sol";

/// @title MigratedInstrument — a new version of a FinancialInstrument that takes over its holders
/// @notice How an issuer fixes an instrument contract after issue (there is no proxy: a proxy would
///         add a delegatecall to every transfer). `drexfy contracts migrate` pauses the old
///         instrument, snapshots it at the pause block and deploys this contract with the same
///         name, symbol, issuer, eligible classes and total supply: all units go to the issuer,
///         as for any instrument. While the import is open (from deployment until {closeImport})
///         the contract is paused and the admin alone places the snapshot with {importHoldings}:
///         each holder's units (taken from the issuer's inventory, so the supply never changes),
///         its per-instrument freeze and its frozen units, without the transfer rules (the state
///         was legal on the old contract, and a frozen or since-reclassified holder must keep what
///         it held). Each holder is imported at most once ({imported}); a repeated batch changes
///         nothing. {closeImport} ends the import for good and unpauses; from then on the
///         contract behaves exactly as a FinancialInstrument.
contract MigratedInstrument is FinancialInstrument {
    /// @notice The instrument this one replaces.
    address public immutable predecessor;
    /// @notice Whether `holder`'s snapshot was placed.
    mapping(address holder => bool) public imported;
    /// @notice Whether {closeImport} was called.
    bool public importClosed;

    /// @notice `holder`'s snapshot was placed: `value` units, `frozenUnits` of them frozen.
    event HoldingImported(address indexed holder, uint256 value, uint256 frozenUnits, bool frozen);
    /// @notice The import ended; the instrument moves by the ordinary rules from now on.
    event ImportClosed(address indexed predecessor, uint256 issuerUnits);

    /// @notice The import was closed.
    error ImportIsClosed();
    /// @notice The per-holder arrays differ in length.
    error ImportLengthMismatch(uint256 holders, uint256 values, uint256 frozenUnits, uint256 frozen);

    /// @param predecessor_ the old instrument (recorded, not called).
    constructor(
        string memory name_,
        string memory symbol_,
        IComplianceRegistry registry_,
        address issuer_,
        uint256 eligibleMask_,
        uint256 totalUnits,
        address admin,
        address agent,
        address settlement,
        address distribution,
        address predecessor_
    )
        FinancialInstrument(
            name_, symbol_, registry_, issuer_, eligibleMask_, totalUnits, admin, agent, settlement, distribution
        )
    {
        if (predecessor_ == address(0)) revert ZeroAccount();
        predecessor = predecessor_;
        _pause(); // nothing moves before the snapshot is in place
    }

    /// @notice Place the snapshot of `holders[i]`: `values[i]` units from the issuer's inventory,
    ///         `frozenUnits[i]` of them frozen, and the per-instrument freeze `frozen[i]`. A holder
    ///         already imported is skipped. The issuer may be listed (value 0) for its own freezes.
    function importHoldings(
        address[] calldata holders,
        uint256[] calldata values,
        uint256[] calldata frozenUnits,
        bool[] calldata frozen
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (importClosed) revert ImportIsClosed();
        uint256 n = holders.length;
        if (values.length != n || frozenUnits.length != n || frozen.length != n) {
            revert ImportLengthMismatch(n, values.length, frozenUnits.length, frozen.length);
        }
        for (uint256 i; i < n; ++i) {
            address holder = holders[i];
            if (holder == address(0)) revert ZeroAccount();
            if (imported[holder]) continue;
            imported[holder] = true;
            if (holder != issuer && values[i] != 0) _update(issuer, holder, values[i], false);
            uint256 pinned = frozenUnits[i];
            if (pinned != 0) {
                if (pinned > _wordOf(holder) & BALANCE_MASK) revert InvalidFreezeAmount(holder, pinned);
                _frozenUnits[holder] = pinned;
                _setFlag(holder, PARTIAL_FLAG, true);
                emit TokensFrozen(holder, pinned);
            }
            if (frozen[i]) {
                _setFlag(holder, FROZEN_FLAG, true);
                emit AccountFrozen(holder, true, msg.sender);
            }
            emit HoldingImported(holder, values[i], pinned, frozen[i]);
        }
    }

    /// @notice End the import and unpause: the issuer keeps what was not placed (its inventory).
    function closeImport() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (importClosed) revert ImportIsClosed();
        importClosed = true;
        _unpause();
        emit ImportClosed(predecessor, _wordOf(issuer) & BALANCE_MASK);
    }
}
