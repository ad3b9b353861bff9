"""Admission checks for ``sendTransaction``, in the order Stellar Core applies them.

Each check answers the protocol's own ``TransactionResultCode``; ``None`` means the
envelope may enter the queue. Fees are stroops; times are unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from stellar_sdk import Keypair, NoneMemo, TransactionEnvelope, xdr
from stellar_sdk.exceptions import BadSignatureError
from stellar_sdk.operation import InvokeHostFunction

from custody_sandbox.soroban.store import AccountRecord
from custody_sandbox.soroban.xdrs import BASE_FEE_STROOPS

R = xdr.TransactionResultCode


def min_resource_fee(read_entries: int, write_entries: int, instructions: int) -> int:
    """The sandbox's resource fee schedule, in stroops (deterministic, footprint-based)."""
    return 5_000 + 100 * read_entries + 1_000 * write_entries + instructions // 1_000


@dataclass(frozen=True)
class TxView:
    """The fields of a transaction envelope the sandbox needs, already decoded."""

    envelope: TransactionEnvelope
    hash: str
    source: str
    op_source: str
    sequence: int
    fee: int
    min_time: int
    max_time: int  # 0 = no upper bound

    @classmethod
    def parse(cls, envelope_xdr: str, network_passphrase: str) -> TxView:
        """Decode a base64 ``TransactionEnvelope``.

        Raises:
            ValueError: malformed XDR or a fee-bump envelope (not supported by the sandbox).
        """
        try:
            raw = xdr.TransactionEnvelope.from_xdr(envelope_xdr)
        except Exception as exc:  # the XDR decoder raises several unrelated types
            raise ValueError(f"invalid transaction envelope: {exc}") from exc
        if raw.type != xdr.EnvelopeType.ENVELOPE_TYPE_TX:
            raise ValueError("only v1 transaction envelopes are supported by the sandbox")
        env = TransactionEnvelope.from_xdr_object(raw, network_passphrase)
        tx = env.transaction
        tb = tx.preconditions.time_bounds if tx.preconditions else None
        op = tx.operations[0] if tx.operations else None
        op_source = op.source.account_id if op is not None and op.source is not None else tx.source.account_id
        return cls(
            envelope=env,
            hash=env.hash_hex(),
            source=tx.source.account_id,
            op_source=op_source,
            sequence=tx.sequence,
            fee=tx.fee,
            min_time=tb.min_time if tb else 0,
            max_time=tb.max_time if tb else 0,
        )

    @property
    def invoke(self) -> InvokeHostFunction | None:
        ops = self.envelope.transaction.operations
        return ops[0] if len(ops) == 1 and isinstance(ops[0], InvokeHostFunction) else None


def check_time_bounds(tx: TxView, close_time: int) -> xdr.TransactionResultCode | None:
    if tx.min_time and close_time < tx.min_time:
        return R.txTOO_EARLY
    if tx.max_time and close_time > tx.max_time:
        return R.txTOO_LATE
    return None


def check_admission(tx: TxView, account: AccountRecord | None, close_time: int) -> xdr.TransactionResultCode | None:
    """Validate a submitted envelope against the latest closed ledger.

    Returns the rejection code (``txMALFORMED``, ``txSOROBAN_INVALID``, ``txTOO_EARLY``,
    ``txTOO_LATE``, ``txINSUFFICIENT_FEE``, ``txNO_ACCOUNT``, ``txBAD_SEQ``, ``txBAD_AUTH``,
    ``txBAD_AUTH_EXTRA``, ``txINSUFFICIENT_BALANCE``) or None when admissible.
    """
    tx_body = tx.envelope.transaction
    if tx.invoke is None:
        return R.txMALFORMED
    if tx_body.soroban_data is None or not isinstance(tx_body.memo, NoneMemo):
        return R.txSOROBAN_INVALID
    code = check_time_bounds(tx, close_time)
    if code is not None:
        return code
    resources = tx_body.soroban_data.resources
    declared = tx_body.soroban_data.resource_fee.int64
    needed = min_resource_fee(
        len(resources.footprint.read_only), len(resources.footprint.read_write), resources.instructions.uint32
    )
    if declared < needed or tx.fee < BASE_FEE_STROOPS + declared:
        return R.txINSUFFICIENT_FEE
    if account is None:
        return R.txNO_ACCOUNT
    if tx.sequence != account.seq + 1:
        return R.txBAD_SEQ
    code = check_signatures(tx)
    if code is not None:
        return code
    if account.balance < tx.fee:
        return R.txINSUFFICIENT_BALANCE
    return None


def check_signatures(tx: TxView) -> xdr.TransactionResultCode | None:
    """Every required account (tx source, op source) must have signed the tagged hash.

    The hash is ``sha256(network_id || ENVELOPE_TYPE_TX || tx)``, so an envelope signed for
    another network passphrase fails here with ``txBAD_AUTH``.
    """
    digest = tx.envelope.hash()
    required = {tx.source, tx.op_source}
    used: set[int] = set()
    for account in required:
        keypair = Keypair.from_public_key(account)
        hint = keypair.signature_hint()
        found = False
        for index, sig in enumerate(tx.envelope.signatures):
            if sig.signature_hint != hint:
                continue
            try:
                keypair.verify(digest, sig.signature)
            except BadSignatureError:
                continue
            used.add(index)
            found = True
            break
        if not found:
            return R.txBAD_AUTH
    if len(used) != len(tx.envelope.signatures):
        return R.txBAD_AUTH_EXTRA
    return None
