"""Multisig custody without a chain: the ``wsh(sortedmulti)`` descriptor (BIP 383/389) and what
the wallet refuses; the hot signer's one key; the quorum of a PSBT (BIP 174 combiner and
finalizer) and the contributions refused; the start-up check of the custody settings."""

from __future__ import annotations

import pytest
from embit import bip32
from embit.networks import NETWORKS
from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from chains.bitcoin import psbt_roles
from chains.bitcoin.errors import PsbtMismatch, SignerError, WalletError
from chains.bitcoin.payout import PayoutOutput, build_transaction
from chains.bitcoin.setup import custody_problems
from chains.bitcoin.signers import HotSigner
from chains.bitcoin.wallet import CHANGE_BRANCH, CustodyWallet
from config.settings import BitcoinSettings
from domain.bitcoin_payout import SpendableUtxo
from domain.custody_script import CustodyScriptKind

NET = NETWORKS["regtest"]
MASTERS = [bip32.HDKey.from_seed(bytes([i + 1]) * 32, version=NET["xprv"]) for i in range(4)]


def key(i: int, path: str = "48h/1h/0h/2h", network: str = "regtest") -> str:
    params = NETWORKS[network if network != "mainnet" else "main"]
    master = bip32.HDKey.from_seed(bytes([i + 1]) * 32, version=params["xprv"])
    xpub = master.derive(f"m/{path}").to_public().to_base58(version=params["xpub"])
    return f"[{master.my_fingerprint.hex()}/{path}]{xpub}/<0;1>/*"


def descriptor(m: int = 2, keys: tuple[int, ...] = (0, 1, 2), **kw) -> str:
    return f"wsh(sortedmulti({m},{','.join(key(i, **kw) for i in keys)}))"


class TestDescriptor:
    def test_two_of_three_derives_p2wsh_addresses_with_every_key(self) -> None:
        wallet = CustodyWallet(descriptor(), "regtest")
        assert (wallet.script.kind, wallet.threshold, len(wallet.account_keys)) == (CustodyScriptKind.P2WSH_MULTISIG, 2, 3)
        derived = wallet.derive(CHANGE_BRANCH, 7)
        assert derived.address.startswith("bcrt1q") and len(derived.script_pubkey) == 34
        assert derived.witness_script[0] == 0x52 and derived.witness_script[-2:] == bytes([0x53, 0xAE])
        assert [k.path[-2:] for k in derived.keys] == [(1, 7)] * 3

    def test_the_order_of_keys_does_not_change_addresses_sortedmulti(self) -> None:
        a = CustodyWallet(descriptor(keys=(0, 1, 2)), "regtest").receive_address(0)
        assert a == CustodyWallet(descriptor(keys=(2, 0, 1)), "regtest").receive_address(0)

    @pytest.mark.parametrize(("text", "code"), [
        ("garbage", "invalid_descriptor"),
        ("wsh(multi(2,KEYS))", "invalid_descriptor"),  # unsorted multi: the order would matter
        ("sh(wsh(sortedmulti(2,KEYS)))", "invalid_descriptor"),
        ("wsh(sortedmulti(2,KEY0,KEY0,KEY1))", "invalid_descriptor"),  # one key twice
        ("wsh(sortedmulti(4,KEYS))", "invalid_descriptor"),
        ("wsh(sortedmulti(2,MAINKEYS))", "wrong_network"),
        ("wsh(sortedmulti(2,COIN0KEYS))", "wrong_network"),  # tpubs with a mainnet origin
        ("wsh(sortedmulti(2,BIP84KEYS))", "invalid_descriptor"),  # not a BIP 48 P2WSH origin
    ])
    def test_refused(self, text: str, code: str) -> None:
        text = (text.replace("MAINKEYS", ",".join(key(i, "48h/0h/0h/2h", "mainnet") for i in range(3)))
                .replace("COIN0KEYS", ",".join(key(i, "48h/0h/0h/2h") for i in range(3)))
                .replace("BIP84KEYS", ",".join(key(i, "84h/1h/0h") for i in range(3)))
                .replace("KEYS", ",".join(key(i) for i in range(3))).replace("KEY0", key(0)).replace("KEY1", key(1)))
        with pytest.raises(WalletError) as caught:
            CustodyWallet(text, "regtest")
        assert caught.value.code == code


def _payout(wallet: CustodyWallet) -> str:
    spk = wallet.derive(0, 3).script_pubkey
    prev = Transaction(version=2, vin=[TransactionInput(b"\x11" * 32, 0)], vout=[TransactionOutput(100_000, Script(spk))])
    txid = prev.txid().hex()
    change = wallet.derive(CHANGE_BRANCH, 2).script_pubkey
    return build_transaction(
        wallet, inputs=[SpendableUtxo(txid, 0, 100_000, 0, 3)], change_vout=1, change_index=2,
        outputs=[PayoutOutput(bytes.fromhex("0014" + "22" * 20), 50_000), PayoutOutput(change, 49_000)],
        previous_txs={txid: prev.serialize().hex()}).to_string()


