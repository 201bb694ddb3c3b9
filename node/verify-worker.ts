// Worker thread: stateless checks off the main thread. Blocks: signature, claims, VRF proofs.
// Transactions: amounts, fee and signature (checkTransaction), for mempool admission.
import { parentPort, workerData } from 'node:worker_threads'
import { decodeBlock, verifyBlockSignature } from '../protocol/block.js'
import { isEconumiError } from '../protocol/errors.js'
import type { NetworkParams } from '../protocol/params.js'
import { verifyClaims } from '../protocol/state.js'
import { checkTransaction, decodeTransaction } from '../protocol/transaction.js'
import type { CheckFailure, VerifyReply, VerifyRequest } from './verify-pool.js'

const { params, genesis } = workerData as { params: NetworkParams, genesis: Uint8Array }

function failure (err: unknown): CheckFailure {
  return isEconumiError(err) ? { code: err.code, message: err.message } : { code: 'E_INTERNAL', message: (err as Error).message }
}

function checkTx (bytes: Uint8Array): CheckFailure | null {
  try {
    checkTransaction(decodeTransaction(bytes), genesis, params.minFee)
    return null
  } catch (err) {
    return failure(err)
  }
}

parentPort!.on('message', (req: VerifyRequest) => {
  let reply: VerifyReply
  if (req.kind === 'txs') {
    reply = { id: req.id, kind: 'txs', results: req.txs.map(checkTx) }
  } else {
    try {
      const block = decodeBlock(req.bytes)
      if (!verifyBlockSignature(block, genesis)) {
        reply = { id: req.id, kind: 'block', ok: false, code: 'E_BLOCK_SIGNATURE', message: 'block signature does not verify' }
      } else {
        const { winner, work } = verifyClaims(params, genesis, block)
        reply = { id: req.id, kind: 'block', ok: true, winnerIndex: block.claims.indexOf(winner.claim), vrfOutput: winner.vrfOutput, ticket: winner.ticket, work }
      }
    } catch (err) {
      reply = { id: req.id, kind: 'block', ok: false, ...failure(err) }
    }
  }
  parentPort!.postMessage(reply)
})
