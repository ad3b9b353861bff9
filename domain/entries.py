"""The journal entries of every money step: which transfers each step posts (pure).

Each function returns the transfers of one step, to be posted together (one linked chain, one
database transaction, with the step's projection and audit row). Ids are derived from the
operation (or outpoint, or chain event) and the step, so a retried step finds its transfers
already there and posts nothing twice. Amounts are satoshis on the BTC ledger and base units on
the iSTSi ledger (equal by definition). Accounts: :mod:`domain.chart`.

The life of the money, step by step::

    deposit    receipt (custody ← in flight) → credit pending at the solvency guard (both ledgers)
               → posted after the mint | voided if it is not minted → release to pending receipts
    reorg      after the mint: credit held (pending debit) + as much BTC to reorged_deposits
               → returned (hold voided) | written off (hold posted into suspense)
    withdrawal hold (pending) → burn (hold posted + backing → unpaid) → payout signed (pending)
               → payout confirmed (posted, fee booked) ; before the burn: hold voided ;
               after the burn, if never signed: re-minted
    batch      one transaction pays many withdrawals: each keeps its own payout transfers
               (recipient + its fee share, ``domain.payout_batches``)
    fee bump   each replacement or child: its extra fee pending (custody → network_fees, paid
               from the fee reserve) → posted for the versions up to the one that confirmed,
               voided for the others
"""

from __future__ import annotations

import uuid

from domain.chart import AccountCode, TransferCode, account_key
from domain.ledger import LedgerId, Transfer, TransferFlags

BTC, ISTSI = LedgerId.BTC, LedgerId.ISTSI
PENDING, POST, VOID = TransferFlags.PENDING, TransferFlags.POST_PENDING, TransferFlags.VOID_PENDING

CUSTODY = account_key(AccountCode.CUSTODY_BTC)
IN_FLIGHT = account_key(AccountCode.DEPOSITS_IN_FLIGHT)
UNATTRIBUTED = account_key(AccountCode.UNATTRIBUTED_RECEIPTS)
BACKING = account_key(AccountCode.ISTSI_BACKING)
UNPAID = account_key(AccountCode.WITHDRAWALS_UNPAID)
FEES = account_key(AccountCode.NETWORK_FEES)
FEE_RESERVE = account_key(AccountCode.FEE_RESERVE)
REORGED = account_key(AccountCode.REORGED_DEPOSITS)
SUSPENSE_BTC = account_key(AccountCode.SUSPENSE_BTC)
SUPPLY = account_key(AccountCode.ISTSI_SUPPLY)
EXTERNAL = account_key(AccountCode.ISTSI_EXTERNAL)
SUSPENSE_ISTSI = account_key(AccountCode.SUSPENSE_ISTSI)
UNBACKED = account_key(AccountCode.ISTSI_UNBACKED)

UserId = uuid.UUID | str
OpId = uuid.UUID | str


def user_istsi(user_id: UserId) -> str:
    return account_key(AccountCode.USER_ISTSI, user_id)


def pending_receipts(user_id: UserId) -> str:
    return account_key(AccountCode.PENDING_RECEIPTS, user_id)


def _epoch(base: str, epoch: int) -> str:
    return base if epoch == 0 else f"{base}#{epoch}"


def _op(operation_id: OpId | None) -> str | None:
    return str(operation_id) if operation_id is not None else None


def resolve(pending: Transfer, *, post: bool, amount: int | None = None) -> Transfer:
    """The transfer that posts (``post``) or voids ``pending``; id ``<pending id>:post|void``.

    ``amount`` defaults to the whole pending amount (a partial post releases the rest).
    """
    return Transfer(
        id=f"{pending.id}:{'post' if post else 'void'}", debit_account=pending.debit_account,
        credit_account=pending.credit_account, amount=pending.amount if amount is None or not post else amount,
        ledger=pending.ledger, code=pending.code, flags=POST if post else VOID, pending_id=pending.id,
        operation_id=pending.operation_id,
    )


# ---- receipts: BTC reaching a custody output ---------------------------------------------------