class TestQuorum:
    def test_two_signers_make_a_verified_transaction_one_does_not(self) -> None:
        wallet = CustodyWallet(descriptor(), "regtest")
        psbt = _payout(wallet)
        a = psbt_roles.contribution(wallet, psbt, HotSigner(MASTERS[0].to_base58(), wallet).sign_psbt(psbt))
        once = psbt_roles.combine(psbt, a)
        assert psbt_roles.finalize(once) is None and psbt_roles.signed_keys(wallet, once) == {0}
        c = psbt_roles.contribution(wallet, once, HotSigner(MASTERS[2].to_base58(), wallet).sign_psbt(once))
        tx = psbt_roles.finalize(psbt_roles.combine(once, c))
        assert tx is not None and len(tx.vin[0].witness.items) == 4  # [<empty>, sig, sig, script]

    def test_refusals(self) -> None:
        wallet = CustodyWallet(descriptor(), "regtest")
        psbt = _payout(wallet)
        signed = HotSigner(MASTERS[0].to_base58(), wallet).sign_psbt(psbt)
        once = psbt_roles.combine(psbt, psbt_roles.contribution(wallet, psbt, signed))
        with pytest.raises(SignerError, match="adds no signature") as dup:
            psbt_roles.contribution(wallet, once, signed)
        assert dup.value.code == "duplicate_signature"
        both = HotSigner(MASTERS[2].to_base58(), wallet).sign_psbt(HotSigner(MASTERS[1].to_base58(), wallet).sign_psbt(once))
        with pytest.raises(SignerError) as two:
            psbt_roles.contribution(wallet, once, both)
        assert two.value.code == "one_key_per_contribution"
        outsider = CustodyWallet(descriptor(keys=(3, 1, 2)), "regtest")
        other = _payout(outsider)
        with pytest.raises(PsbtMismatch):
            psbt_roles.contribution(wallet, psbt, other)
        with pytest.raises(PsbtMismatch) as bad:
            psbt_roles.contribution(wallet, psbt, "not a psbt at all")
        assert bad.value.code == "invalid_psbt"

    def test_a_tampered_signature_is_invalid(self) -> None:
        from embit.psbt import PSBT

        wallet = CustodyWallet(descriptor(), "regtest")
        psbt = _payout(wallet)
        signed = PSBT.from_string(HotSigner(MASTERS[0].to_base58(), wallet).sign_psbt(psbt))
        (pub, sig), = signed.inputs[0].partial_sigs.items()
        signed.inputs[0].partial_sigs[pub] = sig[:-2] + bytes([sig[-2] ^ 1, sig[-1]])
        with pytest.raises(SignerError) as caught:
            psbt_roles.contribution(wallet, psbt, signed.to_string())
        assert caught.value.code == "invalid_signature"


class TestHotSigner:
    def test_holds_the_one_key_that_matches(self) -> None:
        wallet = CustodyWallet(descriptor(), "regtest")
        assert HotSigner(MASTERS[1].to_base58(), wallet).key_index == 1

    def test_a_secret_matching_two_keys_is_refused(self) -> None:
        same_seed = f"wsh(sortedmulti(2,{key(0)},{key(0, '48h/1h/1h/2h')},{key(1)}))"
        with pytest.raises(SignerError) as caught:
            HotSigner(MASTERS[0].to_base58(), CustodyWallet(same_seed, "regtest"))
        assert caught.value.code == "hot_signer_many_keys"

    def test_a_foreign_secret_is_refused(self) -> None:
        with pytest.raises(SignerError) as caught:
            HotSigner(MASTERS[3].to_base58(), CustodyWallet(descriptor(), "regtest"))
        assert caught.value.code == "key_mismatch"


class TestStartUpCheck:
    def lines(self, **kw) -> list[str]:
        return custody_problems(BitcoinSettings(**kw))[1]

    def test_a_good_quorum(self) -> None:
        assert self.lines(custody_descriptor=descriptor(), signer="external") == []

    def test_garbage(self) -> None:
        (line,) = self.lines(custody_descriptor="garbage")
        assert line.startswith("config: bitcoin.custody_descriptor: not a descriptor")

    def test_keys_of_another_network(self) -> None:
        (line,) = self.lines(custody_descriptor=descriptor(path="48h/0h/0h/2h", network="mainnet"))
        assert line.startswith("config: bitcoin.custody_descriptor:") and "tpub" in line

    def test_a_quorum_the_signers_cannot_meet(self) -> None:
        fingerprints = [MASTERS[1].my_fingerprint.hex()]
        (line,) = self.lines(custody_descriptor=descriptor(m=3), signer="hot", external_signer_fingerprints=fingerprints)
        assert line.startswith("config: bitcoin.signer: the custody quorum of 3 signatures cannot be met")

    def test_external_signers_that_are_not_cosigners(self) -> None:
        lines = self.lines(custody_descriptor=descriptor(), signer="external", external_signer_fingerprints=["deadbeef"])
        assert lines[0].startswith("config: bitcoin.external_signer_fingerprints: names a key that is not")

    def test_the_hot_signer_on_mainnet(self) -> None:
        lines = self.lines(network="mainnet", signer="hot",
                           custody_descriptor=descriptor(path="48h/0h/0h/2h", network="mainnet"))
        assert lines == ["config: bitcoin.signer: the hot signer is refused on mainnet; use external signers"]

    def test_works_on_mainnet_without_any_hot_key(self) -> None:
        assert self.lines(network="mainnet", signer="external",
                          custody_descriptor=descriptor(path="48h/0h/0h/2h", network="mainnet")) == []
