"""Sandbox state on disk (optional): the faucet key, canonical blocks, mempool, fee estimates and
mining policy.

Written as one JSON file, atomically (write then rename), after every change. Loading replays
the blocks through the same connect logic, so the UTXO set is rebuilt, not trusted, and the
mempool through the same acceptance checks. The faucet key is a throwaway regtest key generated
on first start; it never leaves the state directory.

A state file whose chain does not start at Bitcoin's regtest genesis block (files written before
the sandbox used it) cannot be replayed on top of it: it is set aside as ``<file>.discarded``,
with a warning in the log, and a fresh chain starts.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

from embit import hashes
from embit.ec import PrivateKey
from embit.transaction import Transaction

from custody_sandbox.esplora.blocks import REGTEST_GENESIS_HASH, Block
from custody_sandbox.esplora.chain import MiningPolicy, SandboxChain
from custody_sandbox.state_files import set_aside, write_atomically

log = logging.getLogger(__name__)

STATE_FILE = "esplora-sandbox.json"
DEFAULT_FEE_ESTIMATES: dict[str, float] = {"1": 20.0, "2": 15.0, "3": 10.0, "6": 5.0, "12": 3.0, "144": 1.0, "1008": 1.0}
BOOTSTRAP_BLOCKS = 101
"""Mined at first start so that the faucet has mature coinbase coins (100-block maturity)."""


class SandboxState:
    """Chain, faucet key and fee estimates of one sandbox, with optional persistence."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.path = Path(state_dir) / STATE_FILE if state_dir else None
        self.fee_estimates: dict[str, float] = dict(DEFAULT_FEE_ESTIMATES)
        if self.path and self.path.exists():
            body = json.loads(self.path.read_text())
            if body.get("genesis") == REGTEST_GENESIS_HASH:
                self._load(body)
                return
            discarded = set_aside(self.path)
            log.warning(
                "esplora sandbox: %s holds a chain from before the regtest genesis block %s; "
                "moved it to %s and starting a fresh chain", self.path, REGTEST_GENESIS_HASH, discarded.name,
            )
        self.key = PrivateKey(secrets.token_bytes(32))
        self.chain = SandboxChain(_p2wpkh(self.key))
        self.chain.genesis()
        self.chain.mine(BOOTSTRAP_BLOCKS)
        self.save()

    def save(self) -> None:
        """Write the state file if a state directory was given."""
        if self.path is None:
            return
        chain = self.chain
        with chain.lock:
            body = {
                "genesis": REGTEST_GENESIS_HASH,
                "faucet_secret": self.key.secret.hex(),
                "extra_nonce": chain.extra_nonce,
                "fee_estimates": self.fee_estimates,
                "blocks": [
                    {"timestamp": b.timestamp, "nonce": b.nonce, "txs": [tx.serialize().hex() for tx in b.txs]}
                    for b in (chain.blocks[h] for h in chain.best)
                ],
                "mempool": [tx.serialize().hex() for tx in chain.mempool.values()],
                "mining_policy": {
                    "min_fee_rate_sat_vb": chain.mining_policy.min_fee_rate_sat_vb,
                    "hold_txids": sorted(chain.mining_policy.hold_txids),
                },
            }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(body))

    def _load(self, body: dict) -> None:
        self.key = PrivateKey(bytes.fromhex(body["faucet_secret"]))
        self.fee_estimates = body.get("fee_estimates", self.fee_estimates)
        chain = SandboxChain(_p2wpkh(self.key))
        chain.genesis()
        for height, stored in enumerate(body["blocks"][1:], start=1):
            previous = bytes.fromhex(chain.best[-1])[::-1]
            txs = [Transaction.from_string(raw) for raw in stored["txs"]]
            block = Block(height, previous, stored["timestamp"], txs, nonce=stored["nonce"]).solve()
            chain._connect(block)  # noqa: SLF001 - replaying our own blocks
        chain.extra_nonce = body["extra_nonce"]
        policy = body.get("mining_policy") or {}
        chain.mining_policy = MiningPolicy(
            float(policy.get("min_fee_rate_sat_vb", 0.0)), set(policy.get("hold_txids", ()))
        )
        for raw in body["mempool"]:
            chain.accept(Transaction.from_string(raw))
        self.chain = chain


def _p2wpkh(key: PrivateKey) -> bytes:
    return b"\x00\x14" + hashes.hash160(key.get_public_key().sec())