def receipt(outpoint: str, amount_sats: int, into: str, *, operation_id: OpId | None = None, epoch: int = 0) -> list[Transfer]:
    """A custody output ``outpoint`` was seen: custody ← ``into`` (in flight, a user's pending
    receipts or unattributed). ``epoch`` counts returns after a reorg (0 the first time)."""
    return [Transfer(_epoch(f"receipt:{outpoint}", epoch), CUSTODY, into, amount_sats, BTC, TransferCode.RECEIPT,
                     operation_id=_op(operation_id))]


def receipt_vanished(outpoint: str, amount_sats: int, held_in: str, *, epoch: int,
                     operation_id: OpId | None = None) -> list[Transfer]:
    """The output of an uncredited receipt left the chain: reverse it out of ``held_in``."""
    return [Transfer(f"receipt-vanished:{outpoint}#{epoch}", held_in, CUSTODY, amount_sats, BTC,
                     TransferCode.RECEIPT_VANISHED, operation_id=_op(operation_id))]


def deposit_claim(operation_id: OpId, outpoint: str, amount_sats: int, taken_from: str) -> list[Transfer]:
    """A deposit takes a receipt booked before it existed: ``taken_from`` → deposits in flight."""
    return [Transfer(f"deposit-claim:{operation_id}:{outpoint}", taken_from, IN_FLIGHT, amount_sats, BTC,
                     TransferCode.DEPOSIT_CLAIM, operation_id=str(operation_id))]


# ---- deposits: the credit -------------------------------------------------------------------

def deposit_credit_pending(operation_id: OpId, user_id: UserId, amount_sats: int) -> list[Transfer]:
    """Placed by the solvency guard, before the mint: the user's credit and its backing, pending.

    Pending credits count in every later guard, which is what serialises concurrent mints.
    """
    op = str(operation_id)
    return [
        Transfer(f"deposit-credit:{op}", SUPPLY, user_istsi(user_id), amount_sats, ISTSI,
                 TransferCode.DEPOSIT_CREDIT, PENDING, operation_id=op),
        Transfer(f"deposit-backing:{op}", IN_FLIGHT, BACKING, amount_sats, BTC,
                 TransferCode.DEPOSIT_CREDIT, PENDING, operation_id=op),
    ]


def deposit_credit_posted(operation_id: OpId, user_id: UserId, amount_sats: int) -> list[Transfer]:
    """After the mint: the pending credit becomes the user's liability (both ledgers)."""
    return [resolve(t, post=True) for t in deposit_credit_pending(operation_id, user_id, amount_sats)]


def deposit_credit_voided(operation_id: OpId, user_id: UserId, amount_sats: int) -> list[Transfer]:
    """The mint did not happen (refused or cancelled): the pending credit goes away."""
    return [resolve(t, post=False) for t in deposit_credit_pending(operation_id, user_id, amount_sats)]


def deposit_release(operation_id: OpId, user_id: UserId, amount_sats: int) -> list[Transfer]:
    """A deposit ended without a mint while its BTC stays in custody: back to the user's receipts."""
    return [Transfer(f"deposit-release:{operation_id}", IN_FLIGHT, pending_receipts(user_id), amount_sats, BTC,
                     TransferCode.DEPOSIT_RELEASE, operation_id=str(operation_id))]


def deposit_vanished(operation_id: OpId, outpoint: str, amount_sats: int, *, epoch: int) -> list[Transfer]:
    """An uncredited deposit's output left the chain: reverse its receipt out of deposits in flight."""
    return receipt_vanished(outpoint, amount_sats, IN_FLIGHT, epoch=epoch, operation_id=operation_id)


# ---- a reorg after the mint -------------------------------------------------------------------

def reorg_hold(operation_id: OpId, user_id: UserId, outpoint: str, *, held_units: int, epoch: int) -> list[Transfer]:
    """A credited deposit's output ``outpoint`` left the chain: hold ``held_units`` of the
    user's credit (pending, so it can be neither withdrawn nor moved through the engine) and
    take as much of its BTC out of custody into ``reorged_deposits``.

    ``held_units`` is what could still be held (what the user took out already cannot be): only
    that much is an explained shortfall. The rest of the output's value stays in ``custody_btc``
    although the UTXO set lost it, so reconciliation reports it as the unexplained shortfall it
    is. A hold of 0 posts nothing.
    """
    op = str(operation_id)
    if held_units <= 0:
        return []
    return [
        Transfer(f"reorg-hold:{outpoint}#{epoch}", user_istsi(user_id), SUSPENSE_ISTSI, held_units, ISTSI,
                 TransferCode.REORG_HOLD, PENDING, operation_id=op),
        Transfer(f"reorg-vanished:{outpoint}#{epoch}", REORGED, CUSTODY, held_units, BTC,
                 TransferCode.REORG_HOLD, operation_id=op),
    ]


