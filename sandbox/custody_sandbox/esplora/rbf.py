"""BIP 125 opt-in replace-by-fee, as Bitcoin Core 27.x implements it (``-mempoolfullrbf=0``).

A transaction that spends an output already spent in the mempool may replace the spender
("direct conflict") and, with it, every mempool descendant of the conflicts, if:

1. every direct conflict signals replaceability itself: some input with nSequence <=
   0xfffffffd (Core does not apply BIP 125's inherited signalling, CVE-2021-31876);
   else ``txn-mempool-conflict``;
2. it spends no unconfirmed output that none of the direct conflicts spent
   (``replacement-adds-unconfirmed``), nor an output of a transaction it replaces
   (``bad-txns-spends-conflicting-tx``);
3. its absolute fee is at least the sum of the replaced transactions' fees
   (``insufficient fee``, "less fees than conflicting txs");
4. the extra fee pays for its own size at the incremental relay fee, 1 sat/vB
   (``insufficient fee``, "not enough additional fees to relay");
5. at most 100 transactions are replaced (``too many potential replacements``);

and (Core's rule 6, PaysMoreThanConflicts) its fee rate is above each direct conflict's.
Fees in satoshis, sizes in vB; amounts in the texts as Core formats them (``FormatMoney``,
``CFeeRate::ToString``). Source: BIP 125; Bitcoin Core ``policy/rbf.cpp``, ``validation.cpp``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from embit.transaction import Transaction

from custody_sandbox.esplora.errors import Rejected

MAX_REPLACEMENT_CANDIDATES = 100
INCREMENTAL_RELAY_FEE_SAT_KVB = 1000
MAX_BIP125_RBF_SEQUENCE = 0xFFFFFFFD


def signals_rbf(tx: Transaction) -> bool:
    """BIP 125 signalling: any input's nSequence at most 0xfffffffd."""
    return any(vin.sequence <= MAX_BIP125_RBF_SEQUENCE for vin in tx.vin)


def format_money(sats: int) -> str:
    """Core's ``FormatMoney``: BTC with 8 decimals, trailing zeros trimmed down to two."""
    text = f"{'-' if sats < 0 else ''}{abs(sats) // 100_000_000}.{abs(sats) % 100_000_000:08d}"
    while text.endswith("0") and text[-3].isdigit():
        text = text[:-1]
    return text


def format_feerate(sat_per_kvb: int) -> str:
    """Core's ``CFeeRate::ToString`` (BTC/kvB with 8 decimals)."""
    return f"{sat_per_kvb // 100_000_000}.{sat_per_kvb % 100_000_000:08d} BTC/kvB"


def feerate_sat_kvb(fee_sats: int, vsize: int) -> int:
    """``CFeeRate(fee, size)``: satoshis per 1000 vB, rounded down."""
    return fee_sats * 1000 // vsize if vsize else 0


def check_replacement(
    txid: str,
    tx: Transaction,
    fee_sats: int,
    vsize: int,
    conflicts: set[str],
    *,
    mempool: dict[str, Transaction],
    fee_of: Callable[[str], int],
    vsize_of: Callable[[str], int],
    descendants_of: Callable[[Iterable[str]], set[str]],
    ancestors: set[str],
) -> set[str]:
    """Apply the replacement rules to ``tx`` (already past rule 1); returns every txid it evicts.

    Raises:
        Rejected: -26 with Core's reason.
    """
    replaced = descendants_of(conflicts)
    if len(replaced) > MAX_REPLACEMENT_CANDIDATES:
        raise Rejected(-26, f"too many potential replacements, rejecting replacement {txid}; too many potential "
                            f"replacements ({len(replaced)} > {MAX_REPLACEMENT_CANDIDATES})\n")
    parents_of_conflicts = {vin.txid.hex() for c in conflicts for vin in mempool[c].vin}
    for index, vin in enumerate(tx.vin):
        parent = vin.txid.hex()
        if parent not in parents_of_conflicts and parent in mempool:
            raise Rejected(-26, f"replacement-adds-unconfirmed, replacement {txid} adds unconfirmed input, idx {index}")
    for ancestor in sorted(ancestors & replaced):
        raise Rejected(-26, f"bad-txns-spends-conflicting-tx, {txid} spends conflicting transaction {ancestor}")
    new_rate = feerate_sat_kvb(fee_sats, vsize)
    for conflict in sorted(conflicts):
        old_rate = feerate_sat_kvb(fee_of(conflict), vsize_of(conflict))
        if new_rate <= old_rate:
            raise Rejected(-26, f"insufficient fee, rejecting replacement {txid}; new feerate "
                                f"{format_feerate(new_rate)} <= old feerate {format_feerate(old_rate)}")
    original_fees = sum(fee_of(r) for r in replaced)
    if fee_sats < original_fees:
        raise Rejected(-26, f"insufficient fee, rejecting replacement {txid}, less fees than conflicting txs; "
                            f"{format_money(fee_sats)} < {format_money(original_fees)}")
    relay_fee = INCREMENTAL_RELAY_FEE_SAT_KVB * vsize // 1000
    if fee_sats - original_fees < relay_fee:
        raise Rejected(-26, f"insufficient fee, rejecting replacement {txid}, not enough additional fees to relay; "
                            f"{format_money(fee_sats - original_fees)} < {format_money(relay_fee)}")
    return replaced
