// Worker thread: the stateless checks of one block (signature, claims, VRF proofs), off the main thread.
import { parentPort, workerData } from 'node:worker_threads'
import { decodeBlock, verifyBlockSignature } from '../protocol/block.js'
import { isEconumiError } from '../protocol/errors.js'
import type { NetworkParams } from '../protocol/params.js'
import { verifyClaims } from '../protocol/state.js'
import type { VerifyReply, VerifyRequest } from './verify-pool.js'

const { params, genesis } = workerData as { params: NetworkParams, genesis: Uint8Array }

parentPort!.on('message', (req: VerifyRequest) => {
  let reply: VerifyReply
  try {
    const block = decodeBlock(req.bytes)
    if (!verifyBlockSignature(block, genesis)) {
      reply = { id: req.id, ok: false, code: 'E_BLOCK_SIGNATURE', message: 'block signature does not verify' }
    } else {
      const { winner, work } = verifyClaims(params, genesis, block)
      reply = { id: req.id, ok: true, winnerIndex: block.claims.indexOf(winner.claim), vrfOutput: winner.vrfOutput, ticket: winner.ticket, work }
    }
  } catch (err) {
    reply = isEconumiError(err)
      ? { id: req.id, ok: false, code: err.code, message: err.message }
      : { id: req.id, ok: false, code: 'E_INTERNAL', message: (err as Error).message }
  }
  parentPort!.postMessage(reply)
})
