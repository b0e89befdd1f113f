// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title The gas floor of a repayment batch that keeps the rules (benchmarks only, never deployed for real)
/// @notice The least a batch can cost per holder while keeping Distribution's rules: every payee
///         screened against its identity-registry word (classified, not SANCTIONED, not frozen),
///         every payee a holder of the instrument, and the batches of a period never paying more
///         than the attested total. Everything lives in this one contract (no calls, no ABI
///         round trips, no roles, no signature) and the loop is as lean as Solidity makes it, so
///         what it costs beyond the plain batch transfer is the storage the rules must read.
///         {payTwoReads} keeps today's storage layout (the registry word and the instrument
///         balance each in a slot of their own: two cold reads per holder beyond the baseline);
///         {payMirrored} is the layout a registry that writes each wallet's word into the
///         stablecoin's balance word would allow (one cold read beyond the baseline).
contract RepaymentFloor {
    uint256 private constant BALANCE_MASK = (1 << 240) - 1;
    uint256 private constant STATUS_SHIFT = 240;
    uint256 private constant CLASS_MASK = 0xff;
    uint256 private constant FROZEN_BIT = 1 << 8;
    uint256 private constant SANCTIONED = 5;

    mapping(address wallet => uint256) private _status; // the registry's word
    mapping(address wallet => uint256) private _units; // the instrument's balance
    mapping(address wallet => uint256) private _balance; // the stablecoin's balance (mirrored: | status << 240)
    uint256 private _supply;
    uint256 private _paid;
    uint256 private _attested;

    /// @notice The ERC-20 event, one per payee as on the baseline.
    event Transfer(address indexed from, address indexed to, uint256 value);

    /// @notice The payee is frozen, sanctioned or unclassified.
    error Ineligible(address wallet);
    /// @notice The payee holds no units.
    error NotAHolder(address wallet);
    /// @notice The batch would pay more than the attested total.
    error Exceeded(uint256 paid, uint256 attested);

    /// @notice Set-up: classify `holders` with `status`, give each `units` and the attested total.
    function setUp(address[] calldata holders, uint256 status, uint256 units, uint256 attested) external {
        for (uint256 i; i < holders.length; ++i) {
            _status[holders[i]] = status;
            _units[holders[i]] = units;
            _balance[holders[i]] |= status << STATUS_SHIFT;
        }
        _attested = attested;
    }

    /// @notice Pay with the registry word and the instrument balance in slots of their own.
    function payTwoReads(address[] calldata holders, uint256[] calldata amounts) external {
        uint256 n = holders.length;
        uint256 total = _book(amounts);
        for (uint256 i; i < n; ) {
            address to = holders[i];
            uint256 status = _status[to];
            if (status & FROZEN_BIT != 0 || status & CLASS_MASK == 0 || status & CLASS_MASK == SANCTIONED) {
                revert Ineligible(to);
            }
            if (_units[to] == 0) revert NotAHolder(to);
            uint256 value = amounts[i];
            unchecked {
                _balance[to] += value;
                ++i;
            }
            emit Transfer(address(0), to, value);
        }
        _supply += total;
    }

    /// @notice Pay with the registry word mirrored into the high bits of the balance word.
    function payMirrored(address[] calldata holders, uint256[] calldata amounts) external {
        uint256 n = holders.length;
        uint256 total = _book(amounts);
        for (uint256 i; i < n; ) {
            address to = holders[i];
            uint256 word = _balance[to];
            uint256 status = word >> STATUS_SHIFT;
            if (status & FROZEN_BIT != 0 || status & CLASS_MASK == 0 || status & CLASS_MASK == SANCTIONED) {
                revert Ineligible(to);
            }
            if (_units[to] == 0) revert NotAHolder(to);
            uint256 value = amounts[i];
            unchecked {
                _balance[to] = word + value;
                ++i;
            }
            emit Transfer(address(0), to, value);
        }
        _supply += total;
    }

    /// @notice The balance of `wallet` (either layout).
    function balanceOf(address wallet) external view returns (uint256) {
        return _balance[wallet] & BALANCE_MASK;
    }

    function _book(uint256[] calldata amounts) private returns (uint256 total) {
        for (uint256 i; i < amounts.length; ++i) {
            total += amounts[i];
        }
        uint256 paid = _paid + total;
        if (paid > _attested) revert Exceeded(paid, _attested);
        _paid = paid;
    }
}
