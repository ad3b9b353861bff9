// The official JavaScript Stellar SDK against the Stellar RPC sandbox, unchanged, as a dApp would
// use it. Run by tests/chains/soroban/test_js_sdk.py:  node sandbox_clients.mjs <rpc url> <passphrase> <token C…> <router C…>
// Prints one JSON object of what each step observed; exits 1 with {"error": …} on the first failure.
import { Contract, Keypair, TransactionBuilder, Address, nativeToScVal, authorizeEntry, contract, rpc } from "@stellar/stellar-sdk";

const [url, passphrase, tokenId, routerId] = process.argv.slice(2);
const server = new rpc.Server(url, { allowHttp: true });
const out = {};

async function waitFor(hash) {
  for (let i = 0; i < 100; i++) {
    const got = await server.getTransaction(hash);
    if (got.status !== rpc.Api.GetTransactionStatus.NOT_FOUND) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`transaction ${hash} not found in time`);
}

async function main() {
  // getLatestLedger: the SDK itself decodes headerXdr as an XDR LedgerHeader and metadataXdr as LedgerCloseMeta.
  const latest = await server.getLatestLedger();
  out.latest = {
    sequence: latest.sequence,
    headerLedgerSeq: latest.headerXdr.ledgerSeq(),
    headerVersion: latest.headerXdr.ledgerVersion(),
    metaLedgerSeq: latest.metadataXdr.v2().ledgerHeader().header().ledgerSeq(),
    protocolVersion: latest.protocolVersion,
  };

  // requestAirdrop: the friendbot reply's result_meta_xdr gives the new account's sequence;
  // asking again for a funded account is answered from the ledger (createAccountAlreadyExist).
  const payer = Keypair.random();
  const holder = Keypair.random();
  const account = await server.requestAirdrop(payer.publicKey());
  await server.requestAirdrop(holder.publicKey());
  const again = await server.requestAirdrop(payer.publicKey());
  out.airdrop = { sequence: account.sequenceNumber(), again: again.sequenceNumber() };

  // prepareTransaction for a call that needs a second party's authorization: the payer is the
  // source, the holder must authorize token.transfer(holder, payer, 0) with a signed auth entry.
  const args = [new Address(holder.publicKey()).toScVal(), new Address(payer.publicKey()).toScVal(), nativeToScVal(0n, { type: "i128" })];
  const tx = new TransactionBuilder(account, { fee: "100", networkPassphrase: passphrase })
    .addOperation(new Contract(tokenId).call("transfer", ...args))
    .setTimeout(60)
    .build();
  const prepared = await server.prepareTransaction(tx);
  const op = prepared.operations[0];
  const entry = op.auth[0];
  out.auth = { credentials: entry.credentials().switch().name, entries: op.auth.length };
  const validUntil = (await server.getLatestLedger()).sequence + 100;
  const signedEntry = await authorizeEntry(entry, holder, validUntil, passphrase);
  const envelope = prepared.toEnvelope();
  envelope.v1().tx().operations()[0].body().invokeHostFunctionOp().auth([signedEntry]);
  const assembled = TransactionBuilder.fromXDR(envelope, passphrase);
  assembled.sign(payer);
  const sent = await server.sendTransaction(assembled);
  const done = await waitFor(sent.hash);
  out.transfer = { sendStatus: sent.status, status: done.status, hash: sent.hash, ledger: done.ledger };

  // getTransactions: page from the first ledger with the cursor until the transfer shows up.
  let page = await server.getTransactions({ startLedger: 1, pagination: { limit: 5 } });
  const seen = [];
  for (let i = 0; i < 1000 && page.transactions.length; i++) {
    seen.push(...page.transactions.map((t) => t.txHash));
    if (seen.includes(sent.hash)) break;
    page = await server.getTransactions({ pagination: { cursor: page.cursor, limit: 5 } });
  }
  const found = page.transactions.find((t) => t.txHash === sent.hash);
  out.transactions = {
    found: Boolean(found),
    unique: new Set(seen).size === seen.length,
    status: found?.status,
    envelopeOps: found?.envelopeXdr.v1().tx().operations().length,
  };

  // contract.Client.from: the spec read from the contract's WASM drives a typed client.
  const token = await contract.Client.from({ contractId: tokenId, networkPassphrase: passphrase, rpcUrl: url, allowHttp: true, publicKey: payer.publicKey() });
  const decimals = await token.decimals();
  const symbol = await token.symbol();
  const router = await contract.Client.from({ contractId: routerId, networkPassphrase: passphrase, rpcUrl: url, allowHttp: true });
  const depositFn = router.spec.getFunc("execute_bitcoin_deposit");
  out.client = {
    decimals: decimals.result,
    symbol: symbol.result,
    routerMethods: router.spec.funcs().map((f) => f.name().toString()).sort(),
    depositInputs: depositFn.inputs().map((i) => i.name().toString()),
    tokenErrors: token.spec.errorCases().map((c) => [c.name().toString(), c.value()]),
  };
}

main()
  .then(() => { process.stdout.write(JSON.stringify(out)); })
  .catch((err) => { process.stdout.write(JSON.stringify({ error: String(err && err.stack || err), partial: out })); process.exit(1); });
