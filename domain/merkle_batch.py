"""Batch hashing of the liability Merkle-sum tree: the bytes of :mod:`domain.merkle_sum`, at C speed.

The per-node code in :mod:`domain.merkle_sum` builds a ``Node`` per hash; over a million leaves
the interpreter, not SHA-256, is the cost. Here a level is a list of packed 40-byte nodes
(``hash ‖ u64 sum``) plus a list of sums, and every step is a ``map`` over C functions
(``bytes.__add__``, ``hashlib.sha256``, ``HASH.digest``, ``int.to_bytes``), so no bytecode runs
per node. The encoding is unchanged (tests compare every level against :class:`MerkleSumTree`).

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
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat

from domain.merkle_sum import (
    HASH_BYTES,
    LEAF_PREFIX,
    MAX_SUM,
    NODE_PREFIX,
    PADDING,
    SALT_BYTES,
    SumOutOfRange,
)

GROUP_LEVELS = 8
#: Leaves per group (a power of two, so groups stay aligned at every level up to GROUP_LEVELS).
GROUP_LEAVES = 1 << GROUP_LEVELS
USER_ID_BYTES = 16
LEAF_RECORD_BYTES = USER_ID_BYTES + SALT_BYTES + 8
_PAD = PADDING.pack()

_sha256 = hashlib.sha256
_digest = type(_sha256()).digest
_cat = bytes.__add__


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


def _check_range(sums: Sequence[int]) -> None:
    if sums and (min(sums) < 0 or max(sums) > MAX_SUM):
        raise SumOutOfRange(f"a sum lies outside 0..{MAX_SUM}")


def leaf_nodes(user_ids: Sequence[bytes], salts: Sequence[bytes], balances: Sequence[int]) -> list[bytes]:
    """Packed leaf nodes ``SHA256(0x00 ‖ SHA256(salt ‖ user_id) ‖ u64(balance)) ‖ u64(balance)``.

    Args:
        user_ids: 16-byte raw UUIDs; salts: 32-byte salts; balances: satoshis, one per leaf.

    Raises:
        SumOutOfRange: a balance is negative or above ``MAX_SUM``.
    """
    _check_range(balances)
    amounts = list(map(int.to_bytes, balances, repeat(8)))
    account_ids = map(_digest, map(_sha256, map(_cat, salts, user_ids)))
    hashes = map(_digest, map(_sha256, map(_cat, map(_cat, repeat(LEAF_PREFIX), account_ids), amounts)))
    return list(map(_cat, hashes, amounts))


def parent_level(nodes: list[bytes], sums: list[int]) -> tuple[list[bytes], list[int]]:
    """The level above ``nodes`` (even length, packed) whose sums are ``sums``.

    Raises:
        SumOutOfRange: a parent's sum exceeds ``MAX_SUM``.
    """
    pairs = iter(nodes)
    hashes = list(map(_digest, map(_sha256, map(_cat, map(_cat, repeat(NODE_PREFIX), pairs), pairs))))
    halves = iter(sums)
    up = list(map(int.__add__, halves, halves))
    _check_range(up)
    return list(map(_cat, hashes, map(int.to_bytes, up, repeat(8)))), up


def subtree_levels(nodes: list[bytes], sums: list[int], *, counts: Sequence[int] | None, top: int) -> list[list[bytes]]:
    """Levels ``0 … top`` of an aligned run of level-0 nodes (its first index a multiple of ``2**top``).

    Args:
        nodes, sums: the run's packed level-0 nodes and their sums.
        counts: :func:`level_counts` of the whole tree when the run ends the tree (its levels
            then get their padding node and stop at the root); None for complete groups.
        top: the highest level to compute.

    Returns:
        ``levels[j]`` = the run's nodes at level ``j`` (padding included), for ``j`` up to
        ``top`` or the root level, whichever comes first.
    """
    levels = [nodes]
    for j in range(top):
        if counts is not None:
            if counts[j] == 1:
                break
            if counts[j] % 2:
                nodes, sums = [*nodes, _PAD], [*sums, 0]
                levels[j] = nodes
        nodes, sums = parent_level(nodes, sums)
        levels.append(nodes)
    return levels


def sums_of(nodes: Sequence[bytes]) -> list[int]:
    """The u64 sums of packed nodes."""
    return [int.from_bytes(n[HASH_BYTES:], "big") for n in nodes]


def split_records(records: bytes) -> tuple[list[bytes], list[bytes], list[int]]:
    """``(user_ids, salts, balances)`` of packed leaf records. Raises ValueError on a torn blob."""
    if len(records) % LEAF_RECORD_BYTES:
        raise ValueError(f"leaf records come in {LEAF_RECORD_BYTES}-byte units")
    step = LEAF_RECORD_BYTES
    ids = [records[i : i + USER_ID_BYTES] for i in range(0, len(records), step)]
    salts = [records[i + USER_ID_BYTES : i + USER_ID_BYTES + SALT_BYTES] for i in range(0, len(records), step)]
    balances = [int.from_bytes(records[i + step - 8 : i + step], "big") for i in range(0, len(records), step)]
    return ids, salts, balances


@dataclass(frozen=True)
class HashedGroups:
    """What :func:`hash_groups` returns for a run of whole groups.

    Attributes:
        records: packed leaf records (:data:`LEAF_RECORD_BYTES` each) in position order.
        tops: one packed node per group: the group's node at level :data:`GROUP_LEVELS`.
    """

    records: bytes
    tops: list[bytes]


def hash_groups(user_ids: bytes, balances: Sequence[int]) -> HashedGroups:
    """Draw salts for, and hash, a run of complete groups (``len(balances) % GROUP_LEAVES == 0``).

    Args:
        user_ids: the leaves' raw 16-byte UUIDs, concatenated in position order.
        balances: each leaf's liability, satoshis.

    Raises:
        SumOutOfRange: a balance or sum out of range. ValueError: not whole groups.

    Runs in a hash worker process (it takes and returns only bytes and ints).
    """
    count = len(balances)
    if count % GROUP_LEAVES or len(user_ids) != count * USER_ID_BYTES:
        raise ValueError("hash_groups takes whole groups of leaves")
    ids = [user_ids[i : i + USER_ID_BYTES] for i in range(0, len(user_ids), USER_ID_BYTES)]
    salt_pool = os.urandom(count * SALT_BYTES)
    salts = [salt_pool[i : i + SALT_BYTES] for i in range(0, len(salt_pool), SALT_BYTES)]
    nodes = leaf_nodes(ids, salts, balances)
    sums = list(balances)
    for _ in range(GROUP_LEVELS):
        nodes, sums = parent_level(nodes, sums)
    amounts = map(int.to_bytes, balances, repeat(8))
    return HashedGroups(b"".join(chain.from_iterable(zip(ids, salts, amounts))), nodes)


def tail_records(user_ids: bytes, balances: Sequence[int]) -> bytes:
    """Salted leaf records of the last, partial group (hashed later, once the total is known)."""
    ids = [user_ids[i : i + USER_ID_BYTES] for i in range(0, len(user_ids), USER_ID_BYTES)]
    salt_pool = os.urandom(len(ids) * SALT_BYTES)
    salts = [salt_pool[i : i + SALT_BYTES] for i in range(0, len(salt_pool), SALT_BYTES)]
    _check_range(balances)
    return b"".join(chain.from_iterable(zip(ids, salts, map(int.to_bytes, balances, repeat(8)))))


def group_levels(records: bytes, *, counts: Sequence[int]) -> list[list[bytes]]:
    """Levels ``0 … min(GROUP_LEVELS, depth)`` of one group rebuilt from its records.

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
    return subtree_levels(leaf_nodes(ids, salts, balances), balances, counts=None if complete else counts, top=top)


def group_siblings(levels: Sequence[Sequence[bytes]], *, position: int, group: int, depth: int) -> list[bytes]:
    """Packed siblings of leaf ``position`` at levels ``0 … min(GROUP_LEVELS, depth) - 1``,
    taken from :func:`group_levels` of its group."""
    out = []
    for j in range(min(GROUP_LEVELS, depth)):
        local = ((position >> j) ^ 1) - ((group * GROUP_LEAVES) >> j)
        out.append(levels[j][local])
    return out


def upper_levels(tops: list[bytes]) -> list[list[bytes]]:
    """Levels ``GROUP_LEVELS …`` root, from the groups' top nodes (padding included), in memory:
    one node per group, so a million leaves need about four thousand nodes here."""
    levels = [tops]
    sums = sums_of(tops)
    while len(levels[-1]) > 1:
        nodes = levels[-1]
        if len(nodes) % 2:
            nodes = levels[-1] = [*nodes, _PAD]
            sums = [*sums, 0]
        up, sums = parent_level(nodes, sums)
        levels.append(up)
    return levels
