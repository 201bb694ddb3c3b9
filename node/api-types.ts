// The node's HTTP API answers as they travel (BigInt values as decimal strings), written once: the node's
// views produce them, the CLI reads them, and test/node/api.test.ts checks a real node's answers against them.
export interface StatusJson {
  network: string
  mode: string
  genesisHash: string
  nodeId: string
  pid: number
  rewardAddress: string
  height: string
  tipHash: string | null
  epoch: string
  epochMs: string
  mempool: number
  peers: number
  sync: { height: string, target: string, syncing: boolean }
}

export interface AccountJson { address: string, balance: string, nonce: string, pendingNonce: string }

export interface GenesisJson { network: string, minFee: string, [field: string]: unknown }

export interface TxJson { txid: string, from: string, to: string, amount: string, fee: string, nonce: string }

/** GET /v1/transactions/:txid. */
export type TransactionJson = TxJson & (
  | { status: 'pending', confirmations: 0 }
  | { status: 'confirmed', height: string, blockHash: string, time: string, confirmations: string })

export interface BlockJson {
  hash: string
  height: string
  prevHash: string
  epoch: string
  time: string
  miner: string
  coinbase: string
  winner: { nodeId: string, weight: string, totalWeight: string }
  reports: Array<{ nodeId: string, epoch: string, cu: string, evidenceRoot: string }>
  ops: Array<Record<string, unknown>>
  txs: TxJson[]
}

/** GET /v1/mempool. */
export interface MempoolJson { size: number, bytes: number, capacity: number, maxPerSender: number, senders: number, minFee: string, networkMinFee: string }

/** One entry of GET /v1/peers: `height`/`tipHash` are what the peer announced (shown, never trusted). */
export interface PeerJson {
  nodeId: string
  address: string | null
  inbound: boolean
  connectedAt: number
  score: number
  bytesIn: number
  bytesOut: number
  /** Bytes queued to it that its transport has not taken yet (gossip to it is dropped past 1,000 kB). */
  sendQueued: number
  height: string | null
  tipHash: string | null
}

/** One image offer in GET /v1/images (an announcement: the bytes are verified when fetched). */
export interface ImageOfferJson { ref: string, imageId: string, size: string, core: string, blocks: number }

/** GET /v1/images. */
export interface ImagesJson { local: ImageOfferJson[], peers: Array<{ nodeId: string, images: ImageOfferJson[] }> }
