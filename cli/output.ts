// What every command shares: the global options (data dir, wallet dir, API endpoint, --json), the node API
// client they name, and the output rules: one JSON object on stdout with --json, else readable lines.
import type { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { formatAmount } from '../protocol/amount.js'
import { fail } from '../protocol/errors.js'
import { ApiClient, type ApiEndpoint } from './client.js'
import { tokenFromText } from '../node/api-token.js'

export interface GlobalOptions {
  dataDir: string
  walletDir: string
  json: boolean
  apiUrl?: string
  apiToken?: string
  passphraseFile?: string
  insecurePassphrase: boolean
}

export function econumiHome (): string {
  const env = process.env.ECONUMI_HOME
  return env !== undefined && env !== '' ? resolve(env) : join(homedir(), '.econumi')
}

export function globals (cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<Partial<GlobalOptions> & { apiTokenFile?: string }>()
  return {
    dataDir: resolve(o.dataDir ?? join(econumiHome(), 'node')),
    walletDir: resolve(o.walletDir ?? join(econumiHome(), 'wallets')),
    json: o.json === true,
    apiUrl: o.apiUrl,
    apiToken: o.apiToken ?? (o.apiTokenFile !== undefined ? readTokenFile(o.apiTokenFile) : undefined) ?? process.env.ECONUMI_API_TOKEN,
    passphraseFile: o.passphraseFile,
    insecurePassphrase: o.insecurePassphrase === true
  }
}

/** Wrap an action so it receives the global options first. */
export function action<A extends unknown[]> (fn: (g: GlobalOptions, ...args: A) => Promise<void>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command
    await fn(globals(cmd), ...(args.slice(0, -1) as A))
  }
}

/** A token file: the bare token (the node's `<data-dir>/api.token` is one, like bitcoind's `.cookie`). */
function readTokenFile (path: string): string {
  let text: string
  try { text = readFileSync(path, 'utf8') } catch (err) { fail('E_API_TOKEN_FILE', `cannot read the API token file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { path }) }
  return tokenFromText(text)
}

export function client (g: GlobalOptions): ApiClient {
  const endpoint: ApiEndpoint = g.apiUrl !== undefined
    ? { url: g.apiUrl, token: g.apiToken }
    : { socketPath: join(g.dataDir, 'api.sock') }
  return new ApiClient(endpoint)
}

export function jsonText (value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v)
}

/** One JSON object with --json, else the human lines. */
export function emit (g: { json: boolean }, json: unknown, human: string | string[]): void {
  const text = g.json ? jsonText(json) : Array.isArray(human) ? human.join('\n') : human
  process.stdout.write(text + '\n')
}

/** Aligned `label  value` lines. */
export function table (rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)
}

/** Columns under a header, like `docker ps`: the last column is not padded. */
export function columns (header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  return [header, ...rows].map((r) => r.map((v, i) => i === r.length - 1 ? v : v.padEnd(widths[i])).join('   ').trimEnd())
}

export function eco (units: string | bigint): string { return `${formatAmount(BigInt(units))} ECO` }

export function formatTime (ms: string): string {
  const n = Number(ms)
  return Number.isFinite(n) && n > 0 && n < 8.64e15 ? new Date(n).toISOString() : ms
}
