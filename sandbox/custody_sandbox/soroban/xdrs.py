"""XDR builders for what the sandbox returns: entries, results, meta and ledger headers.

Every blob is a real ``stellar_sdk.xdr`` structure, so clients decode it exactly as they
decode a real Stellar RPC's output.
"""

from __future__ import annotations

import hashlib

from stellar_sdk import Keypair, scval, xdr

PROTOCOL_VERSION = 27
"""The protocol the sandbox network runs: 27 (CAP-71 ``ADDRESS_V2`` credentials exist, and are
recorded only on request, as stellar-rpc 27.1 does)."""
BASE_FEE_STROOPS = 100
BASE_RESERVE_STROOPS = 5_000_000
TOTAL_COINS_STROOPS = 1_000_000_000_000_000_000

R = xdr.TransactionResultCode


def account_key(account_id: str) -> xdr.LedgerKey:
    return xdr.LedgerKey(
        type=xdr.LedgerEntryType.ACCOUNT,
        account=xdr.LedgerKeyAccount(account_id=Keypair.from_public_key(account_id).xdr_account_id()),
    )


def account_entry(account_id: str, balance: int, seq: int) -> xdr.LedgerEntryData:
    """An ``AccountEntry`` with only the master key (weight 1, thresholds 0)."""
    return xdr.LedgerEntryData(
        type=xdr.LedgerEntryType.ACCOUNT,
        account=xdr.AccountEntry(
            account_id=Keypair.from_public_key(account_id).xdr_account_id(),
            balance=xdr.Int64(balance),
            seq_num=xdr.SequenceNumber(xdr.Int64(seq)),
            num_sub_entries=xdr.Uint32(0),
            inflation_dest=None,
            flags=xdr.Uint32(0),
            home_domain=xdr.String32(b""),
            thresholds=xdr.Thresholds(bytes([1, 0, 0, 0])),
            signers=[],
            ext=xdr.AccountEntryExt(0),
        ),
    )


def contract_data_entry(key: xdr.LedgerKey, val: xdr.SCVal) -> xdr.LedgerEntryData:
    cd = key.contract_data
    return xdr.LedgerEntryData(
        type=xdr.LedgerEntryType.CONTRACT_DATA,
        contract_data=xdr.ContractDataEntry(
            ext=xdr.ExtensionPoint(0), contract=cd.contract, key=cd.key, durability=cd.durability, val=val
        ),
    )


def contract_instance_val(wasm_hash: bytes) -> xdr.SCVal:
    """The instance value: a Wasm executable naming its code entry by ``sha256(wasm)``."""
    return xdr.SCVal(
        type=xdr.SCValType.SCV_CONTRACT_INSTANCE,
        instance=xdr.SCContractInstance(
            executable=xdr.ContractExecutable(
                type=xdr.ContractExecutableType.CONTRACT_EXECUTABLE_WASM, wasm_hash=xdr.Hash(wasm_hash)
            ),
            storage=None,
        ),
    )


def ledger_header(
    sequence: int, close_time: int, previous_hash: bytes, tx_set_hash: bytes = bytes(32), tx_set_result_hash: bytes = bytes(32)
) -> tuple[xdr.LedgerHeaderHistoryEntry, bytes]:
    """Build a ledger header and its hash (sha256 of the ``LedgerHeader`` XDR, as Core hashes it)."""
    zero = xdr.Hash(bytes(32))
    header = xdr.LedgerHeader(
        ledger_version=xdr.Uint32(PROTOCOL_VERSION),
        previous_ledger_hash=xdr.Hash(previous_hash),
        scp_value=xdr.StellarValue(
            tx_set_hash=xdr.Hash(tx_set_hash),
            close_time=xdr.TimePoint(xdr.Uint64(close_time)),
            upgrades=[],
            ext=xdr.StellarValueExt(v=xdr.StellarValueType.STELLAR_VALUE_BASIC),
        ),
        tx_set_result_hash=xdr.Hash(tx_set_result_hash),
        bucket_list_hash=zero,
        ledger_seq=xdr.Uint32(sequence),
        total_coins=xdr.Int64(TOTAL_COINS_STROOPS),
        fee_pool=xdr.Int64(0),
        inflation_seq=xdr.Uint32(0),
        id_pool=xdr.Uint64(0),
        base_fee=xdr.Uint32(BASE_FEE_STROOPS),
        base_reserve=xdr.Uint32(BASE_RESERVE_STROOPS),
        max_tx_set_size=xdr.Uint32(1000),
        skip_list=[zero, zero, zero, zero],
        ext=xdr.LedgerHeaderExt(0),
    )
    digest = hashlib.sha256(header.to_xdr_bytes()).digest()
    entry = xdr.LedgerHeaderHistoryEntry(hash=xdr.Hash(digest), header=header, ext=xdr.LedgerHeaderHistoryEntryExt(0))
    return entry, digest


