// The node's side of the agent transport (see agent/wire.ts): a unix socket under <runDir>/agents/, the
// only directory mounted into agent containers (never the node token or the plugin socket).
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs'
import { type Server, type Socket, createServer } from 'node:net'
import { join } from 'node:path'
import { helloMessage } from '../../protocol/attestation.js'
import { verify } from '../../protocol/keys.js'
import { type AgentMessage, type NodeMessage, lineReader } from '../../agent/wire.js'

export interface AgentSession {
  containerId: string
  publicKey: Uint8Array
  send: (m: NodeMessage) => void
  close: () => void
}

export interface AgentServerHooks {
  /** Expected agent key for a container, null when the container has no agent of ours. */
  agentKey: (containerId: string) => Uint8Array | null
  onSession: (s: AgentSession) => void
  onMessage: (s: AgentSession, m: AgentMessage) => void
  onClose: (s: AgentSession) => void
  log: (event: string, fields?: Record<string, unknown>) => void
}

const HELLO_TIMEOUT_MS = 5000

export class AgentServer {
  private server: Server | null = null
  private readonly sockets = new Set<Socket>()
  readonly path: string

  constructor (readonly dir: string, private readonly hooks: AgentServerHooks) {
    this.path = join(dir, 'agent.sock')
  }

  async listen (): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 })
    chmodSync(this.dir, 0o755)
    if (existsSync(this.path)) unlinkSync(this.path)
    const server = createServer((socket) => { this.accept(socket) })
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(this.path, () => { server.off('error', reject); resolve() }) })
    // agents run as nobody; the host cannot reach this directory through the 0700 run dir
    chmodSync(this.path, 0o666)
    this.server = server
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    const server = this.server
    this.server = null
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()))
    try { unlinkSync(this.path) } catch {}
  }

  private accept (socket: Socket): void {
    this.sockets.add(socket)
    const nonce = randomBytes(32)
    let session: AgentSession | null = null
    const send = (m: NodeMessage): void => { if (!socket.destroyed) socket.write(JSON.stringify(m) + '\n') }
    const timer = setTimeout(() => { if (session === null) socket.destroy() }, HELLO_TIMEOUT_MS)
    socket.on('data', lineReader((raw) => {
      const m = raw as AgentMessage
      if (session === null) {
        if (m?.t !== 'hello' || typeof m.containerId !== 'string' || typeof m.signature !== 'string' || !/^[0-9a-f]{128}$/.test(m.signature) || !/^[0-9a-f]{64}$/.test(m.containerId)) { socket.destroy(); return }
        const key = this.hooks.agentKey(m.containerId)
        if (key === null || !verify(key, helloMessage(nonce, m.containerId), Buffer.from(m.signature, 'hex'))) {
          this.hooks.log('agent-hello-refused', { containerId: m.containerId.slice(0, 12) })
          socket.destroy()
          return
        }
        clearTimeout(timer)
        session = { containerId: m.containerId, publicKey: key, send, close: () => socket.destroy() }
        this.hooks.onSession(session)
        return
      }
      this.hooks.onMessage(session, m)
    }, (code) => { this.hooks.log('agent-wire-error', { code }); socket.destroy() }))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      this.sockets.delete(socket)
      if (session !== null) this.hooks.onClose(session)
    })
    send({ t: 'hello', nonce: nonce.toString('hex') })
  }
}
