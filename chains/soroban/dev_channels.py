"""Development channel accounts: random keys in a secret file, created by the friendbot.

``custody dev`` calls :func:`bootstrap_dev_channels` once the Soroban sandbox answers. It is
idempotent across restarts: keys already in the file are kept (only missing ones are added, so
raising ``soroban.channel_count`` adds channels) and an account that exists already is left as
it is. Never in production: production channel secrets come from the operator's secret store.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from stellar_sdk import Keypair

from config.settings import SorobanSettings


def _read_seeds(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []


def bootstrap_dev_channels(settings: SorobanSettings, *, app_env: str, timeout_seconds: float = 30.0) -> tuple[int, int]:
    """Make sure ``channel_count`` channel keys exist in ``channel_secrets_file`` and are funded.

    Args:
        settings: the Soroban settings (``rpc_url`` serves ``/friendbot``, as the sandbox does).
        app_env: refused (nothing done) in production.

    Returns:
        (keys created, accounts created by the friendbot).

    Raises:
        httpx.HTTPError: the friendbot failed for a reason other than "account exists".
    """
    path = settings.channel_secrets_file
    if app_env == "production" or settings.channel_count == 0 or path is None or settings.channel_secrets:
        return 0, 0
    path = Path(path)
    seeds = _read_seeds(path)
    missing = max(settings.channel_count - len(seeds), 0)
    if missing:
        seeds += [Keypair.random().secret for _ in range(missing)]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(seeds) + "\n")
        os.replace(tmp, path)
    funded = 0
    friendbot = f"{settings.rpc_url.rstrip('/')}/friendbot"
    with httpx.Client(timeout=timeout_seconds) as http:
        for seed in seeds[: settings.channel_count]:
            resp = http.get(friendbot, params={"addr": Keypair.from_secret(seed).public_key})
            if resp.status_code == 400 and "exist" in resp.text.lower():
                continue  # created on an earlier start
            resp.raise_for_status()
            funded += 1
    return missing, funded
