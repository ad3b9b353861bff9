"""Search attributes operators filter on in the Temporal UI (docs/DESIGN.md §5). Never one named ``Status``.

Register them on the namespace before any workflow upserts them (an unregistered key makes the
workflow task retry forever): ``custody dev`` and the test fixtures pass :data:`ALL` to the dev
server; production uses ``temporal operator search-attribute create``.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

OPERATION_TYPE = SearchAttributeKey.for_keyword("CustodyOperationType")
STAGE = SearchAttributeKey.for_keyword("CustodyStage")
USER_ID = SearchAttributeKey.for_keyword("CustodyUserId")
BTC_TXID = SearchAttributeKey.for_keyword("BtcTxId")
AMOUNT_SATS = SearchAttributeKey.for_int("AmountSats")

ALL = (OPERATION_TYPE, STAGE, USER_ID, BTC_TXID, AMOUNT_SATS)

_CLI_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "TEXT": "Text", "BOOL": "Bool", "DATETIME": "Datetime"}


def dev_server_flags() -> list[str]:
    """``--search-attribute NAME=Type`` flags for ``temporal server start-dev``."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}"]
    return flags
