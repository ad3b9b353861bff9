"""Merkle-sum tree: properties (hypothesis), a hand-checked fixture root, the streaming builder."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.merkle_sum import (
    MAX_SUM,
    InclusionProof,
    Node,
    StreamingBuilder,
    SumOutOfRange,
    build_tree,
    leaf,
    parent,
    verify_inclusion,
)

entries = st.lists(
    st.tuples(st.uuids(), st.binary(min_size=32, max_size=32), st.integers(0, 2**40)), min_size=1, max_size=40
)


def _proof(tree, entries, i) -> InclusionProof:
    user_id, salt, balance = entries[i]
    return InclusionProof(user_id, salt, balance, i, tree.siblings(i))


@settings(max_examples=60, deadline=None)
@given(entries)
def test_every_leaf_verifies_and_root_total_is_the_sum(entries) -> None:
    tree = build_tree(entries)
    assert tree.root.sum == sum(b for _, _, b in entries)
    for i in range(len(entries)):
        assert verify_inclusion(_proof(tree, entries, i), root_hash=tree.root.hash, root_sum=tree.root.sum)


@settings(max_examples=60, deadline=None)
@given(entries, st.data())
def test_changing_any_hash_sum_or_salt_fails(entries, data) -> None:
    tree = build_tree(entries)
    i = data.draw(st.integers(0, len(entries) - 1))
    good = _proof(tree, entries, i)
    root = dict(root_hash=tree.root.hash, root_sum=tree.root.sum)
    salt = bytearray(good.salt)
    salt[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
    assert not verify_inclusion(InclusionProof(good.user_id, bytes(salt), good.balance, i, good.siblings), **root)
    assert not verify_inclusion(InclusionProof(good.user_id, good.salt, good.balance + 1, i, good.siblings), **root)
    assert not verify_inclusion(good, root_hash=tree.root.hash, root_sum=tree.root.sum + 1)
    if good.siblings:
        k = data.draw(st.integers(0, len(good.siblings) - 1))
        s = good.siblings[k]
        for bad in (Node(bytes([s.hash[0] ^ 1]) + s.hash[1:], s.sum), Node(s.hash, s.sum + 1)):
            siblings = good.siblings[:k] + (bad,) + good.siblings[k + 1 :]
            assert not verify_inclusion(InclusionProof(good.user_id, good.salt, good.balance, i, siblings), **root)


@settings(max_examples=40, deadline=None)
@given(entries, st.sampled_from([1, 2, 4, 8]))
def test_streaming_builder_matches_the_in_memory_tree(entries, chunk_nodes) -> None:
    tree = build_tree(entries)
    builder = StreamingBuilder(chunk_nodes)
    chunks = []
    for user_id, salt, balance in entries:
        chunks += builder.add(leaf(salt, user_id, balance))
    root, rest = builder.finish()
    chunks += rest
    assert root == tree.root and builder.depth == len(tree.levels) - 1
    for level, nodes in enumerate(tree.levels):
        stored = b"".join(c.data for c in sorted(chunks, key=lambda c: (c.level, c.chunk)) if c.level == level)
        assert stored == b"".join(n.pack() for n in nodes)


@pytest.mark.parametrize("balance", [-1, MAX_SUM + 1])
def test_out_of_range_balance_cannot_enter_the_tree(balance: int) -> None:
    with pytest.raises(SumOutOfRange):
        build_tree([(uuid.uuid4(), bytes(32), balance)])


def test_sum_overflow_is_refused() -> None:
    big = leaf(bytes(32), uuid.uuid4(), MAX_SUM)
    with pytest.raises(SumOutOfRange):
        parent(big, leaf(bytes(32), uuid.uuid4(), 1))


def test_fixture_root_matches_the_hand_computed_encoding() -> None:
    """Three users; every hash written out from the module docstring's encoding."""
    users = [uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)]
    salts = [bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32]
    balances = [5, 7, 11]
    sha = lambda b: hashlib.sha256(b).digest()  # noqa: E731
    u64 = lambda n: n.to_bytes(8, "big")  # noqa: E731
    leaves = [sha(b"\x00" + sha(s + u.bytes) + u64(b)) for u, s, b in zip(users, salts, balances, strict=True)]
    n01 = sha(b"\x01" + leaves[0] + u64(5) + leaves[1] + u64(7))
    n2p = sha(b"\x01" + leaves[2] + u64(11) + bytes(32) + u64(0))
    root = sha(b"\x01" + n01 + u64(12) + n2p + u64(11))
    tree = build_tree(list(zip(users, salts, balances, strict=True)))
    assert tree.root == Node(root, 23)
    assert root.hex() == FIXTURE_ROOT


#: Pinned, so a change to the encoding (which would orphan every published proof) fails here.
FIXTURE_ROOT = "97ceb5c24aaa1b950e6d238de9d15386aa30a551a3c3541148b683c5cd6965da"
