// The layout's rules, checked on the source: no import cycles between econumi's modules (type imports count:
// a cycle of contracts is a room split wrongly), and protocol/ stays pure (no I/O module, no clock).
import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { REPO } from './helpers/node-process.js'

const ROOTS = ['cli', 'node', 'protocol', 'plugin', 'agent']

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return sources(p)
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : []
  })
}

const files = ROOTS.flatMap((r) => sources(join(REPO, r)))
const known = new Set(files)
const IMPORT = /(?:from|import)\s*\(?\s*'(\.[^']+)'/g

function imports (file: string): string[] {
  const out: string[] = []
  for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const target = normalize(join(dirname(file), m[1])).replace(/\.js$/, '.ts')
    if (known.has(target)) out.push(target)
  }
  return out
}

/** Every cycle, once, as a list of repository paths (Tarjan's strongly connected components). */
export function cycles (graph: Map<string, string[]>): string[][] {
  let index = 0
  const idx = new Map<string, number>(); const low = new Map<string, number>(); const on = new Set<string>(); const stack: string[] = []
  const out: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)) } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = []
      let w: string
      do { w = stack.pop()!; on.delete(w); scc.push(w) } while (w !== v)
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.map((f) => relative(REPO, f)).sort())
    }
  }
  for (const v of graph.keys()) if (!idx.has(v)) visit(v)
  return out
}

t.test('no import cycles between modules', async (t) => {
  const graph = new Map(files.map((f) => [f, imports(f)]))
  t.ok(files.length > 50, `${files.length} modules read`)
  t.same(cycles(graph), [], 'every module can be read before the ones that use it')
  // the checker itself finds a cycle
  t.same(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])).map((c) => c.length), [3])
})

t.test('protocol/ is pure: no I/O modules, no clock', async (t) => {
  for (const f of sources(join(REPO, 'protocol'))) {
    const text = readFileSync(f, 'utf8')
    const name = relative(REPO, f)
    t.notMatch(text, /from '(node:)?(fs|fs\/promises|net|http|https|dgram|child_process|worker_threads)'/, `${name}: no I/O module`)
    t.notMatch(text.replace(/\/\/.*$/gm, ''), /Date\.now\(\)|new Date\(\)|performance\.now\(\)|process\.hrtime/, `${name}: no clock (time is an argument)`)
  }
})
