"""The chart of accounts of the custody books, and why each transfer moves money (pure).

Two ledgers (:class:`domain.ledger.LedgerId`): **BTC** in satoshis and **iSTSi** in base units
(1 base unit = 1 satoshi). Account keys are stable strings (``user_istsi:<user id>``); an
account's *normal side* is where its balance lives (debit-normal: debits − credits).

BTC ledger (what custody holds and to whom it is owed):

==========================  ======  =====================================================================
account                     normal  meaning
==========================  ======  =====================================================================
``custody_btc``             debit   BTC in custody outputs the books recognise (the custody UTXO set).
                                    Pending credits: BTC leaving in signed payouts not yet confirmed.
``deposits_in_flight``      credit  Deposits seen on chain but not yet credited (waiting for depth, KYC,
                                    the guard or the mint). Pending debits: credits being minted now.
``pending_receipts:<user>`` credit  BTC received for a user that is not a deposit yet (below the minimum,
                                    or a cancelled deposit's output): credited once it adds up.
``unattributed_receipts``   credit  BTC paid to a custody address that no user owns (a change address, an
                                    address not handed out): a surplus an operator assigns or refunds.
``istsi_backing``           credit  BTC backing the iSTSi in issue, 1:1 (mirrors ``istsi_supply``).
``withdrawals_unpaid``      credit  Withdrawals burned but not yet paid out in BTC. Pending debits: the
                                    payout is signed and on its way.
``network_fees``            debit   Miner fees paid out of custody (debits) and recovered from users who
                                    withdrew (credits) or paid from the fee reserve (fee bumps); the
                                    balance is what the custodian paid itself.
``fee_reserve``             credit  The custodian's own BTC in custody, set aside for the network fees it
                                    bears (fee bumps): funded by assigning a receipt to it; never
                                    overdrawn, so a bump never spends the users' BTC.
``reorged_deposits``        debit   BTC of credited deposits whose output left the chain (a receivable
                                    while the deposit may confirm again).
``suspense_btc``            either  Operator corrections and written-off amounts: every entry needs a person.
==========================  ======  =====================================================================

iSTSi ledger (who holds the tokens the engine issued):

==========================  ======  =====================================================================
``istsi_supply``            debit   Tokens in issue (mirrors ``istsi_token.total_supply``). Pending credits:
                                    withdrawal holds that the burn will post.
``user_istsi:<user>``       credit  The user's iSTSi: what the engine owes the user. Pending debits are holds
                                    (a withdrawal in progress, a reorged deposit); pending credits a mint
                                    in progress. ``token_balances`` is its projection.
``istsi_external``          credit  Tokens held by Stellar accounts that are not engine users.
``suspense_istsi``          either  Credits written off (a reorged deposit that never came back).
==========================  ======  =====================================================================

Identities the books keep by construction: each ledger's debits equal its credits (pending and
posted apart); ``istsi_backing`` (BTC) equals ``istsi_supply`` (iSTSi); and the accounts that owe
users (``istsi_backing`` + ``withdrawals_unpaid`` + ``deposits_in_flight`` + ``pending_receipts``)
are covered by ``custody_btc`` unless a reorg or a correction says otherwise (``fee_reserve`` is the
custodian's own, on top).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from domain.ledger import Account, AccountFlags, LedgerId


class AccountCode(StrEnum):
    """What kind of account a key names (TigerBeetle's account ``code``)."""

    CUSTODY_BTC = "custody_btc"
    DEPOSITS_IN_FLIGHT = "deposits_in_flight"
    PENDING_RECEIPTS = "pending_receipts"
    UNATTRIBUTED_RECEIPTS = "unattributed_receipts"
    ISTSI_BACKING = "istsi_backing"
    WITHDRAWALS_UNPAID = "withdrawals_unpaid"
    NETWORK_FEES = "network_fees"
    FEE_RESERVE = "fee_reserve"
    REORGED_DEPOSITS = "reorged_deposits"
    SUSPENSE_BTC = "suspense_btc"
    ISTSI_SUPPLY = "istsi_supply"
    USER_ISTSI = "user_istsi"
    ISTSI_EXTERNAL = "istsi_external"
    SUSPENSE_ISTSI = "suspense_istsi"
    ISTSI_UNBACKED = "istsi_unbacked"
    """iSTSi on Stellar that no deposit backs (minted outside the engine): its holders' balances
    are held, and ``istsi_supply`` (what reconciliation compares with ``total_supply``) excludes it."""


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"
    EITHER = "either"


@dataclass(frozen=True)
class AccountKind:
    """Ledger, normal side and balance flags of one :class:`AccountCode`."""

    ledger: LedgerId
    normal: Side
    flags: AccountFlags
    per_user: bool = False


_DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
_CMNED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
_NONE = AccountFlags.NONE

KINDS: dict[AccountCode, AccountKind] = {
    AccountCode.CUSTODY_BTC: AccountKind(LedgerId.BTC, Side.DEBIT, _CMNED),
    AccountCode.DEPOSITS_IN_FLIGHT: AccountKind(LedgerId.BTC, Side.CREDIT, _DMNEC),
    AccountCode.PENDING_RECEIPTS: AccountKind(LedgerId.BTC, Side.CREDIT, _DMNEC, per_user=True),
    AccountCode.UNATTRIBUTED_RECEIPTS: AccountKind(LedgerId.BTC, Side.CREDIT, _DMNEC),
    AccountCode.ISTSI_BACKING: AccountKind(LedgerId.BTC, Side.CREDIT, _DMNEC),
    AccountCode.WITHDRAWALS_UNPAID: AccountKind(LedgerId.BTC, Side.CREDIT, _DMNEC),
    AccountCode.NETWORK_FEES: AccountKind(LedgerId.BTC, Side.DEBIT, _NONE),
    AccountCode.FEE_RESERVE: AccountKind(LedgerId.BTC, Side.CREDIT, _DMNEC),
    AccountCode.REORGED_DEPOSITS: AccountKind(LedgerId.BTC, Side.DEBIT, _CMNED),
    AccountCode.SUSPENSE_BTC: AccountKind(LedgerId.BTC, Side.EITHER, _NONE),
    AccountCode.ISTSI_SUPPLY: AccountKind(LedgerId.ISTSI, Side.DEBIT, _CMNED),
    AccountCode.USER_ISTSI: AccountKind(LedgerId.ISTSI, Side.CREDIT, _DMNEC, per_user=True),
    AccountCode.ISTSI_EXTERNAL: AccountKind(LedgerId.ISTSI, Side.CREDIT, _DMNEC),
    AccountCode.SUSPENSE_ISTSI: AccountKind(LedgerId.ISTSI, Side.EITHER, _NONE),
    AccountCode.ISTSI_UNBACKED: AccountKind(LedgerId.ISTSI, Side.DEBIT, _CMNED),
}


def account_key(code: AccountCode, user_id: uuid.UUID | str | None = None) -> str:
    """The key of an account: ``code`` alone, or ``code:<user id>`` for per-user kinds.

    Raises:
        ValueError: a per-user kind without a user, or a user for a shared kind.
    """
    kind = KINDS[code]
    if kind.per_user != (user_id is not None):
        raise ValueError(f"{code} {'needs' if kind.per_user else 'takes no'} user id")
    return f"{code.value}:{user_id}" if user_id is not None else code.value


def parse_key(key: str) -> tuple[AccountCode, str | None]:
    """``(code, user id or None)`` of an account key."""
    code, _, user = key.partition(":")
    return AccountCode(code), (user or None)


def new_account(key: str) -> Account:
    """An empty account for ``key`` with its kind's ledger and flags."""
    code, _ = parse_key(key)
    kind = KINDS[code]
    return Account(key=key, ledger=kind.ledger, flags=kind.flags)


def balance(account: Account) -> int:
    """The posted balance on the account's normal side (debit-normal and "either" as debit − credit)."""
    code, _ = parse_key(account.key)
    return account.credit_balance if KINDS[code].normal == Side.CREDIT else account.debit_balance


class TransferCode(StrEnum):
    """Why a transfer moves money (TigerBeetle's transfer ``code``); stored with every transfer."""

    RECEIPT = "receipt"
    """BTC arrived in a custody output (custody ← deposits in flight, pending receipts or unattributed)."""
    RECEIPT_VANISHED = "receipt_vanished"
    """A receipt's output left the chain before it was credited (reversal of ``receipt``)."""
    RECEIPT_RETURNED = "receipt_returned"
    """A vanished receipt's output is back on the chain."""
    DEPOSIT_CLAIM = "deposit_claim"
    """A deposit takes a receipt booked before it existed (pending receipts → deposits in flight)."""
    DEPOSIT_CREDIT = "deposit_credit"
    """The mint: pending while it is minted, posted once it is (both ledgers)."""
    DEPOSIT_RELEASE = "deposit_release"
    """A deposit ended without a mint while its BTC stays in custody (back to the user's receipts)."""
    REORG_HOLD = "reorg_hold"
    """A credited deposit's output left the chain: its credit is held (pending) until it returns."""
    REORG_RETURNED = "reorg_returned"
    REORG_WRITE_OFF = "reorg_write_off"
    WITHDRAWAL_HOLD = "withdrawal_hold"
    """A withdrawal's hold (pending); the burn posts it, a cancellation voids it."""
    WITHDRAWAL_BURN = "withdrawal_burn"
    WITHDRAWAL_REMINT = "withdrawal_remint"
    """Compensation: the router re-minted a burned withdrawal that could not be paid."""
    PAYOUT = "payout"
    """BTC to the recipient; pending from signing, posted at confirmation."""
    NETWORK_FEE = "network_fee"
    """BTC to the miners."""
    FEE_CHARGE = "fee_charge"
    """The withdrawing user's share of the miner fee, recovered from the withdrawal."""
    FEE_BUMP = "fee_bump"
    """The extra fee of a replacement (RBF) or child (CPFP) of a stuck payout: the custodian's,
    paid from the fee reserve; pending from signing, posted if that version confirms."""
    FEE_RESERVE_FUNDING = "fee_reserve_funding"
    """The custodian's own BTC in custody (a receipt) assigned to the fee reserve."""
    CHAIN_TRANSFER = "chain_transfer"
    """An iSTSi transfer on Stellar the engine did not make (holder to holder)."""
    CHAIN_BURN = "chain_burn"
    """A holder burned iSTSi directly on Stellar (not a withdrawal)."""
    OUTSIDE_MINT = "outside_mint"
    """iSTSi that appeared on Stellar without a deposit behind it (booked unbacked, held)."""
    UNBACKED_HOLD = "unbacked_hold"
    """The hold on unbacked iSTSi (pending for as long as the tokens exist); it travels with them."""
    OPENING = "opening"
    """Opening balances of a database that had no books."""
    CORRECTION = "correction"
    """An operator's correcting entry (always against a suspense account)."""
