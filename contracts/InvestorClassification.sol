// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {DelayedAdmin} from "./DelayedAdmin.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC721Metadata} from "@openzeppelin/contracts/token/ERC721/extensions/IERC721Metadata.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {Compliance, IComplianceRegistry} from "./Compliance.sol";

/// @notice ERC-5192: minimal soulbound NFTs.
interface IERC5192 {
    /// @notice Emitted when the locking status is changed to locked.
    event Locked(uint256 tokenId);
    /// @notice Emitted when the locking status is changed to unlocked.
    event Unlocked(uint256 tokenId);

    /// @notice Returns the locking status of a soulbound token.
    function locked(uint256 tokenId) external view returns (bool);
}

/// @title InvestorClassification — one soulbound classification token per investor wallet
/// @notice The token id of a wallet's token is the wallet's address as a number, so the token is
///         found from the wallet without an index. Every wallet's class and global freeze flag live
///         in one storage word (see {Compliance}); the Stablecoin and every FinancialInstrument read
///         it through {statusOf}/{statusOfPair} on each transfer.
/// @dev The ERC-721 surface is implemented directly rather than by inheriting OpenZeppelin's ERC721:
///      ownership derives from the status word, so a mint is one SSTORE instead of three and a
///      transfer check reads one slot per party. Every transfer and approval reverts (ERC-5192 locked).
contract InvestorClassification is DelayedAdmin, IERC721Metadata, IERC5192, IERC721Errors, IComplianceRegistry {
    using Strings for uint256;

    /// @notice May mint, reclassify and revoke classification tokens.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice May freeze and unfreeze wallets for the stablecoin and every instrument at once.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");

    /// @dev wallet => status word (class code in bits 0-7, frozen flag in bit 8).
    mapping(address wallet => uint256) private _status;

    /// @notice A classification token was minted for `wallet`.
    event Classified(address indexed wallet, uint256 indexed tokenId, uint8 classCode);
    /// @notice The class of `wallet` changed (e.g. an AML alert turned it SANCTIONED).
    event Reclassified(address indexed wallet, uint256 indexed tokenId, uint8 previousClass, uint8 newClass);
    /// @notice The classification token of `wallet` was burned.
    event Revoked(address indexed wallet, uint256 indexed tokenId, uint8 previousClass);
    /// @notice `wallet` was frozen (true) or unfrozen (false) for every Drexfy token.
    event FreezeChanged(address indexed wallet, bool frozen);
    /// @notice ERC-4906: the metadata of `tokenId` changed, so indexers refresh its tokenURI.
    event MetadataUpdate(uint256 _tokenId);

    /// @notice The wallet already holds a classification token.
    error AlreadyClassified(address wallet, uint8 classCode);
    /// @notice The wallet holds no classification token.
    error NotClassified(address wallet);
    /// @notice `classCode` is not one of the five classes.
    error InvalidClass(uint8 classCode);
    /// @notice The wallet already has this class; nothing would change.
    error ClassUnchanged(address wallet, uint8 classCode);
    /// @notice The wallet is already in the requested freeze state.
    error FreezeUnchanged(address wallet, bool frozen);
    /// @notice Classification tokens cannot be transferred or approved (ERC-5192).
    error Soulbound(uint256 tokenId);
    /// @notice The zero address cannot be classified.
    error ZeroWallet();

    /// @param admin receives DEFAULT_ADMIN_ROLE (grants and revokes the other roles).
    constructor(address admin) DelayedAdmin(admin) {}

    // ---------------------------------------------------------------- registrar

    /// @notice Mint `wallet`'s classification token with `classCode`.
    function mint(address wallet, uint8 classCode) external onlyRole(REGISTRAR_ROLE) {
        if (wallet == address(0)) revert ZeroWallet();
        _checkClass(classCode);
        uint256 word = _status[wallet];
        uint8 current = uint8(word & Compliance.CLASS_MASK);
        if (current != Compliance.NONE) revert AlreadyClassified(wallet, current);
        _status[wallet] = word | classCode;
        uint256 tokenId = uint256(uint160(wallet));
        emit Transfer(address(0), wallet, tokenId);
        emit Locked(tokenId);
        emit Classified(wallet, tokenId, classCode);
    }

    /// @notice Change `wallet`'s class; its tokenURI changes with it.
    function reclassify(address wallet, uint8 classCode) external onlyRole(REGISTRAR_ROLE) {
        _checkClass(classCode);
        uint256 word = _status[wallet];
        uint8 current = uint8(word & Compliance.CLASS_MASK);
        if (current == Compliance.NONE) revert NotClassified(wallet);
        if (current == classCode) revert ClassUnchanged(wallet, classCode);
        _status[wallet] = (word & ~Compliance.CLASS_MASK) | classCode;
        uint256 tokenId = uint256(uint160(wallet));
        emit Reclassified(wallet, tokenId, current, classCode);
        emit MetadataUpdate(tokenId);
    }

    /// @notice Burn `wallet`'s classification token. A freeze on the wallet stays in force.
    function revoke(address wallet) external onlyRole(REGISTRAR_ROLE) {
        uint256 word = _status[wallet];
        uint8 current = uint8(word & Compliance.CLASS_MASK);
        if (current == Compliance.NONE) revert NotClassified(wallet);
        _status[wallet] = word & ~Compliance.CLASS_MASK;
        uint256 tokenId = uint256(uint160(wallet));
        emit Transfer(wallet, address(0), tokenId);
        emit Revoked(wallet, tokenId, current);
    }

    // ---------------------------------------------------------------- compliance

    /// @notice Freeze or unfreeze `wallet` for the stablecoin and every instrument.
    function setFrozen(address wallet, bool frozen) external onlyRole(COMPLIANCE_ROLE) {
        if (wallet == address(0)) revert ZeroWallet();
        uint256 word = _status[wallet];
        if (((word & Compliance.FROZEN_BIT) != 0) == frozen) revert FreezeUnchanged(wallet, frozen);
        _status[wallet] = frozen ? word | Compliance.FROZEN_BIT : word & ~Compliance.FROZEN_BIT;
        emit FreezeChanged(wallet, frozen);
        if (word & Compliance.CLASS_MASK != 0) emit MetadataUpdate(uint256(uint160(wallet)));
    }

    // ---------------------------------------------------------------- views

    /// @notice Raw pair read for the tokens' transfer hook (see {Compliance-RAW_PAIR_TAG}): exactly
    ///         68 bytes of calldata, tag + two addresses; returns the two status words. Anything
    ///         else sent to an unknown selector reverts.
    fallback() external {
        bytes4 tag = Compliance.RAW_PAIR_TAG;
        assembly ("memory-safe") {
            if iszero(and(eq(calldatasize(), 0x44), eq(shr(224, calldataload(0)), shr(224, tag)))) {
                revert(0x00, 0x00)
            }
            let mask := 0xffffffffffffffffffffffffffffffffffffffff
            mstore(0x00, and(calldataload(0x04), mask))
            mstore(0x20, _status.slot)
            let a := sload(keccak256(0x00, 0x40))
            mstore(0x00, and(calldataload(0x24), mask))
            let b := sload(keccak256(0x00, 0x40))
            mstore(0x00, a)
            mstore(0x20, b)
            return(0x00, 0x40)
        }
    }

    /// @inheritdoc IComplianceRegistry
    function statusOf(address wallet) external view returns (uint256) {
        return _status[wallet];
    }

    /// @inheritdoc IComplianceRegistry
    function statusOfPair(address a, address b) external view returns (uint256, uint256) {
        return (_status[a], _status[b]);
    }

    /// @inheritdoc IComplianceRegistry
    /// @dev The loop is in assembly (the mapping's slot computed in scratch space, no per-element
    ///      bounds checks): it runs once per payee of every repayment batch, and the checked
    ///      Solidity loop cost ~240 gas more per payee when measured (docs/evm.md section 6).
    ///      An address with dirty high bits reverts, as ABI decoding would.
    function statusOfMany(address[] calldata wallets) external view returns (uint256[] memory words) {
        uint256 n = wallets.length;
        words = new uint256[](n);
        assembly ("memory-safe") {
            mstore(0x20, _status.slot)
            let dst := add(words, 0x20)
            for {
                let src := wallets.offset
                let end := add(src, shl(5, n))
            } lt(src, end) {
                src := add(src, 0x20)
                dst := add(dst, 0x20)
            } {
                let wallet := calldataload(src)
                if shr(160, wallet) { revert(0x00, 0x00) }
                mstore(0x00, wallet)
                mstore(dst, sload(keccak256(0x00, 0x40)))
            }
        }
    }

    /// @notice The class code of `wallet` (0 when it holds no token).
    function classOf(address wallet) external view returns (uint8) {
        return uint8(_status[wallet] & Compliance.CLASS_MASK);
    }

    /// @notice Whether `wallet` is frozen for every Drexfy token.
    function isFrozen(address wallet) external view returns (bool) {
        return _status[wallet] & Compliance.FROZEN_BIT != 0;
    }

    /// @notice The token id of `wallet`'s classification token (whether or not it exists).
    function tokenIdOf(address wallet) external pure returns (uint256) {
        return uint256(uint160(wallet));
    }

    // ---------------------------------------------------------------- ERC-721 (read)

    /// @inheritdoc IERC721Metadata
    function name() external pure returns (string memory) {
        return "Drexfy Investor Classification";
    }

    /// @inheritdoc IERC721Metadata
    function symbol() external pure returns (string memory) {
        return "DXCLASS";
    }

    /// @notice On-chain JSON metadata naming the wallet's current class and freeze state.
    function tokenURI(uint256 tokenId) external view returns (string memory) {
        address wallet = _ownerOf(tokenId);
        uint256 word = _status[wallet];
        bytes memory json = abi.encodePacked(
            '{"name":"Drexfy classification ',
            Strings.toHexString(wallet),
            '","description":"Non-transferable investor classification (ERC-5192).","attributes":[',
            '{"trait_type":"classification","value":"',
            _className(uint8(word & Compliance.CLASS_MASK)),
            '"},{"trait_type":"frozen","value":"',
            word & Compliance.FROZEN_BIT != 0 ? "true" : "false",
            '"}]}'
        );
        return string.concat("data:application/json;base64,", Base64.encode(json));
    }

    /// @inheritdoc IERC721
    function balanceOf(address owner) external view returns (uint256) {
        if (owner == address(0)) revert ERC721InvalidOwner(address(0));
        return _status[owner] & Compliance.CLASS_MASK == 0 ? 0 : 1;
    }

    /// @inheritdoc IERC721
    function ownerOf(uint256 tokenId) external view returns (address) {
        return _ownerOf(tokenId);
    }

    /// @inheritdoc IERC721
    function getApproved(uint256 tokenId) external view returns (address) {
        _ownerOf(tokenId);
        return address(0);
    }

    /// @inheritdoc IERC721
    function isApprovedForAll(address, address) external pure returns (bool) {
        return false;
    }

    /// @inheritdoc IERC5192
    function locked(uint256 tokenId) external view returns (bool) {
        _ownerOf(tokenId);
        return true;
    }

    // ---------------------------------------------------------------- ERC-721 (write: all refused)

    /// @notice Always reverts: the token is soulbound.
    function approve(address, uint256 tokenId) external pure {
        revert Soulbound(tokenId);
    }

    /// @notice Always reverts: the token is soulbound.
    function setApprovalForAll(address, bool) external pure {
        revert Soulbound(0);
    }

    /// @notice Always reverts: the token is soulbound.
    function transferFrom(address, address, uint256 tokenId) external pure {
        revert Soulbound(tokenId);
    }

    /// @notice Always reverts: the token is soulbound.
    function safeTransferFrom(address, address, uint256 tokenId) external pure {
        revert Soulbound(tokenId);
    }

    /// @notice Always reverts: the token is soulbound.
    function safeTransferFrom(address, address, uint256 tokenId, bytes calldata) external pure {
        revert Soulbound(tokenId);
    }

    /// @inheritdoc AccessControlDefaultAdminRules
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(AccessControlDefaultAdminRules, IERC165)
        returns (bool)
    {
        return interfaceId == type(IERC721).interfaceId || interfaceId == type(IERC721Metadata).interfaceId
            || interfaceId == type(IERC5192).interfaceId || interfaceId == bytes4(0x49064906)
            || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- internals

    function _ownerOf(uint256 tokenId) private view returns (address wallet) {
        if (tokenId >> 160 != 0) revert ERC721NonexistentToken(tokenId);
        wallet = address(uint160(tokenId));
        if (_status[wallet] & Compliance.CLASS_MASK == 0) revert ERC721NonexistentToken(tokenId);
    }

    function _checkClass(uint8 classCode) private pure {
        if (classCode == Compliance.NONE || classCode > Compliance.MAX_CLASS) revert InvalidClass(classCode);
    }

    function _className(uint8 classCode) private pure returns (string memory) {
        if (classCode == Compliance.US_ACCREDITED) return "US_ACCREDITED";
        if (classCode == Compliance.US_NON_ACCREDITED) return "US_NON_ACCREDITED";
        if (classCode == Compliance.EU_ACCREDITED) return "EU_ACCREDITED";
        if (classCode == Compliance.EU_NON_ACCREDITED) return "EU_NON_ACCREDITED";
        return "SANCTIONED";
    }
}
