"""Payout benchmark (issue 17): the network fees of N withdrawals paid one transaction each versus
paid in one batch, measured in the same run on the same custody coins and fee rate.

Each mode gets a fresh migrated database and the same Esplora sandbox (served over real HTTP,
Bitcoin Core's mempool policy): 10 custody coins of 1 BTC, N withdrawals of 50,000 sats to
distinct P2WPKH addresses, queued as the withdrawal workflow queues them. Then the engine's own
payout path runs (``activities.payout_building.PayoutBuilder.cut``: coin selection on the custody
UTXO set, fee shares, PSBT, hot signature, stored and booked): ``single`` cuts one payout per
withdrawal (as ``priority: asap`` or the engine before batches does), mining a block whenever the
change must confirm before the next payouts can spend it; ``batched`` cuts one payout for all.
Every transaction is broadcast, mined, and its fee read back from the chain.

Not a test. Needs PostgreSQL at ``TEST_PG_URL``. Usage::

    python -m bench.payouts [--withdrawals 100] [--fee-rate 10]

Ends with ``RESULT fee_sats_single=… fee_sats_batched=… ratio=…`` (ratio = batched / single).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
import uuid

os.environ.setdefault("APP_ENV", "test")

import httpx  # noqa: E402
from embit.networks import NETWORKS  # noqa: E402
from embit.script import Script  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from activities.custody_books import CustodyBooks, Sighting  # noqa: E402
from activities.payout_building import PayoutBuilder  # noqa: E402
from chains.bitcoin.esplora import EsploraClient  # noqa: E402
from chains.bitcoin.setup import new_account, payout_signer  # noqa: E402
from chains.bitcoin.wallet import RECEIVE_BRANCH, CustodyWallet  # noqa: E402
from config.settings import load_settings  # noqa: E402
from db import ledger, migrate  # noqa: E402
from db.models import CustodyUtxo, Operation, PayoutVersion, User  # noqa: E402
from db.queries import custody  # noqa: E402
from db.queries import payouts as pq  # noqa: E402
from db.session import make_async_engine, make_sessionmaker  # noqa: E402
from domain import entries as e  # noqa: E402
from domain.ledger import Transfer  # noqa: E402
from domain.utxo_set import ChainView, UtxoState  # noqa: E402
from tests.fixtures.postgres import create_database, drop_database  # noqa: E402

COINS, COIN_SATS, AMOUNT_SATS = 10, 100_000_000, 50_000


class Mode:
    """One run: its own database, wallet and custody coins on the shared chain."""

    def __init__(self, esplora_url: str, fee_rate: int, secret_dir: str) -> None:
        descriptor, master = new_account("regtest")
        secret = os.path.join(secret_dir, f"{uuid.uuid4().hex}.secret")
        with open(secret, "w") as fh:
            fh.write(master)
        self.name = f"custody_bench_payouts_{uuid.uuid4().hex[:8]}"
        self.settings = load_settings(
            database={"url": create_database(self.name)},
            bitcoin={"esplora_url": esplora_url, "custody_descriptor": descriptor, "signing_secret_file": secret,
                     "fee_rate_floor_sat_vb": fee_rate, "fee_rate_cap_sat_vb": fee_rate},
        )
        migrate.upgrade(self.settings)
        self.engine = make_async_engine(self.settings.database)
        self.sessions = make_sessionmaker(self.engine)
        self.wallet = CustodyWallet(descriptor, "regtest")
        self.esplora = EsploraClient(esplora_url)
        self.http = httpx.AsyncClient(base_url=esplora_url)
        signer = payout_signer(self.settings.bitcoin, self.wallet)
        self.builder = PayoutBuilder(settings=self.settings, esplora=self.esplora, wallet=self.wallet,
                                     signer=lambda: signer)
        self.books = CustodyBooks(self.settings)

    async def close(self) -> None:
        await self.esplora.aclose()
        await self.http.aclose()
        await self.engine.dispose()
        drop_database(self.name)

    async def mine(self) -> None:
        (await self.http.post("/sandbox/mine", json={"blocks": 1})).raise_for_status()

    async def fund(self, n: int) -> None:
        """COINS confirmed custody coins, and N withdrawals owed (their burn, as the books have it)."""
        paid = []
        async with self.sessions() as s, s.begin():
            for index in range(COINS):
                address = self.wallet.derive(RECEIVE_BRANCH, index).address
                await custody.watch_address(s, address=address, branch=RECEIVE_BRANCH, derivation_index=index)
                r = await self.http.post("/sandbox/faucet", json={"address": address, "sats": COIN_SATS})
                r.raise_for_status()
                paid.append((r.json()["txid"], r.json()["vout"], address))
        await self.mine()
        tip = await self.esplora.tip_height()
        async with self.sessions() as s, s.begin():
            for txid, vout, address in paid:
                await self.books.sight(s, Sighting(f"{txid}:{vout}", COIN_SATS, address, tip, None), tip_height=tip)
            await ledger.post(s, [Transfer("bench:owed", e.UNATTRIBUTED, e.UNPAID, n * AMOUNT_SATS, e.BTC, "opening")])
            user = User(email=f"{uuid.uuid4().hex[:10]}@bench.example", password_hash="x")
            s.add(user)
            await s.flush()
            for _ in range(n):
                to = Script(b"\x00\x14" + os.urandom(20)).address(NETWORKS["regtest"])
                op = Operation(user_id=user.id, operation_type="withdrawal", status="processing", stage="awaiting_batch",
                               amount=AMOUNT_SATS, token_address="CBENCH", idempotency_key=uuid.uuid4().hex,
                               meta={"btc_address": to})
                s.add(op)
                await s.flush()
                await pq.enqueue(s, operation_id=op.id, recipient_address=to, amount_sats=AMOUNT_SATS, asap=False)

    async def confirm_change(self) -> None:
        """Mine, then let the set see the payouts' change confirmed (what the block scanner does)."""
        await self.mine()
        tip = await self.esplora.tip_height()
        async with self.sessions() as s, s.begin():
            rows = (await s.execute(select(CustodyUtxo).where(CustodyUtxo.state == UtxoState.SEEN.value).with_for_update())).scalars()
            for row in rows:
                status = await self.esplora.transaction_status(row.txid)
                if status.confirmed:
                    await self.books.follow(s, row, ChainView.CONFIRMED, tip_height=tip,
                                            block_height=status.block_height, block_hash=status.block_hash)

    async def pay(self, members_per_payout: int) -> list[str]:
        """Cut payouts of ``members_per_payout`` queued withdrawals until none is left; broadcast each."""
        txids: list[str] = []
        while True:
            async with self.sessions() as s, s.begin():
                await pq.lock_batching(s)
                queued = (await pq.queued(s))[:members_per_payout]
                if not queued:
                    break
                payout = await self.builder.cut(s, queued)
                version = (await s.execute(select(PayoutVersion).where(PayoutVersion.payout_id == payout.id))).scalar_one() \
                    if payout is not None else None
            if version is None:  # every coin is tied up in unconfirmed change: let it confirm
                await self.confirm_change()
                continue
            await self.esplora.broadcast(version.tx_hex)
            txids.append(version.txid)
        await self.mine()
        return txids

    async def fees(self, txids: list[str]) -> int:
        total = 0
        for txid in txids:
            tx = (await self.http.get(f"/tx/{txid}")).json()
            assert tx["status"]["confirmed"], txid
            total += tx["fee"]
        return total


