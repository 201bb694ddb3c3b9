// tx-admission: mempool admission rate (decode, signature, nonce/balance checks, durable write) against
// raw Ed25519 verifications of the same transactions, and block application rate, in one run.
import sodium from 'sodium-native'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addressBytesFromPublicKey, addressFromPublicKey } from '../protocol/address.js'
import { COIN } from '../protocol/amount.js'
import { Signer } from '../protocol/keys.js'
import { type NetworkParams, epochStart, genesisHash, withConsensusDefaults } from '../protocol/params.js'
import { encodeTransaction, signTransaction, signingMessage, type Transaction } from '../protocol/transaction.js'
import { FixedComputeUnits } from '../node/compute-units.js'
import { EconumiNode } from '../node/node.js'
import { type Bench, report } from './lib.js'

const SENDERS = 200
const PER_SENDER = 100
const CLIENTS = 256

async function run (): Promise<void> {
  const senders = Array.from({ length: SENDERS }, (_, i) => new Signer(Buffer.alloc(32, 0).fill(i + 1, 0, 1).fill(7, 1)))
  const sink = new Signer(Buffer.alloc(32, 99))
  const params: NetworkParams = withConsensusDefaults({
    network: 'bench', genesisTime: 0n, epochMs: 1000n, maxClaimCu: 1000n, minFee: 1000n, maxBlockTxs: 1000,
    tauMilli: 100_000n, // every epoch has this single node as its leader
    allocations: senders.map((s) => ({ address: addressFromPublicKey(s.publicKey), amount: 1000n * COIN }))
  })
  const g = genesisHash(params)
  const txs: Transaction[] = []
  for (let n = 0; n < PER_SENDER; n++) for (const s of senders) txs.push(signTransaction({ from: s.publicKey, to: addressBytesFromPublicKey(sink.publicKey), amount: 1000n, fee: 1000n, nonce: BigInt(n) }, s, g))
  const encoded = txs.map(encodeTransaction)

  // baseline: raw Ed25519 verify (libsodium, the primitive the node uses) of the same signatures
  // best of three passes: a conservative baseline (a slow pass would flatter the ratio)
  const msgs = txs.map((tx) => signingMessage(tx, g))
  let verifyRate = 0
  for (let pass = 0; pass < 3; pass++) {
    const start = performance.now()
    let ok = 0
    for (let i = 0; i < txs.length; i++) if (sodium.crypto_sign_verify_detached(txs[i].signature, msgs[i], txs[i].from)) ok++
    verifyRate = Math.max(verifyRate, txs.length / ((performance.now() - start) / 1000))
    if (ok !== txs.length) throw new Error('baseline verification failed')
  }
  let t0: number

  const dir = mkdtempSync(join(tmpdir(), 'econumi-bench-'))
  let epoch = 1n
  const node = await EconumiNode.open({ dataDir: dir, params, computeUnits: new FixedComputeUnits(10n), now: () => Number(epochStart(params, epoch)) })
  try {
    // admission: CLIENTS concurrent clients, as over the API: each submits its next transaction once the
    // previous one is acknowledged (validated and durable)
    t0 = performance.now()
    let next = 0
    const client = async (): Promise<void> => { while (next < encoded.length) await node.submitTransaction(encoded[next++]) }
    await Promise.all(Array.from({ length: CLIENTS }, client))
    const admitRate = encoded.length / ((performance.now() - t0) / 1000)
    if (node.mempool.size !== encoded.length) throw new Error(`admitted ${node.mempool.size} of ${encoded.length}`)
    report({ name: 'tx-admission', value: admitRate, unit: 'tx/s', baseline: verifyRate })

    // block application: full blocks through the whole path (validate, append to the core, commit the ledger)
    t0 = performance.now()
    let blocks = 0
    let applied = 0
    while (node.mempool.size > 0) {
      const b = await node.produce(epoch)
      if (b === null) throw new Error('no block produced')
      blocks++
      applied += b.txs.length
      epoch++
    }
    const secs = (performance.now() - t0) / 1000
    report({ name: 'block-application', value: blocks / secs, unit: 'blocks/s (1000 tx each)', baseline: verifyRate / 1000 })
    report({ name: 'block-application-tx', value: applied / secs, unit: 'tx/s', baseline: verifyRate })
  } finally {
    await node.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const bench: Bench = { name: 'tx-admission', description: 'mempool admission and block application vs raw Ed25519 verify', run }
export default bench
