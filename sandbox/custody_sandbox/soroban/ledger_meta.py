"""A closed ledger as Stellar Core publishes it: its transaction set, its result set and its
``LedgerCloseMeta`` (what ``getLatestLedger.metadataXdr`` and ``getLedgers`` carry).

* ``GeneralizedTransactionSet`` v1 with Core's two phases (protocol 23+): phase 0, the classic
  transactions (one ``TXSET_COMP_TXS_MAYBE_DISCOUNTED_FEE`` component at the base fee), phase 1,
  the Soroban transactions as a parallel component (one stage, one cluster: the sandbox applies
  them one after another in arrival order).
* ``TransactionResultSet``: a ``TransactionResultPair`` per transaction, in apply order.
* ``LedgerCloseMeta`` v2: the header, the set, and per transaction a ``TransactionResultMetaV1``
  (result pair, fee-processing changes, the transaction's ``TransactionMeta``).

The header commits to the first two by hash (``scpValue.txSetHash``, ``txSetResultHash``: sha256
of their XDR). Source: stellar-xdr ``Stellar-ledger.x``; stellar-core ``TxSetFrame``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from stellar_sdk import xdr

from custody_sandbox.soroban.store import TxRecord
from custody_sandbox.soroban.xdrs import BASE_FEE_STROOPS


def _envelopes(records: Sequence[TxRecord], soroban: bool) -> list[xdr.TransactionEnvelope]:
    return [xdr.TransactionEnvelope.from_xdr(r.envelope_xdr) for r in records if r.soroban == soroban]


def tx_set(previous_ledger_hash: bytes, records: Sequence[TxRecord]) -> xdr.GeneralizedTransactionSet:
    """The ledger's transaction set (classic phase, then the parallel Soroban phase)."""
    classic = _envelopes(records, soroban=False)
    soroban = _envelopes(records, soroban=True)
    classic_phase = xdr.TransactionPhase(
        v=0,
        v0_components=[
            xdr.TxSetComponent(
                type=xdr.TxSetComponentType.TXSET_COMP_TXS_MAYBE_DISCOUNTED_FEE,
                txs_maybe_discounted_fee=xdr.TxSetComponentTxsMaybeDiscountedFee(
                    base_fee=xdr.Int64(BASE_FEE_STROOPS), txs=classic
                ),
            )
        ] if classic else [],
    )
    stages = [xdr.ParallelTxExecutionStage([xdr.DependentTxCluster(soroban)])] if soroban else []
    soroban_phase = xdr.TransactionPhase(
        v=1, parallel_txs_component=xdr.ParallelTxsComponent(base_fee=None, execution_stages=stages)
    )
    return xdr.GeneralizedTransactionSet(
        v=1,
        v1_tx_set=xdr.TransactionSetV1(
            previous_ledger_hash=xdr.Hash(previous_ledger_hash), phases=[classic_phase, soroban_phase]
        ),
    )


def result_pairs(records: Sequence[TxRecord]) -> list[xdr.TransactionResultPair]:
    return [
        xdr.TransactionResultPair(transaction_hash=xdr.Hash(bytes.fromhex(r.hash)), result=xdr.TransactionResult.from_xdr(r.result_xdr))
        for r in records
    ]


def set_hashes(previous_ledger_hash: bytes, records: Sequence[TxRecord]) -> tuple[bytes, bytes]:
    """``(txSetHash, txSetResultHash)`` the ledger header commits to."""
    tx_set_hash = hashlib.sha256(tx_set(previous_ledger_hash, records).to_xdr_bytes()).digest()
    results = xdr.TransactionResultSet(results=result_pairs(records))
    return tx_set_hash, hashlib.sha256(results.to_xdr_bytes()).digest()


def close_meta(header: xdr.LedgerHeaderHistoryEntry, records: Sequence[TxRecord]) -> xdr.LedgerCloseMeta:
    """The ``LedgerCloseMeta`` v2 of a closed ledger holding ``records`` in apply order."""
    previous = header.header.previous_ledger_hash.hash
    processing = [
        xdr.TransactionResultMetaV1(
            ext=xdr.ExtensionPoint(0),
            result=pair,
            fee_processing=xdr.LedgerEntryChanges([]),
            tx_apply_processing=xdr.TransactionMeta.from_xdr(record.result_meta_xdr),
            post_tx_apply_fee_processing=xdr.LedgerEntryChanges([]),
        )
        for record, pair in zip(records, result_pairs(records), strict=True)
    ]
    return xdr.LedgerCloseMeta(
        v=2,
        v2=xdr.LedgerCloseMetaV2(
            ext=xdr.LedgerCloseMetaExt(0),
            ledger_header=header,
            tx_set=tx_set(previous, records),
            tx_processing=processing,
            upgrades_processing=[],
            scp_info=[],
            total_byte_size_of_live_soroban_state=xdr.Uint64(0),
            evicted_keys=[],
        ),
    )
