"""The sandbox faucet: pays any regtest address from the coinbase coins of its own key.

Payments are real transactions, signed per BIP 143 and entered through the same mempool
checks as any broadcast (so a faucet bug cannot mint coins).
"""

from __future__ import annotations

from embit import hashes
from embit.ec import PrivateKey
from embit.script import Script, Witness
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput

from custody_sandbox.esplora.blocks import COINBASE_MATURITY_BLOCKS
from custody_sandbox.esplora.chain import SandboxChain
from custody_sandbox.esplora.scripts import AddressError, dust_threshold_sats, script_of_address
from custody_sandbox.esplora.weight import tx_vsize

FAUCET_FEE_RATE_SAT_VB = 2


class FaucetError(ValueError):
    """The faucet cannot pay (bad address, dust amount, or not enough mature coins)."""


class Faucet:
    """Pays from ``key``'s P2WPKH coins on ``chain``."""

    def __init__(self, chain: SandboxChain, key: PrivateKey) -> None:
        self.chain = chain
        self.key = key
        self.script = Script(b"\x00\x14" + hashes.hash160(key.get_public_key().sec()))

    def pay(self, address: str, amount_sats: int) -> tuple[str, int]:
        """Send ``amount_sats`` to ``address`` (regtest) at 2 sat/vB; returns the paying (txid, vout).

        Raises:
            FaucetError: invalid or non-regtest address, dust amount, or faucet empty.
        """
        try:
            destination = script_of_address(address)
        except (AddressError, ValueError) as exc:
            raise FaucetError(f"{exc}: {address!r}") from exc
        if not isinstance(amount_sats, int) or isinstance(amount_sats, bool) or amount_sats < dust_threshold_sats(destination):
            raise FaucetError(f"amount {amount_sats!r} sats is below the dust limit")
        with self.chain.lock:
            chosen, total = [], 0
            for outpoint, value in self._spendable():
                chosen.append((outpoint, value))
                total += value
                if total >= amount_sats + self._fee(chosen, destination, amount_sats) + 1000:
                    break
            else:
                raise FaucetError(f"faucet holds {total} spendable sats, cannot pay {amount_sats}")
            fee = self._fee(chosen, destination, amount_sats)
            tx = self._build(chosen, destination, amount_sats, total - amount_sats - fee)
            return self.chain.accept(tx), 0

    def _fee(self, chosen: list, destination: bytes, amount_sats: int) -> int:
        """Fee in sats for spending ``chosen``: the signed size of a trial build, at the faucet's rate."""
        trial = self._build(chosen, destination, amount_sats, 10_000)
        return FAUCET_FEE_RATE_SAT_VB * (tx_vsize(trial) + 1)  # +1 vB: a signature may be a byte longer

    def _build(self, chosen: list, destination: bytes, amount_sats: int, change_sats: int) -> Transaction:
        outputs = [TransactionOutput(amount_sats, Script(destination)), TransactionOutput(change_sats, self.script)]
        tx = Transaction(version=2, vin=[TransactionInput(bytes.fromhex(t), v) for (t, v), _ in chosen], vout=outputs)
        self._sign(tx, [value for _, value in chosen])
        return tx

    def _spendable(self) -> list[tuple[tuple[str, int], int]]:
        chain = self.chain
        found = []
        for outpoint, coin in chain.utxos.items():
            if coin.output.script_pubkey != self.script or outpoint in chain.mempool_spender:
                continue
            if coin.coinbase and chain.tip_height + 1 - coin.height < COINBASE_MATURITY_BLOCKS:
                continue
            found.append((outpoint, coin.output.value))
        for txid, tx in chain.mempool.items():
            for vout, output in enumerate(tx.vout):
                if output.script_pubkey == self.script and (txid, vout) not in chain.mempool_spender:
                    found.append(((txid, vout), output.value))
        return sorted(found, key=lambda item: -item[1])

    def _sign(self, tx: Transaction, values: list[int]) -> None:
        pubkey = self.key.get_public_key().sec()
        code = Script(b"\x76\xa9\x14" + hashes.hash160(pubkey) + b"\x88\xac")
        for index, value in enumerate(values):
            digest = tx.sighash_segwit(index, code, value, sighash=SIGHASH.ALL)
            signature = self.key.sign(digest).serialize() + bytes([SIGHASH.ALL])
            tx.vin[index].witness = Witness([signature, pubkey])
