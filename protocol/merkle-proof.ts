// Inclusion proofs for protocol/hash.ts merkleRoot: the same tagged leaves and nodes, and a promoted odd node
// has no sibling at its level, so the proof carries no entry for that level. Pure.
import { equalBytes } from './encoding.js'
import { fail } from './errors.js'
import { HASH_LENGTH, taggedHash } from './hash.js'

/** The sibling hashes from leaf `index` up to the root of merkleRoot(leaves), bottom first. */
export function merkleProof (leaves: Uint8Array[], index: number): Uint8Array[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) fail('E_MERKLE_INDEX', 'leaf index out of range', { index, count: leaves.length })
  let level = leaves.map((l) => taggedHash('merkle-leaf', l))
  let i = index
  const proof: Uint8Array[] = []
  while (level.length > 1) {
    const sibling = i % 2 === 1 ? i - 1 : i + 1
    if (sibling < level.length) proof.push(level[sibling])
    const next: Uint8Array[] = []
    for (let k = 0; k < level.length; k += 2) next.push(k + 1 < level.length ? taggedHash('merkle-node', level[k], level[k + 1]) : level[k])
    level = next
    i = Math.floor(i / 2)
  }
  return proof
}

/** Is `leaf` the index-th of `count` leaves under `root`? Every proof entry must be used: no slack bytes. */
export function verifyMerkleProof (root: Uint8Array, leaf: Uint8Array, index: number, count: number, proof: Uint8Array[]): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || index < 0 || index >= count) return false
  let h = taggedHash('merkle-leaf', leaf)
  let i = index
  let n = count
  let used = 0
  while (n > 1) {
    if (i % 2 === 1 || i + 1 < n) {
      const sibling = proof[used++]
      if (sibling === undefined || sibling.length !== HASH_LENGTH) return false
      h = i % 2 === 1 ? taggedHash('merkle-node', sibling, h) : taggedHash('merkle-node', h, sibling)
    }
    i = Math.floor(i / 2)
    n = Math.ceil(n / 2)
  }
  return used === proof.length && equalBytes(h, root)
}
