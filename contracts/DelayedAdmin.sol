// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

/// @title DelayedAdmin — the access-control base of every Drexfy contract
/// @notice OpenZeppelin v5's AccessControlDefaultAdminRules: one admin (DEFAULT_ADMIN_ROLE) at a
///         time, handed over in two steps (`beginDefaultAdminTransfer` by the admin, then
///         `acceptDefaultAdminTransfer` by the new admin once {INITIAL_ADMIN_DELAY} has passed), never
///         granted with `grantRole`; renouncing it and changing the delay are delayed the same way.
///         A stolen admin key therefore cannot hand the contracts to an attacker before the
///         issuer sees the pending transfer and cancels it (`cancelDefaultAdminTransfer`).
///         docs/evm.md says how to put the admin behind a Safe multisig.
abstract contract DelayedAdmin is AccessControlDefaultAdminRules {
    /// @notice The delay a new admin waits before accepting, as deployed (the admin may change it,
    ///         itself subject to the delay rules of AccessControlDefaultAdminRules).
    uint48 public constant INITIAL_ADMIN_DELAY = 2 days;

    /// @param admin the first holder of DEFAULT_ADMIN_ROLE (never the zero address).
    constructor(address admin) AccessControlDefaultAdminRules(INITIAL_ADMIN_DELAY, admin) {}
}