def reorg_returned(operation_id: OpId, outpoint: str, open_holds: list[Transfer], *, amount_sats: int,
                   epoch: int) -> list[Transfer]:
    """The output confirmed again: void the open holds of the credit (wherever the tokens
    moved them, see :func:`hold_moved`) and bring the ``amount_sats`` taken out by the
    hold back into custody."""
    transfers = [resolve(t, post=False) for t in open_holds]
    if amount_sats > 0:
        transfers.append(Transfer(f"reorg-returned:{outpoint}#{epoch}", CUSTODY, REORGED, amount_sats, BTC,
                                  TransferCode.REORG_RETURNED, operation_id=str(operation_id)))
    return transfers


def reorg_write_off(operation_id: OpId, outpoint: str, *, amount_sats: int, epoch: int) -> list[Transfer]:
    """The output did not come back within the reorg window: the ``amount_sats`` the hold took
    out of custody become a loss in ``suspense_btc`` that an operator must cover (reconciliation
    reports it until then). The credit's holds stay open wherever the tokens are: they are still
    on Stellar, unbacked, and must never be redeemed through the engine."""
    if amount_sats <= 0:
        return []
    return [Transfer(f"reorg-write-off:{outpoint}#{epoch}", SUSPENSE_BTC, REORGED, amount_sats, BTC,
                     TransferCode.REORG_WRITE_OFF, operation_id=str(operation_id))]


def write_off_covered(operation_id: OpId, covering_outpoint: str, covering_sats: int,
                      open_holds: list[Transfer]) -> list[Transfer]:
    """An operator covers a reorg write-off with BTC that reached custody unattributed (the
    coin that came back after the window, or the custodian's own top-up at ``covering_outpoint``).

    The ``covering_sats`` move from ``unattributed_receipts`` into ``suspense_btc`` (cancelling
    the loss there; any excess stays in suspense as a surplus) and the credit's ``open_holds``
    (wherever the tokens had moved) are voided: the tokens are backed again. The id is per
    operation: a write-off is covered once.
    """
    op = str(operation_id)
    return [
        Transfer(f"write-off-covered:{op}", UNATTRIBUTED, SUSPENSE_BTC, covering_sats, BTC, TransferCode.CORRECTION,
                 operation_id=op),
        *[resolve(t, post=False) for t in open_holds],
    ]


def hold_moved(hold: Transfer, event_id: str, *, moved_units: int) -> list[Transfer]:
    """Held tokens (a reorg hold, an unbacked hold) moved on Stellar (the engine cannot stop
    that): the hold follows them.

    Voids ``hold`` and re-holds what stayed behind; :func:`hold_arrived` holds the moved units
    on the receiving account (a user, or ``istsi_external``), so nobody can redeem them through
    the engine. Post both around the chain transfer, in one chain.
    """
    assert hold.pending_id is None and 0 < moved_units <= hold.amount
    transfers = [resolve(hold, post=False)]
    if hold.amount > moved_units:
        transfers.append(Transfer(f"{hold.id}/{event_id}:kept", hold.debit_account, hold.credit_account,
                                  hold.amount - moved_units, ISTSI, hold.code, PENDING, operation_id=hold.operation_id))
    return transfers


def hold_arrived(hold: Transfer, event_id: str, *, moved_units: int, to_account: str) -> list[Transfer]:
    """The receiving side of :func:`hold_moved`; post it after the chain transfer."""
    return [Transfer(f"{hold.id}/{event_id}:moved", to_account, hold.credit_account, moved_units, ISTSI,
                     hold.code, PENDING, operation_id=hold.operation_id)]


