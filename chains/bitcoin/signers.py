"""Payout signers (BIP 174 signer role; combining and finalizing: ``chains.bitcoin.psbt_roles``).

* ``HotSigner`` holds **one** cosigner key of the custody descriptor (a tprv the caller read
  from the environment or a secret file) and adds its signatures to a PSBT
  (:meth:`HotSigner.sign_psbt`). With single-key ``wpkh`` custody its signature is the quorum,
  so :meth:`HotSigner.sign` finalizes at once. Refused on mainnet; refused when the secret
  matches no key (``key_mismatch``) or more than one key of a multisig (``hot_signer_many_keys``:
  the engine may hold at most one).
* ``ExternalSigner`` holds no key: the PSBT goes to people or HSMs through the admin API and
  their partially signed copies come back (``psbt_roles.contribution``).

Raises (``chains.bitcoin.errors``): SignerError (codes ``hot_signer_mainnet``, ``key_mismatch``,
``hot_signer_many_keys``, ``incomplete_signatures``, ``invalid_signature``), PsbtMismatch
(``psbt_mismatch``, ``invalid_psbt``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from embit import bip32
from embit.base import EmbitError
from embit.descriptor import Descriptor
from embit.descriptor.arguments import Key

from chains.bitcoin import psbt_roles
from chains.bitcoin.errors import SignerError
from chains.bitcoin.payout import UnsignedPayout
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
    """The payout waits for external signatures of ``psbt`` (base64)."""

    psbt: str
    txid: str


class Signer(ABC):
    """Signs custody payouts; ``kind`` is the config value that selects it (``hot`` | ``external``)."""

    kind: str
    #: Index into ``wallet.account_keys`` of the key this signer holds (None: holds none).
    key_index: int | None = None

    @abstractmethod
    def sign(self, payout: UnsignedPayout) -> SignedPayout | AwaitingSignature:
        """Sign ``payout``, or say that it awaits external signatures."""

    def sign_psbt(self, psbt_b64: str) -> str:
        """The PSBT with this signer's signatures added (unchanged for a signer without a key)."""
        return psbt_b64


def _path_text(path: tuple[int, ...]) -> str:
    return "/".join(f"{i - HARDENED}h" if i >= HARDENED else str(i) for i in path)


class HotSigner(Signer):
    """Signs with one cosigner key. For regtest, signet and testnet only.

    Parameters:
        secret: extended private key (tprv): the master key, or the account key itself.
        wallet: the custody wallet whose descriptor holds the key.
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
        held = []
        for index, account in enumerate(wallet.account_keys):
            if key.depth == 0 and key.my_fingerprint != account.fingerprint:
                continue
            derived = key.derive(list(account.origin_path)) if key.depth == 0 else key
            if derived.to_public().to_base58() == account.xpub:
                held.append((index, derived))
        if not held:
            raise SignerError("signing key does not match the custody descriptor", code="key_mismatch")
        if len(held) > 1:
            raise SignerError("the hot signing key holds more than one key of the multisig; it may hold one",
                              code="hot_signer_many_keys")
        self.key_index, account_key = held[0]
        origin = wallet.account_keys[self.key_index]
        self._key = Key.from_string(f"[{origin.fingerprint.hex()}/{_path_text(origin.origin_path)}]"
                                    f"{account_key.to_base58()}/<0;1>/*")
        self._descriptor = (Descriptor.from_string(f"wpkh({self._key.to_string()})") if not wallet.is_multisig
                            else self._key)
        self._wallet = wallet

    def sign_psbt(self, psbt_b64: str) -> str:
        psbt = psbt_roles.parse(psbt_b64)
        signed = psbt.sign_with(self._key)
        if signed != len(psbt.inputs):
            raise SignerError(f"signed {signed} of {len(psbt.inputs)} inputs", code="incomplete_signatures")
        return psbt.to_string()

    def sign(self, payout: UnsignedPayout) -> SignedPayout | AwaitingSignature:
        signed = self.sign_psbt(payout.psbt)
        tx = psbt_roles.finalize(signed)
        if tx is None:
            return AwaitingSignature(psbt=signed, txid=payout.unsigned_txid)
        return SignedPayout(txid=tx.txid().hex(), tx_hex=tx.serialize().hex(), fee_sats=payout.plan.fee_sats,
                            vsize_vb=tx_vsize(tx))


class ExternalSigner(Signer):
    """Hands the unsigned PSBT out and checks what comes back."""

    kind = "external"

    def sign(self, payout: UnsignedPayout) -> AwaitingSignature:
        return AwaitingSignature(psbt=payout.psbt, txid=payout.unsigned_txid)

    def accept_signed(self, payout: UnsignedPayout, signed_psbt: str) -> SignedPayout:
        """Accept the fully signed PSBT of a single-key ``payout`` (one contribution is the quorum).

        Raises:
            PsbtMismatch: unparseable, other inputs, or outputs not exactly the intended ones.
            SignerError: missing (``incomplete_signatures``) or bad (``invalid_signature``) signatures.
        """
        returned = psbt_roles.parse(signed_psbt)
        psbt_roles.same_transaction(psbt_roles.parse(payout.psbt), returned)
        pays = [(o.value, o.script_pubkey.data) for o in returned.tx.vout]
        if pays != [(o.amount_sats, o.script_pubkey) for o in payout.outputs]:
            from chains.bitcoin.errors import PsbtMismatch

            raise PsbtMismatch("the signed PSBT does not pay exactly the intended outputs")
        for index, inp in enumerate(returned.inputs):  # the payout's own view of what is spent
            stored = psbt_roles.parse(payout.psbt).inputs[index]
            inp.witness_utxo, inp.witness_script = stored.witness_utxo, stored.witness_script
        tx = psbt_roles.finalize(returned.to_string())
        if tx is None:
            raise SignerError("the PSBT is not fully signed", code="incomplete_signatures")
        return SignedPayout(txid=tx.txid().hex(), tx_hex=tx.serialize().hex(), fee_sats=payout.plan.fee_sats,
                            vsize_vb=tx_vsize(tx))
