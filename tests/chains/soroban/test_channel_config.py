"""Channel account configuration: one clear line per bad key, and the idempotent dev bootstrap."""

from __future__ import annotations

import stat

import pytest
from stellar_sdk import Keypair, Network

from chains.soroban.dev_channels import bootstrap_dev_channels
from chains.soroban.setup import ChannelKeyError, channel_keys
from config.settings import ConfigError, SorobanSettings, load_settings
from custody_sandbox.soroban import DEFAULT_PASSPHRASE


def test_no_channels_by_default() -> None:
    assert channel_keys(SorobanSettings()) == []


@pytest.mark.parametrize(
    ("secrets", "count", "line"),
    [
        (["SNOTASEED"], 1, "config: soroban.channel_secrets[0]: not a valid Stellar secret seed"),
        ([], 2, "config: soroban.channel_secrets: soroban.channel_count > 0 needs channel_secrets or an existing"),
        ([Keypair.random().secret], 2, "config: soroban.channel_secrets: holds 1 secrets, soroban.channel_count is 2"),
    ],
)
def test_bad_channel_secrets_are_one_line_each(secrets, count, line) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(soroban={"channel_count": count, "channel_secrets": secrets})
    assert any(problem.startswith(line) for problem in info.value.problems), info.value.problems
    assert not any(s in "\n".join(info.value.problems) for s in secrets if s.startswith("S") and len(s) > 20)


def test_duplicates_the_operator_and_the_root_account_are_refused() -> None:
    seed, operator = Keypair.random().secret, Keypair.random()
    root = Keypair.from_raw_ed25519_seed(Network(DEFAULT_PASSPHRASE).network_id()).secret
    settings = SorobanSettings(channel_count=4, channel_secrets=[seed, seed, operator.secret, root])
    with pytest.raises(ChannelKeyError) as info:
        channel_keys(settings, operator_public_key=operator.public_key)
    reasons = [line.split(": ", 2)[2] for line in info.value.lines]
    assert reasons[0].startswith("duplicate channel account")
    assert reasons[1].startswith("is the operator key")
    assert reasons[2].startswith("is the network root account")


def test_the_dev_bootstrap_creates_and_funds_channels_once(sandbox, tmp_path) -> None:
    path = tmp_path / "channels.secret"
    settings = SorobanSettings(rpc_url=sandbox.url, channel_count=3, channel_secrets_file=path)
    assert bootstrap_dev_channels(settings, app_env="development") == (3, 3)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = channel_keys(settings)
    assert len(keys) == 3
    assert bootstrap_dev_channels(settings, app_env="development") == (0, 0)  # a restart changes nothing
    assert [k.public_key for k in channel_keys(settings)] == [k.public_key for k in keys]
    more = SorobanSettings(rpc_url=sandbox.url, channel_count=4, channel_secrets_file=path)
    assert bootstrap_dev_channels(more, app_env="development") == (1, 1)
    assert bootstrap_dev_channels(more, app_env="production") == (0, 0)
