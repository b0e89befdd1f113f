// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Plain OpenZeppelin v5 ERC-20: the gas baseline (benchmarks only, never deployed for real)
contract BaselineERC20 is ERC20 {
    constructor() ERC20("Baseline", "BASE") {}

    function mint(address to, uint256 value) external {
        _mint(to, value);
    }

    function burn(address from, uint256 value) external {
        _burn(from, value);
    }

    /// @notice Burn every token of each holder: the baseline of a redemption batch.
    function batchBurn(address[] calldata holders) external {
        for (uint256 i; i < holders.length; ++i) {
            _burn(holders[i], balanceOf(holders[i]));
        }
    }

    /// @notice The plain batch-transfer loop a distribution is compared with.
    function batchTransfer(address[] calldata recipients, uint256[] calldata amounts) external {
        for (uint256 i; i < recipients.length; ++i) {
            _transfer(msg.sender, recipients[i], amounts[i]);
        }
    }
}
