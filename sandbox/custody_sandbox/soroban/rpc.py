"""Stellar RPC JSON-RPC 2.0 methods served by the sandbox, in the real server's shapes.

int64 fields the real server encodes as JSON strings (``minResourceFee``, close times,
``createdAt``) are strings here too. Unknown methods answer ``-32601``; bad parameters
``-32602``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stellar_sdk import StrKey, xdr

from custody_sandbox.soroban import contract_wasm, history_query, ledger_meta, xdrs
from custody_sandbox.soroban.chain import SandboxState
from custody_sandbox.soroban.events_query import InvalidRequest, query_events

RPC_VERSION = "27.1.1-sandbox"
"""The stellar-rpc release whose behaviour the sandbox follows (``useUpgradedAuth`` from 27.1)."""
TTL_LEDGERS = 2_073_600  # modelled live-until horizon for contract data (~120 days)


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RpcMethods:
    """The method table; each handler takes the ``params`` dict and returns ``result``."""

    def __init__(self, state: SandboxState, friendbot_url: str | None = None) -> None:
        self.state = state
        self.friendbot_url = friendbot_url
        self.table: dict[str, Callable[[dict], Any]] = {
            "getHealth": self.get_health,
            "getNetwork": self.get_network,
            "getLatestLedger": self.get_latest_ledger,
            "getVersionInfo": self.get_version_info,
            "getLedgerEntries": self.get_ledger_entries,
            "simulateTransaction": self.simulate_transaction,
            "sendTransaction": self.send_transaction,
            "getTransaction": self.get_transaction,
            "getEvents": self.get_events,
            "getFeeStats": self.get_fee_stats,
            "getTransactions": self.get_transactions,
            "getLedgers": self.get_ledgers,
        }

    def call(self, method: str, params: dict) -> Any:
        handler = self.table.get(method)
        if handler is None:
            raise RpcError(-32601, "method not found")
        if not isinstance(params, dict):
            raise RpcError(-32602, "params must be an object (by-name parameters)")
        try:
            return handler(params)
        except InvalidRequest as exc:
            raise RpcError(exc.code, str(exc)) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise RpcError(-32602, f"invalid parameters: {exc}") from exc

    # ---- ledger info ------------------------------------------------------------------
    def _range(self) -> dict:
        chain = self.state.chain
        oldest, latest = chain.ledgers[0], chain.latest
        return {
            "latestLedger": latest.sequence,
            "latestLedgerCloseTime": str(latest.close_time),
            "oldestLedger": oldest.sequence,
            "oldestLedgerCloseTime": str(oldest.close_time),
        }

    def get_health(self, params: dict) -> dict:
        with self.state.lock:
            r = self._range()
            window = r["latestLedger"] - r["oldestLedger"] + 1
            return {"status": "healthy", "ledgerRetentionWindow": window, **r}

    def get_network(self, params: dict) -> dict:
        out = {"passphrase": self.state.chain.network_passphrase, "protocolVersion": xdrs.PROTOCOL_VERSION}
        if self.friendbot_url:
            out["friendbotUrl"] = self.friendbot_url
        return out

    def get_latest_ledger(self, params: dict) -> dict:
        """``headerXdr`` is the bare ``LedgerHeader`` (stellar-rpc sends
        ``LedgerHeaderHistoryEntry().Header``), ``metadataXdr`` the ledger's ``LedgerCloseMeta``."""
        with self.state.lock:
            chain = self.state.chain
            latest = chain.latest
            entry = xdr.LedgerHeaderHistoryEntry.from_xdr(latest.header_xdr)
            records = [chain.txs[h] for h in latest.tx_hashes]
            return {
                "id": latest.hash,
                "protocolVersion": xdrs.PROTOCOL_VERSION,
                "sequence": latest.sequence,
                "closeTime": str(latest.close_time),
                "headerXdr": entry.header.to_xdr(),
                "metadataXdr": ledger_meta.close_meta(entry, records).to_xdr(),
            }

    def get_transactions(self, params: dict) -> dict:
        with self.state.lock:
            return history_query.get_transactions(self.state.chain, params)

    def get_ledgers(self, params: dict) -> dict:
        with self.state.lock:
            return history_query.get_ledgers(self.state.chain, params)

    def get_version_info(self, params: dict) -> dict:
        return {
            "version": RPC_VERSION,
            "commitHash": "0" * 40,
            "buildTimestamp": "2025-01-01T00:00:00Z",
            "captiveCoreVersion": "sandbox (python contract models)",
            "protocolVersion": xdrs.PROTOCOL_VERSION,
        }

    def get_fee_stats(self, params: dict) -> dict:
        fee = str(xdrs.BASE_FEE_STROOPS)
        dist = {k: fee for k in ("max", "min", "mode", "p10", "p20", "p30", "p40", "p50", "p60", "p70", "p80", "p90", "p95", "p99")}
        ledger = self.state.chain.latest.sequence
        dist |= {"transactionCount": "0", "ledgerCount": 10}
        return {"sorobanInclusionFee": dist, "inclusionFee": dict(dist), "latestLedger": ledger}

    # ---- state ------------------------------------------------------------------------
    def get_ledger_entries(self, params: dict) -> dict:
        keys = params["keys"]
        if len(keys) > 200:
            raise RpcError(-32602, "key count exceeds the maximum of 200")
        with self.state.lock:
            chain = self.state.chain
            entries = []
            for key_b64 in keys:
                key = xdr.LedgerKey.from_xdr(key_b64)
                entry = self._entry(key, key_b64)
                if entry is not None:
                    entries.append(entry)
            return {"entries": entries, "latestLedger": chain.latest.sequence}

    def _entry(self, key: xdr.LedgerKey, key_b64: str) -> dict | None:
        chain = self.state.chain
        if key.type == xdr.LedgerEntryType.ACCOUNT:
            account_id = StrKey.encode_ed25519_public_key(key.account.account_id.account_id.ed25519.uint256)
            acc = chain.accounts.get(account_id)
            if acc is None:
                return None
            data, modified, live = xdrs.account_entry(account_id, acc.balance, acc.seq), acc.last_modified, None
        elif key.type == xdr.LedgerEntryType.CONTRACT_DATA:
            cd = key.contract_data
            if cd.key.type == xdr.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE:
                contract = StrKey.encode_contract(cd.contract.contract_id.contract_id.hash)
                name = chain.contracts.get(contract)
                if name is None:
                    return None
                data, modified = xdrs.contract_data_entry(key, xdrs.contract_instance_val(contract_wasm.wasm_hash(name))), 1
            else:
                rec = chain.data.get(key_b64)
                if rec is None:
                    return None
                data, modified = xdrs.contract_data_entry(key, xdr.SCVal.from_xdr(rec.val)), rec.last_modified
            live = modified + TTL_LEDGERS
        elif key.type == xdr.LedgerEntryType.CONTRACT_CODE:
            code = contract_wasm.code_by_hash(key.contract_code.hash.hash)
            if code is None:
                return None
            data, modified = contract_wasm.code_entry(code), 1
            live = modified + TTL_LEDGERS
        else:
            return None
        out = {"key": key_b64, "xdr": data.to_xdr(), "lastModifiedLedgerSeq": modified}
        if live is not None:
            out["liveUntilLedgerSeq"] = live
        return out

    # ---- transactions -----------------------------------------------------------------
    def simulate_transaction(self, params: dict) -> dict:
        auth_mode = params.get("authMode")
        if auth_mode not in (None, "enforce", "record", "record_allow_nonroot"):
            raise RpcError(-32602, "authMode must be enforce, record or record_allow_nonroot")
        # ADDRESS credentials unless the caller opts in to CAP-71 ADDRESS_V2 (stellar-rpc 27.1).
        return self.state.simulate(params["transaction"], auth_mode, bool(params.get("useUpgradedAuth", False)))

    def send_transaction(self, params: dict) -> dict:
        sent = self.state.send(params["transaction"])
        out = {"status": sent.status, "hash": sent.hash, **self._send_range()}
        if sent.error_result_xdr:
            out["errorResultXdr"] = sent.error_result_xdr
        if sent.drop_response:
            raise DroppedResponse()
        return out

    def _send_range(self) -> dict:
        latest = self.state.chain.latest
        return {"latestLedger": latest.sequence, "latestLedgerCloseTime": str(latest.close_time)}

    def get_transaction(self, params: dict) -> dict:
        tx_hash = params["hash"]
        if len(tx_hash) != 64:
            raise RpcError(-32602, "invalid hash")
        with self.state.lock:
            rec = self.state.chain.txs.get(tx_hash)
            out = {"txHash": tx_hash, **self._range()}
            if rec is None:
                return {"status": "NOT_FOUND", **out}
            return {
                "status": rec.status,
                **out,
                "applicationOrder": rec.application_order,
                "feeBump": False,
                "envelopeXdr": rec.envelope_xdr,
                "resultXdr": rec.result_xdr,
                "resultMetaXdr": rec.result_meta_xdr,
                "ledger": rec.ledger,
                "createdAt": str(rec.created_at),
                "diagnosticEventsXdr": rec.diagnostic_events_xdr,
                "events": {"transactionEventsXdr": [], "contractEventsXdr": [rec.contract_events_xdr]},
            }

    def get_events(self, params: dict) -> dict:
        with self.state.lock:
            return query_events(self.state.chain, params)


class DroppedResponse(Exception):
    """Fault injection: the request took effect but its HTTP response is lost."""
