// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {DelayedAdmin} from "./DelayedAdmin.sol";
import {IComplianceRegistry} from "./Compliance.sol";

/// @notice What the registry reads from an instrument when the admin registers it.
interface IRegisteredInstrument {
    /// @notice The instrument's issuer (holds its inventory, receives its payments).
    function issuer() external view returns (address);

    /// @notice The classification registry the instrument screens its transfers with.
    function registry() external view returns (IComplianceRegistry);
}

/// @title InstrumentRegistry — the instruments Settlement and Distribution may touch
/// @notice Only the admin registers (and delists) instruments. Settlement delivers units of, and
///         Distribution pays holders of, registered instruments only, and Settlement pays each
///         instrument's own issuer as recorded here: a contract that merely poses as an instrument
///         (deployed by a stolen relayer key, say) is refused.
contract InstrumentRegistry is DelayedAdmin {
    /// @notice The classification registry every registered instrument must screen with.
    IComplianceRegistry public immutable classification;

    mapping(address instrument => address) private _issuer;

    /// @notice `instrument` was registered; its payments go to `issuer`.
    event InstrumentRegistered(address indexed instrument, address indexed issuer);
    /// @notice `instrument` was delisted: no more settlements or payments.
    event InstrumentDelisted(address indexed instrument);

    /// @notice The address is not a registered instrument.
    error UnregisteredInstrument(address instrument);
    /// @notice The instrument is registered already.
    error AlreadyRegistered(address instrument);
    /// @notice The instrument screens with another classification registry, or names no issuer.
    error InvalidInstrument(address instrument);

    constructor(IComplianceRegistry classification_, address admin) DelayedAdmin(admin) {
        classification = classification_;
    }

    /// @notice Register `instrument` (its issuer and registry are read from it and checked).
    function register(address instrument) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_issuer[instrument] != address(0)) revert AlreadyRegistered(instrument);
        if (instrument.code.length == 0) revert InvalidInstrument(instrument);
        IRegisteredInstrument token = IRegisteredInstrument(instrument);
        address issuer = token.issuer();
        if (issuer == address(0) || token.registry() != classification) revert InvalidInstrument(instrument);
        _issuer[instrument] = issuer;
        emit InstrumentRegistered(instrument, issuer);
    }

    /// @notice Delist `instrument`: Settlement and Distribution refuse it from now on.
    function delist(address instrument) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_issuer[instrument] == address(0)) revert UnregisteredInstrument(instrument);
        delete _issuer[instrument];
        emit InstrumentDelisted(instrument);
    }

    /// @notice The issuer of a registered instrument; reverts for any other address.
    function issuerOf(address instrument) external view returns (address issuer) {
        issuer = _issuer[instrument];
        if (issuer == address(0)) revert UnregisteredInstrument(instrument);
    }

    /// @notice Whether `instrument` is registered.
    function isRegistered(address instrument) external view returns (bool) {
        return _issuer[instrument] != address(0);
    }
}
