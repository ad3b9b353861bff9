"""Reading a user's SEP-41 allowance for the router, by simulation (nothing is signed or sent).

The API holds no Stellar key: the simulated transaction uses the owner's own account as its
source, which ``simulateTransaction`` does not need to sign.
"""

from __future__ import annotations

from stellar_sdk import Account, SorobanServerAsync, TransactionBuilder, scval, xdr

from chains.soroban.outcomes import simulation_error
from chains.soroban.rpc_errors import rpc_call
from chains.soroban.scvals import to_python
from config.settings import SorobanSettings


async def router_allowance(rpc: SorobanServerAsync, settings: SorobanSettings, *, owner: str) -> int:
    """``istsi_token.allowance(owner, integration_router)`` in base units (0 when none or expired).

    Raises:
        SorobanError: the RPC is unavailable (``SorobanUnavailable``) or the call failed.

    Source: SEP-41 ``allowance(from, spender) -> i128``.
    """
    c = settings.contracts
    tx = (
        TransactionBuilder(Account(owner, 0), settings.passphrase(), base_fee=settings.base_fee_stroops)
        .append_invoke_contract_function_op(
            contract_id=c.istsi_token, function_name="allowance",
            parameters=[scval.to_address(owner), scval.to_address(c.integration_router)],
        )
        .set_timeout(30)
        .build()
    )
    sim = await rpc_call(rpc.simulate_transaction, tx)
    if sim.error:
        raise simulation_error(sim.error, "istsi_token")
    return int(to_python(xdr.SCVal.from_xdr(sim.results[0].xdr)))
