"""Script and signature validity of a transaction's inputs, decided by Bitcoin Core's own code.

The verdict comes from **libbitcoinkernel**, Bitcoin Core's consensus engine as a library,
through its Python bindings ``py-bitcoinkernel`` (``pbk``, pinned 0.1.0a5, which bundles the
kernel built from Bitcoin Core). Why this one: it *is* Bitcoin Core's ``VerifyScript`` (the
interpreter, BIP 143 and BIP 341 sighashes, libsecp256k1), so P2PKH, P2SH-P2WPKH, P2WPKH, P2WSH
multisig and taproot key- and script-path spends are judged exactly as a node judges them, and
it shares no line with the engine's signing code (``chains.bitcoin``), so a bug there cannot
hide here. Alternatives looked at: python-bitcointx 1.1.5 and python-bitcoinlib 0.12 have their
own Python interpreters without taproot (witness v1 is "upgradeable"), bdkpython exposes no
script verification.

Flags: the consensus ("mandatory") set active at every regtest height, ``P2SH | DERSIG |
NULLDUMMY | CHECKLOCKTIMEVERIFY | CHECKSEQUENCEVERIFY | WITNESS | TAPROOT`` (Core's
``MANDATORY_SCRIPT_VERIFY_FLAGS`` since 25.0). The kernel API takes no policy flags, so
standardness-only script rules (LOW_S, NULLFAIL on an otherwise valid spend, CLEANSTACK of a
legacy script, MINIMALDATA, upgradable-NOP discouragement) are not enforced here; such a
transaction is accepted where Core would answer ``non-mandatory-script-verify-flag``.

The kernel says valid or not, never why. The reason text (Core's ``ScriptErrorString``) comes
from ``script_errors.diagnose``, which reads the failing input's template; it only names the
failure, it never decides one.
"""

from __future__ import annotations

from collections.abc import Sequence

import pbk
from embit.transaction import Transaction, TransactionOutput
from pbk.script import PrecomputedTransactionData

MANDATORY_FLAGS = pbk.ScriptVerificationFlags.ALL


class UndecodableTransaction(ValueError):
    """Bitcoin Core cannot deserialize the bytes (truncated, malformed or with trailing data)."""


def decode(raw: bytes) -> Transaction:
    """Deserialize ``raw`` as Core does, then as an embit object.

    Core's deserializer (the kernel's) refuses truncated and malformed bytes; a successful
    parse must also consume every byte (Core's ``DecodeHexTx`` rejects trailing data).

    Raises:
        UndecodableTransaction: Core's ``TX decode failed``.
    """
    try:
        pbk.Transaction(raw)
        tx = Transaction.parse(raw)
    except Exception as exc:  # the kernel raises RuntimeError; embit several types
        raise UndecodableTransaction(str(exc)) from exc
    if tx.serialize() != raw:
        raise UndecodableTransaction("extra bytes after the transaction")
    return tx


def failing_input(tx: Transaction, prevouts: Sequence[TransactionOutput]) -> int | None:
    """Index of the first input whose script does not verify under consensus rules, or None.

    Args:
        tx: the spending transaction.
        prevouts: the output each input spends, in input order (values in satoshis).
    """
    ktx = pbk.Transaction(tx.serialize())
    spent = [pbk.TransactionOutput(pbk.ScriptPubkey(p.script_pubkey.data), p.value) for p in prevouts]
    txdata = PrecomputedTransactionData(ktx, spent)
    for index, prevout in enumerate(prevouts):
        script = pbk.ScriptPubkey(prevout.script_pubkey.data)
        if not script.verify(prevout.value, ktx, txdata, index, MANDATORY_FLAGS):
            return index
    return None
