"""First-start bootstrap: operator account, the four contracts at stable addresses, roles.

Contract addresses are ``C…`` strkeys of ``sha256("custody-sandbox/<name>")``, identical on
every machine, so development configuration can hard-code them. The operator secret is
generated randomly on first start and written to ``<state_dir>/operator.secret`` (mode
0600); the addresses go to ``<state_dir>/contracts.json``.

Initialization runs as real signed transactions through the sandbox's own admission and
ledger-close path, so the chain history starts with the setup transactions and events.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from stellar_sdk import Account, Keypair, StrKey, TransactionBuilder, scval, xdr

from custody_sandbox.soroban.auth import AuthManager
from custody_sandbox.soroban.chain import SandboxState
from custody_sandbox.soroban.contracts import MODELS
from custody_sandbox.soroban.execution import commit, contract_class
from custody_sandbox.soroban.host import Host
from custody_sandbox.soroban.host_errors import HostFailure

OPERATOR_SECRET_FILE = "operator.secret"
#: The sandbox router's deposit depth unless told otherwise: development runs at depth 1.
DEFAULT_MIN_CONFIRMATIONS = 1
CONTRACTS_FILE = "contracts.json"
CONTRACT_NAMES = ("integration_router", "kyc_registry", "istsi_token", "reserve_manager")


def contract_address(name: str) -> str:
    """The stable sandbox address of contract ``name``."""
    return StrKey.encode_contract(hashlib.sha256(f"custody-sandbox/{name}".encode()).digest())


CONTRACT_ADDRESSES: dict[str, str] = {name: contract_address(name) for name in CONTRACT_NAMES}


def _deploy(state: SandboxState, name: str, constructor_args: list[xdr.SCVal], deployer: str) -> None:
    """Register a model at its address and run its constructor, as a deploy would."""
    chain = state.chain
    address = CONTRACT_ADDRESSES[name]
    chain.contracts[address] = name
    if "__constructor" not in MODELS[name]._exports:
        return
    auth = AuthManager(
        record=True, entries=[], source_account=deployer, network_id=b"", ledger_seq=chain.latest.sequence,
        nonce_used=lambda a, n: False, account_exists=lambda a: True,
    )
    host = Host(
        read_data=lambda c, k: chain.data[k].val if k in chain.data else None,
        contract_class=contract_class(chain), auth=auth, ledger=state.next_ledger(),
    )
    host.invoke(address, "__constructor", constructor_args)
    commit(chain, host, chain.latest.sequence)


def submit_and_close(state: SandboxState, signer: Keypair, contract: str, fn: str, args: list[xdr.SCVal]) -> str:
    """Build, simulate, assemble, sign and send one invocation, then close a ledger.

    Returns the transaction hash. Raises RuntimeError when the invocation does not succeed.
    """
    account = state.chain.accounts[signer.public_key]
    tx = (
        TransactionBuilder(Account(signer.public_key, account.seq), state.chain.network_passphrase, base_fee=100)
        .append_invoke_contract_function_op(contract_id=contract, function_name=fn, parameters=args)
        .set_timeout(300)
        .build()
    )
    sim = state.simulate(tx.to_xdr(), None, False)
    if "error" in sim:
        raise RuntimeError(f"bootstrap {fn} failed in simulation: {sim['error']}")
    tx.transaction.soroban_data = xdr.SorobanTransactionData.from_xdr(sim["transactionData"])
    tx.transaction.fee += int(sim["minResourceFee"])
    tx.transaction.operations[0].auth = [xdr.SorobanAuthorizationEntry.from_xdr(a) for a in sim["results"][0]["auth"]]
    tx.sign(signer)
    sent = state.send(tx.to_xdr())
    if sent.status != "PENDING":
        raise RuntimeError(f"bootstrap {fn} not accepted: {sent.status}")
    state.close_ledger()
    record = state.chain.txs.get(sent.hash)
    if record is None or record.status != "SUCCESS":
        raise RuntimeError(f"bootstrap {fn} did not succeed")
    return sent.hash


def bootstrap(state: SandboxState, *, min_confirmations: int = DEFAULT_MIN_CONFIRMATIONS) -> Keypair:
    """Create the operator and contracts on a fresh chain and publish secret + addresses.

    ``min_confirmations`` (blocks) is the router's deploy-time deposit depth.

    Returns the operator keypair. Raises RuntimeError if a setup call fails.
    """
    operator = Keypair.random()
    op = operator.public_key
    a = CONTRACT_ADDRESSES
    with state.lock:
        state.fund(op)
        state.chain.operator = op
        try:
            _deploy(state, "istsi_token", [scval.to_address(op)], op)
            _deploy(state, "integration_router", [scval.to_uint32(min_confirmations)], op)
            for name in ("kyc_registry", "reserve_manager"):
                _deploy(state, name, [], op)
        except HostFailure as err:
            raise RuntimeError(f"bootstrap deploy failed: {err}") from err
        state.persist()
        addr = scval.to_address
        steps = [
            (a["kyc_registry"], "initialize", [addr(op)]),
            (a["reserve_manager"], "initialize", [addr(op), addr(a["integration_router"])]),
            (a["integration_router"], "initialize",
             [addr(op), addr(a["kyc_registry"]), addr(a["istsi_token"]), addr(a["reserve_manager"])]),
            (a["istsi_token"], "set_minter", [addr(op), addr(a["integration_router"])]),
            (a["integration_router"], "set_role", [addr(op), addr(op), scval.to_uint32(4)]),  # Operator
            (a["integration_router"], "set_role", [addr(op), addr(op), scval.to_uint32(3)]),  # ComplianceOfficer
            (a["kyc_registry"], "add_compliance_officer", [addr(op), addr(op)]),
        ]
        for contract, fn, args in steps:
            submit_and_close(state, operator, contract, fn, args)
    publish(state.state_dir, operator)
    return operator


def publish(state_dir: Path, operator: Keypair) -> None:
    """Write ``operator.secret`` (0600, the secret seed only) and ``contracts.json``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    secret_path = state_dir / OPERATOR_SECRET_FILE
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(operator.secret + "\n")
    os.chmod(secret_path, 0o600)
    payload = {"operator": operator.public_key, **CONTRACT_ADDRESSES}
    (state_dir / CONTRACTS_FILE).write_text(json.dumps(payload, indent=2) + "\n")
