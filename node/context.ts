// The node's parts as its roles (sync, gossip, production) see them. Its own file so that the roles depend on
// this contract, not on the composition root that builds them (node.ts).
import type { Chain } from './chain.js'
import type { ChainStore } from './chain-store.js'
import type { EpochClock } from './epoch-clock.js'
import type { NodeIdentity } from './identity.js'
import type { Ledger } from './ledger.js'
import type { LogFn } from './log.js'
import type { Mempool } from './mempool.js'
import type { Mutex } from './mutex.js'
import type { Network } from './network.js'
import type { VerifyPool } from './verify-pool.js'
import type { NetworkParams } from '../protocol/params.js'

/** What the roles share: the parts of the node, read-only. */
export interface NodeContext {
  readonly params: NetworkParams
  readonly genesis: Uint8Array
  readonly identity: NodeIdentity
  readonly ledger: Ledger
  readonly chain: Chain
  readonly store: ChainStore
  readonly mempool: Mempool
  readonly verifier: VerifyPool
  readonly chainLock: Mutex
  readonly network: Network | null
  readonly clock: EpochClock
  readonly log: LogFn
  readonly now: () => number
  readonly closed: boolean
  emit: (event: string, ...args: unknown[]) => boolean
}
