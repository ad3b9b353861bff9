"""What a signed envelope carries that exactly-once submission depends on.

:class:`SignedEnvelope` is what the caller persists before the first send; the helpers read
the time bound and the authorization expiry that together decide when an envelope that was
never found is *provably dead* (no ledger can include it any more), and load a source
account's sequence number and balance in one ``getLedgerEntries`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

from stellar_sdk import Keypair, SorobanServerAsync, TransactionEnvelope, xdr
from stellar_sdk.exceptions import AccountNotFoundException

from chains.soroban.errors import SourceAccountMissing
from chains.soroban.rpc_errors import rpc_call


@dataclass(frozen=True)
class SignedEnvelope:
    """What the caller must persist before the envelope is sent.

    Attributes:
        tx_hash: hex hash of the envelope.
        envelope_xdr: the signed envelope, base64 XDR.
        sequence: its sequence number.
        max_time: its time bound in unix seconds (0 = none).
        source_account: its transaction source (a channel account, or the operator).
        lease_token: the channel lease it was built on (None without a channel pool); the
            store step binds the envelope to the channel only while this lease is held.
        auth_expiration_ledger: last ledger at which its signed auth entries are valid (0 = none).
    """

    tx_hash: str
    envelope_xdr: str
    sequence: int
    max_time: int
    source_account: str = ""
    lease_token: str | None = None
    auth_expiration_ledger: int = 0


def max_time_of(envelope: TransactionEnvelope) -> int:
    """The envelope's time bound, unix seconds (0 = none)."""
    pre = envelope.transaction.preconditions
    bounds = pre.time_bounds if pre else None
    return bounds.max_time if bounds else 0


def auth_expiration_of(envelope: TransactionEnvelope) -> int:
    """The latest ``signatureExpirationLedger`` of the envelope's address credentials (0 = none).

    Until that ledger the signed entries could authorize the same call in *another*
    transaction, so an envelope is dead only once both this and its time bound have passed.
    """
    latest = 0
    for op in envelope.transaction.operations:
        for entry in getattr(op, "auth", None) or []:
            creds = entry.credentials
            inner = creds.address or creds.address_v2
            if inner is not None:
                latest = max(latest, inner.signature_expiration_ledger.uint32)
    return latest


def source_of(envelope: TransactionEnvelope) -> str:
    """The transaction source account strkey ``G…``."""
    return envelope.transaction.source.account_id


def signed(envelope: TransactionEnvelope, lease_token: str | None = None) -> SignedEnvelope:
    """The record of ``envelope`` to persist before sending it."""
    return SignedEnvelope(
        tx_hash=envelope.hash_hex(),
        envelope_xdr=envelope.to_xdr(),
        sequence=envelope.transaction.sequence,
        max_time=max_time_of(envelope),
        source_account=source_of(envelope),
        lease_token=lease_token,
        auth_expiration_ledger=auth_expiration_of(envelope),
    )


def is_dead(*, max_time: int, auth_expiration_ledger: int, close_time: int, latest_ledger: int) -> bool:
    """True when an envelope that was never found can never be included any more.

    Args:
        max_time: its time bound, unix seconds (0 = none: never provably dead).
        auth_expiration_ledger: last ledger its auth entries are valid (0 = none).
        close_time: close time of the latest ledger, unix seconds.
        latest_ledger: sequence of the latest ledger.
    """
    return bool(max_time) and close_time > max_time and latest_ledger > auth_expiration_ledger


async def load_account_state(server: SorobanServerAsync, account_id: str) -> tuple[int, int]:
    """Sequence number and native balance (stroops) of ``account_id``, in one RPC call.

    Raises:
        SourceAccountMissing: the account does not exist on the network.
        SorobanUnavailable: the RPC failed.
    """
    key = xdr.LedgerKey(
        xdr.LedgerEntryType.ACCOUNT,
        account=xdr.LedgerKeyAccount(account_id=Keypair.from_public_key(account_id).xdr_account_id()),
    )
    resp = await rpc_call(server.get_ledger_entries, [key])
    if not resp.entries:
        raise SourceAccountMissing(f"account {account_id} does not exist on the network", account=account_id)
    account = xdr.LedgerEntryData.from_xdr(resp.entries[0].xdr).account
    if account is None:  # pragma: no cover - the RPC answered another entry type
        raise AccountNotFoundException(account_id)
    return account.seq_num.sequence_number.int64, account.balance.int64
