// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Shared compliance vocabulary of the Drexfy contracts
/// @notice The classification codes match `drexfy.domain.classification.Classification`.
///         A wallet's status is one storage word in {InvestorClassification}:
///         bits 0-7 hold the class code (0 = none), bit 8 the global freeze flag.
///         Tokens read one word per party, so a compliant transfer costs two cold SLOADs
///         in the registry and nothing else.
library Compliance {
    uint8 internal constant NONE = 0;
    uint8 internal constant US_ACCREDITED = 1;
    uint8 internal constant US_NON_ACCREDITED = 2;
    uint8 internal constant EU_ACCREDITED = 3;
    uint8 internal constant EU_NON_ACCREDITED = 4;
    uint8 internal constant SANCTIONED = 5;
    uint8 internal constant MAX_CLASS = 5;

    uint256 internal constant CLASS_MASK = 0xff;
    /// @dev Raw, ABI-free entry of the registry's fallback: 4-byte tag + two 32-byte addresses in,
    ///      two status words out. The tokens' hot path uses it (it skips ABI decoding/encoding and
    ///      saved ~250 gas per compliant transfer when measured); other callers use {statusOfPair}.
    bytes4 internal constant RAW_PAIR_TAG = 0xd2e3f500;
    uint256 internal constant FROZEN_BIT = 1 << 8;
}

/// @notice The wallet is frozen by compliance (globally in the registry, or in this token).
error WalletFrozen(address wallet);
/// @notice The wallet's classification is SANCTIONED.
error SanctionedWallet(address wallet);
/// @notice The wallet holds no classification token.
error UnclassifiedWallet(address wallet);
/// @notice The receiver's class is not eligible for this instrument.
error IneligibleReceiver(address wallet, uint8 classCode);

/// @title Read side of the classification registry used by the tokens
interface IComplianceRegistry {
    /// @notice The packed status word of `wallet` (see {Compliance}).
    function statusOf(address wallet) external view returns (uint256);

    /// @notice The status words of two wallets in one call (a transfer's sender and receiver).
    function statusOfPair(address a, address b) external view returns (uint256, uint256);

    /// @notice The status words of many wallets in one call (the payees of a repayment batch):
    ///         `words[i]` is the word of `wallets[i]`.
    function statusOfMany(address[] calldata wallets) external view returns (uint256[] memory words);
}
