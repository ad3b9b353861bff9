"""The custody wallet: a BIP 84 account descriptor, public only, network aware.

Accepted forms (BIP 380/381/382 descriptors, BIP 389 multipath)::

    wpkh([fingerprint/84'/1'/0']tpub.../<0;1>/*)
    wpkh([fingerprint/84'/1'/0']tpub.../0/*)  +  wpkh([fingerprint/84'/1'/0']tpub.../1/*)

Branch 0 is the receive (external) chain, where per-user deposit addresses live; branch 1 is
the change (internal) chain. Mainnet needs an ``xpub`` and coin type 0'; testnet, signet and
regtest a ``tpub`` and coin type 1' (BIP 44/84). Private keys are refused here: signing keys
reach only ``chains.bitcoin.signers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from embit.base import EmbitError
from embit.descriptor import Descriptor
from embit.ec import PublicKey

from chains.bitcoin.errors import WalletError
from domain.bitcoin_address import Network, embit_network

RECEIVE_BRANCH = 0
CHANGE_BRANCH = 1
HARDENED = 0x80000000


@dataclass(frozen=True)
class DerivedKey:
    """One derived P2WPKH key: address, script, public key and its full BIP 32 origin."""

    branch: int
    derivation_index: int
    address: str
    script_pubkey: bytes
    public_key: PublicKey
    fingerprint: bytes
    path: tuple[int, ...]


class CustodyWallet:
    """Derives custody addresses from the public BIP 84 account descriptor.

    Parameters:
        descriptor: the multipath descriptor (``/<0;1>/*``), or the receive one (``/0/*``)
            when ``change_descriptor`` is given.
        network: mainnet | testnet | signet | regtest.
        change_descriptor: the change descriptor (``/1/*``) of the two-descriptor form.

    Raises:
        WalletError: not a public single-key ``wpkh`` BIP 84 account of this network.
    """

    def __init__(self, descriptor: str, network: Network | str, change_descriptor: str | None = None) -> None:
        self.network = Network(network)
        receive = _parse(descriptor)
        if change_descriptor is None:
            if receive.num_branches != 2:
                raise WalletError("a single descriptor must use the multipath form /<0;1>/*", code="invalid_descriptor")
            self._branches = {RECEIVE_BRANCH: (receive, 0), CHANGE_BRANCH: (receive, 1)}
        else:
            change = _parse(change_descriptor)
            if receive.keys[0].key != change.keys[0].key or receive.num_branches != 1 or change.num_branches != 1:
                raise WalletError("receive and change descriptors must share one account key", code="invalid_descriptor")
            self._branches = {RECEIVE_BRANCH: (receive, None), CHANGE_BRANCH: (change, None)}
        for branch, (desc, branch_index) in self._branches.items():
            allowed = desc.keys[0].allowed_derivation
            steps = allowed.branch(branch_index).indexes if branch_index is not None else allowed.indexes
            if len(steps) != 2 or steps[0] != branch or steps[1] is not None:
                raise WalletError(f"branch {branch} must derive /{branch}/*", code="invalid_descriptor")
        self._check_network(receive)
        self._descriptor = receive

    @property
    def fingerprint(self) -> bytes:
        """Master key fingerprint (4 bytes) from the descriptor's key origin."""
        return self._descriptor.keys[0].origin.fingerprint

    @property
    def account_xpub(self) -> str:
        """The account extended public key (xpub/tpub)."""
        return self._descriptor.keys[0].key.to_base58()

    @property
    def account_path(self) -> tuple[int, ...]:
        """Origin path of the account key (hardened indexes have bit 31 set)."""
        return tuple(self._descriptor.keys[0].origin.derivation)

    def receive_address(self, derivation_index: int) -> str:
        """Deposit address at ``derivation_index`` on the receive chain."""
        return self.derive(RECEIVE_BRANCH, derivation_index).address

    def change_address(self, derivation_index: int) -> str:
        """Change address at ``derivation_index`` on the internal chain."""
        return self.derive(CHANGE_BRANCH, derivation_index).address

    def derive(self, branch: int, derivation_index: int) -> DerivedKey:
        """Derive the key at ``branch``/``derivation_index`` (0 <= index < 2**31).

        Raises:
            WalletError: unknown branch or index out of range.
        """
        if branch not in self._branches:
            raise WalletError(f"unknown branch {branch}", code="invalid_branch")
        if not isinstance(derivation_index, int) or not 0 <= derivation_index < HARDENED:
            raise WalletError(f"derivation index {derivation_index!r} out of range", code="invalid_index")
        desc, branch_index = self._branches[branch]
        derived = desc.derive(derivation_index, branch_index=branch_index)
        key = derived.keys[0]
        script = derived.script_pubkey()
        return DerivedKey(
            branch=branch,
            derivation_index=derivation_index,
            address=script.address(embit_network(self.network)),
            script_pubkey=script.data,
            public_key=key.get_public_key(),
            fingerprint=key.origin.fingerprint,
            path=tuple(key.origin.derivation),
        )

    def _check_network(self, desc: Descriptor) -> None:
        key = desc.keys[0]
        params = embit_network(self.network)
        if key.key.version != params["xpub"]:
            wanted = "xpub" if self.network is Network.MAINNET else "tpub"
            raise WalletError(f"a {self.network} descriptor needs an {wanted} key", code="wrong_network")
        if key.origin is None or len(key.origin.derivation) != 3:
            raise WalletError("descriptor key needs an origin [fingerprint/84'/coin'/account']", code="invalid_descriptor")
        purpose, coin, account = key.origin.derivation
        expected_coin = HARDENED + (0 if self.network is Network.MAINNET else 1)
        if purpose != HARDENED + 84 or coin != expected_coin or account < HARDENED:
            raise WalletError(
                f"origin must be 84'/{expected_coin - HARDENED}'/account' for {self.network}", code="wrong_network"
            )


def _parse(text: str) -> Descriptor:
    try:
        desc = Descriptor.from_string(text.strip())
    except (EmbitError, ValueError, TypeError, IndexError) as exc:
        raise WalletError(f"unparseable descriptor: {exc}", code="invalid_descriptor") from exc
    if desc.scriptpubkey_type() != "p2wpkh" or len(desc.keys) != 1:
        raise WalletError("the custody account must be a single-key wpkh() descriptor", code="invalid_descriptor")
    key = desc.keys[0]
    if not key.is_extended or key.allowed_derivation is None:
        raise WalletError("descriptor key must be an extended public key", code="invalid_descriptor")
    if key.is_private:
        raise WalletError("the wallet takes a public descriptor; private keys go to the signer", code="private_key")
    return desc
