// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title AuditAnchor
/// @notice Publishes the head of the platform's hash-chained audit log (its sequence number and the
/// SHA-256 of its last entry), so that not even the operator of the database can rewrite the log's
/// history unnoticed: `drexfy audit verify --anchors` compares each anchored head with the log.
/// @dev Holds no value and changes no balance. Only ANCHOR_ROLE (the registrar key, or a dedicated
/// key) anchors; heads are strictly increasing in sequence, so an anchor cannot be replaced.
contract AuditAnchor is AccessControl {
    /// @notice May anchor heads.
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");

    uint64 private _lastSeq;

    /// @notice The audit log's head `head` (SHA-256 of entry `seq`) was anchored by `by`.
    event AuditHeadAnchored(uint64 indexed seq, bytes32 head, address indexed by);

    /// @notice The sequence number `seq` is not after the last anchored one, `last`.
    error AnchorNotAfterLast(uint64 last, uint64 seq);

    /// @notice A head of zero is not a hash.
    error EmptyHead();

    /// @param admin Holds DEFAULT_ADMIN_ROLE (grants and revokes ANCHOR_ROLE).
    /// @param anchorer The first holder of ANCHOR_ROLE.
    constructor(address admin, address anchorer) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHOR_ROLE, anchorer);
    }

    /// @notice Anchor the audit log's head.
    /// @param seq The sequence number of the log's last entry.
    /// @param head The SHA-256 of that entry.
    function anchor(uint64 seq, bytes32 head) external onlyRole(ANCHOR_ROLE) {
        if (head == bytes32(0)) revert EmptyHead();
        if (seq <= _lastSeq) revert AnchorNotAfterLast(_lastSeq, seq);
        _lastSeq = seq;
        emit AuditHeadAnchored(seq, head, msg.sender);
    }

    /// @notice The sequence number of the last anchored head (0 before the first).
    function lastAnchoredSeq() external view returns (uint64) {
        return _lastSeq;
    }
}
