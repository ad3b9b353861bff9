"""The custody wallet: the account descriptor, public only, network aware.

Accepted forms (BIP 380/381/382/383 descriptors, BIP 389 multipath)::

    wpkh([fingerprint/84'/1'/0']tpub.../<0;1>/*)                                  single key (BIP 84)
    wsh(sortedmulti(2,[fp1/48'/1'/0'/2']tpub1.../<0;1>/*,[fp2/…]tpub2.../<0;1>/*,[fp3/…]tpub3.../<0;1>/*))
    wpkh(.../0/*)  +  wpkh(.../1/*)      (the two-descriptor form, also for wsh(sortedmulti(...)))

Branch 0 is the receive (external) chain, where per-user deposit addresses live; branch 1 is
the change (internal) chain. Every key must be an extended public key of the configured
network (``xpub`` on mainnet, ``tpub`` on testnet, signet and regtest) with its origin: BIP 84
``84'/coin'/account'`` for ``wpkh``, BIP 48 ``48'/coin'/account'/2'`` for ``wsh(sortedmulti)``,
coin 0' on mainnet and 1' elsewhere (BIP 44). Private keys are refused here: signing keys reach
only ``chains.bitcoin.signers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from embit.base import EmbitError
from embit.descriptor import Descriptor
from embit.ec import PublicKey

from chains.bitcoin.errors import WalletError
from domain.bitcoin_address import Network, embit_network
from domain.custody_script import MAX_MULTISIG_KEYS, P2WPKH_CUSTODY, CustodyScript, CustodyScriptKind

RECEIVE_BRANCH = 0
CHANGE_BRANCH = 1
HARDENED = 0x80000000
_PURPOSE = {CustodyScriptKind.P2WPKH: (84, 3), CustodyScriptKind.P2WSH_MULTISIG: (48, 4)}
"""BIP 84 ``84'/coin'/account'`` and BIP 48 ``48'/coin'/account'/2'`` (script type 2: P2WSH)."""


@dataclass(frozen=True)
class KeyOrigin:
    """One derived public key of a custody script and its full BIP 32 origin."""

    public_key: PublicKey
    fingerprint: bytes
    path: tuple[int, ...]


@dataclass(frozen=True)
class AccountKey:
    """One account key of the descriptor: master fingerprint, origin path, extended public key."""

    fingerprint: bytes
    origin_path: tuple[int, ...]
    xpub: str


@dataclass(frozen=True)
class DerivedKey:
    """One derived custody script: address, scriptPubKey, its keys and (P2WSH) witness script."""

    branch: int
    derivation_index: int
    address: str
    script_pubkey: bytes
    keys: tuple[KeyOrigin, ...]
    witness_script: bytes | None = None

    @property
    def public_key(self) -> PublicKey:
        """The (first) key; for single-key custody the only one."""
        return self.keys[0].public_key

    @property
    def fingerprint(self) -> bytes:
        return self.keys[0].fingerprint

    @property
    def path(self) -> tuple[int, ...]:
        return self.keys[0].path


