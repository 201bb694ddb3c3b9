// The pure plugin decision's test inputs (test/plugin/decide.test.ts, test/plugin/issue14.test.ts): the node's
// token, the headers the docker CLI and the node send, the decision context, AuthZ requests as dockerd 20.10
// sends them, and a plugin state that knows one agent.
import type { DecideContext } from '../../plugin/decide.js'
import { PluginState } from '../../plugin/state.js'
import type { AuthZRequest } from '../../plugin/types.js'

export const TOKEN = 'n0de-t0ken-5ecret'
export const b64 = (x: unknown): string => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64')
export const CLI = { 'Content-Type': 'application/json', 'User-Agent': 'Docker-Client/28.2.2 (linux)' }
export const NODE = { ...CLI, 'X-Econumi-Node-Token': TOKEN }
export const ctx: DecideContext = { nodeToken: TOKEN, now: 1700000000000, selfName: 'econumi', socketName: 'econumi.sock' }
export const req = (method: string, uri: string, extra: Partial<AuthZRequest> = {}): AuthZRequest =>
  ({ User: '', UserAuthNMethod: '', RequestMethod: method, RequestUri: uri, RequestHeaders: CLI, ...extra })

/** A state with no file behind it that knows one agent, `econumi-agent-x`, since 1 ms. */
export function stateWithAgent (id: string): PluginState {
  const s = new PluginState(null)
  s.addAgent(id, 'econumi-agent-x', 1)
  return s
}
