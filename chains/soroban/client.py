"""``SorobanClient``: invoke and read Soroban contracts safely under retries and crashes.

``invoke`` = build (with a ``set_timeout`` time bound) → simulate → sign any address auth
entries → prepare (footprint, resource fee) → sign with the operator key → hand the signed
envelope to the caller's ``store`` callback *before* sending → send → poll ``getTransaction``
to SUCCESS / FAILED. An ambiguous outcome is resolved by the hash, never by a new
transaction: ``TRY_AGAIN_LATER`` and lost responses resend the *same* envelope,
``DUPLICATE`` counts as pending. A new transaction is built only when the old one is
provably dead: its time bound passed by ledger close time while it was never found, or
``txBAD_SEQ`` with the hash not found. ``resume(envelope_xdr)`` re-drives a stored envelope.

With a :class:`~chains.soroban.channels.ChannelPool` each transaction's source (sequence
number and fee) is a leased channel account and the operator authorises the call with a
signed authorization entry (address credentials), so calls run concurrently, one per
channel. A channel is freed only when its envelope is resolved by hash; channels left bound
by a crashed worker are resolved by hash before reuse. Without a pool the operator is the
source and submissions are serialized per client, because the network keeps one pending
transaction per source account.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence

from stellar_sdk import Account, Address, Keypair, SorobanServerAsync, TransactionBuilder, TransactionEnvelope, xdr
from stellar_sdk.auth import authorize_entry
from stellar_sdk.exceptions import AccountNotFoundException
from stellar_sdk.soroban_rpc import GetTransactionStatus, SendTransactionStatus

from chains.soroban.addresses import ContractAddresses
from chains.soroban.channels import ChannelLease, ChannelPool, Resolution
from chains.soroban.envelopes import (
    SignedEnvelope,
    auth_expiration_of,
    is_dead,
    max_time_of,
    signed,
    source_of,
)
from chains.soroban.errors import (
    HostError,
    NetworkMismatch,
    SorobanError,
    SorobanUnavailable,
    SourceAccountMissing,
    SubmissionRejected,
    TransactionExpired,
    TransactionFailed,
    TransactionPending,
)
from chains.soroban.keys import OperatorKey
from chains.soroban.leasing import ChannelLeasing
from chains.soroban.outcomes import InvokeResult, decode_success, failure_error, simulation_error
from chains.soroban.rpc_errors import rpc_call

StoreCallback = Callable[[SignedEnvelope], Awaitable[None]]
RESEND_EVERY_POLLS = 10  # re-offer the same bytes now and then: harmless (DUPLICATE) if queued
AUTH_MARGIN_LEDGERS = 10  # auth entries outlive the time bound a little: clocks and ledgers drift


class SorobanClient:
    """Client for the docs/CONTRACTS.md contracts on one network.

    Parameters:
        rpc_url: Stellar RPC endpoint.
        network_passphrase: the expected network; ``check_network`` refuses any other.
        operator: the signing key (transaction source and ``caller`` of mutating calls).
        contracts: the four contract addresses.
        base_fee: inclusion fee in stroops (resource fee comes from simulation).
        tx_timeout_seconds: time bound of each transaction (``set_timeout``).
        poll_interval_seconds: pause between ``getTransaction`` polls and resends.
        max_wait_seconds: give up waiting (``TransactionPending``) after this; None = until
            the transaction is final or provably dead.
        max_rebuilds: how many times a provably dead transaction is rebuilt.
        server: an existing ``SorobanServerAsync`` (default: one for ``rpc_url``).
        channels: a pool of channel accounts used as transaction sources (None: the operator).
        ledger_seconds: the network's ledger close interval; signed auth entries stay valid for
            ``tx_timeout_seconds`` worth of ledgers (plus a margin).
        channel_wait_seconds: how long ``invoke`` waits for a free channel (``ChannelsBusy``).
    """

    def __init__(
        self,
        *,
        rpc_url: str,
        network_passphrase: str,
        operator: Keypair | OperatorKey,
        contracts: ContractAddresses,
        base_fee: int = 100,
        tx_timeout_seconds: int = 60,
        poll_interval_seconds: float = 1.0,
        max_wait_seconds: float | None = None,
        max_rebuilds: int = 3,
        server: SorobanServerAsync | None = None,
        channels: ChannelPool | None = None,
        ledger_seconds: float = 5.0,
        channel_wait_seconds: float = 120.0,
    ) -> None:
        self.network_passphrase = network_passphrase
        self._operator = operator.keypair if isinstance(operator, OperatorKey) else operator
        self.contracts = contracts
        self.base_fee = base_fee
        self.tx_timeout_seconds = tx_timeout_seconds
        self.poll_interval_seconds = poll_interval_seconds
        self.max_wait_seconds = max_wait_seconds
        self.max_rebuilds = max_rebuilds
        self.server = server or SorobanServerAsync(rpc_url)
        self._submit_lock = asyncio.Lock()
        self.channels = channels
        self.ledger_seconds = ledger_seconds
        self._leasing = (
            ChannelLeasing(channels, self.server, wait_seconds=channel_wait_seconds,
                           poll_interval_seconds=poll_interval_seconds)
            if channels is not None else None
        )

    @property
    def operator_address(self) -> str:
        return self._operator.public_key

    def __repr__(self) -> str:
        return f"SorobanClient(url={self.server.server_url!r}, operator={self.operator_address!r})"

    async def close(self) -> None:
        await self.server.close()

    async def check_network(self) -> None:
        """Refuse to run against another network. Raises NetworkMismatch, SorobanUnavailable."""
        network = await rpc_call(self.server.get_network)
        if network.passphrase != self.network_passphrase:
            raise NetworkMismatch(
                f"RPC serves {network.passphrase!r}, configured {self.network_passphrase!r}; refusing to run"
            )

    # ---- reads ------------------------------------------------------------------------
    async def read(self, contract_id: str, function: str, args: Sequence[xdr.SCVal] = ()) -> xdr.SCVal:
        """Call a read-only function through simulation (nothing is submitted).

        Raises:
            ContractError, HostError, SimulationError: the simulated call failed.
            SorobanUnavailable: the RPC failed.
        """
        tx = await self._build_tx(contract_id, function, args)
        sim = await rpc_call(self.server.simulate_transaction, tx)
        if sim.error:
            raise simulation_error(sim.error, self.contracts.name_of(contract_id))
        return xdr.SCVal.from_xdr(sim.results[0].xdr)

    # ---- writes -----------------------------------------------------------------------
    async def invoke(
        self,
        contract_id: str,
        function: str,
        args: Sequence[xdr.SCVal] = (),
        *,
        store: StoreCallback | None = None,
        auth_signers: Sequence[Keypair] = (),
    ) -> InvokeResult:
        """Submit ``contract_id.function(args)`` and wait until it is final.

        Args:
            store: awaited with each signed envelope before it is first sent (and again for
                a rebuilt replacement); if it raises, nothing is sent.
            auth_signers: keys that sign address-credential auth entries (``require_auth``
                of accounts other than the operator).

        Raises:
            ContractError / HostError: the call failed in simulation (nothing sent) or on chain.
            SubmissionRejected: the network refused the envelope (e.g. ``txBAD_AUTH``).
            TransactionFailed: included but failed for a non-contract reason.
            TransactionExpired: dead more than ``max_rebuilds`` times.
            TransactionPending: ``max_wait_seconds`` passed; ``resume`` it later.
            SorobanUnavailable: the RPC failed before anything was sent.
            ChannelsBusy: no channel account became free in ``channel_wait_seconds``.
        """
        if self.channels is not None:
            return await self._submit_with_rebuilds(contract_id, function, list(args), store, auth_signers, None)
        async with self._submit_lock:
            return await self._submit_with_rebuilds(contract_id, function, list(args), store, auth_signers, None)

    async def resume(
        self, envelope_xdr: str, *, store: StoreCallback | None = None, auth_signers: Sequence[Keypair] = ()
    ) -> InvokeResult:
        """Re-drive an envelope stored before a crash: look it up, resend the same bytes,
        and rebuild the same call only if the stored one is provably dead."""
        envelope = TransactionEnvelope.from_xdr(envelope_xdr, self.network_passphrase)
        call = envelope.transaction.operations[0].host_function.invoke_contract
        contract_id = Address.from_xdr_sc_address(call.contract_address).address
        function = call.function_name.sc_symbol.decode()
        if source_of(envelope) != self.operator_address:  # a channel's envelope: no queue to share
            return await self._submit_with_rebuilds(contract_id, function, list(call.args), store, auth_signers, envelope)
        async with self._submit_lock:
            return await self._submit_with_rebuilds(contract_id, function, list(call.args), store, auth_signers, envelope)

    async def _submit_with_rebuilds(self, contract_id, function, args, store, auth_signers, envelope) -> InvokeResult:
        contract = self.contracts.name_of(contract_id)
        last: SorobanError | None = None
        lease: ChannelLease | None = None
        for _ in range(self.max_rebuilds + 1):
            if envelope is None:
                envelope, lease = await self._prepare_and_store(contract_id, function, args, auth_signers, store)
            try:
                result = await self._drive(envelope, contract)
            except (HostError, TransactionFailed) as failed:
                if failed.tx_hash is not None:  # included and FAILED: final, its sequence is consumed
                    await self._release(envelope, Resolution.APPLIED, lease)
                raise
            except TransactionExpired as dead:
                await self._release(envelope, Resolution.DEAD, lease)
                last, envelope, lease = dead, None, None  # provably dead: safe to build a new transaction
                continue
            except SubmissionRejected as rejected:
                bad_seq = rejected.result_code == "txBAD_SEQ"
                await self._release(envelope, Resolution.BAD_SEQ if bad_seq else Resolution.DEAD, lease)
                ran_dry = self._leasing is not None and await self._leasing.ran_dry(envelope, rejected)
                if not (bad_seq or ran_dry):
                    raise
                last, envelope, lease = rejected, None, None  # refused at admission: never applied
                continue
            # Anything else (pending past the wait, RPC down, cancelled) leaves the channel bound:
            # only a lookup of this hash may free it.
            await self._release(envelope, Resolution.APPLIED, lease)
            return result
        assert last is not None
        raise last

    async def _prepare_and_store(self, contract_id, function, args, auth_signers, store):
        """Build and sign on a leased channel (or the operator), then persist before any send."""
        lease = await self._leasing.lease() if self._leasing is not None else None
        try:
            envelope = await self._prepare(contract_id, function, args, auth_signers, lease)
            record = signed(envelope, lease.token if lease else None)
            if store is not None:
                await store(record)
            elif lease is not None and self.channels is not None:
                await self.channels.bind(record)
        except BaseException:
            if lease is not None and self._leasing is not None:
                await self._leasing.release_unused(lease)  # a no-op if the store bound an envelope
            raise
        return envelope, lease

    async def _release(self, envelope: TransactionEnvelope, resolution: Resolution, lease: ChannelLease | None) -> None:
        if self._leasing is not None and source_of(envelope) != self.operator_address:
            await self._leasing.release(envelope, resolution, lease)

    async def resolve_stuck_channels(self) -> int:
        """Resolve by hash the envelopes of channels a crash left bound (see ``ChannelLeasing``)."""
        return await self._leasing.resolve_stuck() if self._leasing is not None else 0

    # ---- building ---------------------------------------------------------------------
    async def _build_tx(
        self, contract_id: str, function: str, args: Sequence[xdr.SCVal], source: Account | None = None
    ) -> TransactionEnvelope:
        account = source
        if account is None:
            try:
                account = await rpc_call(self.server.load_account, self.operator_address)
            except AccountNotFoundException as exc:
                raise SourceAccountMissing(
                    f"account {self.operator_address} does not exist on the network", account=self.operator_address
                ) from exc
        return (
            TransactionBuilder(account, self.network_passphrase, base_fee=self.base_fee)
            .append_invoke_contract_function_op(contract_id=contract_id, function_name=function, parameters=list(args))
            .set_timeout(self.tx_timeout_seconds)
            .build()
        )

    async def _prepare(
        self, contract_id, function, args, auth_signers: Sequence[Keypair], lease: ChannelLease | None = None
    ) -> TransactionEnvelope:
        contract = self.contracts.name_of(contract_id)
        source = Account(lease.public_key, lease.sequence) if lease is not None and lease.sequence is not None else None
        tx = await self._build_tx(contract_id, function, args, source)
        # With a channel as source the operator is just another address: it signs its entry.
        auth_signers = [*auth_signers, self._operator]
        sim = await rpc_call(self.server.simulate_transaction, tx)
        if sim.error:
            raise simulation_error(sim.error, contract)
        entries = [xdr.SorobanAuthorizationEntry.from_xdr(a) for a in (sim.results[0].auth or [])]
        if any(e.credentials.type != xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT for e in entries):
            # Address credentials: sign them, then simulate again in enforcing mode so the
            # footprint and fee match the signed entries.
            valid_until = sim.latest_ledger + math.ceil(self.tx_timeout_seconds / self.ledger_seconds) + AUTH_MARGIN_LEDGERS
            tx.transaction.operations[0].auth = [self._authorize(e, auth_signers, valid_until) for e in entries]
            sim = await rpc_call(self.server.simulate_transaction, tx)
            if sim.error:
                raise simulation_error(sim.error, contract)
        prepared = await self.server.prepare_transaction(tx, simulate_transaction_response=sim)
        prepared.sign(lease.keypair if lease is not None else self._operator)
        return prepared

    def _authorize(self, entry, signers: Sequence[Keypair], valid_until: int) -> xdr.SorobanAuthorizationEntry:
        creds = entry.credentials
        inner = creds.address or creds.address_v2
        if inner is None:
            return entry
        address = Address.from_xdr_sc_address(inner.address).address
        signer = next((k for k in signers if k.public_key == address), None)
        if signer is None:
            raise SorobanError(f"call needs authorization by {address}; pass its key in auth_signers")
        return authorize_entry(entry, signer, valid_until, self.network_passphrase)

    # ---- driving one envelope to a final state ----------------------------------------
    async def _drive(self, envelope: TransactionEnvelope, contract: str) -> InvokeResult:
        tx_hash = envelope.hash_hex()
        envelope_xdr = envelope.to_xdr()
        max_time, auth_expiry = max_time_of(envelope), auth_expiration_of(envelope)
        deadline = None if self.max_wait_seconds is None else time.monotonic() + self.max_wait_seconds
        need_send, polls = True, 0
        while True:
            if need_send:
                need_send = not await self._send(envelope_xdr, tx_hash)
                polls = 0
            try:
                got = await rpc_call(self.server.get_transaction, tx_hash)
            except SorobanUnavailable:
                got = None  # unknown, not failure: keep polling
            if got is not None:
                if got.status == GetTransactionStatus.SUCCESS:
                    ret, events = decode_success(got)
                    return InvokeResult(tx_hash, got.ledger or 0, ret, events, envelope_xdr)
                if got.status == GetTransactionStatus.FAILED:
                    raise failure_error(got, contract, tx_hash)
                if is_dead(max_time=max_time, auth_expiration_ledger=auth_expiry,
                           close_time=got.latest_ledger_close_time, latest_ledger=got.latest_ledger):
                    raise TransactionExpired(f"time bound {max_time} passed, never included", tx_hash=tx_hash)
            polls += 1
            if polls >= RESEND_EVERY_POLLS:
                need_send = True
            if deadline is not None and time.monotonic() > deadline:
                raise TransactionPending("still pending", tx_hash=tx_hash, envelope_xdr=envelope_xdr)
            await asyncio.sleep(self.poll_interval_seconds)

    async def _send(self, envelope_xdr: str, tx_hash: str) -> bool:
        """Offer the envelope once. True when the network holds it (PENDING/DUPLICATE).

        Raises SubmissionRejected (incl. dead ``txBAD_SEQ``) or TransactionExpired (``txTOO_LATE``).
        """
        try:
            resp = await rpc_call(self.server.send_transaction, envelope_xdr)
        except SorobanUnavailable:
            return False  # lost response: it may or may not be queued; poll, then resend
        if resp.status in (SendTransactionStatus.PENDING, SendTransactionStatus.DUPLICATE):
            return True
        if resp.status == SendTransactionStatus.TRY_AGAIN_LATER:
            return False
        code = xdr.TransactionResult.from_xdr(resp.error_result_xdr).result.code.name if resp.error_result_xdr else "unknown"
        # A resend of an envelope already applied (its first response lost) is rejected
        # (txBAD_SEQ, or txTOO_LATE once its time bound passed): the hash decides, not the code.
        got = await rpc_call(self.server.get_transaction, tx_hash)
        if got.status != GetTransactionStatus.NOT_FOUND:
            return True
        if code == "txTOO_LATE":
            raise TransactionExpired("rejected txTOO_LATE: time bound passed", tx_hash=tx_hash)
        raise SubmissionRejected(code, tx_hash=tx_hash)