# ---- withdrawals -------------------------------------------------------------------------------

def withdrawal_hold(operation_id: OpId, user_id: UserId, amount_units: int) -> list[Transfer]:
    """The hold a withdrawal request places on the user's iSTSi (pending; refused beyond the
    available balance by the account's flag)."""
    op = str(operation_id)
    return [Transfer(f"withdrawal-hold:{op}", user_istsi(user_id), SUPPLY, amount_units, ISTSI,
                     TransferCode.WITHDRAWAL_HOLD, PENDING, operation_id=op)]


def withdrawal_release(operation_id: OpId, user_id: UserId, amount_units: int) -> list[Transfer]:
    """Before the burn the withdrawal ended: void the hold."""
    return [resolve(t, post=False) for t in withdrawal_hold(operation_id, user_id, amount_units)]


def withdrawal_burn(operation_id: OpId, user_id: UserId, amount_units: int) -> list[Transfer]:
    """The router burned the tokens: the hold is posted and their backing becomes owed BTC."""
    op = str(operation_id)
    return [
        *[resolve(t, post=True) for t in withdrawal_hold(operation_id, user_id, amount_units)],
        Transfer(f"withdrawal-burn:{op}", BACKING, UNPAID, amount_units, BTC, TransferCode.WITHDRAWAL_BURN,
                 operation_id=op),
    ]


def withdrawal_remint(operation_id: OpId, user_id: UserId, amount_units: int) -> list[Transfer]:
    """Compensation after the burn (the payout was never signed): the re-minted tokens are the
    user's again and their BTC is backing once more."""
    op = str(operation_id)
    return [
        Transfer(f"withdrawal-remint:{op}", SUPPLY, user_istsi(user_id), amount_units, ISTSI,
                 TransferCode.WITHDRAWAL_REMINT, operation_id=op),
        Transfer(f"withdrawal-remint-backing:{op}", UNPAID, BACKING, amount_units, BTC,
                 TransferCode.WITHDRAWAL_REMINT, operation_id=op),
    ]


def payout_signed(operation_id: OpId, *, recipient_sats: int, fee_sats: int) -> list[Transfer]:
    """The withdrawal's payout is signed (stored before broadcast): its BTC leaves custody,
    pending until it confirms. The user pays the miner fee out of the withdrawn amount."""
    op = str(operation_id)
    transfers = [Transfer(f"payout:{op}", UNPAID, CUSTODY, recipient_sats, BTC, TransferCode.PAYOUT, PENDING,
                          operation_id=op)]
    if fee_sats > 0:
        transfers += [
            Transfer(f"payout-fee:{op}", FEES, CUSTODY, fee_sats, BTC, TransferCode.NETWORK_FEE, PENDING, operation_id=op),
            Transfer(f"fee-charge:{op}", UNPAID, FEES, fee_sats, BTC, TransferCode.FEE_CHARGE, PENDING, operation_id=op),
        ]
    return transfers


def payout_confirmed(operation_id: OpId, *, recipient_sats: int, fee_sats: int) -> list[Transfer]:
    """The payout reached its depth: recipient, miner fee and fee charge are posted."""
    return [resolve(t, post=True) for t in payout_signed(operation_id, recipient_sats=recipient_sats, fee_sats=fee_sats)]


def payout_abandoned(operation_id: OpId, *, recipient_sats: int, fee_sats: int) -> list[Transfer]:
    """A signed payout that provably never reached the chain is voided."""
    return [resolve(t, post=False) for t in payout_signed(operation_id, recipient_sats=recipient_sats, fee_sats=fee_sats)]


def payout_fee_bump(payout_id: uuid.UUID | str, version: int, *, extra_fee_sats: int) -> list[Transfer]:
    """Version ``version`` of payout ``payout_id`` (a replacement or a CPFP child) is signed: the
    fee it adds leaves custody to the miners, pending until a version confirms. It is the
    custodian's expense (``network_fees``), paid from the ``fee_reserve``: the reserve's balance
    flag refuses a bump the reserve cannot pay, so a bump never spends the users' BTC. The users'
    fee shares are never touched (no second charge)."""
    pid = str(payout_id)
    return [
        Transfer(f"payout-bump:{pid}:{version}", FEES, CUSTODY, extra_fee_sats, BTC, TransferCode.FEE_BUMP, PENDING),
        Transfer(f"bump-reserve:{pid}:{version}", FEE_RESERVE, FEES, extra_fee_sats, BTC, TransferCode.FEE_BUMP, PENDING),
    ]


