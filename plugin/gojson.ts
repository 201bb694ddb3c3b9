// Reading JSON the way dockerd (Go encoding/json, Go 1.19 in Debian's docker.io 20.10) reads it, for the
// few fields the plugin decides on. Two differences from JSON.parse matter:
//  - object keys match struct fields without regard to case (exact match preferred, else case-insensitive,
//    where Go also folds 'ſ' onto 's' and the Kelvin sign onto 'k'; newer Go folds 'ı'/'İ' onto 'i' too);
//  - a key given twice is decoded twice into the same field: later scalars win, objects merge into the
//    same struct/map. JSON.parse keeps only the last value, so it cannot see what Go merged.
// So: `readKeys()` reads just the watched keys of a body in one pass, matched by Go's fold, and reports a
// watched key given twice (callers deny those bodies); `field()` looks a key up by Go's fold in a decoded object.

/** Go's fold of a key, for comparing with ASCII field names (uppercase; non-ASCII runes Go folds onto ASCII letters mapped). */
export function foldKey (k: string): string {
  const up = k.toUpperCase()
  // JS full case mapping differs from Go's simple folding outside ASCII: 'ß' → 'SS', 'ﬁ' → 'FI' (Go: no
  // match), and 'İ' → 'İ' (newer Go: 'I'). Fold rune by rune when the key is not pure ASCII.
  if (!NON_ASCII.test(k)) return up
  let out = ''
  for (const ch of k) {
    const c = ch.codePointAt(0) as number
    if (c < 0x80) out += ch.toUpperCase()
    else out += GO_FOLD_TO_ASCII[c] ?? ch
  }
  return out
}
const NON_ASCII = /[^\x00-\x7f]/
/** Non-ASCII runes that Go's case-insensitive field match treats as an ASCII letter. */
const GO_FOLD_TO_ASCII: Record<number, string> = { 0x17f: 'S', 0x212a: 'K', 0x131: 'I', 0x130: 'I' }

/** The value of struct field `name` (ASCII) in a decoded object, matched as Go matches keys; undefined when absent. */
export function field (obj: Record<string, unknown>, name: string): unknown {
  const exact = obj[name]
  if (exact !== undefined && Object.prototype.hasOwnProperty.call(obj, name)) return exact
  const want = name.toUpperCase()
  for (const k in obj) {
    if (k.length === want.length && foldKey(k) === want && Object.prototype.hasOwnProperty.call(obj, k)) return obj[k]
  }
  return undefined
}

/** The keys `readKeys` watches in one object: struct objects compare keys by Go's fold, maps exactly. */
export interface KeySpec {
  /** true: a struct (keys folded); false: a map (keys exact). */
  fold: boolean
  /** Watched keys (folded for a struct): null = read its value, a spec = read inside its object value. */
  keys: Record<string, KeySpec | null>
  /** Give the whole object as the value (still checking its watched keys for duplicates). */
  whole?: boolean
}

/** Values of the watched keys, by watched (folded) key; a nested spec's object gives a nested `Values`. */
export interface Values { [key: string]: unknown }

export interface ReadResult {
  values: Values
  /** The first watched key given twice (for structs also as a case variant), as a dotted path; else null. */
  dup: string | null
}

interface Compiled {
  fold: boolean
  whole: boolean
  /** Watched keys by length (a cheap pre-filter; most keys are not watched). */
  byLength: Array<string[] | undefined>
  children: Record<string, Compiled | null>
}
const compiledSpecs = new WeakMap<KeySpec, Compiled>()

function compile (spec: KeySpec): Compiled {
  const byLength: Array<string[] | undefined> = []
  const children: Record<string, Compiled | null> = {}
  for (const [k, child] of Object.entries(spec.keys)) {
    (byLength[k.length] ??= []).push(k)
    children[k] = child === null ? null : compile(child)
  }
  return { fold: spec.fold, whole: spec.whole === true, byLength, children }
}

/** Go's fold of one UTF-16 unit onto an uppercase ASCII letter code (other units unchanged). */
function foldUnit (c: number): number {
  if (c >= 0x61 && c <= 0x7a) return c - 0x20
  if (c < 0x80) return c
  const m = GO_FOLD_TO_ASCII[c]
  return m === undefined ? c : m.charCodeAt(0)
}

/** The watched key `s.slice(from, to)` is (compared in place, without allocating), or undefined. */
function watched (s: string, from: number, to: number, cands: string[], fold: boolean): string | undefined {
  for (const k of cands) {
    let i = 0
    for (; i < k.length; i++) {
      const c = s.charCodeAt(from + i)
      if ((fold ? foldUnit(c) : c) !== k.charCodeAt(i)) break
    }
    if (i === k.length && from + i === to) return k
  }
  return undefined
}

class Malformed extends Error {}

/**
 * Reads the watched keys of the JSON object in `text` in one pass, as Go's decoder would see them (its
 * first value; Go ignores what follows), without decoding the rest: a watched value is JSON.parse'd from
 * its own slice. null when `text` is not a JSON object. On input that is not valid JSON the result is
 * unspecified but never a hang or a throw (dockerd refuses such a body anyway).
 */
