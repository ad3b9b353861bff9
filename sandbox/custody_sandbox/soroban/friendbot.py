"""The sandbox friendbot: a real ``CreateAccount`` transaction from the network's root account,
answered in the real friendbot's JSON.

The root account is the network's own (secret seed = sha256 of the network passphrase, as
Stellar Core derives it for a standalone network). Funding builds, signs and applies a
classic transaction (10,000 XLM, base fee 100 stroops, no time bounds as friendbot sends it)
in the next ledger, so it shows in ``getTransaction``/``getTransactions``/``getLedgers`` and
its ``TransactionMeta`` v4 records the created account (what SDKs' ``requestAirdrop`` /
``fundAddress`` read the new sequence number from).

Replies, as stellar/go ``services/friendbot``:
* success: the Horizon transaction resource (``hash``, ``ledger``, ``envelope_xdr``,
  ``result_xdr``, ``result_meta_xdr``, ``successful``, ``source_account``, …);
* an account that exists: 400 problem JSON whose ``detail`` is
  ``createAccountAlreadyExist (AAAAAAAAAGT/////AAAAAQAAAAAAAAAA/////AAAAAA=)``;
* an ``addr`` that is not a ``G…`` account strkey: 400 invalid-field problem (``extras.invalid_field``).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from stellar_sdk import Account, Keypair, TransactionBuilder, xdr

from custody_sandbox.soroban import xdrs
from custody_sandbox.soroban.store import AccountRecord, TxRecord

STARTING_BALANCE_XLM = "10000"
STARTING_BALANCE_STROOPS = 10_000 * 10_000_000
PROBLEM_TYPE_PREFIX = "https://stellar.org/horizon-errors/"
ALREADY_EXISTS_RESULT_XDR = "AAAAAAAAAGT/////AAAAAQAAAAAAAAAA/////AAAAAA="
ALREADY_EXISTS_DETAIL = f"createAccountAlreadyExist ({ALREADY_EXISTS_RESULT_XDR})"


def root_keypair(network_passphrase: str) -> Keypair:
    """The network root account: seed sha256(passphrase), as stellar-core's standalone root."""
    return Keypair.from_raw_ed25519_seed(hashlib.sha256(network_passphrase.encode()).digest())


