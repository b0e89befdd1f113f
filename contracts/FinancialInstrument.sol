// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Compliance, IComplianceRegistry, IneligibleReceiver, WalletFrozen, SanctionedWallet} from "./Compliance.sol";
import {PermissionedERC20} from "./PermissionedERC20.sol";

/// @title FinancialInstrument — the permissioned token of one securitized SME credit pool
/// @notice Units are whole (0 decimals). All units are minted to the issuer at deployment and reach
///         investors through {deliver} (the Settlement contract's DvP leg). Every transfer, delivery
///         and forced transfer checks the receiver on chain: its class must be in {eligibleMask}
///         and it must be frozen neither in the registry nor here; a sender must be classified,
///         not SANCTIONED and not frozen. The issuer is exempt from the class checks only: a
///         registry freeze or a freeze here stops its wallet too. No function creates units after
///         deployment: forced transfers need a real sender, burns a real holder.
///         Agent functions (forced transfer, burn, freeze, partial freeze, pause, wallet recovery)
///         each emit an event. A partial freeze (ERC-3643's `freezePartialTokens`) pins part of a
///         holder's units: they cannot be transferred, forced away or burned by the agent until
///         unfrozen; a wallet recovery moves them to the new wallet still frozen; retiring principal
///         may take them (the units leave existence; the frozen amount is capped to what is left).
/// @dev Gas: one external call to the registry reads both parties' words in one slot each; the
///      per-instrument freeze lives in the balance word, the eligible set is immutable.
contract FinancialInstrument is PermissionedERC20 {
    /// @notice May force transfers, burn, freeze, pause and recover wallets.
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");
    /// @notice May deliver units from the issuer's inventory (the Settlement contract).
    bytes32 public constant SETTLEMENT_ROLE = keccak256("SETTLEMENT_ROLE");
    /// @notice May retire units of holders (the Distribution contract).
    bytes32 public constant DISTRIBUTOR_ROLE = keccak256("DISTRIBUTOR_ROLE");

    /// @notice The securitization company's wallet: holds unsold units and receives payments.
    address public immutable issuer;
    /// @notice Bit `c` set = class code `c` may receive units. Never includes SANCTIONED or NONE.
    uint256 public immutable eligibleMask;

    /// @notice The agent moved units without the sender's consent.
    event ForcedTransfer(address indexed from, address indexed to, uint256 value, address indexed agent);
    /// @notice The agent burned units of `from`.
    event UnitsBurned(address indexed from, uint256 value, address indexed agent);
    /// @notice Principal repayment retired units of `holder`.
    event UnitsRetired(address indexed holder, uint256 value);
    /// @notice Units were delivered from the issuer's inventory to `to`.
    event UnitsDelivered(address indexed to, uint256 value);
    /// @notice A lost wallet's units (and freeze) moved to the investor's new wallet.
    event WalletRecovered(address indexed lostWallet, address indexed newWallet, uint256 value, address indexed agent);
    /// @notice `value` more units of `account` are frozen (ERC-3643 `TokensFrozen`).
    event TokensFrozen(address indexed account, uint256 value);
    /// @notice `value` units of `account` are no longer frozen (ERC-3643 `TokensUnfrozen`).
    event TokensUnfrozen(address indexed account, uint256 value);

    /// @notice The eligible set is empty or names NONE, SANCTIONED or an unknown class.
    error InvalidEligibleMask(uint256 mask);
    /// @notice `holders` and `values` differ in length.
    error LengthMismatch(uint256 holders, uint256 values);
    /// @notice The wallet has nothing to recover.
    error NothingToRecover(address wallet);
    /// @notice A repayment names a wallet that holds no units of this instrument.
    error NotAHolder(address wallet);
    /// @notice The move needs more units than `account` holds unfrozen.
    error UnitsFrozen(address account, uint256 unfrozen, uint256 value);
    /// @notice Freezing (or unfreezing) `value` units is beyond what `account` holds (or has frozen).
    error InvalidFreezeAmount(address account, uint256 value);

    /// @dev Frozen units per holder; read only when the holder's word carries {PARTIAL_FLAG}.
    mapping(address account => uint256) internal _frozenUnits;

    /// @param eligibleMask_ bit c set for every eligible class code c (1..4).
    /// @param totalUnits   all units, minted to `issuer_`.
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
        address distribution
    ) PermissionedERC20(name_, symbol_, registry_, admin) {
        uint256 allowed = ((1 << (Compliance.MAX_CLASS + 1)) - 1) & ~(1 << Compliance.NONE) & ~(1 << Compliance.SANCTIONED);
        if (eligibleMask_ == 0 || eligibleMask_ & ~allowed != 0) revert InvalidEligibleMask(eligibleMask_);
        if (issuer_ == address(0)) revert ZeroAccount();
        issuer = issuer_;
        eligibleMask = eligibleMask_;
        _grantRole(AGENT_ROLE, agent);
        _grantRole(SETTLEMENT_ROLE, settlement);
        _grantRole(DISTRIBUTOR_ROLE, distribution);
        _update(address(0), issuer_, totalUnits, false);
    }

    /// @notice Units are indivisible.
    function decimals() external pure returns (uint8) {
        return 0;
    }

    /// @notice Whether a wallet of class `classCode` may hold units.
    function isEligibleClass(uint8 classCode) external view returns (bool) {
        return (eligibleMask >> classCode) & 1 == 1;
    }

    // ---------------------------------------------------------------- settlement and distribution

    /// @notice Deliver `value` units from the issuer's inventory to `to` (DvP leg), with all checks.
    function deliver(address to, uint256 value) external onlyRole(SETTLEMENT_ROLE) {
        _transfer(issuer, to, value);
        emit UnitsDelivered(to, value);
    }

    /// @notice Check that every one of `holders` holds units (a repayment pays holders only) and
    ///         retire principal: burn `values[i]` units of `holders[i]` (`values` empty: retire
    ///         nothing). Holders' freezes do not block it (the units go out of existence, nothing
    ///         reaches the holder).
    function retireBatch(address[] calldata holders, uint256[] calldata values)
        external
        onlyRole(DISTRIBUTOR_ROLE)
        returns (uint256 total)
    {
        uint256 n = holders.length;
        bool retire = values.length != 0;
        if (retire && n != values.length) revert LengthMismatch(n, values.length);
        _requireNotPaused();
        if (!retire) {
            // An interest-only round (every repeat payment): the holder check alone, in a lean loop.
            for (uint256 i; i < n; ) {
                address holder = holders[i];
                if (_wordOf(holder) & BALANCE_MASK == 0) revert NotAHolder(holder);
                unchecked {
                    ++i;
                }
            }
            return 0;
        }
        for (uint256 i; i < n; ) {
            address holder = holders[i];
            uint256 word = _wordOf(holder);
            if (word & BALANCE_MASK == 0) revert NotAHolder(holder);
            uint256 value = values[i];
            if (value != 0) {
                _update(holder, address(0), value, false);
                emit UnitsRetired(holder, value);
                total += value;
                if (word & PARTIAL_FLAG != 0) _capFrozen(holder);
            }
            unchecked {
                ++i;
            }
        }
    }

    // ---------------------------------------------------------------- agent

    /// @notice Move units without the sender's consent (court order, error correction). The receiver
    ///         must still be eligible and unfrozen; the sender's freeze does not stop it.
    function forcedTransfer(address from, address to, uint256 value) external onlyRole(AGENT_ROLE) {
        if (from == address(0)) revert ERC20InvalidSender(address(0)); // would mint
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        _checkReceiver(to, _wordOf(to), _statusOf(to));
        _requireUnfrozen(from, value);
        _update(from, to, value, false);
        emit ForcedTransfer(from, to, value, msg.sender);
    }

    /// @notice Burn `value` units of `from`.
    function burn(address from, uint256 value) external onlyRole(AGENT_ROLE) {
        if (from == address(0)) revert ERC20InvalidSender(address(0)); // a burn from nobody
        _requireUnfrozen(from, value);
        _update(from, address(0), value, false);
        emit UnitsBurned(from, value, msg.sender);
    }

    /// @notice Freeze or unfreeze `account` in this instrument only.
    function setFrozen(address account, bool frozen) external onlyRole(AGENT_ROLE) {
        _setFlag(account, FROZEN_FLAG, frozen);
        emit AccountFrozen(account, frozen, msg.sender);
    }

    /// @notice Freeze `value` more of `account`'s units (at most what it holds unfrozen).
    function freezePartialTokens(address account, uint256 value) external onlyRole(AGENT_ROLE) {
        uint256 word = _wordOf(account);
        uint256 frozen = word & PARTIAL_FLAG != 0 ? _frozenUnits[account] : 0;
        if (value == 0 || frozen + value > word & BALANCE_MASK) revert InvalidFreezeAmount(account, value);
        _frozenUnits[account] = frozen + value;
        if (frozen == 0) _setFlag(account, PARTIAL_FLAG, true);
        emit TokensFrozen(account, value);
    }

    /// @notice Unfreeze `value` of `account`'s frozen units.
    function unfreezePartialTokens(address account, uint256 value) external onlyRole(AGENT_ROLE) {
        uint256 frozen = _wordOf(account) & PARTIAL_FLAG != 0 ? _frozenUnits[account] : 0;
        if (value == 0 || value > frozen) revert InvalidFreezeAmount(account, value);
        _frozenUnits[account] = frozen - value;
        if (frozen == value) _setFlag(account, PARTIAL_FLAG, false);
        emit TokensUnfrozen(account, value);
    }

    /// @notice How many of `account`'s units are frozen (ERC-3643 `getFrozenTokens`).
    function getFrozenTokens(address account) external view returns (uint256) {
        return _wordOf(account) & PARTIAL_FLAG != 0 ? _frozenUnits[account] : 0;
    }

    /// @notice Stop every movement of the instrument.
    function pause() external onlyRole(AGENT_ROLE) {
        _pause();
    }

    /// @notice Resume movements.
    function unpause() external onlyRole(AGENT_ROLE) {
        _unpause();
    }

    /// @notice Move all units of a lost custodial wallet to the same investor's new wallet. The new
    ///         wallet must be eligible and frozen neither here nor in the registry; a freeze of the
    ///         lost wallet in this instrument moves with the units (both changes emit {AccountFrozen}),
    ///         and so do its frozen units (they stay frozen in the new wallet: {TokensUnfrozen} then
    ///         {TokensFrozen}).
    function recoverWallet(address lostWallet, address newWallet) external onlyRole(AGENT_ROLE) {
        uint256 lostWord = _wordOf(lostWallet);
        uint256 value = lostWord & BALANCE_MASK;
        if (value == 0) revert NothingToRecover(lostWallet);
        if (newWallet == address(0) || newWallet == lostWallet || newWallet == issuer) {
            revert ERC20InvalidReceiver(newWallet);
        }
        _checkReceiver(newWallet, _wordOf(newWallet), _statusOf(newWallet));
        _update(lostWallet, newWallet, value, false);
        if (lostWord & FROZEN_FLAG != 0) {
            _setFlag(lostWallet, FROZEN_FLAG, false);
            emit AccountFrozen(lostWallet, false, msg.sender);
            _setFlag(newWallet, FROZEN_FLAG, true);
            emit AccountFrozen(newWallet, true, msg.sender);
        }
        if (lostWord & PARTIAL_FLAG != 0) {
            uint256 frozen = _frozenUnits[lostWallet];
            delete _frozenUnits[lostWallet];
            _setFlag(lostWallet, PARTIAL_FLAG, false);
            emit TokensUnfrozen(lostWallet, frozen);
            uint256 newWord = _wordOf(newWallet);
            uint256 already = newWord & PARTIAL_FLAG != 0 ? _frozenUnits[newWallet] : 0;
            _frozenUnits[newWallet] = already + frozen;
            if (already == 0) _setFlag(newWallet, PARTIAL_FLAG, true);
            emit TokensFrozen(newWallet, frozen);
        }
        emit WalletRecovered(lostWallet, newWallet, value, msg.sender);
    }

    // ---------------------------------------------------------------- rules

    /// @dev Transfers and deliveries: both parties unfrozen here and in the registry; sender
    ///      classified and not sanctioned, receiver eligible (the issuer is exempt from the class
    ///      checks, not from freezes). Only {_transfer} enforces, so neither party is address(0).
    function _enforce(address from, uint256 fromWord, address to, uint256 toWord) internal view override {
        _requireNotPaused();
        (uint256 a, uint256 b) = _statusOfPair(from, to);
        // The common case, kept branch-light for gas: one flag test decides; the precise
        // error is worked out only when the transfer is refused (or a party is the issuer).
        if (
            ((fromWord | toWord) & FROZEN_FLAG) | ((a | b) & Compliance.FROZEN_BIT) != 0
                || (CLEAN_CLASSES >> (a & Compliance.CLASS_MASK)) & (eligibleMask >> (b & Compliance.CLASS_MASK)) & 1 == 0
        ) {
            if (fromWord & FROZEN_FLAG != 0 || a & Compliance.FROZEN_BIT != 0) revert WalletFrozen(from);
            if (from != issuer) _checkHolder(from, fromWord, a);
            _checkReceiver(to, toWord, b);
        }
    }

    /// @dev A receiver: unfrozen here and in the registry; unless it is the issuer, eligible.
    function _checkReceiver(address to, uint256 word, uint256 status) private view {
        if (word & FROZEN_FLAG != 0 || status & Compliance.FROZEN_BIT != 0) revert WalletFrozen(to);
        if (to == issuer) return;
        uint8 classCode = uint8(status & Compliance.CLASS_MASK);
        if (classCode == Compliance.SANCTIONED) revert SanctionedWallet(to);
        if ((eligibleMask >> classCode) & 1 == 0) revert IneligibleReceiver(to, classCode);
    }

    /// @dev Frozen units stay put: a sender moves at most its unfrozen units.
    function _checkUnfrozen(address from, uint256 balance, uint256 value) internal view override {
        uint256 frozen = _frozenUnits[from];
        uint256 unfrozen = balance > frozen ? balance - frozen : 0;
        if (value > unfrozen) revert UnitsFrozen(from, unfrozen, value);
    }

    /// @dev The agent's moves respect partial freezes as transfers do.
    function _requireUnfrozen(address from, uint256 value) private view {
        uint256 word = _wordOf(from);
        if (word & PARTIAL_FLAG != 0) _checkUnfrozen(from, word & BALANCE_MASK, value);
    }

    /// @dev After a retirement: no more units frozen than held.
    function _capFrozen(address holder) private {
        uint256 balance = _wordOf(holder) & BALANCE_MASK;
        uint256 frozen = _frozenUnits[holder];
        if (frozen <= balance) return;
        emit TokensUnfrozen(holder, frozen - balance);
        _frozenUnits[holder] = balance;
        if (balance == 0) _setFlag(holder, PARTIAL_FLAG, false);
    }

    /// @dev The issuer is the instrument's platform wallet: exempt from the class checks.
    function _isPlatform(address account, uint256) internal view override returns (bool) {
        return account == issuer;
    }
}
