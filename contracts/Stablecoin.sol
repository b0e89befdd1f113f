// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IComplianceRegistry, WalletFrozen} from "./Compliance.sol";
import {PermissionedERC20} from "./PermissionedERC20.sol";

/// @title Stablecoin — Drexfy's EUR settlement token
/// @notice 6 decimals (as EURC and USDC): 1 EUR = 1,000,000 base units, 1 cent = 10,000. The
///         platform's money is integer cents; the adapter multiplies by 10^4 on the way in and
///         refuses amounts that are not whole cents on the way out, so no sub-cent dust is created.
///         Transfers, mints and burns succeed only between wallets that hold a non-SANCTIONED
///         classification and are frozen neither in the registry nor here; allow-listed platform
///         wallets (issuer, treasury) skip the registry (class and global freeze) but not this
///         token's own freeze.
///         Permits (ERC-2612) let the relayer move an investor's coins on the investor's signature,
///         so investor wallets never need the native coin for gas.
contract Stablecoin is PermissionedERC20, EIP712, Nonces, IERC20Permit {
    /// @notice May mint (fiat received 1:1).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice May burn with the holder's allowance (withdrawals to fiat).
    bytes32 public constant BURNER_ROLE = keccak256("BURNER_ROLE");
    /// @notice May freeze and unfreeze accounts in this token.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    /// @notice May pause and unpause every movement of the token.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    bytes32 private constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    /// @notice The permit's deadline has passed.
    error ERC2612ExpiredSignature(uint256 deadline);
    /// @notice The permit was not signed by `owner` (wrong key, wrong value or an already used nonce).
    error ERC2612InvalidSigner(address signer, address owner);
    /// @notice `recipients` and `amounts` differ in length.
    error LengthMismatch(uint256 recipients, uint256 amounts);

    /// @param admin receives DEFAULT_ADMIN_ROLE (grants roles, manages the allow-list).
    constructor(IComplianceRegistry registry_, address admin)
        PermissionedERC20("Drexfy Euro", "dEUR", registry_)
        EIP712("Drexfy Euro", "1")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice 6 decimals: one cent is 10,000 base units.
    function decimals() external pure returns (uint8) {
        return 6;
    }

    // ---------------------------------------------------------------- issuance

    /// @notice Mint `value` to `to` (fiat received).
    function mint(address to, uint256 value) external onlyRole(MINTER_ROLE) {
        _mint(to, value);
    }

    /// @notice Mint to many wallets in one call (repayment pay-outs). Each recipient is checked.
    function mintBatch(address[] calldata recipients, uint256[] calldata amounts) external onlyRole(MINTER_ROLE) {
        uint256 n = recipients.length;
        if (n != amounts.length) revert LengthMismatch(n, amounts.length);
        for (uint256 i; i < n; ) {
            _mint(recipients[i], amounts[i]);
            unchecked {
                ++i;
            }
        }
    }

    /// @notice Burn `value` of the caller's own coins.
    function burn(uint256 value) external {
        _update(msg.sender, address(0), value, true);
    }

    /// @notice Burn `value` from `owner`, spending the caller's allowance (a withdrawal to fiat).
    function burnFrom(address owner, uint256 value) external onlyRole(BURNER_ROLE) {
        _spendAllowance(owner, msg.sender, value);
        _update(owner, address(0), value, true);
    }

    /// @notice Burn `value` from `owner` on the strength of `owner`'s permit in the same call.
    function burnWithPermit(address owner, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        onlyRole(BURNER_ROLE)
    {
        permit(owner, msg.sender, value, deadline, v, r, s);
        _spendAllowance(owner, msg.sender, value);
        _update(owner, address(0), value, true);
    }

    // ---------------------------------------------------------------- compliance and admin

    /// @notice Freeze or unfreeze `account` in this token.
    function setFrozen(address account, bool frozen) external onlyRole(COMPLIANCE_ROLE) {
        _setFlag(account, FROZEN_FLAG, frozen);
        emit AccountFrozen(account, frozen, msg.sender);
    }

    /// @notice Put a platform wallet or contract on (or off) the allow-list.
    function setAllowListed(address account, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setFlag(account, ALLOWED_FLAG, allowed);
        emit AllowListChanged(account, allowed);
    }

    /// @notice Stop every movement of the token.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resume movements.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- ERC-2612

    /// @inheritdoc IERC20Permit
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        public
    {
        if (block.timestamp > deadline) revert ERC2612ExpiredSignature(deadline);
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, _useNonce(owner), deadline));
        address signer = ECDSA.recover(_hashTypedDataV4(structHash), v, r, s);
        if (signer != owner) revert ERC2612InvalidSigner(signer, owner);
        _approve(owner, spender, value, true);
    }

    /// @inheritdoc IERC20Permit
    function nonces(address owner) public view override(IERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @inheritdoc IERC20Permit
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- rules

    /// @dev Both parties must be unfrozen; each must be allow-listed or hold a non-SANCTIONED class.
    function _enforce(address from, uint256 fromWord, address to, uint256 toWord) internal view override {
        _requireNotPaused();
        bool checkFrom = from != address(0) && fromWord & ALLOWED_FLAG == 0;
        bool checkTo = to != address(0) && toWord & ALLOWED_FLAG == 0;
        if (checkFrom && checkTo) {
            (uint256 a, uint256 b) = _statusOfPair(from, to);
            _checkHolder(from, fromWord, a);
            _checkHolder(to, toWord, b);
            return;
        }
        if (checkFrom) _checkHolder(from, fromWord, _statusOf(from));
        else if (from != address(0) && fromWord & FROZEN_FLAG != 0) revert WalletFrozen(from);
        if (checkTo) _checkHolder(to, toWord, _statusOf(to));
        else if (to != address(0) && toWord & FROZEN_FLAG != 0) revert WalletFrozen(to);
    }
}
