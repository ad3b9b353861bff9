"""The per-address custody scan the books replaced, kept as the benchmark's baseline.

Before the custody UTXO set, the solvency guard, reconciliation and the proof each summed the
custody wallet by asking Esplora for the UTXOs of every deposit address ever handed out (plus a
gap-limit walk of the change chain): one HTTP call per address, for every deposit. ``bench/books``
measures it next to the guard's bounded SQL reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.wallet import CustodyWallet
from db.queries.deposit_addresses import list_derivation_indexes


@dataclass(frozen=True)
class CustodyHoldings:
    """Confirmed custody UTXOs at or below ``btc_height``: total satoshis and how many outputs."""

    btc_height: int
    total_sats: int
    utxo_count: int


async def _sum_address(esplora: EsploraClient, address: str, btc_height: int) -> tuple[int, int]:
    total = count = 0
    for utxo in await esplora.address_utxos(address):
        height = utxo.status.block_height
        if utxo.status.confirmed and height is not None and height <= btc_height:
            total += utxo.amount_sats
            count += 1
    return total, count


async def per_address_total(esplora: EsploraClient, addresses: list[str], *, concurrency: int = 8) -> int:
    """The old guard's figure: confirmed UTXOs of every address, one request each (satoshis)."""
    import asyncio

    gate = asyncio.Semaphore(concurrency)

    async def held(address: str) -> int:
        async with gate:
            utxos = await esplora.address_utxos(address)
        return sum(u.amount_sats for u in utxos if u.status.confirmed)

    return sum(await asyncio.gather(*(held(a) for a in addresses)))


async def custody_holdings(
    esplora: EsploraClient,
    wallet: CustodyWallet,
    sessions: async_sessionmaker[AsyncSession],
    *,
    btc_height: int,
    change_gap_limit: int,
) -> CustodyHoldings:
    """Sum the custody UTXOs confirmed at heights <= ``btc_height`` (satoshis).

    An output spent after ``btc_height`` is no longer listed by Esplora, so a run during a
    payout may undercount by that payout; reconciliation's severity bands absorb it.

    Raises:
        ChainError subclasses from the Esplora client.
    """
    async with sessions() as session:
        receive_indexes = await list_derivation_indexes(session)
    total = count = 0
    for index in receive_indexes:
        sats, n = await _sum_address(esplora, wallet.receive_address(index), btc_height)
        total, count = total + sats, count + n
    gap, index = 0, 0
    while gap < change_gap_limit:
        address = wallet.change_address(index)
        if await esplora.address_transactions(address):
            gap = 0
            sats, n = await _sum_address(esplora, address, btc_height)
            total, count = total + sats, count + n
        else:
            gap += 1
        index += 1
    return CustodyHoldings(btc_height=btc_height, total_sats=total, utxo_count=count)
