// The one table of error codes: HTTP statuses, what a peer is charged, and hints; and that every code the table
// names is a code some part of econumi really raises (a typo in the table would silently mean "400, no charge").
import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { FORGED_PENALTY, INVALID_BLOCK_PENALTY, blockPenalty, codeInfo, describedCodes } from '../../protocol/error-codes.js'

const ROOT = join(import.meta.dirname, '..', '..')

function sources (dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) sources(p, out)
    else if (name.endsWith('.ts') && !name.endsWith('error-codes.ts')) out.push(readFileSync(p, 'utf8'))
  }
  return out
}

t.test('API statuses', async (t) => {
  t.equal(codeInfo('E_UNAUTHORIZED').http, 401)
  t.equal(codeInfo('E_NOT_FOUND').http, 404)
  t.equal(codeInfo('E_NODE_CLOSING').http, 503)
  for (const c of ['E_LEDGER_CORRUPT', 'E_LEDGER_LOCKED', 'E_STORE_CORRUPT', 'E_STORE_MOVED', 'E_DATA_ACCESS']) {
    t.equal(codeInfo(c).http, 500, `${c}: the node's own storage`)
    t.ok(codeInfo(c).hint, `${c} says what to do`)
  }
  t.equal(codeInfo('E_TX_OVERDRAFT').http, 400, 'a refusal is 400')
  t.same(codeInfo('E_NO_SUCH_CODE'), { http: 400, penalty: 0 }, 'an unknown code is a plain refusal')
  t.same(codeInfo('toString'), { http: 400, penalty: 0 }, 'not read from the prototype')
})

t.test('peer charges: forged data is charged, races and local limits are not', async (t) => {
  for (const c of ['E_TX_SIGNATURE', 'E_TX_LENGTH', 'E_TX_VERSION', 'E_DECODE_SHORT', 'E_TX_ADDRESS', 'E_TX_AMOUNT', 'E_OP_SIGNATURE']) t.equal(codeInfo(c).penalty, FORGED_PENALTY, c)
  for (const c of ['E_TX_NONCE', 'E_TX_NONCE_GAP', 'E_TX_KNOWN', 'E_TX_OVERDRAFT', 'E_MEMPOOL_FULL', 'E_MEMPOOL_FEE', 'E_OP_POOL_FULL', 'E_TOO_MANY_CORES']) t.equal(codeInfo(c).penalty, 0, c)
  t.ok(codeInfo('E_WRONG_NETWORK').penalty >= 100, 'a peer of another network is banned at once')
  t.equal(blockPenalty('E_TX_OVERDRAFT'), INVALID_BLOCK_PENALTY, 'a block is judged against its parent: any failure is its producer\'s')
  t.equal(blockPenalty('E_BLOCK_SIGNATURE'), INVALID_BLOCK_PENALTY)
  t.ok(INVALID_BLOCK_PENALTY * 2 >= 100, 'two invalid blocks ban (BAN_SCORE -100)')
})

t.test('every code the table names is raised somewhere', async (t) => {
  const text = [...sources(join(ROOT, 'protocol')), ...sources(join(ROOT, 'node')), ...sources(join(ROOT, 'cli'))].join('\n')
  for (const c of describedCodes()) t.ok(text.includes(`'${c}'`), `${c} is raised`)
})
