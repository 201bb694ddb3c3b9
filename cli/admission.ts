// Admission commands: `econumi register`, `unregister`, `withdraw`, `nodes`, and `econumi ca` for a consortium's
// root. Each builds a block operation (protocol/ops.ts) signed by this data dir's node key (and, for an open bond,
// by the owner's wallet), hands it to the local node (POST /v1/ops), which gossips it until a leader includes it,
// and then waits for it on chain (`--no-wait` returns at once).
import type { StatusJson } from '../node/api-types.js'
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { decodeAddress } from '../protocol/address.js'
import { formatAmount, parseAmount } from '../protocol/amount.js'
import { fromHex, toHex } from '../protocol/encoding.js'
import { fail } from '../protocol/errors.js'
import { type Op, encodeOp, makeConsortiumRegistration, makeOpenRegistration, makeUnregister, makeWithdraw, capacityExtension } from '../protocol/ops.js'
import type { Signer } from '../protocol/keys.js'
import type { ApiClient } from './client.js'
import { createRootCa, issueNodeCa, pemToDer } from './ca.js'
import { parseCpus, parseMemory } from './config-file.js'
import { hasWallet, unlockWallet } from './wallet.js'

export interface AdmissionGlobals { dataDir: string, walletDir: string, json: boolean, passphraseFile?: string, insecurePassphrase: boolean }

export interface AdmissionDeps<G extends AdmissionGlobals> {
  action: <A extends unknown[]>(fn: (g: G, ...args: A) => Promise<void>) => (...args: unknown[]) => Promise<void>
  client: (g: G) => ApiClient
  emit: (g: G, json: unknown, human: string | string[]) => void
  getPassphrase: (g: G, prompt: string, isNew: boolean) => Promise<string>
}

interface NodeJson { nodeId: string, seq: string, ejected: boolean, epoch: string, registration: null | { millicores: string, memoryBytes: string, bond: string, owner: string, since: string, unbondEnd: string | null } }

async function nodeSigner (dataDir: string): Promise<{ signer: Signer, nodeId: string }> {
  const { loadIdentity } = await import('../node/identity.js')
  const id = loadIdentity(dataDir)
  if (id === null) fail('E_NO_IDENTITY', `no node identity in ${dataDir}: run \`econumi identity\` or start the node once`, { dataDir })
  return { signer: id.signer, nodeId: id.nodeId }
}

/** What every admission command starts from: the node's API, the genesis hash, this data dir's node key, its record. */
async function nodeContext (api: ApiClient, dataDir: string): Promise<{ genesis: Uint8Array, signer: Signer, nodeId: string, rec: NodeJson }> {
  const status = await api.get<StatusJson>('/v1/status')
  const { signer, nodeId } = await nodeSigner(dataDir)
  return { genesis: fromHex(status.genesisHash, 32, 'genesis hash'), signer, nodeId, rec: await api.get<NodeJson>(`/v1/nodes/${nodeId}`) }
}

function millicoresOf (cpus: string): bigint { return BigInt(Math.round(parseCpus(cpus) * 1000)) }

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** `--no-wait` and `--timeout`, of every command that submits an operation. */
interface WaitOptions { wait: boolean, timeout: string }

function waitOptions (cmd: Command, noWait = 'return once the node has the operation'): Command {
  return cmd.option('--no-wait', noWait).option('--timeout <s>', 'how long to wait for a block to include it', '300')
}

/** Submit, then (unless --no-wait) wait until the node record's seq passes `seq` — the operation is in a block. Progress
 * dots go to a terminal's stderr unless the output is --json. */
