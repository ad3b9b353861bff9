"""Merkle-sum tree of user liabilities, for proof of reserves with per-user inclusion proofs.

Each node commits to a hash and a sum; a parent commits to *both* children's hashes *and both*
children's sums, so a prover cannot move value between subtrees without changing the root
(the fix to the original Maxwell scheme, Hu et al. 2019, "Security analysis of the Maxwell
protocol"). Sums are range-checked: no negative balances, no total above :data:`MAX_SUM`.

Byte encoding (every integer big-endian, SHA-256 throughout)::

    account_id  = SHA256(salt[32] ‖ user_id[16])            # user_id: the UUID's 16 raw bytes
    leaf hash   = SHA256(0x00 ‖ account_id[32] ‖ u64(balance))
    node hash   = SHA256(0x01 ‖ left.hash[32] ‖ u64(left.sum) ‖ right.hash[32] ‖ u64(right.sum))
    node sum    = left.sum + right.sum                       # must stay <= MAX_SUM
    padding     = (hash = 32 zero bytes, sum = 0)            # right sibling of an odd level's last node
    empty tree  = padding

Leaves sit at level 0 in the order given (position 0, 1, …). A level with an odd number of
nodes (> 1) is completed with one padding node; the tree ends at the level with one node. The
0x00 / 0x01 prefixes separate leaves from inner nodes (second-preimage resistance, RFC 6962
§2.1 uses the same idea). The salt hides the user id from anyone who sees a sibling.

An inclusion proof is the leaf's salt, balance and position plus the sibling ``(hash, sum)``
of every level from the leaf up; :func:`verify_inclusion` recomputes the root and checks its
hash and total. Packed nodes (``NODE_BYTES`` = 40: hash ‖ u64 sum) are what the proof
activity stores per level, so a sibling is a fixed-offset slice.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from domain.errors import DomainError

#: Largest balance or sum a node may carry: Postgres BIGINT max (also fits u64 and i128).
MAX_SUM = 2**63 - 1
SALT_BYTES = 32
HASH_BYTES = 32
NODE_BYTES = HASH_BYTES + 8
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


class SumOutOfRange(DomainError):
    """A balance is negative or a sum exceeds :data:`MAX_SUM`."""

    code = "sum_out_of_range"


@dataclass(frozen=True)
class Node:
    """One tree node: ``hash`` (32 bytes) and ``sum`` in satoshis (0 <= sum <= MAX_SUM)."""

    hash: bytes
    sum: int

    def pack(self) -> bytes:
        """``hash ‖ u64(sum)`` (40 bytes)."""
        return self.hash + self.sum.to_bytes(8, "big")

    @classmethod
    def unpack(cls, raw: bytes) -> Node:
        if len(raw) != NODE_BYTES:
            raise ValueError(f"a packed node is {NODE_BYTES} bytes, got {len(raw)}")
        return cls(raw[:HASH_BYTES], int.from_bytes(raw[HASH_BYTES:], "big"))


PADDING = Node(bytes(HASH_BYTES), 0)


def _check_sum(value: int) -> int:
    if not 0 <= value <= MAX_SUM:
        raise SumOutOfRange(f"sum {value} outside 0..{MAX_SUM}")
    return value


def account_id(salt: bytes, user_id: uuid.UUID) -> bytes:
    """``SHA256(salt ‖ user_id.bytes)``: the leaf's public identity. Raises ValueError on a bad salt."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"salt must be {SALT_BYTES} bytes")
    return hashlib.sha256(salt + user_id.bytes).digest()


def leaf(salt: bytes, user_id: uuid.UUID, balance: int) -> Node:
    """The leaf node of one user's liability (satoshis). Raises SumOutOfRange when negative or too large."""
    _check_sum(balance)
    digest = hashlib.sha256(LEAF_PREFIX + account_id(salt, user_id) + balance.to_bytes(8, "big")).digest()
    return Node(digest, balance)


def parent(left: Node, right: Node) -> Node:
    """The node above ``left`` and ``right``. Raises SumOutOfRange when the total overflows."""
    total = _check_sum(_check_sum(left.sum) + _check_sum(right.sum))
    digest = hashlib.sha256(NODE_PREFIX + left.pack() + right.pack()).digest()
    return Node(digest, total)


@dataclass(frozen=True)
class InclusionProof:
    """What a user needs to check their leaf against the published root.

    Attributes:
        user_id: the user's id (only they and the engine know it belongs to the leaf).
        salt: 32 random bytes drawn for this user and this proof.
        balance: the liability in the leaf, satoshis.
        position: index of the leaf at level 0; its bits say left (0) or right (1) per level.
        siblings: sibling nodes from level 0 up to the level below the root.
    """

    user_id: uuid.UUID
    salt: bytes
    balance: int
    position: int
    siblings: tuple[Node, ...]


def root_from_proof(proof: InclusionProof) -> Node:
    """Recompute the root from a proof. Raises SumOutOfRange, ValueError on malformed input."""
    if proof.position < 0 or proof.position >> len(proof.siblings):
        raise ValueError("position does not fit the proof's depth")
    node = leaf(proof.salt, proof.user_id, proof.balance)
    for level, sibling in enumerate(proof.siblings):
        if len(sibling.hash) != HASH_BYTES:
            raise ValueError("sibling hash must be 32 bytes")
        is_right = (proof.position >> level) & 1
        node = parent(sibling, node) if is_right else parent(node, sibling)
    return node


