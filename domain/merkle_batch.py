"""Batch hashing of the liability Merkle-sum tree: the bytes of :mod:`domain.merkle_sum`, at C speed.

The per-node code in :mod:`domain.merkle_sum` builds a ``Node`` per hash; over a million leaves
the interpreter, not SHA-256, is the cost. Here a level is two lists, hashes and sums, every hash
input is packed by one ``struct`` call, and every step is a ``map`` over C functions
(``Struct.pack``, ``hashlib.sha256``, ``HASH.digest``, ``int.__add__``), so no bytecode runs per
node. The encoding is unchanged (tests compare every level against :class:`MerkleSumTree`).

Leaves are grouped in aligned **groups** of :data:`GROUP_LEAVES` (= 2^:data:`GROUP_LEVELS`)
positions. A complete group's levels 0 … ``GROUP_LEVELS`` never contain padding, so it can be
hashed as soon as its leaves are read, with no knowledge of the total; only the last, partial
group needs the global level counts (:func:`level_counts`). A group is also the unit of storage
(one packed run of leaf records) and of inclusion-proof lookup: the siblings below
``GROUP_LEVELS`` are recomputed from the group's records, those above are stored.

Leaf record (the stored form of one leaf, :data:`LEAF_RECORD_BYTES` = 56)::

    user_id[16] ‖ salt[32] ‖ u64(balance)
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat

from domain.merkle_sum import HASH_BYTES, LEAF_PREFIX, MAX_SUM, NODE_PREFIX, PADDING, SALT_BYTES, SumOutOfRange

GROUP_LEVELS = 8
#: Leaves per group (a power of two, so groups stay aligned at every level up to GROUP_LEVELS).
GROUP_LEAVES = 1 << GROUP_LEVELS
USER_ID_BYTES = 16
LEAF_RECORD_BYTES = USER_ID_BYTES + SALT_BYTES + 8

# Each hash input is packed by one Struct call (no concatenations, no int.to_bytes), and a level
# is kept as two lists, hashes and sums, until it is stored.
_ACCOUNT_INPUT = struct.Struct(f"{SALT_BYTES}s{USER_ID_BYTES}s").pack  # salt ‖ user_id
_LEAF_INPUT = struct.Struct(">c32sQ").pack  # 0x00 ‖ account_id ‖ u64 balance
_PARENT_INPUT = struct.Struct(">c32sQ32sQ").pack  # 0x01 ‖ left ‖ u64 ‖ right ‖ u64
_NODE = struct.Struct(">32sQ")  # a packed node: hash ‖ u64 sum
_RECORD = struct.Struct(f">{USER_ID_BYTES}s{SALT_BYTES}sQ")  # user_id ‖ salt ‖ u64 balance
_sha256 = hashlib.sha256
_digest = type(_sha256()).digest


def level_counts(leaf_count: int) -> list[int]:
    """Real (unpadded) nodes per level, from the leaves up to the root: ``[n, ⌈n/2⌉, …, 1]``.

    ``[0]`` for the empty tree and ``[1]`` for one leaf; the depth is ``len(result) - 1``. Level
    ``j`` is completed by one padding node when ``counts[j]`` is odd and above 1.
    """
    if leaf_count < 0:
        raise ValueError("leaf_count must be >= 0")
    counts = [leaf_count]
    while counts[-1] > 1:
        counts.append((counts[-1] + 1) // 2)
    return counts


@lru_cache(maxsize=16)
def _splitter(count: int, width: int) -> struct.Struct:
    # One Struct of ``count`` fields unpacks a whole batch in one call (about twice as fast as
    # iter_unpack's tuple per item); batches come in a few sizes, so a few are kept.
    return struct.Struct(f"{width}s" * count)


def _split(blob: bytes, width: int) -> list[bytes]:
    return list(_splitter(len(blob) // width, width).unpack(blob))


def _split_ids(user_ids: bytes) -> list[bytes]:
    """16-byte ids from their concatenation. Raises ValueError unless strictly increasing (the
    order inclusion proofs find a user's group and leaf by)."""
    if len(user_ids) % USER_ID_BYTES:
        raise ValueError("user ids come in 16-byte units")
    ids = _split(user_ids, USER_ID_BYTES)
    if any(map(bytes.__ge__, ids, ids[1:])):
        raise ValueError("user ids are not in strictly increasing order")
    return ids


def _check_range(sums: Sequence[int]) -> None:
    if sums and (min(sums) < 0 or max(sums) > MAX_SUM):
        raise SumOutOfRange(f"a sum lies outside 0..{MAX_SUM}")


def leaf_hashes(user_ids: Sequence[bytes], salts: Sequence[bytes], balances: Sequence[int]) -> list[bytes]:
    """Leaf hashes ``SHA256(0x00 ‖ SHA256(salt ‖ user_id) ‖ u64(balance))``.

    Args:
        user_ids: 16-byte raw UUIDs; salts: 32-byte salts; balances: satoshis, one per leaf.

    Raises:
        SumOutOfRange: a balance is negative or above ``MAX_SUM``.
    """
    _check_range(balances)
    account_ids = map(_digest, map(_sha256, map(_ACCOUNT_INPUT, salts, user_ids)))
    return list(map(_digest, map(_sha256, map(_LEAF_INPUT, repeat(LEAF_PREFIX), account_ids, balances))))


def parent_level(hashes: list[bytes], sums: list[int]) -> tuple[list[bytes], list[int]]:
    """The level above a level of even length given as its hashes and its sums (satoshis).

    Raises:
        SumOutOfRange: a parent's sum exceeds ``MAX_SUM``.
    """
    left_sums, right_sums = sums[0::2], sums[1::2]
    inputs = map(_PARENT_INPUT, repeat(NODE_PREFIX), hashes[0::2], left_sums, hashes[1::2], right_sums)
    up = list(map(int.__add__, left_sums, right_sums))
    _check_range(up)
    return list(map(_digest, map(_sha256, inputs))), up


def pack_nodes(hashes: Sequence[bytes], sums: Sequence[int]) -> list[bytes]:
    """Packed 40-byte nodes ``hash ‖ u64(sum)``."""
    return list(map(_NODE.pack, hashes, sums))


def unpack_nodes(nodes: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
    """``(hashes, sums)`` of packed nodes."""
    return [n[:HASH_BYTES] for n in nodes], [int.from_bytes(n[HASH_BYTES:], "big") for n in nodes]


def subtree_levels(
    hashes: list[bytes], sums: list[int], *, counts: Sequence[int] | None, top: int
) -> list[list[bytes]]:
    """Packed levels ``0 … top`` of an aligned run of level-0 nodes (its first index a multiple
    of ``2**top``), given as hashes and sums.

    Args:
        counts: :func:`level_counts` of the whole tree when the run ends the tree (its levels
            then get their padding node and stop at the root); None for complete groups.
        top: the highest level to compute.

    Returns:
        ``levels[j]`` = the run's packed nodes at level ``j`` (padding included), for ``j`` up
        to ``top`` or the root level, whichever comes first.
    """
    levels = []
    for j in range(top):
        if counts is not None:
            if counts[j] == 1:
                break
            if counts[j] % 2:
                hashes, sums = [*hashes, PADDING.hash], [*sums, 0]
        levels.append(pack_nodes(hashes, sums))
        hashes, sums = parent_level(hashes, sums)
    levels.append(pack_nodes(hashes, sums))
    return levels


def split_records(records: bytes) -> tuple[list[bytes], list[bytes], list[int]]:
    """``(user_ids, salts, balances)`` of packed leaf records. Raises ValueError on a torn blob."""
    if len(records) % LEAF_RECORD_BYTES:
        raise ValueError(f"leaf records come in {LEAF_RECORD_BYTES}-byte units")
    fields = list(_RECORD.iter_unpack(records))
    return [f[0] for f in fields], [f[1] for f in fields], [f[2] for f in fields]


@dataclass(frozen=True)
class HashedGroups:
    """What :func:`hash_groups` returns for a run of whole groups.

    Attributes:
        records: packed leaf records (:data:`LEAF_RECORD_BYTES` each) in position order.
        tops: one packed node per group: the group's node at level :data:`GROUP_LEVELS`.
    """

    records: bytes
    tops: list[bytes]


def _salted(user_ids: bytes, balances: Sequence[int]) -> tuple[list[bytes], list[bytes]]:
    ids = _split_ids(user_ids)
    if len(ids) != len(balances):
        raise ValueError("one balance per user id")
    return ids, _split(os.urandom(len(ids) * SALT_BYTES), SALT_BYTES)


def hash_groups(user_ids: bytes, balances: Sequence[int]) -> HashedGroups:
    """Draw salts for, and hash, a run of complete groups (``len(balances) % GROUP_LEAVES == 0``).

    Args:
        user_ids: the leaves' raw 16-byte UUIDs, concatenated in position order.
        balances: each leaf's liability, satoshis.

    Raises:
        SumOutOfRange: a balance or sum out of range.
        ValueError: not whole groups, or ids not strictly increasing.

    Runs in a hash worker process (:mod:`activities.tree_hasher`: it takes and returns only
    bytes and ints).
    """
    if len(balances) % GROUP_LEAVES:
        raise ValueError("hash_groups takes whole groups of leaves")
    ids, salts = _salted(user_ids, balances)
    hashes, sums = leaf_hashes(ids, salts, balances), list(balances)
    for _ in range(GROUP_LEVELS):
        hashes, sums = parent_level(hashes, sums)
    return HashedGroups(b"".join(map(_RECORD.pack, ids, salts, balances)), pack_nodes(hashes, sums))


def tail_records(user_ids: bytes, balances: Sequence[int]) -> bytes:
    """Salted leaf records of the last, partial group (hashed later, once the total is known).

    Raises:
        SumOutOfRange: a balance out of range. ValueError: ids not strictly increasing.
    """
    _check_range(balances)
    ids, salts = _salted(user_ids, balances)
    return b"".join(map(_RECORD.pack, ids, salts, balances))


def group_levels(records: bytes, *, counts: Sequence[int]) -> list[list[bytes]]:
    """Packed levels ``0 … min(GROUP_LEVELS, depth)`` of one group rebuilt from its records.

    Args:
        records: the group's packed leaf records (all of them, in order); a group with fewer
            than :data:`GROUP_LEAVES` is the tree's last.
        counts: :func:`level_counts` of the tree.

    Raises:
        SumOutOfRange, ValueError: the records are corrupt.
    """
    ids, salts, balances = split_records(records)
    # A full group holds no padding below GROUP_LEVELS; only the last, partial one needs the counts.
    complete = len(ids) == GROUP_LEAVES
    top = min(GROUP_LEVELS, len(counts) - 1)
    return subtree_levels(leaf_hashes(ids, salts, balances), balances, counts=None if complete else counts, top=top)


def group_siblings(levels: Sequence[Sequence[bytes]], *, position: int, group: int, depth: int) -> list[bytes]:
    """Packed siblings of leaf ``position`` at levels ``0 … min(GROUP_LEVELS, depth) - 1``,
    taken from :func:`group_levels` of its group."""
    out = []
    for j in range(min(GROUP_LEVELS, depth)):
        local = ((position >> j) ^ 1) - ((group * GROUP_LEAVES) >> j)
        out.append(levels[j][local])
    return out


def upper_levels(tops: list[bytes]) -> list[list[bytes]]:
    """Packed levels ``GROUP_LEVELS …`` root from the groups' top nodes (padding included), in
    memory: one node per group, so a million leaves need about four thousand nodes here."""
    hashes, sums = unpack_nodes(tops)
    levels = []
    while len(hashes) > 1:
        if len(hashes) % 2:
            hashes, sums = [*hashes, PADDING.hash], [*sums, 0]
        levels.append(pack_nodes(hashes, sums))
        hashes, sums = parent_level(hashes, sums)
    levels.append(pack_nodes(hashes, sums))
    return levels
