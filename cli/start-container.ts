// Placeholder: starting the node as a Docker container is written by the node's owner.
// `econumi start --foreground` runs the node in this process instead.
import { EconumiError } from '../protocol/errors.js'

export interface StartContainerOptions {
  dataDir: string
  json: boolean
  epochMs?: bigint
  devComputeUnits?: bigint
  allocations?: string[]
  rewardAddress?: string
  apiPort?: number
  bootstrap?: string[]
  network?: string
}

export async function startContainer (_options: StartContainerOptions): Promise<void> {
  throw new EconumiError('E_NOT_IMPLEMENTED', 'container mode is not available yet; use `econumi start --foreground`')
}
