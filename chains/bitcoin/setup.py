"""Building the Bitcoin side from configuration: Esplora client, custody wallet, signer, and the
start-up check of the custody settings (:func:`custody_problems`, run by ``custody check-config``
and every process through ``config.validation``).

Also bootstraps a random development wallet (regtest/signet/testnet only) so ``custody dev``
needs no keys from the user; its private key goes to a 0600 file, never into the config.
"""

from __future__ import annotations

import os
from pathlib import Path

from embit import bip32

from chains.bitcoin.errors import SignerError, WalletError
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.signers import ExternalSigner, HotSigner, Signer
from chains.bitcoin.wallet import CustodyWallet
from config.settings import BitcoinSettings
from domain.bitcoin_address import Network, embit_network
from domain.custody_script import CustodyScript

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


def _configured_descriptor(settings: BitcoinSettings) -> str | None:
    try:
        return custody_descriptor(settings)
    except WalletError:
        return None  # not configured yet (development bootstraps it at start)


def _wallet_reason(exc: WalletError) -> str:
    if str(exc).startswith("unparseable descriptor"):
        return "not a descriptor: expected wpkh(KEY/<0;1>/*) or wsh(sortedmulti(M,KEY1/<0;1>/*,...)) (BIP 380-389)"
    return str(exc)


def custody_problems(settings: BitcoinSettings) -> tuple[CustodyScript | None, list[str]]:
    """The custody descriptor's script and one line per problem of the custody settings.

    Refused: a descriptor that does not parse or is not ``wpkh``/``wsh(sortedmulti)``; keys or
    origins of another network; the hot signer on mainnet; a hot secret that matches no key or
    more than one; external signer fingerprints that name no key of the descriptor; and a
    quorum the signers cannot meet (the hot signer holds at most one key, the external signers
    one each). Lines name keys, never values.
    """
    problems = []
    if settings.signer == "hot" and settings.network == "mainnet":
        problems.append("config: bitcoin.signer: the hot signer is refused on mainnet; use external signers")
    text = _configured_descriptor(settings)
    if text is None:
        return None, problems
    try:
        wallet = CustodyWallet(text, Network(settings.network))
    except WalletError as exc:
        problems.append(f"config: bitcoin.custody_descriptor: {_wallet_reason(exc)}")
        return None, problems
    fingerprints = [k.fingerprint.hex() for k in wallet.account_keys]
    listed = {f.strip().lower() for f in settings.external_signer_fingerprints}
    if listed - set(fingerprints):
        problems.append("config: bitcoin.external_signer_fingerprints: names a key that is not in "
                        "bitcoin.custody_descriptor")
    hot_key: int | None = None
    secret = signing_secret(settings) if settings.signer == "hot" and settings.network != "mainnet" else None
    if secret is not None:
        try:
            hot_key = HotSigner(secret, wallet).key_index
        except SignerError as exc:
            problems.append(f"config: bitcoin.signing_secret: {exc}")
    hot = 1 if settings.signer == "hot" else 0
    if listed:
        own = fingerprints[hot_key] if hot_key is not None else None
        external = len(listed & set(fingerprints) - {own})
    else:
        external = len(fingerprints) - hot
    if hot + external < wallet.threshold:
        problems.append(
            f"config: bitcoin.signer: the custody quorum of {wallet.threshold} signatures cannot be met: the hot "
            f"signer holds at most one key and {external} external signer(s) are configured")
    return wallet.script, problems


def custody_wallet(settings: BitcoinSettings) -> CustodyWallet:
    return CustodyWallet(custody_descriptor(settings), Network(settings.network))


def signing_secret(settings: BitcoinSettings) -> str | None:
    if settings.signing_secret is not None:
        return settings.signing_secret.get_secret_value()
    if settings.signing_secret_file and settings.signing_secret_file.exists():
        return settings.signing_secret_file.read_text().strip()
    return None


def payout_signer(settings: BitcoinSettings, wallet: CustodyWallet) -> Signer:
    """``HotSigner`` (test networks, secret configured; one key of the descriptor) or
    ``ExternalSigner`` (no key: every signature comes through the admin API).

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

