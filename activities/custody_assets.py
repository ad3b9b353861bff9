"""What the custody wallet holds on Bitcoin at a pinned height (the reserves side of every check).

Receive addresses come from ``deposit_addresses`` (every index ever handed out); change
addresses are found by a gap-limit scan of the internal chain (BIP 44 "address gap limit"),
so no other flow has to record which change indexes it used. One Esplora call per address:
fine for thousands of users; a very large book would use a descriptor-aware indexer instead.
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