class CustodyWallet:
    """Derives custody addresses from the public account descriptor.

    Parameters:
        descriptor: the multipath descriptor (``/<0;1>/*``), or the receive one (``/0/*``)
            when ``change_descriptor`` is given.
        network: mainnet | testnet | signet | regtest.
        change_descriptor: the change descriptor (``/1/*``) of the two-descriptor form.

    Raises:
        WalletError: ``invalid_descriptor`` (not one of the accepted forms), ``wrong_network``
            (a key or origin of another network), ``private_key``.
    """

    def __init__(self, descriptor: str, network: Network | str, change_descriptor: str | None = None) -> None:
        self.network = Network(network)
        receive = _parse(descriptor)
        self.script = _script_of(receive)
        if change_descriptor is None:
            if receive.num_branches != 2:
                raise WalletError("a single descriptor must use the multipath form /<0;1>/*", code="invalid_descriptor")
            self._branches = {RECEIVE_BRANCH: (receive, 0), CHANGE_BRANCH: (receive, 1)}
        else:
            change = _parse(change_descriptor)
            if ([k.key.to_base58() for k in receive.keys] != [k.key.to_base58() for k in change.keys]
                    or _script_of(change) != self.script or receive.num_branches != 1 or change.num_branches != 1):
                raise WalletError("receive and change descriptors must share their keys", code="invalid_descriptor")
            self._branches = {RECEIVE_BRANCH: (receive, None), CHANGE_BRANCH: (change, None)}
        for branch, (desc, branch_index) in self._branches.items():
            for key in desc.keys:
                allowed = key.allowed_derivation
                steps = allowed.branch(branch_index).indexes if branch_index is not None else allowed.indexes
                if len(steps) != 2 or steps[0] != branch or steps[1] is not None:
                    raise WalletError(f"branch {branch} must derive /{branch}/*", code="invalid_descriptor")
        self._check_network(receive)
        self._descriptor = receive
        self.account_keys = tuple(
            AccountKey(k.origin.fingerprint, tuple(k.origin.derivation), k.key.to_base58()) for k in receive.keys
        )

    @property
    def threshold(self) -> int:
        """Signatures each input needs (M of ``wsh(sortedmulti(M, ...))``; 1 for ``wpkh``)."""
        return self.script.threshold

    @property
    def is_multisig(self) -> bool:
        return self.script.kind == CustodyScriptKind.P2WSH_MULTISIG

    @property
    def fingerprint(self) -> bytes:
        """Master key fingerprint (4 bytes) of the (first) key's origin."""
        return self.account_keys[0].fingerprint

    @property
    def account_xpub(self) -> str:
        """The (first) account extended public key (xpub/tpub)."""
        return self.account_keys[0].xpub

    @property
    def account_path(self) -> tuple[int, ...]:
        """Origin path of the (first) account key (hardened indexes have bit 31 set)."""
        return self.account_keys[0].origin_path

    def receive_address(self, derivation_index: int) -> str:
        """Deposit address at ``derivation_index`` on the receive chain."""
        return self.derive(RECEIVE_BRANCH, derivation_index).address

    def change_address(self, derivation_index: int) -> str:
        """Change address at ``derivation_index`` on the internal chain."""
        return self.derive(CHANGE_BRANCH, derivation_index).address

    def derive(self, branch: int, derivation_index: int) -> DerivedKey:
        """Derive the script at ``branch``/``derivation_index`` (0 <= index < 2**31).

        Raises:
            WalletError: unknown branch or index out of range.
        """
        if branch not in self._branches:
            raise WalletError(f"unknown branch {branch}", code="invalid_branch")
        if not isinstance(derivation_index, int) or not 0 <= derivation_index < HARDENED:
            raise WalletError(f"derivation index {derivation_index!r} out of range", code="invalid_index")
        desc, branch_index = self._branches[branch]
        derived = desc.derive(derivation_index, branch_index=branch_index)
        script = derived.script_pubkey()
        keys = tuple(KeyOrigin(k.get_public_key(), k.origin.fingerprint, tuple(k.origin.derivation)) for k in derived.keys)
        witness = derived.witness_script().data if self.is_multisig else None
        return DerivedKey(branch, derivation_index, script.address(embit_network(self.network)), script.data, keys, witness)

    def _check_network(self, desc: Descriptor) -> None:
        params = embit_network(self.network)
        purpose, depth = _PURPOSE[self.script.kind]
        expected_coin = HARDENED + (0 if self.network is Network.MAINNET else 1)
        for key in desc.keys:
            if key.key.version != params["xpub"]:
                wanted = "xpub" if self.network is Network.MAINNET else "tpub"
                raise WalletError(f"a {self.network} descriptor needs {wanted} keys", code="wrong_network")
            if key.origin is None or len(key.origin.derivation) != depth:
                shape = "84'/coin'/account'" if depth == 3 else "48'/coin'/account'/2'"
                raise WalletError(f"each descriptor key needs an origin [fingerprint/{shape}]", code="invalid_descriptor")
            path = key.origin.derivation
            ok = path[0] == HARDENED + purpose and path[1] == expected_coin and path[2] >= HARDENED
            if depth == 4:
                ok = ok and path[3] == HARDENED + 2
            if not ok:
                tail = "account'" if depth == 3 else "account'/2'"
                raise WalletError(f"key origins must be {purpose}'/{expected_coin - HARDENED}'/{tail} for {self.network}",
                                  code="wrong_network")


def _script_of(desc: Descriptor) -> CustodyScript:
    if desc.scriptpubkey_type() == "p2wpkh":
        return P2WPKH_CUSTODY
    multi = desc.miniscript
    return CustodyScript(CustodyScriptKind.P2WSH_MULTISIG, threshold=multi.args[0].num, keys=len(desc.keys))


def _parse(text: str) -> Descriptor:
    try:
        desc = Descriptor.from_string(text.strip())
    except (EmbitError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise WalletError(f"unparseable descriptor: {exc}", code="invalid_descriptor") from exc
    kind = desc.scriptpubkey_type()
    if kind == "p2wpkh" and len(desc.keys) == 1:
        pass
    elif kind == "p2wsh" and not desc.is_wrapped and desc.is_basic_multisig and desc.is_sorted:
        m = desc.miniscript.args[0].num
        if not 1 <= m <= len(desc.keys) <= MAX_MULTISIG_KEYS:
            raise WalletError(f"a multisig needs 1 <= M <= N <= {MAX_MULTISIG_KEYS}", code="invalid_descriptor")
    else:
        raise WalletError("the custody account must be wpkh(KEY) or wsh(sortedmulti(M,KEY1,...,KEYN))",
                          code="invalid_descriptor")
    seen: set[str] = set()
    for key in desc.keys:
        if not key.is_extended or key.allowed_derivation is None:
            raise WalletError("descriptor keys must be extended public keys with /<0;1>/*", code="invalid_descriptor")
        if key.is_private:
            raise WalletError("the wallet takes a public descriptor; private keys go to the signer", code="private_key")
        if key.key.to_base58() in seen:
            raise WalletError("each cosigner key may appear once", code="invalid_descriptor")
        seen.add(key.key.to_base58())
    return desc
