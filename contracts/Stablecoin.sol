// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Compliance, IComplianceRegistry, WalletFrozen} from "./Compliance.sol";
import {PermissionedERC20} from "./PermissionedERC20.sol";

/// @title Stablecoin — Drexfy's EUR settlement token
/// @notice 6 decimals (as EURC and USDC): 1 EUR = 1,000,000 base units, 1 cent = 10,000. The
///         platform's money is integer cents; the adapter multiplies by 10^4 on the way in and
///         refuses amounts that are not whole cents on the way out, so no sub-cent dust is created.
///         Transfers, mints and burns succeed only between wallets that hold a non-SANCTIONED
///         classification and are frozen neither in the registry nor here; allow-listed platform
///         wallets (the issuer, the Settlement contract) skip the class check only: a registry
///         freeze or a freeze here stops them too. Spenders and approvers are screened the same way.
///         Permits (ERC-2612) let the relayer move an investor's coins on the investor's signature,
///         so investor wallets never need the native coin for gas; {transferWithPermit} and
///         {burnWithPermit} use the permit itself (never a leftover allowance) and accept a permit
///         someone submitted first for the same amount.
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
        PermissionedERC20("Drexfy Euro", "dEUR", registry_, admin)
        EIP712("Drexfy Euro", "1")
    {}

    /// @notice 6 decimals: one cent is 10,000 base units.
    function decimals() external pure returns (uint8) {
        return 6;
    }

    // ---------------------------------------------------------------- issuance

    /// @notice Mint `value` to `to` (fiat received).
    function mint(address to, uint256 value) external onlyRole(MINTER_ROLE) {
        _mint(to, value);
    }

    /// @notice Mint to many wallets in one call (repayment pay-outs). Each recipient is checked as
    ///         by {mint} (frozen here or in the registry, sanctioned or unclassified: the whole batch
    ///         reverts); the recipients' registry words are read in one
    ///         {IComplianceRegistry-statusOfMany} call.
    function mintBatch(address[] calldata recipients, uint256[] calldata amounts) external onlyRole(MINTER_ROLE) {
        uint256 n = recipients.length;
        if (n != amounts.length) revert LengthMismatch(n, amounts.length);
        _mintBatch(recipients, amounts, _statusOfMany(recipients));
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

    /// @notice Burn `value` from `owner` on the strength of `owner`'s permit in the same call (a
    ///         permit already submitted by someone else for the same amount is accepted).
    function burnWithPermit(address owner, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        onlyRole(BURNER_ROLE)
    {
        if (!_usePermit(owner, msg.sender, value, deadline, v, r, s)) _spendAllowance(owner, msg.sender, value);
        _update(owner, address(0), value, true);
    }

    /// @notice Move `value` from `owner` to `to` on `owner`'s ERC-2612 permit for the caller (the
    ///         spender, screened like any party) over exactly `value`. The permit is used directly:
    ///         no allowance is written, and a leftover allowance never stands in for it. A permit
    ///         someone submitted first (front-running cannot block the caller) is accepted: then
    ///         the allowance that very permit granted is spent.
    function transferWithPermit(
        address owner,
        address to,
        uint256 value,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _screenParty(msg.sender);
        if (!_usePermit(owner, msg.sender, value, deadline, v, r, s)) _spendAllowance(owner, msg.sender, value);
        _transfer(owner, to, value);
    }

    /// @notice Mint `value` to `buyer` (fiat received) and pay it on to `payee` on `buyer`'s
    ///         ERC-2612 permit for the caller over exactly `value`, in one step: the same checks
    ///         and events as {mint} to the buyer followed by {transferWithPermit} to the payee
    ///         (`Transfer(0, buyer)`, then `Transfer(buyer, payee)`: the buyer screened as receiver
    ///         and payer, the permit the buyer's, the caller screened as spender), without writing
    ///         the buyer's balance, which ends where it started.
    function mintWithPermit(
        address buyer,
        address payee,
        uint256 value,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external onlyRole(MINTER_ROLE) {
        _screenParty(msg.sender);
        if (!_usePermit(buyer, msg.sender, value, deadline, v, r, s)) _spendAllowance(buyer, msg.sender, value);
        _mintThrough(buyer, payee, value);
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
        _screenParty(owner); // a frozen wallet cannot grant allowances
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, _useNonce(owner), deadline));
        address signer = ECDSA.recover(_hashTypedDataV4(structHash), v, r, s);
        if (signer != owner) revert ERC2612InvalidSigner(signer, owner);
        _approve(owner, spender, value, true);
    }

    /// @dev Consume `owner`'s permit for (`spender`, `value`, `deadline`) at its current nonce and
    ///      return true; return false if it is the permit used last (nonce - 1: someone submitted
    ///      it first) and the allowance it granted is still there; revert otherwise.
    function _usePermit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        private
        returns (bool)
    {
        if (block.timestamp > deadline) revert ERC2612ExpiredSignature(deadline);
        uint256 nonce = nonces(owner);
        address signer = _permitSigner(owner, spender, value, nonce, deadline, v, r, s);
        if (signer == owner) {
            _useNonce(owner);
            return true;
        }
        // The permit used last, and its allowance still unspent: someone submitted it first. (The
        // same signature over nonce - 1 with its allowance gone is a permit overtaken by another.)
        if (
            nonce != 0 && _permitSigner(owner, spender, value, nonce - 1, deadline, v, r, s) == owner
                && _allowance(owner, spender) >= value
        ) return false;
        revert ERC2612InvalidSigner(signer, owner);
    }

    function _permitSigner(
        address owner,
        address spender,
        uint256 value,
        uint256 nonce,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) private view returns (address signer) {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline));
        (address recovered, ECDSA.RecoverError error, bytes32 errorArg) =
            ECDSA.tryRecover(_hashTypedDataV4(structHash), v, r, s);
        // A malformed signature recovers no one (address(0) is never an owner).
        if (error == ECDSA.RecoverError.NoError && errorArg == 0) signer = recovered;
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

    /// @dev Both parties must be unfrozen here and in the registry; each must be allow-listed or
    ///      hold a non-SANCTIONED class. address(0) (mint, burn) is no party.
    function _enforce(address from, uint256 fromWord, address to, uint256 toWord) internal view override {
        _requireNotPaused();
        if (from != address(0) && to != address(0)) {
            (uint256 a, uint256 b) = _statusOfPair(from, to);
            _checkParty(from, fromWord, a);
            _checkParty(to, toWord, b);
        } else if (from != address(0)) {
            _checkParty(from, fromWord, _statusOf(from));
        } else if (to != address(0)) {
            _checkParty(to, toWord, _statusOf(to));
        }
    }

    function _checkParty(address account, uint256 word, uint256 status) private pure {
        if (word & ALLOWED_FLAG == 0) {
            _checkHolder(account, word, status);
        } else if (word & FROZEN_FLAG != 0 || status & Compliance.FROZEN_BIT != 0) {
            revert WalletFrozen(account);
        }
    }

    function _isPlatform(address, uint256 word) internal pure override returns (bool) {
        return word & ALLOWED_FLAG != 0;
    }
}