export function readKeys (text: string, spec: KeySpec): ReadResult | null {
  let c = compiledSpecs.get(spec)
  if (c === undefined) {
    c = compile(spec)
    compiledSpecs.set(spec, c)
  }
  const st: ScanState = { dup: null, escaped: false }
  try {
    const pos = ws(text, 0)
    if (text.charCodeAt(pos) !== 0x7b) return null
    const values: Values = {}
    scanObject(text, pos, c, '', values, st)
    return { values, dup: st.dup }
  } catch (err) {
    if (err instanceof Malformed || err instanceof SyntaxError) return null
    throw err
  }
}

interface ScanState {
  dup: string | null
  /** Whether the string last passed had an escape. */
  escaped: boolean
}

function ws (t: string, pos: number): number {
  let c = t.charCodeAt(pos)
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = t.charCodeAt(++pos)
  return pos
}

/** At a '"' (pos): the index of its closing quote; sets `st.escaped` when the string has an escape. A JS
 *  loop: strings in request bodies are short, and a builtin indexOf call per string costs more. */
function stringEnd (t: string, pos: number, st: ScanState): number {
  let escaped = false
  for (;;) {
    const c = t.charCodeAt(++pos)
    if (c === 0x22) break
    if (c === 0x5c) { escaped = true; pos++ } else if (Number.isNaN(c)) throw new Malformed()
  }
  st.escaped = escaped
  return pos
}

/** At a '{' (pos): reads its watched keys into `out` (descending into watched objects); returns the position after it. */
function scanObject (t: string, pos: number, c: Compiled, path: string, out: Values, st: ScanState): number {
  pos++
  for (;;) {
    pos = ws(t, pos)
    const q = t.charCodeAt(pos)
    if (q === 0x7d) return pos + 1
    if (q !== 0x22) throw new Malformed()
    const end = stringEnd(t, pos, st)
    let k: string | undefined
    if (st.escaped) {
      const key = JSON.parse(t.slice(pos, end + 1)) as string
      const cands = c.byLength[key.length]
      if (cands !== undefined) k = watched(key, 0, key.length, cands, c.fold)
    } else {
      const cands = c.byLength[end - pos - 1]
      if (cands !== undefined) k = watched(t, pos + 1, end, cands, c.fold)
    }
    pos = end + 1
    if (t.charCodeAt(pos) !== 0x3a) {
      pos = ws(t, pos)
      if (t.charCodeAt(pos) !== 0x3a) throw new Malformed()
    }
    pos = ws(t, pos + 1)
    if (k === undefined) {
      pos = skipValue(t, pos, st)
    } else {
      if (st.dup === null && Object.prototype.hasOwnProperty.call(out, k)) st.dup = path + k
      const child = c.children[k]
      if (child !== null && child !== undefined && t.charCodeAt(pos) === 0x7b) {
        const inner: Values = {}
        const v0 = pos
        pos = scanObject(t, pos, child, `${path}${k}.`, inner, st)
        out[k] = child.whole ? JSON.parse(t.slice(v0, pos)) : inner
      } else {
        const v0 = pos
        pos = skipValue(t, pos, st)
        out[k] = decodeValue(t, v0, pos, st.escaped)
      }
    }
    const d = t.charCodeAt(pos)
    if (d === 0x2c) { pos++; continue }
    if (d === 0x7d) return pos + 1
    pos = ws(t, pos)
    const e = t.charCodeAt(pos)
    if (e === 0x7d) return pos + 1
    if (e !== 0x2c) throw new Malformed()
    pos++
  }
}

/** The value in t[from, to) (skipValue just passed it; `escaped`: for a string, whether it had an escape).
 *  The common scalars are decoded directly: a JSON.parse call per small value costs more than the scan. */
function decodeValue (t: string, from: number, to: number, escaped: boolean): unknown {
  const c = t.charCodeAt(from)
  if (c === 0x22 && !escaped) return t.slice(from + 1, to - 1)
  if (c === 0x6e && to - from === 4) return null // null (the scan is not a validator: dockerd refuses bad JSON)
  if (c === 0x74 && to - from === 4) return true
  if (c === 0x66 && to - from === 5) return false
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return Number(t.slice(from, to))
  return JSON.parse(t.slice(from, to))
}

/** At a value (pos): the position after it. */
function skipValue (t: string, pos: number, st: ScanState): number {
  const c = t.charCodeAt(pos)
  if (c === 0x22) return stringEnd(t, pos, st) + 1
  if (c === 0x7b || c === 0x5b) {
    let depth = 0
    for (;;) {
      const d = t.charCodeAt(pos)
      if (d === 0x22) { pos = stringEnd(t, pos, st) + 1; continue }
      if (d === 0x7b || d === 0x5b) depth++
      else if (d === 0x7d || d === 0x5d) { if (--depth === 0) return pos + 1 }
      else if (Number.isNaN(d)) throw new Malformed()
      pos++
    }
  }
  const v0 = pos
  for (;;) { // number / true / false / null
    const d = t.charCodeAt(pos)
    if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09 || Number.isNaN(d)) break
    pos++
  }
  if (pos === v0) throw new Malformed()
  return pos
}
