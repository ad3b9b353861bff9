"""Errors of the Bitcoin chain layer. Activities catch these names only.

Exception tree::

    ChainError                    base; ``code`` is stable (a ``domain.errors.CodedError``)
     ├── ChainUnavailable         connection error, timeout or 5xx after the retry budget
     ├── ChainResponseError       an answer we cannot use (unexpected status or shape)
     ├── TxNotFound               the chain source does not know the txid
     ├── BlockNotFound            no block at that hash or height
     ├── TxRejected               broadcast refused by the node (``reason`` from the node)
     ├── WalletError              descriptor or derivation refused (network, key, index)
     └── SignerError              signing refused or impossible
          └── PsbtMismatch        a signed PSBT does not pay exactly the intended outputs
"""

from __future__ import annotations

from domain.errors import CodedError


class ChainError(CodedError):
    """Base of every Bitcoin chain-layer error."""

    code = "chain_error"


class ChainUnavailable(ChainError):
    """The chain source cannot be reached, timed out, or kept answering 5xx."""

    code = "chain_unavailable"


class ChainResponseError(ChainError):
    """The chain source answered with a status or body we cannot use."""

    code = "chain_bad_response"


class TxNotFound(ChainError):
    """No transaction with that txid (neither mempool nor canonical chain)."""

    code = "tx_not_found"


class BlockNotFound(ChainError):
    """No block with that hash or at that height."""

    code = "block_not_found"


class TxRejected(ChainError):
    """The node refused a broadcast; ``reason`` is the node's text."""

    code = "tx_rejected"

    def __init__(self, reason: str) -> None:
        super().__init__(f"transaction rejected: {reason}")
        self.reason = reason


class WalletError(ChainError):
    """A descriptor, key or derivation index was refused."""

    code = "wallet_error"


class SignerError(ChainError):
    """A signer cannot sign, or refused to."""

    code = "signer_error"


class PsbtMismatch(SignerError):
    """A returned PSBT spends other inputs or pays other outputs than the payout built."""

    code = "psbt_mismatch"
