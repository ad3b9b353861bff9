"""Soroban authorization for the sandbox host: enforce signed entries or record new ones.

Enforcing (apply, or simulation of a transaction that already carries auth entries):
``require_auth(address)`` in a root invocation is satisfied by exactly one unused
``SorobanAuthorizationEntry`` whose root invocation equals the call (contract, function,
args) and whose credentials are either

- ``SOURCE_ACCOUNT``: the address is the operation's source account (the envelope
  signature already proved it), or
- ``ADDRESS`` / ``ADDRESS_V2``: an ed25519 signature by the account's master key over
  ``sha256(HashIDPreimage)`` (network id, nonce, expiration ledger, invocation; V2 also binds
  the address, CAP-71), with an unused nonce and an expiration ledger not yet passed.

Recording (simulation of a transaction without auth entries) returns the entries the call
needs, exactly as ``simulateTransaction`` does, for the client to sign.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from stellar_sdk import Address, Keypair, scval, xdr
from stellar_sdk.exceptions import BadSignatureError

from custody_sandbox.soroban.host_errors import HostTrap

CredType = xdr.SorobanCredentialsType
MAX_SIGNATURE_TTL_LEDGERS = 535_680  # ~31 days; the host's maximum entry TTL


def invocation_for(contract: str, fn: str, args: list[xdr.SCVal]) -> xdr.SorobanAuthorizedInvocation:
    """The authorized-invocation tree node for one contract call (no sub-invocations)."""
    return xdr.SorobanAuthorizedInvocation(
        function=xdr.SorobanAuthorizedFunction(
            type=xdr.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CONTRACT_FN,
            contract_fn=xdr.InvokeContractArgs(
                contract_address=Address(contract).to_xdr_sc_address(),
                function_name=xdr.SCSymbol(fn.encode()),
                args=list(args),
            ),
        ),
        sub_invocations=[],
    )


def _address_creds(creds: xdr.SorobanCredentials) -> xdr.SorobanAddressCredentials | None:
    if creds.type == CredType.SOROBAN_CREDENTIALS_ADDRESS:
        return creds.address
    if creds.type == CredType.SOROBAN_CREDENTIALS_ADDRESS_V2:
        return creds.address_v2
    return None


class AuthManager:
    """Authorization state of one host invocation.

    Args:
        record: True to record required entries instead of enforcing given ones.
        entries: the operation's auth entries (ignored when recording).
        source_account: the operation's effective source account (strkey ``G…``).
        network_id: sha256 of the network passphrase.
        ledger_seq: sequence of the ledger the invocation runs in.
        nonce_used: tells whether ``(address, nonce)`` was consumed by an earlier transaction.
        account_exists: tells whether a ``G…`` account exists.
        upgraded: record ``ADDRESS_V2`` credentials (``useUpgradedAuth``) instead of ``ADDRESS``.
    """

    def __init__(
        self,
        *,
        record: bool,
        entries: list[xdr.SorobanAuthorizationEntry],
        source_account: str,
        network_id: bytes,
        ledger_seq: int,
        nonce_used: Callable[[str, int], bool],
        account_exists: Callable[[str], bool],
        upgraded: bool = False,
    ) -> None:
        self.record = record
        self._entries = list(entries)
        self._used: set[int] = set()
        self.source_account = source_account
        self._network_id = network_id
        self._ledger_seq = ledger_seq
        self._nonce_used = nonce_used
        self._account_exists = account_exists
        self._upgraded = upgraded
        self.recorded: list[xdr.SorobanAuthorizationEntry] = []
        self.consumed_nonces: list[tuple[str, int]] = []

    def require(self, address: str, contract: str, fn: str, args: list[xdr.SCVal]) -> None:
        """Authorize ``address`` for the root call ``contract.fn(args)`` or trap.

        Raises:
            HostTrap: ``Error(Auth, InvalidAction)`` when no valid entry authorizes the call.
        """
        invocation = invocation_for(contract, fn, args)
        if self.record:
            self._record(address, invocation)
            return
        want = invocation.to_xdr()
        for index, entry in enumerate(self._entries):
            if index in self._used or entry.root_invocation.to_xdr() != want:
                continue
            if self._accepts(entry, address):
                self._used.add(index)
                return
        raise HostTrap("Auth", "InvalidAction", f"require_auth failed for {address}")

    def _record(self, address: str, invocation: xdr.SorobanAuthorizedInvocation) -> None:
        if address == self.source_account:
            creds = xdr.SorobanCredentials(type=CredType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT)
        else:
            inner = xdr.SorobanAddressCredentials(
                address=Address(address).to_xdr_sc_address(),
                nonce=xdr.Int64(secrets.randbits(63)),
                signature_expiration_ledger=xdr.Uint32(0),
                signature=scval.to_void(),
            )
            creds = (
                xdr.SorobanCredentials(type=CredType.SOROBAN_CREDENTIALS_ADDRESS_V2, address_v2=inner)
                if self._upgraded
                else xdr.SorobanCredentials(type=CredType.SOROBAN_CREDENTIALS_ADDRESS, address=inner)
            )
        self.recorded.append(xdr.SorobanAuthorizationEntry(credentials=creds, root_invocation=invocation))

    def _accepts(self, entry: xdr.SorobanAuthorizationEntry, address: str) -> bool:
        creds = entry.credentials
        if creds.type == CredType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT:
            return address == self.source_account
        inner = _address_creds(creds)
        if inner is None or Address.from_xdr_sc_address(inner.address).address != address:
            return False
        nonce = inner.nonce.int64
        expiry = inner.signature_expiration_ledger.uint32
        if self._nonce_used(address, nonce) or (address, nonce) in self.consumed_nonces:
            raise HostTrap("Auth", "ExistingValue", "nonce already used")
        if expiry < self._ledger_seq or expiry > self._ledger_seq + MAX_SIGNATURE_TTL_LEDGERS:
            raise HostTrap("Auth", "InvalidInput", "signature expiration ledger out of range")
        if not address.startswith("G") or not self._account_exists(address):
            raise HostTrap("Auth", "InvalidAction", "signer account missing")
        payload = hashlib.sha256(self._preimage(creds, inner, entry).to_xdr_bytes()).digest()
        if not _verify_account_signature(address, inner.signature, payload):
            raise HostTrap("Auth", "InvalidAction", "signature verification failed")
        self.consumed_nonces.append((address, nonce))
        return True

    def _preimage(
        self,
        creds: xdr.SorobanCredentials,
        inner: xdr.SorobanAddressCredentials,
        entry: xdr.SorobanAuthorizationEntry,
    ) -> xdr.HashIDPreimage:
        signed = {  # what both preimages commit to; the one "with address" binds the address too
            "network_id": xdr.Hash(self._network_id),
            "nonce": inner.nonce,
            "signature_expiration_ledger": inner.signature_expiration_ledger,
            "invocation": entry.root_invocation,
        }
        if creds.type == CredType.SOROBAN_CREDENTIALS_ADDRESS:
            return xdr.HashIDPreimage(
                type=xdr.EnvelopeType.ENVELOPE_TYPE_SOROBAN_AUTHORIZATION,
                soroban_authorization=xdr.HashIDPreimageSorobanAuthorization(**signed),
            )
        return xdr.HashIDPreimage(
            type=xdr.EnvelopeType.ENVELOPE_TYPE_SOROBAN_AUTHORIZATION_WITH_ADDRESS,
            soroban_authorization_with_address=xdr.HashIDPreimageSorobanAuthorizationWithAddress(
                address=inner.address, **signed
            ),
        )


def _verify_account_signature(account: str, signature: xdr.SCVal, payload: bytes) -> bool:
    """Check the default account signature shape ``Vec<Map{public_key, signature}>``.

    Only the account's master key counts (sandbox accounts have no extra signers).
    """
    if signature.type != xdr.SCValType.SCV_VEC or not signature.vec or len(signature.vec.sc_vec) != 1:
        return False
    item = signature.vec.sc_vec[0]
    if item.type != xdr.SCValType.SCV_MAP or not item.map:
        return False
    fields = {e.key.sym.sc_symbol.decode(): e.val for e in item.map.sc_map if e.key.sym}
    try:
        public_key = scval.from_bytes(fields["public_key"])
        sig = scval.from_bytes(fields["signature"])
    except (KeyError, ValueError):
        return False
    keypair = Keypair.from_public_key(account)
    if public_key != keypair.raw_public_key():
        return False
    try:
        keypair.verify(payload, sig)
    except BadSignatureError:
        return False
    return True
