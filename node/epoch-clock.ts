// The epoch clock: fires once per epoch boundary, derived from the genesis time so all nodes agree.
import { EventEmitter } from 'node:events'
import { type NetworkParams, epochOf, epochStart } from '../protocol/params.js'

export class EpochClock extends EventEmitter {
  private timer: NodeJS.Timeout | null = null
  private last = -1n

  constructor (private readonly params: NetworkParams, private readonly now: () => number = Date.now) { super() }

  current (): bigint { return epochOf(this.params, BigInt(this.now())) }

  start (): void {
    if (this.timer !== null) return
    this.schedule()
  }

  stop (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private schedule (): void {
    const now = BigInt(this.now())
    const e = epochOf(this.params, now)
    const next = e < 0n ? this.params.genesisTime : epochStart(this.params, e + 1n)
    const delay = Number(next - now) + 1
    this.timer = setTimeout(() => {
      const cur = this.current()
      if (cur > this.last && cur >= 0n) {
        this.last = cur
        this.emit('epoch', cur)
      }
      if (this.timer !== null) this.schedule()
    }, Math.max(1, delay))
  }
}
