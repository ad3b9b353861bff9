"""A hash worker process for the liability tree, so hashing runs beside the row stream.

The builder's event loop reads rows from Postgres; SHA-256 over small inputs holds the GIL, so a
thread would not help and the hashing gets a process of its own. It is a plain child
(``python -m activities.tree_hasher``) speaking length-prefixed frames over its stdin/stdout,
not ``multiprocessing``: a spawned pool re-imports the parent's ``__main__`` (a worker script, a
benchmark), and fork is unsafe in a process with threads (Temporal's core, the event loop's).

Frames (big-endian)::

    request   u32 leaf_count ‖ user_ids[16 × n] ‖ i64 balance × n
    response  u8 status ‖ u32 len_a ‖ u32 len_b ‖ a ‖ b
              status 0: a = leaf records, b = packed group tops   (domain.merkle_batch.hash_groups)
              status 1: a = message of SumOutOfRange;  status 2: a = message of ValueError

Requests are answered in order, so several may be in flight.
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
from collections import deque
from collections.abc import Sequence

from domain.merkle_batch import USER_ID_BYTES, HashedGroups, hash_groups
from domain.merkle_sum import NODE_BYTES, SumOutOfRange

_REQUEST = struct.Struct(">I")
_RESPONSE = struct.Struct(">BII")
_OK, _OUT_OF_RANGE, _INVALID = 0, 1, 2


class HashWorkerDied(RuntimeError):
    """The hash worker process exited or broke its protocol (the build is retried from scratch)."""


class TreeHasher:
    """One hash worker process; :meth:`submit` sends a run of whole groups, :meth:`result`
    awaits the answers in submission order. Use as ``async with TreeHasher() as hasher``."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._answers: deque[asyncio.Future[HashedGroups]] = deque()
        self._reader_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TreeHasher:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "activities.tree_hasher", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env, limit=1 << 24,
        )
        self._reader_task = asyncio.create_task(self._read_answers())
        return self

    async def __aexit__(self, *exc) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader_task is not None:
            self._reader_task.cancel()
        for answer in self._answers:
            answer.cancel()

    async def submit(self, user_ids: bytes, balances: Sequence[int]) -> asyncio.Future[HashedGroups]:
        """Send one run of whole groups; returns the future of its :class:`HashedGroups`."""
        assert self._proc is not None and self._proc.stdin is not None
        count = len(balances)
        try:
            frame = _REQUEST.pack(count) + user_ids + struct.pack(f">{count}q", *balances)
        except struct.error as exc:
            raise SumOutOfRange("a balance does not fit a signed 64-bit integer") from exc
        if self._proc.stdin.is_closing():
            raise HashWorkerDied("the hash worker is gone")
        # An answer is queued only for a request sent, so answers and requests stay paired.
        answer: asyncio.Future[HashedGroups] = asyncio.get_running_loop().create_future()
        self._answers.append(answer)
        try:
            # No drain(): the worker reads a request only once it has answered the one before, and
            # the caller bounds the requests in flight, so the pipe's buffer never grows unbounded.
            self._proc.stdin.write(frame)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise HashWorkerDied("the hash worker is gone") from exc
        return answer

    async def _read_answers(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        out = self._proc.stdout
        try:
            while True:
                status, len_a, len_b = _RESPONSE.unpack(await out.readexactly(_RESPONSE.size))
                a, b = await out.readexactly(len_a), await out.readexactly(len_b)
                answer = self._answers.popleft()
                if answer.done():  # cancelled by the builder after an error: drop the answer
                    continue
                if status == _OK:
                    answer.set_result(HashedGroups(a, [b[i : i + NODE_BYTES] for i in range(0, len(b), NODE_BYTES)]))
                else:
                    kind = SumOutOfRange if status == _OUT_OF_RANGE else ValueError
                    answer.set_exception(kind(a.decode()))
        except (asyncio.IncompleteReadError, IndexError) as exc:
            for answer in self._answers:
                if not answer.done():
                    answer.set_exception(HashWorkerDied("the hash worker exited mid-answer"))
            if isinstance(exc, IndexError):
                raise HashWorkerDied("the hash worker answered a request never sent") from exc


def _serve() -> None:
    """The child's loop: answer requests until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while header := stdin.read(_REQUEST.size):
        (count,) = _REQUEST.unpack(header)
        user_ids = stdin.read(count * USER_ID_BYTES)
        balances = struct.unpack(f">{count}q", stdin.read(count * 8))
        try:
            hashed = hash_groups(user_ids, balances)
            a, b, status = hashed.records, b"".join(hashed.tops), _OK
        except SumOutOfRange as exc:
            a, b, status = str(exc).encode(), b"", _OUT_OF_RANGE
        except ValueError as exc:
            a, b, status = str(exc).encode(), b"", _INVALID
        stdout.write(_RESPONSE.pack(status, len(a), len(b)) + a + b)
        stdout.flush()


if __name__ == "__main__":
    _serve()
