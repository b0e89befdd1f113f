// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {DelayedAdmin} from "./DelayedAdmin.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Compliance, IComplianceRegistry, WalletFrozen, SanctionedWallet, UnclassifiedWallet} from "./Compliance.sol";

/// @title PermissionedERC20 — an ERC-20 whose balance words also carry per-token flags
/// @notice Behaves as OpenZeppelin v5's ERC20 (same events, same ERC-6093 errors) with one difference
///         in storage: each account's word holds its balance in the low 248 bits, a per-token
///         freeze flag in bit 255 and an allow-list flag in bit 254. A transfer already loads both
///         balance words, so checking the token's own freeze and allow-list costs no extra storage
///         read. Rules live in one hook, {_enforce}, called by {_update} unless an agent function
///         explicitly moves tokens by force (which then emits its own event).
/// @dev Total supply is capped at 2^248 - 1 so a balance can never carry into the flag bits.
abstract contract PermissionedERC20 is IERC20, IERC20Metadata, IERC20Errors, DelayedAdmin, Pausable {
    uint256 internal constant BALANCE_MASK = (1 << 248) - 1;
    uint256 internal constant FROZEN_FLAG = 1 << 255;
    uint256 internal constant ALLOWED_FLAG = 1 << 254;
    /// @dev Set while part of the account's balance is frozen (a token that supports partial freezes
    ///      keeps the amount elsewhere and reads it only when this bit is set).
    uint256 internal constant PARTIAL_FLAG = 1 << 253;

    /// @notice The classification registry every transfer consults.
    IComplianceRegistry public immutable registry;

    mapping(address account => uint256) private _accounts;
    mapping(address account => mapping(address spender => uint256)) private _allowances;
    uint256 private _totalSupply;
    string private _name;
    string private _symbol;

    /// @notice `account` was frozen (true) or unfrozen (false) in this token.
    event AccountFrozen(address indexed account, bool frozen, address indexed by);
    /// @notice `account` was put on (true) or taken off (false) the allow-list.
    event AllowListChanged(address indexed account, bool allowed);

    /// @notice Minting would push the supply past 2^248 - 1.
    error SupplyOverflow(uint256 supply, uint256 value);
    /// @notice The flag is already in the requested state.
    error FlagUnchanged(address account, uint256 flag, bool value);
    /// @notice The zero address is not a valid account here.
    error ZeroAccount();

    /// @param admin the first holder of DEFAULT_ADMIN_ROLE (see {DelayedAdmin}).
    constructor(string memory name_, string memory symbol_, IComplianceRegistry registry_, address admin)
        DelayedAdmin(admin)
    {
        _name = name_;
        _symbol = symbol_;
        registry = registry_;
    }

    // ---------------------------------------------------------------- ERC-20

    /// @inheritdoc IERC20Metadata
    function name() external view returns (string memory) {
        return _name;
    }

    /// @inheritdoc IERC20Metadata
    function symbol() external view returns (string memory) {
        return _symbol;
    }

    /// @inheritdoc IERC20
    function totalSupply() external view returns (uint256) {
        return _totalSupply;
    }

    /// @inheritdoc IERC20
    function balanceOf(address account) external view returns (uint256) {
        return _accounts[account] & BALANCE_MASK;
    }

    /// @inheritdoc IERC20
    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    /// @inheritdoc IERC20
    function transfer(address to, uint256 value) external returns (bool) {
        // msg.sender is never the zero address: only the receiver needs the check.
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        _update(msg.sender, to, value, true);
        return true;
    }

    /// @inheritdoc IERC20
    /// @dev A frozen, sanctioned or unclassified owner cannot approve (it may still approve 0, which
    ///      only takes an allowance away).
    function approve(address spender, uint256 value) external returns (bool) {
        if (value != 0) _screenParty(msg.sender);
        _approve(msg.sender, spender, value, true);
        return true;
    }

    /// @inheritdoc IERC20
    /// @dev The spender is screened like a party: a frozen, sanctioned or unclassified spender
    ///      cannot move anyone's tokens, even between eligible wallets.
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        if (msg.sender != from) _screenParty(msg.sender);
        _spendAllowance(from, msg.sender, value);
        _transfer(from, to, value);
        return true;
    }

    /// @notice Whether `account` is frozen in this token (the registry's global freeze is separate).
    function isFrozen(address account) external view returns (bool) {
        return _accounts[account] & FROZEN_FLAG != 0;
    }

    /// @notice Whether `account` is allow-listed (a platform wallet or contract exempt from classification).
    function isAllowListed(address account) external view returns (bool) {
        return _accounts[account] & ALLOWED_FLAG != 0;
    }

    // ---------------------------------------------------------------- internals

    function _transfer(address from, address to, uint256 value) internal {
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        _update(from, to, value, true);
    }

    function _mint(address to, uint256 value) internal {
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        _update(address(0), to, value, true);
    }

    /// @dev `_mint(payer, value)` then `_transfer(payer, to, value)` as one movement: the same rules
    ///      (both parties checked, as sender and as receiver, before anything is written) and the
    ///      same two `Transfer` events, but the payer's balance word, which would go x -> x + value
    ///      -> x, is not written.
    function _mintThrough(address payer, address to, uint256 value) internal {
        if (payer == address(0)) revert ERC20InvalidReceiver(address(0));
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        uint256 payerWord = _accounts[payer];
        uint256 toWord = _accounts[to];
        _enforce(payer, payerWord, to, toWord);
        if (payerWord & PARTIAL_FLAG != 0) _checkUnfrozen(payer, (payerWord & BALANCE_MASK) + value, value);
        uint256 supply = _totalSupply;
        if (value > BALANCE_MASK - supply) revert SupplyOverflow(supply, value);
        unchecked {
            _totalSupply = supply + value;
            // The supply cap keeps the sum below the flag bits (payer == to: the payer keeps it).
            _accounts[to] = toWord + value;
        }
        emit Transfer(address(0), payer, value);
        emit Transfer(payer, to, value);
    }

    /// @dev `_mint(recipients[i], amounts[i])` for every i, with the same rules, writes and events,
    ///      cheaper per recipient (a repayment batch): the pause is checked once, the supply read and
    ///      written once, and each recipient is screened on its balance word and `statuses[i]`, its
    ///      registry word (read for the whole batch in one call by the caller) as {_screenParty}
    ///      screens a party. A recipient listed twice is credited twice (its word is re-read).
    function _mintBatch(address[] calldata recipients, uint256[] calldata amounts, uint256[] memory statuses)
        internal
    {
        _requireNotPaused();
        uint256 supply = _totalSupply;
        uint256 n = recipients.length;
        for (uint256 i; i < n; ) {
            address to = recipients[i];
            uint256 value = amounts[i];
            if (to == address(0)) revert ERC20InvalidReceiver(address(0));
            uint256 word = _accounts[to];
            uint256 status = statuses[i];
            // Unfrozen here and in the registry with a clean class passes {_screenWord} whether or
            // not the wallet is a platform one: one test for the common case, the full screen
            // (and its precise error) otherwise.
            if (
                (word & FROZEN_FLAG) | (status & Compliance.FROZEN_BIT) != 0
                    || (CLEAN_CLASSES >> (status & Compliance.CLASS_MASK)) & 1 == 0
            ) _screenWord(to, word, status);
            if (value > BALANCE_MASK - supply) revert SupplyOverflow(supply, value);
            unchecked {
                supply += value;
                // The supply cap keeps the sum below the flag bits.
                _accounts[to] = word + value;
                ++i;
            }
            emit Transfer(address(0), to, value);
        }
        _totalSupply = supply;
    }

    /// @dev Moves `value` from `from` to `to` (address(0) = mint / burn). When `enforce` is set the
    ///      compliance hook sees both parties' words before anything is written.
    function _update(address from, address to, uint256 value, bool enforce) internal {
        uint256 fromWord = from == address(0) ? 0 : _accounts[from];
        uint256 toWord = to == address(0) ? 0 : _accounts[to];
        if (enforce) {
            _enforce(from, fromWord, to, toWord);
            if (fromWord & PARTIAL_FLAG != 0) _checkUnfrozen(from, fromWord & BALANCE_MASK, value);
        }
        if (from == address(0)) {
            uint256 supply = _totalSupply;
            if (value > BALANCE_MASK - supply) revert SupplyOverflow(supply, value);
            unchecked {
                _totalSupply = supply + value;
            }
        } else {
            uint256 balance = fromWord & BALANCE_MASK;
            if (balance < value) revert ERC20InsufficientBalance(from, balance, value);
            unchecked {
                _accounts[from] = fromWord - value;
            }
        }
        unchecked {
            if (to == address(0)) {
                _totalSupply -= value;
            } else if (to == from) {
                _accounts[to] = fromWord; // a self-transfer changes nothing
            } else {
                // The supply cap keeps the sum below the flag bits.
                _accounts[to] = toWord + value;
            }
        }
        emit Transfer(from, to, value);
    }

    /// @dev The token's transfer rules. Reverts to refuse; `from`/`to` are address(0) for mint/burn.
    function _enforce(address from, uint256 fromWord, address to, uint256 toWord) internal view virtual;

    /// @dev Refuses to move frozen units: called for a sender whose word carries {PARTIAL_FLAG}
    ///      (never set by a token without partial freezes, which keeps this default).
    function _checkUnfrozen(address from, uint256 balance, uint256 value) internal view virtual {}

    /// @dev Class codes 1..4: classified and not SANCTIONED.
    uint256 internal constant CLEAN_CLASSES = 0x1e;

    /// @dev Refuses a party that is frozen here, or (unless allow-listed) unclassified, sanctioned
    ///      or frozen in the registry. `word` is the party's balance word in this token.
    function _checkHolder(address account, uint256 word, uint256 status) internal pure {
        if (word & FROZEN_FLAG != 0 || status & Compliance.FROZEN_BIT != 0) revert WalletFrozen(account);
        uint256 classCode = status & Compliance.CLASS_MASK;
        if (classCode == Compliance.SANCTIONED) revert SanctionedWallet(account);
        if (classCode == Compliance.NONE) revert UnclassifiedWallet(account);
    }

    /// @dev Whether `account` is a platform wallet of this token, exempt from the class checks
    ///      (never from freezes). `word` is its balance word.
    function _isPlatform(address account, uint256 word) internal view virtual returns (bool);

    /// @dev Refuses an approver or spender that is frozen (here or in the registry) or, unless a
    ///      platform wallet, unclassified or sanctioned.
    function _screenParty(address account) internal view {
        _screenWord(account, _accounts[account], _statusOf(account));
    }

    /// @dev {_screenParty} on a balance word and a registry word already read.
    function _screenWord(address account, uint256 word, uint256 status) internal view {
        if (_isPlatform(account, word)) {
            if (word & FROZEN_FLAG != 0 || status & Compliance.FROZEN_BIT != 0) revert WalletFrozen(account);
        } else {
            _checkHolder(account, word, status);
        }
    }

    /// @dev `registry.statusOf(a)` without the ABI helpers' memory round trip. Measured on the
    ///      compliant-transfer path (see docs/evm.md): this hot call is why assembly is used here.
    function _statusOf(address a) internal view returns (uint256 word) {
        address target = address(registry);
        bytes4 selector = IComplianceRegistry.statusOf.selector;
        assembly ("memory-safe") {
            mstore(0x00, selector)
            mstore(0x04, a)
            if iszero(staticcall(gas(), target, 0x00, 0x24, 0x00, 0x20)) {
                returndatacopy(0x00, 0x00, returndatasize())
                revert(0x00, returndatasize())
            }
            if lt(returndatasize(), 0x20) { revert(0x00, 0x00) }
            word := mload(0x00)
        }
    }

    /// @dev `registry.statusOfPair(a, b)` through the registry's raw entry (see {Compliance-RAW_PAIR_TAG}). Uses the free memory pointer's area as
    ///      scratch (68 bytes of calldata do not fit the 64-byte scratch space) without moving it.
    function _statusOfPair(address a, address b) internal view returns (uint256 wordA, uint256 wordB) {
        address target = address(registry);
        bytes4 selector = Compliance.RAW_PAIR_TAG;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), a)
            mstore(add(ptr, 0x24), b)
            if iszero(staticcall(gas(), target, ptr, 0x44, ptr, 0x40)) {
                returndatacopy(ptr, 0x00, returndatasize())
                revert(ptr, returndatasize())
            }
            if lt(returndatasize(), 0x40) { revert(0x00, 0x00) }
            wordA := mload(ptr)
            wordB := mload(add(ptr, 0x20))
        }
    }

    /// @dev `registry.statusOfMany(wallets)` through a raw call: the array goes out as it came in
    ///      (one calldatacopy, no per-element re-encoding) and the answer's words are used where
    ///      they land in memory (no per-element decoding). An answer that is not exactly
    ///      `uint256[n]` ABI-encoded reverts. A repayment batch makes this call once.
    function _statusOfMany(address[] calldata wallets) internal view returns (uint256[] memory words) {
        address target = address(registry);
        bytes4 selector = IComplianceRegistry.statusOfMany.selector;
        assembly ("memory-safe") {
            let n := wallets.length
            let size := shl(5, n)
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), 0x20)
            mstore(add(ptr, 0x24), n)
            calldatacopy(add(ptr, 0x44), wallets.offset, size)
            if iszero(staticcall(gas(), target, ptr, add(0x44, size), 0x00, 0x00)) {
                returndatacopy(ptr, 0x00, returndatasize())
                revert(ptr, returndatasize())
            }
            if iszero(eq(returndatasize(), add(0x40, size))) { revert(0x00, 0x00) }
            // The answer: offset (0x20), length (n), n words; `words` takes length and words.
            returndatacopy(ptr, 0x00, returndatasize())
            if iszero(and(eq(mload(ptr), 0x20), eq(mload(add(ptr, 0x20)), n))) { revert(0x00, 0x00) }
            words := add(ptr, 0x20)
            mstore(0x40, add(words, add(0x20, size)))
        }
    }

    function _setFlag(address account, uint256 flag, bool value) internal {
        if (account == address(0)) revert ZeroAccount();
        uint256 word = _accounts[account];
        if ((word & flag != 0) == value) revert FlagUnchanged(account, flag, value);
        _accounts[account] = value ? word | flag : word & ~flag;
    }

    function _wordOf(address account) internal view returns (uint256) {
        return _accounts[account];
    }

    function _allowance(address owner, address spender) internal view returns (uint256) {
        return _allowances[owner][spender];
    }

    function _approve(address owner, address spender, uint256 value, bool emitEvent) internal {
        if (owner == address(0)) revert ERC20InvalidApprover(address(0));
        if (spender == address(0)) revert ERC20InvalidSpender(address(0));
        _allowances[owner][spender] = value;
        if (emitEvent) emit Approval(owner, spender, value);
    }

    function _spendAllowance(address owner, address spender, uint256 value) internal {
        uint256 current = _allowances[owner][spender];
        if (current < type(uint256).max) {
            if (current < value) revert ERC20InsufficientAllowance(spender, current, value);
            unchecked {
                _approve(owner, spender, current - value, false);
            }
        }
    }
}
