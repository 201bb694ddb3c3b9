import { createHash } from 'node:crypto'

export const HASH_LENGTH = 32

export function sha256 (...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

const tagPrefixes = new Map<string, Uint8Array>() // a handful of constant tags

// Domain-separated hash: the tag keeps a hash of one kind from ever being mistaken for another.
export function taggedHash (tag: string, ...parts: Uint8Array[]): Uint8Array {
  let prefix = tagPrefixes.get(tag)
  if (prefix === undefined) { prefix = Buffer.from(`econumi/${tag}\0`); tagPrefixes.set(tag, prefix) }
  return sha256(prefix, ...parts)
}

export const ZERO_HASH = new Uint8Array(HASH_LENGTH)

// Merkle root with tagged leaves and nodes (so a leaf can't pose as a node) and odd nodes
// promoted rather than duplicated (avoids Bitcoin's CVE-2012-2459 ambiguity).
export function merkleRoot (leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return taggedHash('merkle-empty')
  let level = leaves.map((l) => taggedHash('merkle-leaf', l))
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? taggedHash('merkle-node', level[i], level[i + 1]) : level[i])
    }
    level = next
  }
  return level[0]
}
