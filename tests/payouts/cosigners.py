"""A 2-of-3 custody quorum for tests: three cosigners on the published BIP 39 test mnemonics (never
real keys), each an unchanged BDK wallet (``bdkpython``) holding its one key of the BIP 48 P2WSH
account ``m/48'/1'/0'/2'``; the engine sees only the public ``wsh(sortedmulti(2, ...))``."""

from __future__ import annotations

from dataclasses import dataclass

import bdkpython as bdk

MNEMONICS = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    "legal winner thank year wave sausage worth useful legal winner thank yellow",
    "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
)
FOREIGN_MNEMONIC = "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong"


def account(mnemonic: str) -> tuple[str, str]:
    """(xprv, xpub) descriptor keys ``[fp/48'/1'/0'/2']key`` (without a derivation suffix)."""
    secret = bdk.DescriptorSecretKey(bdk.NetworkKind.TEST, bdk.Mnemonic.from_string(mnemonic), None)
    derived = secret.derive(bdk.DerivationPath("m/48h/1h/0h/2h"))
    return str(derived).rsplit("/*", 1)[0], str(derived.as_public()).rsplit("/*", 1)[0]


def custody_descriptor(threshold: int = 2) -> str:
    """The public multipath descriptor the engine is configured with."""
    keys = [f"{account(m)[1]}/<0;1>/*" for m in MNEMONICS]
    return f"wsh(sortedmulti({threshold},{','.join(keys)}))"


@dataclass
class Cosigner:
    """One signer: a BDK wallet that holds one of the three keys."""

    index: int
    wallets: tuple[bdk.Wallet, ...]

    def sign(self, psbt_b64: str) -> str:
        """The PSBT with this cosigner's signatures (BDK finalizes it when the quorum is met)."""
        psbt = bdk.Psbt(psbt_b64)
        for wallet in self.wallets:
            wallet.sign(psbt)
        return psbt.serialize()


def cosigner(index: int, mnemonics: tuple[str, ...] = MNEMONICS, threshold: int = 2) -> Cosigner:
    """The BDK wallets (receive and change keychains) of cosigner ``index``."""
    accounts = [account(m) for m in mnemonics]

    def descriptor(branch: int) -> bdk.Descriptor:
        keys = [f"{(xprv if i == index else xpub)}/{branch}/*" for i, (xprv, xpub) in enumerate(accounts)]
        return bdk.Descriptor(f"wsh(sortedmulti({threshold},{','.join(keys)}))", bdk.NetworkKind.TEST)

    # Receive and change keychains as two wallets: each signs the inputs of its branch.
    return Cosigner(index, (
        bdk.Wallet(descriptor(0), descriptor(1), bdk.Network.REGTEST, bdk.Persister.new_in_memory()),
        bdk.Wallet(descriptor(1), descriptor(0), bdk.Network.REGTEST, bdk.Persister.new_in_memory()),
    ))


def with_foreign_signature(psbt_b64: str) -> str:
    """The PSBT with a valid-looking signature of every input by a key outside the quorum (what a
    wallet signing with the wrong key, or an attacker, would return)."""
    from embit import bip32, bip39
    from embit.psbt import PSBT

    psbt = PSBT.from_string(psbt_b64)
    key = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(FOREIGN_MNEMONIC)).derive("m/48h/1h/0h/2h/0/0")
    for index, inp in enumerate(psbt.inputs):
        digest = psbt.sighash(index)
        inp.partial_sigs[key.get_public_key()] = key.key.sign(digest).serialize() + b"\x01"
    return psbt.to_string()
