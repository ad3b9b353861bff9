"""The one error type of the sandbox node: a transaction refused, as Bitcoin Core refuses it."""

from __future__ import annotations

import json


class Rejected(Exception):
    """A refused transaction; ``code`` and ``reason`` as Bitcoin Core's RPC gives them.

    Codes: -22 decode failed, -25 missing inputs, -26 rejected by validation or policy,
    -27 already in the chain. ``reason`` is Core's ``state.ToString()``: the reject reason,
    then ``", "`` and the debug message when there is one.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def esplora_text(self) -> str:
        """Esplora's body for a refused ``POST /tx`` (HTTP 400)."""
        return "sendrawtransaction RPC error: " + json.dumps({"code": self.code, "message": self.reason})
