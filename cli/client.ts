// Small JSON client for the node's HTTP API: over the unix socket `<dataDir>/api.sock` by default,
// or over TCP (`--api-url http://host:port`) with a bearer token.
import { request, type RequestOptions } from 'node:http'
import { EconumiError, fail } from '../protocol/errors.js'

export type ApiEndpoint =
  | { socketPath: string }
  | { url: string, token?: string }

export interface ApiClientOptions { timeoutMs?: number }

const DEFAULT_TIMEOUT_MS = 30_000
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024
/** Blocks asked for per /v1/blocks request (the node's maximum); the node may return fewer (a byte budget). */
const BLOCKS_PER_REQUEST = 1000n

export class ApiClient {
  private readonly timeoutMs: number
  constructor (readonly endpoint: ApiEndpoint, options: ApiClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    if ('url' in endpoint) {
      let url: URL
      try { url = new URL(endpoint.url) } catch { fail('E_BAD_API_URL', 'API URL is not a valid URL', { url: endpoint.url }) }
      if (url.protocol !== 'http:') fail('E_BAD_API_URL', 'API URL must start with http://', { url: endpoint.url })
    }
  }

  /** Where requests go, for messages. */
  describe (): string {
    return 'socketPath' in this.endpoint ? this.endpoint.socketPath : this.endpoint.url
  }

  get<T = unknown> (path: string): Promise<T> { return this.call<T>('GET', path) }

  /**
   * The canonical blocks from height `from` (at most `limit`, else up to the tip), one page at a time as the
   * node cuts them: by count and by bytes, so full blocks never make a response larger than the client's cap.
   */
  async * blocks<T = unknown> (from: bigint, limit?: bigint): AsyncGenerator<T[]> {
    let next: bigint | null = from
    let left = limit
    while (next !== null && (left === undefined || left > 0n)) {
      const want: bigint = left === undefined || left > BLOCKS_PER_REQUEST ? BLOCKS_PER_REQUEST : left
      const page: { blocks: T[], next?: string | null } = await this.get(`/v1/blocks?from=${next}&limit=${want}`)
      if (page.blocks.length === 0) return
      yield page.blocks
      if (left !== undefined) left -= BigInt(page.blocks.length)
      // `next` ends the node's page early (byte budget); null with a full count may still have more after it
      next = typeof page.next === 'string' ? BigInt(page.next) : BigInt(page.blocks.length) === want ? next + want : null
    }
  }
  post<T = unknown> (path: string, body: unknown = {}): Promise<T> { return this.call<T>('POST', path, body) }

  call<T = unknown> (method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8')
    const headers: Record<string, string | number> = { accept: 'application/json' }
    if (payload !== undefined) { headers['content-type'] = 'application/json'; headers['content-length'] = payload.length }
    const options: RequestOptions = { method, headers, timeout: this.timeoutMs }
    if ('socketPath' in this.endpoint) {
      options.socketPath = this.endpoint.socketPath
      options.path = path
      options.host = 'localhost'
    } else {
      const base = new URL(this.endpoint.url)
      options.hostname = base.hostname.replace(/^\[|\]$/g, '')
      options.port = base.port === '' ? 80 : Number(base.port)
      options.path = base.pathname.replace(/\/+$/, '') + path
      if (this.endpoint.token !== undefined && this.endpoint.token !== '') headers.authorization = `Bearer ${this.endpoint.token}`
    }
    return new Promise<T>((resolve, reject) => {
      const req = request(options, (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_RESPONSE_BYTES) { req.destroy(new EconumiError('E_API_BAD_RESPONSE', `node API response larger than ${MAX_RESPONSE_BYTES} bytes`)); return }
          chunks.push(chunk)
        })
        res.on('error', (err) => reject(this.transportError(err)))
        res.on('end', () => {
          try {
            resolve(this.interpret<T>(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), method, path))
          } catch (err) {
            reject(err)
          }
        })
      })
      req.on('timeout', () => req.destroy(new EconumiError('E_NODE_TIMEOUT', `node API did not answer within ${this.timeoutMs} ms (${method} ${path} at ${this.describe()})`)))
      req.on('error', (err) => reject(this.transportError(err)))
      req.end(payload)
    })
  }

  private interpret<T> (status: number, text: string, method: string, path: string): T {
    let json: unknown
    try {
      json = text === '' ? {} : JSON.parse(text)
    } catch {
      fail('E_API_BAD_RESPONSE', `node API answered ${method} ${path} with HTTP ${status} and a body that is not JSON`, { body: text.slice(0, 120) })
    }
    if (status >= 200 && status < 300) return json as T
    const error = (json as { error?: { code?: unknown, message?: unknown } } | null)?.error
    if (error !== undefined && typeof error.code === 'string') {
      throw new EconumiError(error.code, typeof error.message === 'string' ? error.message : `node API error ${error.code}`, { status })
    }
    if (status === 401 || status === 403) fail('E_API_UNAUTHORIZED', 'node API refused the request: give the token with ECONUMI_API_TOKEN or --api-token-file', { status })
    if (status === 404) fail('E_API_NOT_FOUND', `node API has no ${method} ${path}`, { status })
    fail('E_API_ERROR', `node API answered ${method} ${path} with HTTP ${status}`, { status })
  }

  private transportError (err: unknown): EconumiError {
    if (err instanceof EconumiError) return err
    const code = (err as NodeJS.ErrnoException).code
    const where = this.describe()
    if ('socketPath' in this.endpoint) {
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        return new EconumiError('E_NODE_NOT_RUNNING', `no node is running (no API socket at ${where}); start it with \`econumi start\``, { socketPath: where })
      }
      if (code === 'EACCES' || code === 'EPERM') {
        return new EconumiError('E_NODE_ACCESS', `permission denied on the node API socket ${where}; run as the user that started the node`, { socketPath: where })
      }
    } else if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN') {
      return new EconumiError('E_NODE_NOT_RUNNING', `no node answers at ${where} (${code}); start it with \`econumi start --api-port <port>\``, { url: where })
    }
    if (code === 'ECONNRESET' || code === 'EPIPE') {
      return new EconumiError('E_NODE_CONNECTION', `the node closed the connection (${code}) at ${where}`)
    }
    return new EconumiError('E_NODE_CONNECTION', `cannot reach the node API at ${where}: ${code ?? (err as Error).message}`)
  }
}
