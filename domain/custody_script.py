"""The custody wallet's script, as the payout arithmetic needs it (pure): what each custody input
weighs when spent and what template the change output has.

Two kinds follow ``bitcoin.custody_descriptor``:

* ``wpkh(KEY/<0;1>/*)`` (BIP 84): single-key P2WPKH, one signature per input;
* ``wsh(sortedmulti(M,KEY1/<0;1>/*,…,KEYN/<0;1>/*))`` (BIP 383 ``sortedmulti``, BIP 389
  multipath): a P2WSH M-of-N ``OP_CHECKMULTISIG`` script, M signatures per input.

Weights are in weight units (WU, 4 WU = 1 vB), upper bounds with 72-byte DER signatures (real
ones are 71 bytes or less). Source: BIP 141 (weight), BIP 143, BIP 383.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.bitcoin_address import ScriptType

#: outpoint (36) + scriptSig length (1, empty) + sequence (4): non-witness bytes of a segwit input.
SEGWIT_INPUT_BASE_BYTES = 32 + 4 + 1 + 4
#: DER signature with its sighash byte, upper bound (BIP 66 strict DER, low S).
MAX_SIGNATURE_BYTES = 72
COMPRESSED_PUBKEY_BYTES = 33
#: Standardness: at most 15 keys in a P2WSH multisig spend (Core's 3600-byte script limit
#: allows more, but ``OP_CHECKMULTISIG`` pushes beyond 16 need other opcodes).
MAX_MULTISIG_KEYS = 15


class CustodyScriptKind(StrEnum):
    P2WPKH = "p2wpkh"
    P2WSH_MULTISIG = "p2wsh_multisig"


def _varint_len(n: int) -> int:
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5


@dataclass(frozen=True)
class CustodyScript:
    """The custody descriptor's script template: ``threshold`` of ``keys`` signatures.

    Attributes:
        kind: single-key P2WPKH or P2WSH multisig.
        threshold: signatures an input needs (M; 1 for P2WPKH).
        keys: keys in the script (N; 1 for P2WPKH).
    """

    kind: CustodyScriptKind
    threshold: int = 1
    keys: int = 1

    def __post_init__(self) -> None:
        if self.kind == CustodyScriptKind.P2WPKH and (self.threshold, self.keys) != (1, 1):
            raise ValueError("a P2WPKH custody script is 1-of-1")
        if not 1 <= self.threshold <= self.keys <= MAX_MULTISIG_KEYS:
            raise ValueError(f"a multisig needs 1 <= M <= N <= {MAX_MULTISIG_KEYS}")

    @property
    def output_type(self) -> ScriptType:
        """Template of custody outputs (change, deposit addresses)."""
        return ScriptType.P2WPKH if self.kind == CustodyScriptKind.P2WPKH else ScriptType.P2WSH

    @property
    def witness_script_bytes(self) -> int:
        """``OP_M <33-byte key>×N OP_N OP_CHECKMULTISIG``: 3 + 34 N bytes (0 for P2WPKH)."""
        return 0 if self.kind == CustodyScriptKind.P2WPKH else 3 + 34 * self.keys

    @property
    def input_weight_wu(self) -> int:
        """Weight of one custody input when spent, in WU (upper bound).

        P2WPKH: 4 x 41 + (1 + 1 + 72 + 1 + 33) = 272 WU. P2WSH M-of-N: 4 x 41 plus the witness
        ``[<empty>, sig1..sigM, witness script]`` with its item count and length prefixes.
        """
        base = 4 * SEGWIT_INPUT_BASE_BYTES
        if self.kind == CustodyScriptKind.P2WPKH:
            return base + 1 + (1 + MAX_SIGNATURE_BYTES) + (1 + COMPRESSED_PUBKEY_BYTES)
        script = self.witness_script_bytes
        items = 2 + self.threshold
        witness = _varint_len(items) + 1 + self.threshold * (1 + MAX_SIGNATURE_BYTES) + _varint_len(script) + script
        return base + witness


P2WPKH_CUSTODY = CustodyScript(CustodyScriptKind.P2WPKH)
