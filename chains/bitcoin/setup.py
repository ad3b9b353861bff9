"""Building the Bitcoin side from configuration: Esplora client, custody wallet, signer.

Also bootstraps a random development wallet (regtest/signet/testnet only) so ``custody dev``
needs no keys from the user; its private key goes to a 0600 file, never into the config.
"""

from __future__ import annotations

import os
from pathlib import Path

from embit import bip32

from chains.bitcoin.errors import WalletError
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.signers import ExternalSigner, HotSigner, Signer
from chains.bitcoin.wallet import CustodyWallet
from config.settings import BitcoinSettings
from domain.bitcoin_address import Network, embit_network

_COIN_TYPE = {"mainnet": 0, "testnet": 1, "signet": 1, "regtest": 1}


def esplora_client(settings: BitcoinSettings) -> EsploraClient:
    return EsploraClient(
        settings.esplora_url, timeout_seconds=settings.request_timeout_seconds, max_retries=settings.max_retries
    )


def custody_descriptor(settings: BitcoinSettings) -> str:
    """The public account descriptor, from ``custody_descriptor`` or ``custody_descriptor_file``.

    Raises:
        WalletError: neither is set, or the file is missing.
    """
    if settings.custody_descriptor:
        return settings.custody_descriptor.strip()
    if settings.custody_descriptor_file and settings.custody_descriptor_file.exists():
        return settings.custody_descriptor_file.read_text().strip()
    raise WalletError("bitcoin.custody_descriptor is not configured", code="descriptor_missing")


def custody_wallet(settings: BitcoinSettings) -> CustodyWallet:
    return CustodyWallet(custody_descriptor(settings), Network(settings.network))


def signing_secret(settings: BitcoinSettings) -> str | None:
    if settings.signing_secret is not None:
        return settings.signing_secret.get_secret_value()
    if settings.signing_secret_file and settings.signing_secret_file.exists():
        return settings.signing_secret_file.read_text().strip()
    return None


def payout_signer(settings: BitcoinSettings, wallet: CustodyWallet) -> Signer:
    """``HotSigner`` (test networks, secret configured) or ``ExternalSigner``.

    Raises:
        SignerError: hot signer asked for on mainnet, or its key does not match the wallet.
        WalletError: hot signer asked for without a secret.
    """
    if settings.signer == "external":
        return ExternalSigner()
    secret = signing_secret(settings)
    if secret is None:
        raise WalletError("bitcoin.signer is hot but no signing secret is configured", code="secret_missing")
    return HotSigner(secret, wallet)


def bootstrap_dev_wallet(settings: BitcoinSettings) -> bool:
    """Create a random wallet at the configured files when both are missing (test networks only).

    Returns True when a wallet was created.
    """
    desc_file, secret_file = settings.custody_descriptor_file, settings.signing_secret_file
    if settings.network == "mainnet" or desc_file is None or secret_file is None:
        return False
    if desc_file.exists() or secret_file.exists():
        return False
    descriptor, master = new_account(settings.network)
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(master + "\n")
    Path(desc_file).write_text(descriptor + "\n")
    return True


def new_account(network: str) -> tuple[str, str]:
    """A fresh BIP 84 account: ``(public multipath descriptor, master tprv)``."""
    versions = embit_network(Network(network))
    master = bip32.HDKey.from_seed(os.urandom(32), version=versions["xprv"])
    path = f"m/84h/{_COIN_TYPE[network]}h/0h"
    account = master.derive(path).to_public()
    origin = f"{master.my_fingerprint.hex()}/84h/{_COIN_TYPE[network]}h/0h"
    return f"wpkh([{origin}]{account.to_base58(version=versions['xpub'])}/<0;1>/*)", master.to_base58()