def verify_inclusion(proof: InclusionProof, *, root_hash: bytes, root_sum: int) -> bool:
    """True when ``proof`` leads to exactly ``root_hash`` with total ``root_sum`` (satoshis)."""
    try:
        root = root_from_proof(proof)
    except (SumOutOfRange, ValueError):
        return False
    return root.hash == root_hash and root.sum == root_sum


@dataclass(frozen=True)
class LevelChunk:
    """Packed nodes ``[chunk * chunk_nodes, …)`` of one level, ready to store."""

    level: int
    chunk: int
    data: bytes


@dataclass
class _Level:
    count: int = 0
    pending: Node | None = None
    buffer: bytearray = field(default_factory=bytearray)
    chunks_flushed: int = 0


class StreamingBuilder:
    """Build the tree from a stream of leaves in O(chunk_nodes × depth) memory.

    ``add(node)`` takes level-0 nodes in position order and returns the chunks that filled up;
    ``finish()`` pads odd levels, returns the remaining chunks and the root. Every node of every
    level comes out exactly once, so the stored chunks are the whole tree.

    Args:
        chunk_nodes: nodes per stored chunk (a power of two keeps sibling lookups simple).
    """

    def __init__(self, chunk_nodes: int = 65_536) -> None:
        if chunk_nodes < 1:
            raise ValueError("chunk_nodes must be positive")
        self.chunk_nodes = chunk_nodes
        self._levels: list[_Level] = []
        self._root: Node | None = None

    def add(self, node: Node) -> list[LevelChunk]:
        if self._root is not None:
            raise RuntimeError("builder already finished")
        out: list[LevelChunk] = []
        self._push(0, node, out)
        return out

    def _level(self, index: int) -> _Level:
        while len(self._levels) <= index:
            self._levels.append(_Level())
        return self._levels[index]

    def _emit(self, index: int, node: Node, out: list[LevelChunk]) -> None:
        lvl = self._level(index)
        lvl.buffer += node.pack()
        lvl.count += 1
        if len(lvl.buffer) == self.chunk_nodes * NODE_BYTES:
            out.append(LevelChunk(index, lvl.chunks_flushed, bytes(lvl.buffer)))
            lvl.buffer.clear()
            lvl.chunks_flushed += 1

    def _push(self, index: int, node: Node, out: list[LevelChunk]) -> None:
        self._emit(index, node, out)
        lvl = self._levels[index]
        if lvl.pending is None:
            lvl.pending = node
        else:
            left, lvl.pending = lvl.pending, None
            self._push(index + 1, parent(left, node), out)

    def finish(self) -> tuple[Node, list[LevelChunk]]:
        """Pad, flush and return ``(root, remaining chunks)``; the empty tree's root is PADDING."""
        out: list[LevelChunk] = []
        index = 0
        while index < len(self._levels):
            lvl = self._levels[index]
            is_top = index == len(self._levels) - 1 and lvl.count == 1
            if lvl.pending is not None and not is_top:
                self._emit(index, PADDING, out)
                left, lvl.pending = lvl.pending, None
                self._push(index + 1, parent(left, PADDING), out)
            if lvl.buffer:
                out.append(LevelChunk(index, lvl.chunks_flushed, bytes(lvl.buffer)))
                lvl.buffer.clear()
                lvl.chunks_flushed += 1
            index += 1
        self._root = self._levels[-1].pending if self._levels else PADDING
        assert self._root is not None
        return self._root, out

    @property
    def depth(self) -> int:
        """Levels below the root (the number of siblings in every inclusion proof)."""
        return max(len(self._levels) - 1, 0)


def sibling_index(position: int, level: int) -> int:
    """Index of the sibling, at ``level``, of the ancestor of leaf ``position``."""
    return (position >> level) ^ 1


class MerkleSumTree:
    """The whole tree in memory (tests, fixtures, small trees); same bytes as StreamingBuilder."""

    def __init__(self, leaves: Iterable[Node]) -> None:
        level = list(leaves)
        self.levels: list[list[Node]] = []
        while len(level) > 1:
            if len(level) % 2:
                level.append(PADDING)
            self.levels.append(level)
            level = [parent(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        self.levels.append(level or [PADDING])

    @property
    def root(self) -> Node:
        return self.levels[-1][0]

    def siblings(self, position: int) -> tuple[Node, ...]:
        """Sibling path of leaf ``position``. Raises IndexError when out of range."""
        if not 0 <= position < len(self.levels[0]) or self.levels[0][position] is PADDING:
            raise IndexError(position)
        return tuple(self.levels[lvl][sibling_index(position, lvl)] for lvl in range(len(self.levels) - 1))


def build_tree(entries: Sequence[tuple[uuid.UUID, bytes, int]]) -> MerkleSumTree:
    """A tree over ``(user_id, salt, balance)`` entries in order. Raises SumOutOfRange."""
    return MerkleSumTree(leaf(salt, user_id, balance) for user_id, salt, balance in entries)