async def run(n: int, fee_rate: int) -> tuple[int, int, int, int]:
    import tempfile

    from custody_sandbox.esplora import create_app as create_esplora_app
    from tests.fixtures.chains import serve_in_thread, stop

    served = serve_in_thread(create_esplora_app(), ready_path="/blocks/tip/height")
    logging.getLogger("custody.alerts").disabled = True  # (after uvicorn's logging set-up) the coins
    # are paid to custody addresses no user owns: each is an "unattributed receipt" alert
    results = {}
    try:
        with tempfile.TemporaryDirectory() as secrets:
            for label, per_payout in (("single", 1), ("batched", n)):
                mode = Mode(served.url, fee_rate, secrets)
                try:
                    await mode.fund(n)
                    start = time.perf_counter()
                    txids = await mode.pay(per_payout)
                    fee = await mode.fees(txids)
                    async with mode.sessions() as s:
                        shares = (await s.execute(text("SELECT SUM(fee_share_sats) FROM payout_items"))).scalar_one()
                    assert shares == fee, (shares, fee)  # the users' shares are exactly what the chain took
                    results[label] = (fee, len(txids))
                    print(f"{label}: {n} withdrawals in {len(txids)} transactions, {fee:,} sats of fees "
                          f"({fee / n:,.0f} per withdrawal), {time.perf_counter() - start:.1f} s")
                finally:
                    await mode.close()
    finally:
        stop(served)
    return results["single"][0], results["batched"][0], results["single"][1], results["batched"][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--withdrawals", type=int, default=100)
    parser.add_argument("--fee-rate", type=int, default=10, help="sat/vB for both modes")
    args = parser.parse_args()
    single, batched, _, _ = asyncio.run(run(args.withdrawals, args.fee_rate))
    print(f"RESULT fee_sats_single={single} fee_sats_batched={batched} ratio={batched / single:.3f}")


if __name__ == "__main__":
    main()
