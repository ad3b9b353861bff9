"""Child processes of ``custody dev``: started in order, stopped in reverse, none left behind.

Each child runs in its own session (so Ctrl-C reaches only the supervisor, which then stops the
children in order) and asks the kernel to kill it if the supervisor dies (``PR_SET_PDEATHSIG``),
so even a SIGKILLed supervisor leaves nothing running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, *, timeout_seconds: float, proc: subprocess.Popen | None = None) -> None:
    """Block until ``host:port`` accepts connections.

    Raises:
        RuntimeError: the process exited first, or the timeout passed.
    """
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on {port}")
        time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout_seconds:g} s")


@dataclass
class Supervisor:
    log_dir: Path
    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, *, to_terminal: bool = False
    ) -> subprocess.Popen:
        """Start ``argv``; its output goes to the terminal or to ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = None if to_terminal else open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self.children.append((name, proc))
        return proc

    def failed(self) -> str | None:
        """Name of the first child that exited, if any."""
        for name, proc in self.children:
            if proc.poll() is not None:
                return f"{name} (exit code {proc.returncode})"
        return None

    def stop_all(self, grace_seconds: float = 15.0) -> None:
        """SIGTERM each child in reverse start order, SIGKILL what outlives the grace period."""
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=grace_seconds)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            # Kill anything the child itself left in its session (e.g. uvicorn reload workers).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.children.clear()
