"""The sandbox friendbot: a real CreateAccount transaction, answered with the real friendbot's JSON
(stellar/go services/friendbot); account strkeys only; an existing account is refused as the
real one refuses it (``createAccountAlreadyExist``)."""

from __future__ import annotations

import httpx
import pytest
from stellar_sdk import Keypair, xdr


@pytest.mark.parametrize("addr", ["", "NOTAKEY", Keypair.random().secret, "C" + "A" * 55])
def test_friendbot_refuses_what_is_not_an_account(sandbox, addr: str) -> None:
    resp = httpx.get(f"{sandbox.url}/friendbot", params={"addr": addr})
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"] == "https://stellar.org/horizon-errors/bad_request" and body["extras"]["invalid_field"] == "addr"


def test_friendbot_funds_an_account_once(sandbox) -> None:
    keypair = Keypair.random()
    funded = httpx.post(f"{sandbox.url}/friendbot", params={"addr": keypair.public_key}).json()
    assert funded["successful"] is True and len(funded["hash"]) == 64
    assert xdr.TransactionResult.from_xdr(funded["result_xdr"]).result.code == xdr.TransactionResultCode.txSUCCESS
    meta = xdr.TransactionMeta.from_xdr(funded["result_meta_xdr"])
    created = meta.v4.operations[0].changes.ledger_entry_changes[0].created.data.account
    assert created.account_id.account_id.ed25519.uint256 == keypair.raw_public_key()
    assert created.seq_num.sequence_number.int64 == funded["ledger"] << 32
    envelope = xdr.TransactionEnvelope.from_xdr(funded["envelope_xdr"])
    assert envelope.v1.tx.operations[0].body.type == xdr.OperationType.CREATE_ACCOUNT
    again = httpx.get(f"{sandbox.url}/friendbot", params={"addr": keypair.public_key})
    assert again.status_code == 400
    assert again.json()["detail"] == "createAccountAlreadyExist (AAAAAAAAAGT/////AAAAAQAAAAAAAAAA/////AAAAAA=)"
