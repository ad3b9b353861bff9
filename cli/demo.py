"""``custody demo``: the whole journey against a running stack, through public protocols only.

Two users register; they submit KYC and a compliance officer decides; Alice funds her deposit
address from the Bitcoin faucet, posts the deposit and follows it over the WebSocket to
``completed``; her iSTSi balance is read on chain (Stellar RPC) and through the API; she approves
the router as spender with her own Stellar key and withdraws to a fresh bech32 address; an
operator approves; the payout is found on the Bitcoin chain; a proof of reserves is run and her
inclusion proof is verified offline. Each step prints what it verified; the first step that does
not verify stops the journey with :class:`StepFailed` (exit code 1).

The only thing done outside the public API is creating the first admin, exactly as an operator
does on day one (``custody users create-admin``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from stellar_sdk import Keypair

from chains.soroban import ContractAddresses, Contracts, SorobanClient
from cli.demo_clients import Account, Api, Esplora, OperationFeed, StepFailed, fresh_bech32_address, until
from domain.proof_document import verify_proof_file

Say = Callable[[str], None]


@dataclass(frozen=True)
class JourneyConfig:
    api_url: str
    esplora_url: str
    stellar_rpc_url: str
    admin_email: str
    admin_password: str
    #: Alice's deposit (0.3 BTC: within an Enhanced tier's single limit) and her withdrawal
    #: (0.12 BTC: above the default approval threshold, so an operator must approve it).
    deposit_sats: int = 30_000_000
    withdrawal_sats: int = 12_000_000
    timeout_seconds: float = 240.0
    poll_seconds: float = 0.5


class Journey:
    def __init__(self, cfg: JourneyConfig, say: Say = print):
        self.cfg, self.say = cfg, say
        self.api = Api(cfg.api_url)
        self.esplora = Esplora(cfg.esplora_url)
        self.ws_url = cfg.api_url.replace("http", "ws", 1)
        self.facts: dict[str, Any] = {}
        self._step = 0
        self._chains: dict[str, Contracts] = {}

    async def _do(self, title: str, action: Callable[[], Awaitable[str]]) -> None:
        self._step += 1
        started = time.monotonic()
        detail = await action()
        self.say(f"[{self._step:2d}] {title}: ok ({detail}) [{time.monotonic() - started:.1f} s]")

    async def run(self) -> dict[str, Any]:
        """Run every step; return the facts gathered (balances, txids, proof root)."""
        try:
            await self._do("stack is healthy and describes itself", self.check_stack)
            await self._do("admin signs in; an officer and an operator are appointed", self.appoint_staff)
            await self._do("Alice and Bob register with their own Stellar accounts", self.register_users)
            await self._do("KYC: Bob is approved automatically (tier 1), an officer approves Alice (tier 3)", self.kyc)
            await self._do("Alice funds her deposit address from the Bitcoin faucet", self.fund_deposit_address)
            await self._do("Alice posts the deposit and follows it over the WebSocket", self.deposit)
            await self._do("Alice's iSTSi balance on chain equals the API's", self.check_balance_after_deposit)
            await self._do("Alice approves the router as spender with her own key (SEP-41)", self.approve_router)
            await self._do("Alice withdraws to a fresh bech32 address; an operator approves", self.withdraw)
            await self._do("the payout is on the Bitcoin chain", self.find_payout)
            await self._do("a proof of reserves runs; Alice verifies her inclusion offline", self.proof_of_reserves)
            await self._do("reserves, supply and balances agree", self.agreement)
        finally:
            await self.api.close()
            for chain in self._chains.values():
                await chain.token.client.close()
        return self.facts

    # --- steps -------------------------------------------------------------------------------
    async def check_stack(self) -> str:
        health = await self.api.call("GET", "/api/system/health")
        info = await self.api.call("GET", "/api/system/info")
        self.facts["info"] = info
        down = [n for n, d in health["dependencies"].items() if d["status"] != "ok"]
        if down:
            raise StepFailed(f"dependencies down: {down}")
        return f"bitcoin {info['bitcoin_network']}, stellar {info['stellar_network']}"

    async def appoint_staff(self) -> str:
        self.admin = Account(self.cfg.admin_email, self.cfg.admin_password)
        await self.api.login(self.admin)
        self.officer = await self.api.register("officer")
        self.operator = await self.api.register("operator")
        for account, role in ((self.officer, "compliance_officer"), (self.operator, "operator")):
            await self.api.call("PUT", f"/api/admin/users/{account.user_id}/role", account=self.admin, json={"role": role})
            await self.api.login(account)  # a token carries the role it was issued with
        return f"officer {self.officer.email}, operator {self.operator.email}"

    async def register_users(self) -> str:
        async with httpx.AsyncClient(timeout=30) as http:
            self.alice_key, self.bob_key = Keypair.random(), Keypair.random()
            for key in (self.alice_key, self.bob_key):
                (await http.get(f"{self.cfg.stellar_rpc_url}/friendbot", params={"addr": key.public_key})).raise_for_status()
        self.alice = await self.api.register("alice", self.alice_key.public_key)
        self.bob = await self.api.register("bob", self.bob_key.public_key)
        return f"alice {self.alice_key.public_key[:8]}…, bob {self.bob_key.public_key[:8]}…"

    async def kyc(self) -> str:
        doc = {"document_type": "passport", "document_number": "C01X00T47", "country": "DE"}
        bob = await self.api.call("POST", "/api/kyc/submit", account=self.bob,
                                  json={"tier": 1, "verification_data": {**doc, "full_name": "Bob Demo"}})
        alice = await self.api.call("POST", "/api/kyc/submit", account=self.alice,
                                    json={"tier": 3, "verification_data": {**doc, "full_name": "Alice Demo"}})

        async def decided() -> bool:
            resp = await self.api.http.post(
                f"/api/admin/kyc/{alice['record_id']}/decision", headers=self.officer.headers,
                json={"decision": "approve", "reason": "documents verified in the demo"},
            )
            if resp.status_code == 409 and resp.json().get("code") == "not_awaiting_decision":
                return False  # still screening
            if resp.status_code != 202:
                raise StepFailed(f"decision answered {resp.status_code}: {resp.text[:200]}")
            return True

        await until(decided, timeout_seconds=self.cfg.timeout_seconds, what="Alice's record to await review")
        for account, tier in ((self.bob, 1), (self.alice, 3)):
            async def approved(account: Account = account, tier: int = tier) -> bool:
                status = await self.api.call("GET", "/api/kyc/status", account=account)
                return status["status"] == "approved" and status["tier"] == tier

            await until(approved, timeout_seconds=self.cfg.timeout_seconds, what=f"{account.email} KYC approval")
        tiers = [await self._chain(self.alice_key).kyc.get_tier(k.public_key) for k in (self.bob_key, self.alice_key)]
        if tiers != [1, 3]:
            raise StepFailed(f"on-chain tiers are {tiers}, expected [1, 3]")
        return f"records {bob['record_id'][:8]}… and {alice['record_id'][:8]}…, on-chain tiers {tiers}"

    async def fund_deposit_address(self) -> str:
        out = await self.api.call("GET", "/api/integration/deposit-address", account=self.alice)
        self.deposit_address = out["address"]
        self.deposit_txid, self.deposit_vout = await self.esplora.faucet(self.deposit_address, self.cfg.deposit_sats)
        return f"{self.cfg.deposit_sats} sats to {self.deposit_address} in {self.deposit_txid[:12]}…:{self.deposit_vout}"

    async def deposit(self) -> str:
        async with OperationFeed(self.ws_url, self.alice) as feed:
            accepted = await self.api.call(
                "POST", "/api/integration/bitcoin-deposit", account=self.alice,
                json={"btc_amount": self.cfg.deposit_sats, "btc_tx_hash": self.deposit_txid, "vout": self.deposit_vout},
            )
            op_id = accepted["operation_id"]
            status = await until(
                lambda: self._final_status(feed, op_id), timeout_seconds=self.cfg.timeout_seconds,
                what="the deposit to complete", meanwhile=self._mine_now_and_then,
            )
        if status != "completed":
            raise StepFailed(f"deposit ended {status}: {await self._operation(op_id, self.alice)}")
        self.facts["deposit_operation"] = op_id
        return f"operation {op_id[:8]}…, stages {' → '.join(feed.stages_of(op_id))}"

    async def check_balance_after_deposit(self) -> str:
        on_chain = await self._chain(self.alice_key).token.balance(self.alice_key.public_key)
        api = await self._api_balance(self.alice)
        if not on_chain == api == self.cfg.deposit_sats:
            raise StepFailed(f"on chain {on_chain}, API {api}, deposited {self.cfg.deposit_sats}")
        return f"{on_chain} base units = {self.cfg.deposit_sats} sats"

    async def approve_router(self) -> str:
        chain = self._chain(self.alice_key)
        router = self.facts["info"]["contracts"]["integration_router"]
        latest = await chain.token.client.server.get_latest_ledger()
        await chain.token.approve(
            self.alice_key.public_key, router, self.cfg.withdrawal_sats, latest.sequence + 100_000, signer=self.alice_key
        )
        allowance = await chain.token.allowance(self.alice_key.public_key, router)
        if allowance < self.cfg.withdrawal_sats:
            raise StepFailed(f"allowance is {allowance}")
        return f"allowance {allowance} for {router[:8]}…"

    async def withdraw(self) -> str:
        self.payout_address = fresh_bech32_address(self.facts["info"]["bitcoin_network"])
        async with OperationFeed(self.ws_url, self.alice) as feed:
            accepted = await self.api.call(
                "POST", "/api/integration/token-withdrawal", account=self.alice,
                json={"token_amount": self.cfg.withdrawal_sats, "btc_address": self.payout_address},
            )
            op_id = accepted["operation_id"]

            async def approved_or_done() -> bool:
                op = await self._operation(op_id, self.alice)
                if op["stage"] == "awaiting_approval":
                    await self.api.call("POST", f"/api/admin/operations/{op_id}/approve", account=self.operator,
                                        json={"reason": "demo: amount and address checked"})
                    return True
                return op["status"] in ("completed", "failed", "cancelled") or op["stage"] in ("burning", "signing", "paying_out")

            await until(approved_or_done, timeout_seconds=self.cfg.timeout_seconds, what="operator approval stage")
            status = await until(
                lambda: self._final_status(feed, op_id), timeout_seconds=self.cfg.timeout_seconds,
                what="the withdrawal to complete", meanwhile=self._mine_now_and_then,
            )
        if status != "completed":
            raise StepFailed(f"withdrawal ended {status}: {await self._operation(op_id, self.alice)}")
        self.withdrawal_op = await self._operation(op_id, self.alice)
        return f"operation {op_id[:8]}…, stages {' → '.join(feed.stages_of(op_id))}"

    async def find_payout(self) -> str:
        payout = await self.api.call("GET", f"/api/admin/operations/{self.withdrawal_op['id']}/payout", account=self.operator)
        utxos = await self.esplora.utxos(self.payout_address)
        paid = sum(u["value"] for u in utxos if u["txid"] == payout["txid"])
        if paid != payout["amount_sats"] or not utxos:
            raise StepFailed(f"chain shows {paid} sats to {self.payout_address}, payout says {payout['amount_sats']}")
        self.facts["payout"] = payout
        return f"{paid} sats in {payout['txid'][:12]}… (fee {payout['fee_sats']} sats)"

    async def proof_of_reserves(self) -> str:
        requested = await self.api.call("POST", "/api/admin/reserves/proof", account=self.admin)

        async def our_proof() -> dict[str, Any] | None:
            resp = await self.api.http.get("/api/reserves/proof", headers=self.alice.headers)
            body = resp.json() if resp.status_code == 200 else {}
            return body if body.get("proof", {}).get("proof_id") == requested["proof_id"] else None

        proof = await until(our_proof, timeout_seconds=self.cfg.timeout_seconds, what="the proof of reserves")
        report = verify_proof_file(proof)  # offline: signature, arithmetic, inclusion path
        if not report.ok:
            raise StepFailed(f"proof does not verify: {report.problems}")
        if "inclusion" not in report.checked:
            raise StepFailed("the proof carries no inclusion proof for Alice")
        leaf_sats = proof["inclusion"]["balance"]
        if leaf_sats != self.cfg.deposit_sats - self.cfg.withdrawal_sats:
            raise StepFailed(f"Alice's leaf says {leaf_sats} sats")
        self.facts["proof"] = proof
        doc = proof["proof"]
        return f"root {doc['root_hash'][:16]}…, {doc['leaf_count']} leaves, verified offline ({', '.join(report.checked)})"

    async def agreement(self) -> str:
        status = await self.api.call("GET", "/api/reserves/status", account=self.alice)
        overview = await self.api.call("GET", "/api/system/overview", account=self.admin)
        supply = await self._chain(self.alice_key).token.total_supply()
        alice = await self._api_balance(self.alice)
        if alice != self.cfg.deposit_sats - self.cfg.withdrawal_sats:
            raise StepFailed(f"Alice's balance is {alice}")
        if status["supply_units"] != supply or status["reserves_sats"] < supply:
            raise StepFailed(f"reserves status {status} vs on-chain supply {supply}")
        self.facts.update(reserves_status=status, overview=overview)
        self.say(f"     reserves status: {status}")
        self.say(f"     overview: {overview}")
        return f"supply {supply}, reserves {status['reserves_sats']} sats, ratio {status.get('ratio_bps')} bps"

    # --- helpers -----------------------------------------------------------------------------
    def _chain(self, key: Keypair) -> Contracts:
        """The four contracts over Stellar RPC, with ``key`` as transaction source and signer."""
        if key.public_key not in self._chains:
            info = self.facts["info"]
            client = SorobanClient(
                rpc_url=self.cfg.stellar_rpc_url, network_passphrase=info["stellar_network_passphrase"], operator=key,
                contracts=ContractAddresses(**info["contracts"]), poll_interval_seconds=0.2, max_wait_seconds=60,
            )
            self._chains[key.public_key] = Contracts.for_client(client)
        return self._chains[key.public_key]

    async def _api_balance(self, account: Account) -> int:
        balances = await self.api.call("GET", "/api/tokens/balances", account=account)
        items = balances["balances"] if isinstance(balances, dict) else balances
        return sum(int(b["balance"]) for b in items)

    async def _operation(self, op_id: str, account: Account) -> dict[str, Any]:
        return await self.api.call("GET", f"/api/integration/operations/{op_id}", account=account)

    async def _final_status(self, feed: OperationFeed, op_id: str) -> str | None:
        if feed.final_status(op_id):
            return feed.final_status(op_id)
        op = await self._operation(op_id, self.alice)  # the feed is the fast path; the read is the truth
        return op["status"] if op["status"] in ("completed", "failed", "cancelled") else None

    _last_mined = 0.0

    async def _mine_now_and_then(self) -> None:
        if time.monotonic() - self._last_mined > 2:
            self._last_mined = time.monotonic()
            await self.esplora.mine(1)
