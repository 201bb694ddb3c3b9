// Build a long chain quickly in-process (a fake clock walks through past epochs), for sync tests and benches.
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { FixedComputeUnits } from '../../node/compute-units.js'
import { EconumiNode } from '../../node/node.js'
import { epochStart, paramsFromJson } from '../../protocol/params.js'

export async function buildChain (dataDir: string, genesisFile: string, blocks: number, onProgress?: (n: number) => void): Promise<{ tipHash: string }> {
  const params = paramsFromJson(JSON.parse(readFileSync(genesisFile, 'utf8')))
  let epoch = 1n
  const node = await EconumiNode.open({ dataDir, params, computeUnits: new FixedComputeUnits(10n), now: () => Number(epochStart(params, epoch)) + 1 })
  try {
    for (let i = 0; i < blocks; epoch++) {
      const b = await node.produce(epoch)
      if (b === null) { if (epoch > BigInt(blocks) * 10n) throw new Error(`no block at epoch ${epoch}`); continue } // not a leader this epoch
      if (onProgress !== undefined && i % 500 === 0) onProgress(i)
      i++
    }
    return { tipHash: Buffer.from(node.ledger.tip!.hash).toString('hex') }
  } finally {
    await node.close()
  }
}

export function genesisPath (dir: string): string { return join(dir, 'genesis.json') }