async function submitAndWait (api: ApiClient, op: Op, nodeId: string, seq: bigint, o: WaitOptions, json: boolean): Promise<{ op: string, status: string, record: NodeJson }> {
  const timeoutS = timeoutOf(o.timeout)
  const progress = !json && process.stderr.isTTY
  const r = await api.post<{ op: string }>('/v1/ops', { op: toHex(encodeOp(op)) })
  if (!o.wait) return { op: r.op, status: 'pending', record: await api.get<NodeJson>(`/v1/nodes/${nodeId}`) }
  const deadline = Date.now() + timeoutS * 1000
  for (let i = 0; ; i++) {
    const rec = await api.get<NodeJson>(`/v1/nodes/${nodeId}`)
    if (BigInt(rec.seq) > seq) { if (progress) process.stderr.write('\n'); return { op: r.op, status: 'on chain', record: rec } }
    if (Date.now() > deadline) fail('E_OP_TIMEOUT', `operation ${r.op.slice(0, 16)} is not on chain after ${timeoutS} s; it stays pending on the node (check \`econumi nodes\`)`, { op: r.op })
    if (progress) process.stderr.write(`\rwaiting for a block to include ${r.op.slice(0, 16)}${'.'.repeat(i % 4).padEnd(3)}`)
    await sleep(1000)
  }
}

function cert (path: string): Uint8Array {
  let pem: string
  try { pem = readFileSync(path, 'utf8') } catch (err) { return fail('E_CA_CERT', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path }) }
  return pemToDer(pem)
}

function timeoutOf (s: string): number {
  const n = Number(s)
  if (!/^\d{1,5}$/.test(s) || n < 1) fail('E_BAD_OPTION', '--timeout must be a whole number of seconds', { timeout: s })
  return n
}

