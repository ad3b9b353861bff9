"""BIP-84 published test vectors through the custody wallet descriptor, and what the wallet refuses."""

from __future__ import annotations

import pytest
from embit import bip32, bip39
from embit.networks import NETWORKS

from chains.bitcoin.errors import WalletError
from chains.bitcoin.wallet import CustodyWallet
from domain.bitcoin_address import Network, parse_address

# BIP-84 "Test vectors" section (public): mnemonic, account 0 zpub, first receive / second receive / first change.
BIP84_MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
BIP84_ACCOUNT_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
)
BIP84_RECEIVE_0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
BIP84_RECEIVE_1 = "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
BIP84_CHANGE_0 = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"


def _account(coin: int) -> tuple[str, str]:
    root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(BIP84_MNEMONIC))
    version = NETWORKS["main" if coin == 0 else "test"]["xpub"]
    xpub = root.derive(f"m/84h/{coin}h/0h").to_public().to_base58(version=version)
    return root.my_fingerprint.hex(), xpub


def _xpub_from_zpub(zpub: str) -> str:
    return bip32.HDKey.from_string(zpub).to_base58(version=NETWORKS["main"]["xpub"])


def test_published_zpub_matches_mnemonic() -> None:
    _, xpub = _account(0)
    assert _xpub_from_zpub(BIP84_ACCOUNT_ZPUB) == xpub


def test_multipath_descriptor_derives_bip84_vectors() -> None:
    fingerprint, _ = _account(0)
    xpub = _xpub_from_zpub(BIP84_ACCOUNT_ZPUB)
    wallet = CustodyWallet(f"wpkh([{fingerprint}/84'/0'/0']{xpub}/<0;1>/*)", Network.MAINNET)
    assert wallet.receive_address(0) == BIP84_RECEIVE_0
    assert wallet.receive_address(1) == BIP84_RECEIVE_1
    assert wallet.change_address(0) == BIP84_CHANGE_0
    assert wallet.fingerprint.hex() == fingerprint == "73c5da0a"


def test_two_descriptor_form_derives_bip84_vectors() -> None:
    fingerprint, xpub = _account(0)
    origin = f"[{fingerprint}/84h/0h/0h]{xpub}"
    wallet = CustodyWallet(f"wpkh({origin}/0/*)", Network.MAINNET, change_descriptor=f"wpkh({origin}/1/*)")
    assert (wallet.receive_address(0), wallet.change_address(0)) == (BIP84_RECEIVE_0, BIP84_CHANGE_0)


@pytest.mark.parametrize("network", [Network.TESTNET, Network.SIGNET, Network.REGTEST])
def test_test_networks_derive_their_own_addresses(network: Network) -> None:
    fingerprint, tpub = _account(1)
    wallet = CustodyWallet(f"wpkh([{fingerprint}/84'/1'/0']{tpub}/<0;1>/*)", network)
    addresses = {wallet.receive_address(i) for i in range(20)} | {wallet.change_address(i) for i in range(20)}
    assert len(addresses) == 40
    for address in addresses:
        parse_address(address, network)
    derived = wallet.derive(1, 7)
    assert derived.path == (0x80000054, 0x80000001, 0x80000000, 1, 7)


@pytest.mark.parametrize(
    ("descriptor", "network", "code"),
    [
        ("wpkh([73c5da0a/84'/0'/0']{tpub}/<0;1>/*)", Network.MAINNET, "wrong_network"),
        ("wpkh([73c5da0a/84'/0'/0']{xpub}/<0;1>/*)", Network.REGTEST, "wrong_network"),
        ("wpkh([73c5da0a/84'/0'/0']{tpub}/<0;1>/*)", Network.TESTNET, "wrong_network"),
        ("wpkh({tpub}/<0;1>/*)", Network.TESTNET, "invalid_descriptor"),
        ("pkh([73c5da0a/84'/1'/0']{tpub}/<0;1>/*)", Network.TESTNET, "invalid_descriptor"),
        ("wpkh([73c5da0a/84'/1'/0']{tpub}/0/*)", Network.TESTNET, "invalid_descriptor"),
        ("wpkh([73c5da0a/84'/1'/0']{tprv}/<0;1>/*)", Network.TESTNET, "private_key"),
        ("not a descriptor", Network.TESTNET, "invalid_descriptor"),
    ],
)
def test_refused_descriptors(descriptor: str, network: Network, code: str) -> None:
    root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(BIP84_MNEMONIC))
    keys = {
        "xpub": root.derive("m/84h/0h/0h").to_public().to_base58(version=NETWORKS["main"]["xpub"]),
        "tpub": root.derive("m/84h/1h/0h").to_public().to_base58(version=NETWORKS["test"]["xpub"]),
        "tprv": root.derive("m/84h/1h/0h").to_base58(version=NETWORKS["test"]["xprv"]),
    }
    with pytest.raises(WalletError) as exc:
        CustodyWallet(descriptor.format(**keys), network)
    assert exc.value.code == code


@pytest.mark.parametrize("index", [-1, 2**31, "3"])
def test_index_out_of_range(index: object) -> None:
    fingerprint, tpub = _account(1)
    wallet = CustodyWallet(f"wpkh([{fingerprint}/84'/1'/0']{tpub}/<0;1>/*)", Network.REGTEST)
    with pytest.raises(WalletError):
        wallet.receive_address(index)  # type: ignore[arg-type]
