// leader-verify: what a peer spends to check one block's leader: the VRF proof (RFC 9381) and the absolute
// eligibility rule ticket ≤ τ·w/W with weights from the parent's state, against one Ed25519 verification in the
// same run. Measured with 10, 1,000 and 10,000 admitted nodes: with one claim per block it must not grow.
import { Signer, verify } from '../protocol/keys.js'
import { makeClaim, scoreClaim } from '../protocol/claim.js'
import { toHex } from '../protocol/encoding.js'
import { genesisHash, withConsensusDefaults } from '../protocol/params.js'
import { EMPTY_NODE_RECORD, EMPTY_TOTALS, isEligible, leaderWeight } from '../protocol/weights.js'
import { type Bench, report } from './lib.js'

const ROUNDS = 400

function timeEach (n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(50, n); i++) fn(i) // warm up
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn(i)
  return Number(process.hrtime.bigint() - t0) / 1000 / n // µs each
}

const bench: Bench = {
  name: 'leader-verify',
  description: 'verify one block\'s leader (VRF proof + eligibility against the weights) vs one Ed25519 verify; 10, 1,000, 10,000 nodes',
  run: async () => {
    const signers = Array.from({ length: 16 }, (_, i) => new Signer(Buffer.alloc(32, i + 1)))
    const message = Buffer.alloc(64, 7)
    const sigs = signers.map((s) => s.sign(message))
    const ed25519 = timeEach(ROUNDS, (i) => { if (!verify(signers[i % 16].publicKey, message, sigs[i % 16])) throw new Error('ed25519') })
    for (const count of [10, 1000, 10_000]) {
      const nodes = Array.from({ length: count }, (_, i) => ({ nodeKey: i < 16 ? toHex(signers[i].publicKey) : Buffer.alloc(32, 0).fill(i & 0xff, 0, 1).fill((i >> 8) & 0xff, 1, 2).fill(3, 2).toString('hex'), millicores: 1000n, memoryBytes: 1n << 30n }))
      const params = withConsensusDefaults({ network: 'bench', genesisTime: 0n, epochMs: 60_000n, maxClaimCu: 1n << 40n, minFee: 1000n, maxBlockTxs: 1000, allocations: [], mode: 'consortium', nodes })
      const g = genesisHash(params)
      const claims = signers.map((s, i) => makeClaim(s, g, BigInt(i)))
      let eligible = 0
      const us = timeEach(ROUNDS, (i) => {
        const c = claims[i % 16]
        const scored = scoreClaim(c)
        const w = leaderWeight(params, toHex(c.nodeKey), c.epoch, EMPTY_NODE_RECORD, EMPTY_TOTALS)
        if (isEligible(scored.ticket, w, params.tauMilli)) eligible++
      })
      process.stdout.write(`leader-verify with ${count} nodes: ${us.toFixed(1)} µs per block leader (${eligible} of ${ROUNDS} eligible at τ=2, as expected ~${(ROUNDS * (1 - Math.exp(-2 / count))).toFixed(1)}); Ed25519 ${ed25519.toFixed(1)} µs\n`)
      report({ name: `leader-verify-${count}`, value: us, unit: 'µs per leader check', baseline: ed25519 })
    }
  }
}

export default bench