def problem(detail: str, *, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of a 400 ``bad_request`` problem as friendbot renders it."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE_PREFIX + "bad_request", "title": "Bad Request", "status": 400, "detail": detail}
    if extras:
        body["extras"] = extras
    return body


def invalid_addr(reason: str) -> dict[str, Any]:
    return problem("The request you sent was invalid in some way.", extras={"invalid_field": "addr", "reason": reason})


def _account_entry(account_id: str, record: AccountRecord, ledger: int) -> xdr.LedgerEntry:
    return xdr.LedgerEntry(
        last_modified_ledger_seq=xdr.Uint32(ledger),
        data=xdrs.account_entry(account_id, record.balance, record.seq),
        ext=xdr.LedgerEntryExt(0),
    )


def build_create_account(root: Keypair, root_seq: int, destination: str, passphrase: str):
    """The signed friendbot envelope (a ``TransactionEnvelope`` of the SDK)."""
    tx = (
        TransactionBuilder(Account(root.public_key, root_seq), passphrase, base_fee=xdrs.BASE_FEE_STROOPS)
        .append_create_account_op(destination=destination, starting_balance=STARTING_BALANCE_XLM)
        .add_time_bounds(0, 0)
        .build()
    )
    tx.sign(root)
    return tx


def apply_create_account(
    accounts: dict[str, AccountRecord], envelope, destination: str, ledger: int, close_time: int, order: int
) -> TxRecord:
    """Apply a friendbot envelope in ledger ``ledger``: fee, sequence, the new account; its record."""
    source = envelope.transaction.source.account_id
    fee = xdrs.BASE_FEE_STROOPS
    root = accounts[source]
    before = _account_entry(source, root, root.last_modified)
    root.balance -= fee
    root.seq = envelope.transaction.sequence
    root.last_modified = ledger
    charged = _account_entry(source, root, ledger)
    root.balance -= STARTING_BALANCE_STROOPS
    debited = _account_entry(source, root, ledger)
    created = AccountRecord(STARTING_BALANCE_STROOPS, ledger << 32, ledger)  # Core: new seq = ledger << 32
    accounts[destination] = created
    change = xdr.LedgerEntryChangeType
    op_changes = [
        xdr.LedgerEntryChange(type=change.LEDGER_ENTRY_CREATED, created=_account_entry(destination, created, ledger)),
        xdr.LedgerEntryChange(type=change.LEDGER_ENTRY_STATE, state=charged),
        xdr.LedgerEntryChange(type=change.LEDGER_ENTRY_UPDATED, updated=debited),
    ]
    meta = xdr.TransactionMeta(
        v=4,
        v4=xdr.TransactionMetaV4(
            ext=xdr.ExtensionPoint(0),
            tx_changes_before=xdr.LedgerEntryChanges([
                xdr.LedgerEntryChange(type=change.LEDGER_ENTRY_STATE, state=before),
                xdr.LedgerEntryChange(type=change.LEDGER_ENTRY_UPDATED, updated=charged),
            ]),
            operations=[xdr.OperationMetaV2(ext=xdr.ExtensionPoint(0), changes=xdr.LedgerEntryChanges(op_changes), events=[])],
            tx_changes_after=xdr.LedgerEntryChanges([]),
            soroban_meta=None,
            events=[],
            diagnostic_events=[],
        ),
    )
    op_result = xdr.OperationResult(
        code=xdr.OperationResultCode.opINNER,
        tr=xdr.OperationResultTr(
            type=xdr.OperationType.CREATE_ACCOUNT,
            create_account_result=xdr.CreateAccountResult(xdr.CreateAccountResultCode.CREATE_ACCOUNT_SUCCESS),
        ),
    )
    result = xdr.TransactionResult(
        fee_charged=xdr.Int64(fee),
        result=xdr.TransactionResultResult(code=xdr.TransactionResultCode.txSUCCESS, results=[op_result]),
        ext=xdr.TransactionResultExt(0),
    )
    return TxRecord(
        hash=envelope.hash_hex(), status="SUCCESS", ledger=ledger, application_order=order,
        envelope_xdr=envelope.to_xdr(), result_xdr=result.to_xdr(), result_meta_xdr=meta.to_xdr(),
        created_at=close_time, soroban=False,
    )


def horizon_json(record: TxRecord, base_url: str) -> dict[str, Any]:
    """The Horizon transaction resource friendbot answers with (amounts in stroops as strings)."""
    envelope = xdr.TransactionEnvelope.from_xdr(record.envelope_xdr)
    tx = envelope.v1.tx
    source = Keypair.from_raw_ed25519_public_key(tx.source_account.ed25519.uint256).public_key
    toid = (record.ledger << 32) | (record.application_order << 12)
    created = datetime.fromtimestamp(record.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    href = f"{base_url.rstrip('/')}/transactions/{record.hash}"
    return {
        "_links": {"self": {"href": href}, "transaction": {"href": href}},
        "id": record.hash,
        "paging_token": str(toid),
        "successful": True,
        "hash": record.hash,
        "ledger": record.ledger,
        "created_at": created,
        "source_account": source,
        "source_account_sequence": str(tx.seq_num.sequence_number.int64),
        "fee_account": source,
        "fee_charged": str(xdr.TransactionResult.from_xdr(record.result_xdr).fee_charged.int64),
        "max_fee": str(tx.fee.uint32),
        "operation_count": len(tx.operations),
        "envelope_xdr": record.envelope_xdr,
        "result_xdr": record.result_xdr,
        "result_meta_xdr": record.result_meta_xdr,
        "fee_meta_xdr": xdr.LedgerEntryChanges([]).to_xdr(),
        "memo_type": "none",
        "signatures": [base64.b64encode(sig.signature.signature).decode() for sig in envelope.v1.signatures],
        "valid_after": "1970-01-01T00:00:00Z",
        "preconditions": {"timebounds": {"min_time": "0"}},
    }
