// Genesis files and econumi.config are read with one schema library (zod): a wrong field is refused with its
// path and the problem, and an unknown (misspelt) key is refused rather than silently defaulted.
import t from 'tap'
import { paramsFromJson } from '../../protocol/params.js'
import { parseWith, uint, z } from '../../protocol/schema.js'

const GOOD = { network: 'n', genesisTime: '0', epochMs: '1000', allocations: [] }

t.test('genesis: errors name the field', async (t) => {
  t.equal(paramsFromJson(GOOD).epochMs, 1000n)
  t.equal(paramsFromJson({ ...GOOD, epochMs: 1000 }).epochMs, 1000n, 'a safe integer number is accepted')
  const cases: Array<[unknown, RegExp]> = [
    [{ ...GOOD, epochMs: 'soon' }, /^genesis: epochMs: /],
    [{ ...GOOD, epochMS: '1000' }, /unrecognized key.*epochMS/i],
    [{ ...GOOD, allocations: [{ address: 'x', amount: '-1' }] }, /allocations\[0\]\.amount: /],
    [{ ...GOOD, nodes: [{ nodeKey: 'ab', millicores: '1', memoryBytes: 1.5 }] }, /nodes\[0\]\.memoryBytes: /],
    [{ ...GOOD, mode: 'anarchy' }, /mode: /],
    [{ ...GOOD, epochMs: 2 ** 60 }, /epochMs: /],
    [[], /\(top level\)/],
    [null, /\(top level\)/]
  ]
  for (const [json, why] of cases) t.throws(() => paramsFromJson(json), { code: 'E_BAD_PARAMS', message: why }, JSON.stringify(json)?.slice(0, 60))
})

t.test('parseWith: several problems, bounded', async (t) => {
  const s = z.object({ a: uint, b: uint, c: uint, d: uint }).strict()
  t.throws(() => parseWith(s, { a: 'x', b: 'y', c: 'z', d: 'w' }, 'E_X', 'thing'), { code: 'E_X', message: /^thing: a: .*; b: .*; c: .*; and 1 more$/ })
  t.same(parseWith(s, { a: '1', b: 2, c: '3', d: 4 }, 'E_X', 'thing'), { a: 1n, b: 2n, c: 3n, d: 4n })
})
