// Worker thread: stateless checks off the main thread (see verify-pool.ts). Blocks: signature, claims, VRF
// proofs. Transactions: amounts, fee and signature, for mempool admission.
import { parentPort, workerData } from 'node:worker_threads'
import { decodeBlock } from '../protocol/block.js'
import { isEconumiError } from '../protocol/errors.js'
import { HASH_LENGTH } from '../protocol/hash.js'
import type { NetworkParams } from '../protocol/params.js'
import { decodeTransaction } from '../protocol/transaction.js'
import { type CheckFailure, type VerifyReply, type VerifyRequest, transactionCheck, verifyInline } from './verify-pool.js'

const { params, genesis } = workerData as { params: NetworkParams, genesis: Uint8Array }

function failure (err: unknown): CheckFailure {
  return isEconumiError(err) ? { code: err.code, message: err.message } : { code: 'E_INTERNAL', message: (err as Error).message }
}

function reply (req: VerifyRequest): VerifyReply {
  if (req.kind === 'txs') {
    return {
      id: req.id,
      kind: 'txs',
      results: req.txs.map((bytes) => { try { return transactionCheck(params, genesis, decodeTransaction(bytes)) } catch (err) { return failure(err) } })
    }
  }
  try {
    const block = decodeBlock(req.bytes)
    const v = verifyInline(params, genesis, block, req.transactions)
    if (isEconumiError(v)) return { id: req.id, kind: 'block', ok: false, ...failure(v) }
    const txids = new Uint8Array(v.txids === undefined ? 0 : HASH_LENGTH * v.txids.length)
    v.txids?.forEach((id, i) => txids.set(id, i * HASH_LENGTH))
    return { id: req.id, kind: 'block', ok: true, vrfOutput: v.winner.vrfOutput, ticket: v.winner.ticket, txids }
  } catch (err) {
    return { id: req.id, kind: 'block', ok: false, ...failure(err) }
  }
}

parentPort!.on('message', (req: VerifyRequest) => { parentPort!.postMessage(reply(req)) })
parentPort!.postMessage({ kind: 'ready' } satisfies VerifyReply)
