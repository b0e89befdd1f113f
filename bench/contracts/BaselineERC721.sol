// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title Plain OpenZeppelin v5 ERC-721: the gas baseline of the classification token
contract BaselineERC721 is ERC721 {
    constructor() ERC721("Baseline", "BNFT") {}

    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }

    function burn(uint256 tokenId) external {
        _burn(tokenId);
    }
}
