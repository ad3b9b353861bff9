"""Activities of the proof of reserves: pin a snapshot, build the liability tree, sign, publish.

Assets come from the custody UTXO set at the scanner's height, whose block is cross-checked
against the chain (a proof never pins a block the chain has orphaned). Liabilities come from the
books: the tree activity reads every holder's iSTSi, the supply and the unpaid withdrawals in one
REPEATABLE READ snapshot and records its journal position, so figures and tree agree exactly.

Each is idempotent on ``proof_id``: the snapshot row is inserted once, the tree is rebuilt
from scratch inside one transaction, signing returns a stored signature, and publishing goes
through :class:`ChainSubmitter` under the key ``reserve-proof:<proof_id>`` (exactly once on chain).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.alerts import raise_alert
from activities.chain_submissions import ChainSubmitter
from activities.liability_tree import TreeNotBuildable, build_tree_in_postgres
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.wallet import CustodyWallet
from chains.soroban.contracts import Contracts
from chains.soroban.errors import ContractError
from config.settings import Settings
from contracts.reserves import ProofStepInput, SignedProof, Snapshot, TreeResult
from db.models import ReserveProof
from db.models.base import utcnow
from db.queries import custody
from db.queries import reserve_proofs as proofs
from db.session import transaction
from domain.proof_document import ProofDocument, public_key_hex, sign_document
from domain.reserves import RatioThresholds, ReserveStatus, ratio_bps, reserve_status


def ratio_thresholds(settings: Settings) -> RatioThresholds:
    r = settings.reserves
    return RatioThresholds(r.warning_ratio_bps, r.critical_ratio_bps, r.minimum_ratio_bps)


class ProofActivities:
    """Built once per worker with its clients (see ``workers/registry.py``)."""

    def __init__(
        self, settings: Settings, sessions, esplora: EsploraClient, wallet: CustodyWallet,
        contracts: Contracts, submitter: ChainSubmitter, signing_key: Ed25519PrivateKey,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.esplora = esplora
        self.wallet = wallet
        self.contracts = contracts
        self.submitter = submitter
        self.signing_key = signing_key

    @activity.defn(name="snapshot_reserves")
    async def snapshot_reserves(self, inp: ProofStepInput) -> Snapshot:
        """Pin the scanner's Bitcoin height (its block still canonical) and the Stellar ledger,
        sum the custody UTXO set there, insert the row.

        Raises:
            ApplicationError ``ScannerBehind`` (retried): no scan yet, or the scanned block at
            the cursor is no longer canonical (a reorg the scanner has not followed yet).
        """
        async with self.sessions() as session:
            existing = await proofs.get(session, proof_id=inp.proof_id)
            if existing is not None:
                return _snapshot_of(existing)
            cursor = await custody.tip(session)
        if cursor is None or await self.esplora.block_hash_at(cursor.height) != cursor.block_hash:
            raise ApplicationError("the custody scan has not followed the chain to a canonical block yet",
                                   type="ScannerBehind")
        ledger_seq = (await self.contracts.reserve.client.server.get_latest_ledger()).sequence
        async with transaction(self.sessions) as session:
            holdings = await custody.totals(session, at_height=cursor.height)
            values = dict(
                id=inp.proof_id, status="building", btc_height=cursor.height, stellar_ledger=ledger_seq,
                reserves_sats=holdings.confirmed, supply_units=0, burned_unpaid_sats=0, liabilities_sats=0,
            )
            await session.execute(insert(ReserveProof).values(**values).on_conflict_do_nothing(index_elements=["id"]))
            row = await proofs.get(session, proof_id=inp.proof_id)
        assert row is not None
        return _snapshot_of(row)

    @activity.defn(name="build_liability_tree")
    async def build_liability_tree(self, inp: ProofStepInput) -> TreeResult:
        """Stream per-user liabilities from Postgres into the Merkle-sum tree and store it
        (:func:`activities.liability_tree.build_tree_in_postgres`); heartbeats carry the leaf count.

        Raises:
            ApplicationError ``ProofIncomplete`` (not retried): the proof row is gone or was
            signed without a tree.
        """
        try:
            return await build_tree_in_postgres(
                self.sessions, proof_id=inp.proof_id, token_address=self.settings.soroban.contracts.istsi_token,
                progress=activity.heartbeat,
            )
        except TreeNotBuildable as exc:
            raise ApplicationError(str(exc), type="ProofIncomplete", non_retryable=True) from exc

    @activity.defn(name="sign_reserve_proof")
    async def sign_reserve_proof(self, inp: ProofStepInput) -> SignedProof:
        """Build the canonical document, sign it with the engine key and store both."""
        async with transaction(self.sessions) as session:
            row = await proofs.get(session, proof_id=inp.proof_id)
            if row is None or row.root_hash is None:
                raise ApplicationError("proof has no tree yet", type="ProofIncomplete", non_retryable=True)
            if row.signature is None:
                ratio = ratio_bps(row.reserves_sats, row.liabilities_sats)
                doc = ProofDocument(
                    proof_id=str(row.id), created_at=row.created_at.astimezone(UTC).isoformat(),
                    btc_height=row.btc_height, stellar_ledger=row.stellar_ledger, reserves_sats=row.reserves_sats,
                    supply_units=row.supply_units, burned_unpaid_sats=row.burned_unpaid_sats,
                    liabilities_sats=row.liabilities_sats, tree_total_sats=row.tree_total_sats or 0,
                    leaf_count=row.leaf_count or 0, tree_depth=row.tree_depth or 0, root_hash=row.root_hash,
                    ratio_bps=-1 if ratio is None else ratio, public_key=public_key_hex(self.signing_key),
                    journal_seq=row.journal_seq or 0, journal_transfers=row.journal_transfers or 0,
                )
                status = reserve_status(ratio, ratio_thresholds(self.settings))
                await proofs.update_proof(
                    session, proof_id=row.id, document=asdict(doc), proof_hash=doc.proof_hash().hex(),
                    signature=sign_document(doc, self.signing_key), ratio_bps=ratio, reserve_status=status.value,
                    status="signed",
                )
                await session.refresh(row)
        if row.reserve_status != ReserveStatus.OK:
            raise_alert("reserve_ratio_low", "reserve ratio below the warning line",
                        proof_id=str(row.id), ratio_bps=row.ratio_bps, reserve_status=row.reserve_status)
        assert row.proof_hash is not None and row.reserve_status is not None
        return SignedProof(row.proof_hash, row.ratio_bps, row.reserve_status)

    @activity.defn(name="publish_reserve_proof")
    async def publish_reserve_proof(self, inp: ProofStepInput) -> str:
        """Publish root and totals on ``reserve_manager`` exactly once; return the tx hash.

        ``supply`` on chain is the *liabilities* figure, so the contract's ratio is reserves /
        liabilities, the same as the document's.
        """
        async with self.sessions() as session:
            row = await proofs.get(session, proof_id=inp.proof_id)
        if row is None or row.proof_hash is None or row.root_hash is None:
            raise ApplicationError("proof is not signed", type="ProofIncomplete", non_retryable=True)
        try:
            record = await self.submitter.submit_once(
                f"reserve-proof:{row.id}", contract="reserve_manager", function="publish_proof",
                invoke=lambda store: self.contracts.reserve.publish_proof(
                    bytes.fromhex(row.proof_hash), bytes.fromhex(row.root_hash), row.reserves_sats,
                    row.liabilities_sats, row.btc_height, row.stellar_ledger, store=store,
                ),
            )
        except ContractError as exc:
            async with transaction(self.sessions) as session:
                await proofs.update_proof(session, proof_id=row.id, status="failed", error=exc.name)
            raise ApplicationError(f"publish_proof refused: {exc.name}", type="ContractError", non_retryable=True) from exc
        async with transaction(self.sessions) as session:
            await proofs.update_proof(
                session, proof_id=row.id, status="published", published_tx_hash=record["tx_hash"],
                published_at=utcnow(),
            )
        return record["tx_hash"]


def _snapshot_of(row: ReserveProof) -> Snapshot:
    return Snapshot(
        proof_id=row.id, btc_height=row.btc_height, stellar_ledger=row.stellar_ledger, reserves_sats=row.reserves_sats,
        supply_units=row.supply_units, burned_unpaid_sats=row.burned_unpaid_sats,
    )
