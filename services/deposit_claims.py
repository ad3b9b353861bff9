"""The cheap chain check of a deposit claim at the door (one Esplora ``GET /tx/:txid``).

Runs before the claim holds its outpoint, counts against a limit or starts a workflow. The rule
itself is :func:`domain.deposit_claims.check_claim`; this module fetches the transaction and turns
a refusal into an error that says what the user can do.
"""

from __future__ import annotations

from enum import StrEnum

from chains.bitcoin.errors import ChainError, TxNotFound
from chains.bitcoin.esplora import EsploraClient
from domain.bitcoin_address import Network, parse_address
from domain.deposit_claims import AmountMismatch, ClaimedOutput, NoOutputToAddress, check_claim
from domain.errors import InvalidField, Unavailable


class ClaimSeen(StrEnum):
    """Where the chain source has the claimed transaction."""

    CONFIRMED = "confirmed"
    MEMPOOL = "mempool"


async def verify_claim(
    esplora: EsploraClient, *, txid: str, vout: int, claimed_sats: int, deposit_address: str, network: Network | str,
) -> ClaimSeen:
    """Whether output ``txid:vout`` pays ``deposit_address`` ``claimed_sats`` (in a block or the mempool).

    Raises:
        InvalidField: ``tx_not_found`` (field ``btc_tx_hash``), ``no_output_to_address``
            (field ``vout``), ``amount_mismatch`` (field ``btc_amount``, with the real
            ``amount_sats``).
        Unavailable: ``chain_unavailable``.
    """
    script_hex = parse_address(deposit_address, network).script_pubkey.hex()
    try:
        tx = await esplora.transaction(txid)
    except TxNotFound:
        raise InvalidField(
            "tx_not_found", "btc_tx_hash",
            f"the Bitcoin network does not know transaction {txid}: check the txid in your wallet, and post "
            "again once the wallet shows the transaction as sent (broadcast)",
        ) from None
    except ChainError as exc:
        raise Unavailable("the Bitcoin chain source cannot be reached; post again in a minute",
                          code="chain_unavailable") from exc
    outputs = [ClaimedOutput(o.vout, o.script_pubkey, o.amount_sats) for o in tx.outputs]
    try:
        check_claim(outputs, vout=vout, deposit_script_hex=script_hex, claimed_sats=claimed_sats)
    except NoOutputToAddress as exc:
        raise InvalidField(
            exc.code, "vout",
            f"{exc}: claim the output that pays your deposit address {deposit_address} "
            "(GET /api/integration/deposit-address); detection credits it by itself once it confirms",
        ) from None
    except AmountMismatch as exc:
        raise InvalidField(exc.code, "btc_amount", f"{exc}: post btc_amount {exc.amount_sats}",
                           extra={"amount_sats": exc.amount_sats}) from None
    return ClaimSeen.CONFIRMED if tx.status.confirmed else ClaimSeen.MEMPOOL
