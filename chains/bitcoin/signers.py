"""Payout signers (BIP 174 signer and finalizer roles).

``Signer.sign(payout)`` returns either a ``SignedPayout`` (hex + txid, to be stored *before*
broadcast) or ``AwaitingSignature`` (the PSBT to hand to people or an HSM):

* ``HotSigner`` holds the account's private key (a tprv the caller read from the environment
  or a secret file), signs and finalizes at once. Refused on mainnet.
* ``ExternalSigner`` returns the unsigned PSBT; ``accept_signed`` later takes the signed one,
  checks it spends the same inputs and pays exactly the intended outputs, verifies every
  signature, and finalizes it.

Raises (``chains.bitcoin.errors``): SignerError (codes ``hot_signer_mainnet``, ``key_mismatch``,
``incomplete_signatures``, ``invalid_signature``), PsbtMismatch (``psbt_mismatch``, ``invalid_psbt``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from embit import bip32
from embit.base import EmbitError
from embit.descriptor import Descriptor
from embit.finalizer import finalize_psbt
from embit.psbt import PSBT

from chains.bitcoin.errors import PsbtMismatch, SignerError
from chains.bitcoin.payout import UnsignedPayout
from chains.bitcoin.script_verify import InvalidSpend, verify_transaction
from chains.bitcoin.tx_weight import tx_vsize
from chains.bitcoin.wallet import HARDENED, CustodyWallet
from domain.bitcoin_address import Network, embit_network


@dataclass(frozen=True)
class SignedPayout:
    """A fully signed payout: store it, then broadcast ``tx_hex``. ``fee_sats`` in sats, ``vsize_vb`` in vB."""

    txid: str
    tx_hex: str
    fee_sats: int
    vsize_vb: int


@dataclass(frozen=True)
class AwaitingSignature:
    """The payout waits for an external signature of ``psbt`` (base64)."""

    psbt: str
    txid: str


class Signer(ABC):
    """Signs custody payouts; ``kind`` is the config value that selects it (``hot`` | ``external``)."""

    kind: str

    @abstractmethod
    def sign(self, payout: UnsignedPayout) -> SignedPayout | AwaitingSignature:
        """Sign ``payout``, or say that it awaits an external signature."""


class HotSigner(Signer):
    """Signs with the account private key. For regtest, signet and testnet only.

    Parameters:
        secret: extended private key (tprv), either the master key or the BIP 84 account key.
        wallet: the custody wallet whose descriptor the key must match.

    Raises:
        SignerError: mainnet (``hot_signer_mainnet``), unparseable or public key, or a key that
            does not belong to the wallet's account (``key_mismatch``).
    """

    kind = "hot"

    def __init__(self, secret: str, wallet: CustodyWallet) -> None:
        if wallet.network is Network.MAINNET:
            raise SignerError("the hot signer is refused on mainnet", code="hot_signer_mainnet")
        try:
            key = bip32.HDKey.from_string(secret.strip())
        except (EmbitError, ValueError) as exc:
            raise SignerError("signing secret is not an extended private key", code="key_mismatch") from exc
        if not key.is_private or key.version != embit_network(wallet.network)["xprv"]:
            raise SignerError(f"signing secret must be a {wallet.network} extended private key", code="key_mismatch")
        account = key.derive(list(wallet.account_path)) if key.depth == 0 else key
        if account.to_public().to_base58() != wallet.account_xpub:
            raise SignerError("signing key does not match the custody descriptor", code="key_mismatch")
        path = "/".join(f"{i - HARDENED}h" if i >= HARDENED else str(i) for i in wallet.account_path)
        self._descriptor = Descriptor.from_string(f"wpkh([{wallet.fingerprint.hex()}/{path}]{account.to_base58()}/<0;1>/*)")
        self._wallet = wallet

    def sign(self, payout: UnsignedPayout) -> SignedPayout:
        psbt = PSBT.from_string(payout.psbt)
        signed = psbt.sign_with(self._descriptor)
        if signed != len(psbt.inputs):
            raise SignerError(f"signed {signed} of {len(psbt.inputs)} inputs", code="incomplete_signatures")
        return _finalize(psbt, payout)


class ExternalSigner(Signer):
    """Hands the unsigned PSBT out and checks what comes back."""

    kind = "external"

    def sign(self, payout: UnsignedPayout) -> AwaitingSignature:
        return AwaitingSignature(psbt=payout.psbt, txid=payout.unsigned_txid)

    def accept_signed(self, payout: UnsignedPayout, signed_psbt: str) -> SignedPayout:
        """Accept the signed PSBT of ``payout``.

        Raises:
            PsbtMismatch: unparseable, other inputs, or outputs not exactly the intended ones.
            SignerError: missing (``incomplete_signatures``) or bad (``invalid_signature``) signatures.
        """
        try:
            returned = PSBT.from_string(signed_psbt.strip())
        except (EmbitError, ValueError) as exc:
            raise PsbtMismatch("not a PSBT", code="invalid_psbt") from exc
        expected = PSBT.from_string(payout.psbt).tx
        spends = [(i.txid, i.vout) for i in returned.tx.vin]
        if spends != [(i.txid, i.vout) for i in expected.vin]:
            raise PsbtMismatch("the signed PSBT spends other inputs than the payout")
        pays = [(o.value, o.script_pubkey.data) for o in returned.tx.vout]
        if pays != [(o.amount_sats, o.script_pubkey) for o in payout.outputs]:
            raise PsbtMismatch("the signed PSBT does not pay exactly the intended outputs")
        if returned.tx.txid() != expected.txid():
            raise PsbtMismatch("the signed PSBT changed version, locktime or sequences")
        return _finalize(returned, payout)


def _finalize(psbt: PSBT, payout: UnsignedPayout) -> SignedPayout:
    """Finalize, then verify every input against the UTXOs the payout was built from."""
    tx = finalize_psbt(psbt)
    if tx is None:
        raise SignerError("the PSBT is not fully signed", code="incomplete_signatures")
    prevouts = [i.witness_utxo for i in PSBT.from_string(payout.psbt).inputs]
    try:
        verify_transaction(tx, prevouts)
    except InvalidSpend as exc:
        raise SignerError(str(exc), code="invalid_signature") from exc
    raw = tx.serialize()
    return SignedPayout(txid=tx.txid().hex(), tx_hex=raw.hex(), fee_sats=payout.plan.fee_sats, vsize_vb=tx_vsize(tx))