def payout_fee_bump_resolved(payout_id: uuid.UUID | str, version: int, *, extra_fee_sats: int,
                             confirmed: bool) -> list[Transfer]:
    """Posted when the version that confirmed is ``version`` or a later one (its fee includes
    this extra), voided otherwise (that fee was never paid)."""
    return [resolve(t, post=confirmed) for t in payout_fee_bump(payout_id, version, extra_fee_sats=extra_fee_sats)]


def fee_reserve_funding(outpoint: str, amount_sats: int, *, taken_from: str = UNATTRIBUTED) -> list[Transfer]:
    """The custodian's own BTC received at ``outpoint`` (booked to ``taken_from``, normally
    unattributed receipts) is assigned to the fee reserve."""
    return [Transfer(f"fee-reserve-funding:{outpoint}", taken_from, FEE_RESERVE, amount_sats, BTC,
                     TransferCode.FEE_RESERVE_FUNDING)]


# ---- iSTSi moved on Stellar by holders ---------------------------------------------------------

def chain_transfer(event_id: str, source: str, destination: str, amount_units: int) -> list[Transfer]:
    """A holder-to-holder iSTSi transfer seen on chain (``user_istsi`` or ``istsi_external`` sides)."""
    return [Transfer(f"chain-transfer:{event_id}", source, destination, amount_units, ISTSI,
                     TransferCode.CHAIN_TRANSFER)]


def chain_burn(event_id: str, source: str, amount_units: int) -> list[Transfer]:
    """A holder burned iSTSi directly: supply shrinks and its BTC backing goes to suspense (the
    holder gave up the claim; an operator decides what happens to the BTC)."""
    return [
        Transfer(f"chain-burn:{event_id}", source, SUPPLY, amount_units, ISTSI, TransferCode.CHAIN_BURN),
        Transfer(f"chain-burn-backing:{event_id}", BACKING, SUSPENSE_BTC, amount_units, BTC, TransferCode.CHAIN_BURN),
    ]


def outside_mint(event_id: str, holder: str, amount_units: int) -> list[Transfer]:
    """iSTSi that reached ``holder`` (a ``user_istsi`` account or ``istsi_external``) without a
    deposit behind it, minted by a transaction the engine did not sign: booked from
    ``istsi_unbacked`` (not ``istsi_supply``: reconciliation keeps reporting the supply short)
    and held at once, so the holder's balance matches Stellar but cannot be redeemed."""
    return [
        Transfer(f"outside-mint:{event_id}", UNBACKED, holder, amount_units, ISTSI, TransferCode.OUTSIDE_MINT),
        Transfer(f"unbacked-hold:{event_id}", holder, SUSPENSE_ISTSI, amount_units, ISTSI, TransferCode.UNBACKED_HOLD,
                 PENDING),
    ]


def unbacked_burn(event_id: str, hold: Transfer, burned_units: int) -> list[Transfer]:
    """A holder burned held unbacked tokens (burns take those first): ``burned_units`` of
    ``hold`` are released and leave ``istsi_unbacked``; no BTC moves (none backed them)."""
    assert hold.code == TransferCode.UNBACKED_HOLD and 0 < burned_units <= hold.amount
    return [
        *hold_moved(hold, event_id, moved_units=burned_units),
        Transfer(f"unbacked-burn:{hold.id}/{event_id}", hold.debit_account, UNBACKED, burned_units, ISTSI,
                 TransferCode.CHAIN_BURN),
    ]


def registered_late(event_id: str, user_account: str, amount_units: int) -> list[Transfer]:
    """Tokens a Stellar account received before its owner registered were booked to
    ``istsi_external``; now that the owner moves them, they are the user's."""
    return [Transfer(f"registered-late:{event_id}", EXTERNAL, user_account, amount_units, ISTSI,
                     TransferCode.CHAIN_TRANSFER)]