def tx_error_result(code: xdr.TransactionResultCode, fee_charged: int = 0) -> xdr.TransactionResult:
    """A transaction-level rejection such as ``txBAD_SEQ`` (no operation results)."""
    return xdr.TransactionResult(
        fee_charged=xdr.Int64(fee_charged), result=xdr.TransactionResultResult(code=code), ext=xdr.TransactionResultExt(0)
    )


def invoke_result(fee_charged: int, success_hash: bytes | None) -> xdr.TransactionResult:
    """``txSUCCESS`` with the invoke success hash, or ``txFAILED`` with ``TRAPPED``."""
    if success_hash is not None:
        ihf = xdr.InvokeHostFunctionResult(
            code=xdr.InvokeHostFunctionResultCode.INVOKE_HOST_FUNCTION_SUCCESS, success=xdr.Hash(success_hash)
        )
    else:
        ihf = xdr.InvokeHostFunctionResult(code=xdr.InvokeHostFunctionResultCode.INVOKE_HOST_FUNCTION_TRAPPED)
    op = xdr.OperationResult(
        code=xdr.OperationResultCode.opINNER,
        tr=xdr.OperationResultTr(type=xdr.OperationType.INVOKE_HOST_FUNCTION, invoke_host_function_result=ihf),
    )
    code = R.txSUCCESS if success_hash is not None else R.txFAILED
    return xdr.TransactionResult(
        fee_charged=xdr.Int64(fee_charged),
        result=xdr.TransactionResultResult(code=code, results=[op]),
        ext=xdr.TransactionResultExt(0),
    )


def success_hash(return_value: xdr.SCVal, events: list[xdr.ContractEvent]) -> bytes:
    """sha256 of ``InvokeHostFunctionSuccessPreImage``, as the host computes it."""
    pre = xdr.InvokeHostFunctionSuccessPreImage(return_value=return_value, events=events)
    return hashlib.sha256(pre.to_xdr_bytes()).digest()


def meta_v4(
    return_value: xdr.SCVal | None, events: list[xdr.ContractEvent], diagnostics: list[xdr.DiagnosticEvent]
) -> xdr.TransactionMeta:
    """``TransactionMeta`` v4 (protocol 23): per-operation events plus the return value."""
    return xdr.TransactionMeta(
        v=4,
        v4=xdr.TransactionMetaV4(
            ext=xdr.ExtensionPoint(0),
            tx_changes_before=xdr.LedgerEntryChanges([]),
            operations=[xdr.OperationMetaV2(ext=xdr.ExtensionPoint(0), changes=xdr.LedgerEntryChanges([]), events=events)],
            tx_changes_after=xdr.LedgerEntryChanges([]),
            soroban_meta=xdr.SorobanTransactionMetaV2(ext=xdr.SorobanTransactionMetaExt(0), return_value=return_value),
            events=[],
            diagnostic_events=diagnostics,
        ),
    )


def diagnostic_error_event(error: xdr.SCError, message: str) -> xdr.DiagnosticEvent:
    """The host's diagnostic event for a trap: topics ``["error", Error(..)]``, data a message."""
    topics = [scval.to_symbol("error"), xdr.SCVal(type=xdr.SCValType.SCV_ERROR, error=error)]
    event = xdr.ContractEvent(
        ext=xdr.ExtensionPoint(0),
        contract_id=None,
        type=xdr.ContractEventType.DIAGNOSTIC,
        body=xdr.ContractEventBody(0, v0=xdr.ContractEventV0(topics=topics, data=scval.to_string(message))),
    )
    return xdr.DiagnosticEvent(in_successful_contract_call=False, event=event)