export function addAdmissionCommands<G extends AdmissionGlobals> (program: Command, d: AdmissionDeps<G>): void {
  waitOptions(program.command('register')
    .description('register this node on chain: consortium: its node CA certificate issued by a root of the genesis; open: a bond')
    .option('--ca-cert <file>', 'consortium: the node CA certificate (PEM) the root issued (default: <data-dir>/attestation/ca-cert.pem)')
    .option('--cpus <n>', 'open: registered capacity, cores (e.g. 4 or 0.5)')
    .option('--memory <size>', 'open: registered memory (e.g. 8g)')
    .option('--bond <ECO>', 'open: the bond to lock (at least cpus × 1000 × the genesis bond rate)')
    .option('--from <address>', 'open: the wallet that pays the bond'), 'return once the node has the operation, before it is in a block')
    .action(d.action(async (g: G, o: WaitOptions & { caCert?: string, cpus?: string, memory?: string, bond?: string, from?: string }) => {
      timeoutOf(o.timeout) // a bad --timeout is refused before the node is asked
      const api = d.client(g)
      const genesis = await api.get<{ mode: string, bondPerMillicore: string }>('/v1/genesis')
      const { genesis: gh, signer, nodeId, rec } = await nodeContext(api, g.dataDir)
      if (rec.ejected) fail('E_OP_EJECTED', 'this node was ejected for equivocation; it cannot register again')
      if (rec.registration !== null) fail('E_OP_REGISTERED', 'this node is already registered', { nodeId })
      const seq = BigInt(rec.seq)
      let op: Op
      if (genesis.mode === 'consortium') {
        for (const [k, v] of Object.entries({ cpus: o.cpus, memory: o.memory, bond: o.bond, from: o.from })) if (v !== undefined) fail('E_BAD_OPTION', `--${k} is for open networks: on a consortium the certificate states the capacity`)
        const path = resolve(o.caCert ?? join(g.dataDir, 'attestation', 'ca-cert.pem'))
        if (!existsSync(path)) fail('E_CA_CERT', `no node CA certificate at ${path}: ask the consortium's root to issue one (econumi ca issue) and pass it with --ca-cert`, { path })
        const der = cert(path)
        if (capacityExtension(der) === null) fail('E_REGISTER_CERT', `${path} has no econumi capacity extension: it is not issued by a consortium root (see econumi ca issue)`, { path })
        op = makeConsortiumRegistration(signer, gh, seq, der)
      } else if (genesis.mode === 'open') {
        if (o.cpus === undefined || o.memory === undefined || o.bond === undefined || o.from === undefined) fail('E_MISSING_ARGUMENT', 'an open registration needs --cpus, --memory, --bond and --from')
        const millicores = millicoresOf(o.cpus)
        const memoryBytes = parseMemory(o.memory)
        const bond = parseAmount(o.bond)
        const min = millicores * BigInt(genesis.bondPerMillicore)
        if (bond < min) fail('E_REGISTER_BOND', `the bond must be at least ${formatAmount(min)} ECO for ${o.cpus} cpus`, { bond: formatAmount(bond), min: formatAmount(min) })
        decodeAddress(o.from)
        if (!await hasWallet(g.walletDir, o.from)) fail('E_WALLET_NOT_FOUND', 'no wallet for --from in the wallet directory', { address: o.from, dir: g.walletDir })
        const acct = await api.get<{ balance: string }>(`/v1/accounts/${o.from}`)
        if (BigInt(acct.balance) < bond) fail('E_REGISTER_BALANCE', `${o.from} holds ${formatAmount(BigInt(acct.balance))} ECO, less than the bond`, { balance: formatAmount(BigInt(acct.balance)), bond: formatAmount(bond) })
        const wallet = await unlockWallet(g.walletDir, o.from, await d.getPassphrase(g, `Passphrase for ${o.from}: `, false))
        op = makeOpenRegistration(signer, wallet.signer, gh, { seq, millicores, memoryBytes, bond })
      } else {
        return fail('E_OP_MODE', 'this is a devnet: every key is admitted, there is nothing to register')
      }
      const r = await submitAndWait(api, op, nodeId, seq, o, g.json)
      const reg = r.record.registration
      d.emit(g, { nodeId, ...r }, [`node ${nodeId.slice(0, 16)} registration ${r.op.slice(0, 16)}: ${r.status}`, ...(reg === null ? [] : [`capacity ${Number(reg.millicores) / 1000} cpus, ${reg.memoryBytes} bytes${reg.bond !== '0' ? `, bond ${formatAmount(BigInt(reg.bond))} ECO` : ''}`])])
    }))

  waitOptions(program.command('unregister')
    .description('leave the network: consortium: at once; open: starts the unbonding delay, then `econumi withdraw`'))
    .action(d.action(async (g: G, o: WaitOptions) => {
      const api = d.client(g)
      const { genesis, signer, nodeId, rec } = await nodeContext(api, g.dataDir)
      if (rec.registration === null || rec.registration.unbondEnd !== null) fail('E_OP_NOT_REGISTERED', 'this node has no active registration on chain (genesis nodes stay admitted)', { nodeId })
      const r = await submitAndWait(api, makeUnregister(signer, genesis, BigInt(rec.seq)), nodeId, BigInt(rec.seq), o, g.json)
      const end = r.record.registration?.unbondEnd ?? null
      d.emit(g, { nodeId, ...r }, `node ${nodeId.slice(0, 16)} unregistration ${r.op.slice(0, 16)}: ${r.status}${end !== null ? `; the bond can be withdrawn from epoch ${end} (econumi withdraw)` : ''}`)
    }))

  waitOptions(program.command('withdraw')
    .description('open networks: return the bond to its owner once the unbonding delay has passed'))
    .action(d.action(async (g: G, o: WaitOptions) => {
      const api = d.client(g)
      const { genesis, signer, nodeId, rec } = await nodeContext(api, g.dataDir)
      const reg = rec.registration
      if (reg === null || reg.unbondEnd === null) fail('E_OP_NOT_UNBONDING', 'this node is not unbonding: run `econumi unregister` first', { nodeId })
      if (BigInt(rec.epoch) < BigInt(reg.unbondEnd)) fail('E_OP_UNBONDING', `the bond is locked until epoch ${reg.unbondEnd} (now ${rec.epoch})`, { unbondEnd: reg.unbondEnd, epoch: rec.epoch })
      const op = makeWithdraw(signer, genesis, BigInt(rec.seq), decodeAddress(reg.owner))
      const r = await submitAndWait(api, op, nodeId, BigInt(rec.seq), o, g.json)
      d.emit(g, { nodeId, owner: reg.owner, bond: reg.bond, ...r }, `bond of ${formatAmount(BigInt(reg.bond))} ECO to ${reg.owner}: ${r.status}`)
    }))

  program.command('nodes')
    .description('list the network\'s nodes: id, capacity, bond, weight now, blocks led, state')
    .action(d.action(async (g: G) => {
      const r = await d.client(g).get<{ nodes: Array<Record<string, any>> }>('/v1/nodes')
      const rows = r.nodes.map((n) => [
        n.nodeId.slice(0, 16),
        n.capacity === null ? '-' : `${Number(n.capacity.millicores) / 1000} cpus ${n.capacity.memoryBytes} B`,
        n.bond === null ? (n.slashed !== '0' ? `slashed ${formatAmount(BigInt(n.slashed))}` : '-') : formatAmount(BigInt(n.bond.amount)),
        `${n.weight}/${n.totalWeight}${n.bootstrapWeight === true ? ' (bootstrap)' : ''}`,
        n.blocksWon,
        n.state === 'unbonding' && n.bond !== null ? `unbonding until ${n.bond.unbondEnd}` : n.state
      ])
      const widths = [16, 24, 14, 24, 8, 12]
      const line = (cols: string[]): string => cols.map((c, i) => String(c).padEnd(widths[i])).join(' ').trimEnd()
      d.emit(g, r, [line(['NODE', 'CAPACITY', 'BOND', 'WEIGHT', 'BLOCKS', 'STATE']), ...rows.map(line)])
    }))

  const ca = program.command('ca').description('a consortium root: make one, and issue node CA certificates that name a node and its capacity')
  ca.command('create-root')
    .description('make a self-signed RSA root CA (for a consortium without an existing PKI); its certificate goes in the genesis (--root-ca)')
    .requiredOption('--out <dir>', 'write root-cert.pem and root-key.pem (0600) here')
    .option('--name <cn>', 'the root\'s common name', 'econumi consortium root')
    .action(d.action(async (g: G, o: { out: string, name: string }) => {
      const dir = resolve(o.out)
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      for (const f of ['root-cert.pem', 'root-key.pem']) if (existsSync(join(dir, f))) fail('E_EXISTS', `${join(dir, f)} exists; not overwriting a root`, { path: join(dir, f) })
      const root = createRootCa(o.name)
      writeFileSync(join(dir, 'root-cert.pem'), root.certPem, { mode: 0o644 })
      writeFileSync(join(dir, 'root-key.pem'), root.keyPem, { mode: 0o600 })
      d.emit(g, { cert: join(dir, 'root-cert.pem'), key: join(dir, 'root-key.pem') }, [`root certificate ${join(dir, 'root-cert.pem')}`, `root key ${join(dir, 'root-key.pem')} (keep it offline)`])
    }))
  ca.command('issue')
    .description('issue a node CA certificate naming a node id and its capacity, signed by the root')
    .requiredOption('--root-cert <file>', 'root certificate (PEM, RSA)')
    .requiredOption('--root-key <file>', 'root private key (PEM, RSA)')
    .requiredOption('--node <id>', 'the node id (`econumi identity` on that node)')
    .requiredOption('--cpus <n>', 'capacity: cores')
    .requiredOption('--memory <size>', 'capacity: memory (e.g. 8g)')
    .requiredOption('--out <dir>', 'write ca-cert.pem and ca-key.pem (0600) here: the node starts with --ca-cert/--ca-key and registers with --ca-cert')
    .option('--days <n>', 'validity', '3650')
    .action(d.action(async (g: G, o: { rootCert: string, rootKey: string, node: string, cpus: string, memory: string, out: string, days: string }) => {
      const read = (p: string): string => { try { return readFileSync(p, 'utf8') } catch (err) { return fail('E_CA_CERT', `cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path: p }) } }
      if (!/^\d{1,5}$/.test(o.days)) fail('E_BAD_OPTION', '--days must be a whole number')
      const issued = issueNodeCa({ nodeId: o.node.toLowerCase(), millicores: millicoresOf(o.cpus), memoryBytes: parseMemory(o.memory), rootCertPem: read(o.rootCert), rootKeyPem: read(o.rootKey), days: Number(o.days) })
      const dir = resolve(o.out)
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      writeFileSync(join(dir, 'ca-cert.pem'), issued.certPem, { mode: 0o644 })
      writeFileSync(join(dir, 'ca-key.pem'), issued.keyPem, { mode: 0o600 })
      d.emit(g, { nodeId: o.node.toLowerCase(), cert: join(dir, 'ca-cert.pem'), key: join(dir, 'ca-key.pem') }, [`node CA certificate ${join(dir, 'ca-cert.pem')} for ${o.node.slice(0, 16)} (${o.cpus} cpus, ${o.memory})`, `node CA key ${join(dir, 'ca-key.pem')}`])
    }))
}
