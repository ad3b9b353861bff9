"""The external signer: the payout waits in ``signing`` until an operator posts the signed PSBT;
a PSBT that pays anything else is refused (422) and the withdrawal keeps waiting."""

from __future__ import annotations

from embit.psbt import PSBT
from temporalio.worker import Worker

from activities.withdrawal_payouts import PayoutActivities
from activities.withdrawals import WithdrawalActivities
from chains.bitcoin.setup import signing_secret
from chains.bitcoin.signers import ExternalSigner, HotSigner
from domain.roles import Role
from tests.fixtures.waiting import eventually
from tests.withdrawals.conftest import recipient_address
from workers.withdrawals_registry import WORKFLOWS


async def test_signed_psbt_from_an_operator_is_checked_then_broadcast(
    temporal_client, worker_deps, task_queue, queue_client, holder, make_user, chain, read, settings,
) -> None:
    ledger = WithdrawalActivities(settings=settings, sessions=worker_deps.sessions, contracts=worker_deps.contracts,
                                  submitter=worker_deps.submitter)
    payouts = PayoutActivities(settings=settings, sessions=worker_deps.sessions, esplora=worker_deps.esplora,
                               wallet=worker_deps.wallet, signer=ExternalSigner())
    h = await holder([75_000])
    operator = await make_user(Role.OPERATOR)
    to = recipient_address()
    async with Worker(temporal_client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=[*ledger.all(), *payouts.all()]):
        r = await queue_client.post("/api/integration/token-withdrawal", headers=h.headers,
                                    json={"token_amount": 75_000, "btc_address": to})
        op_id = r.json()["operation_id"]
        await read.wait(op_id, stage="signing")
        await eventually(lambda: read.payout(op_id))
        view = await queue_client.get(f"/api/admin/operations/{op_id}/payout", headers=operator.headers)
        assert view.status_code == 200 and view.json()["status"] == "awaiting_signature"
        # The custody key holder signs offline (BIP 174 signer role).
        key = HotSigner(signing_secret(settings.bitcoin) or "", worker_deps.wallet)._descriptor
        signed, tampered = PSBT.from_string(view.json()["psbt"]), PSBT.from_string(view.json()["psbt"])
        assert signed.sign_with(key) == len(signed.inputs)
        tampered.outputs[0].value += 1000  # pays the recipient more than the payout built
        tampered.sign_with(key)
        url = f"/api/admin/operations/{op_id}/signed-psbt"
        bad = await queue_client.post(url, headers=operator.headers, json={"psbt": tampered.to_string()})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_signed_psbt", bad.text
        ok = await queue_client.post(url, headers=operator.headers, json={"psbt": signed.to_string()})
        assert ok.status_code == 202 and ok.json()["txid"] == view.json()["txid"], ok.text
        again = await queue_client.post(url, headers=operator.headers, json={"psbt": signed.to_string()})
        assert again.status_code == 409 and again.json()["code"] == "not_awaiting_signature"
        await read.wait(op_id, stage="awaiting_payout_confirmations")
        chain.mine(settings.withdrawals.payout_confirmations)
        await read.wait(op_id, status="completed")
    assert [tx["txid"] for tx in chain.txs_to(to)] == [view.json()["txid"]]
