// Reading JSON the way dockerd (Go encoding/json, Go 1.19 in Debian's docker.io 20.10) reads it, for the
// few fields the plugin decides on. Two differences from JSON.parse matter:
//  - object keys match struct fields without regard to case (exact match preferred, else case-insensitive,
//    where Go also folds 'ſ' onto 's' and the Kelvin sign onto 'k'; newer Go folds 'ı'/'İ' onto 'i' too);
//  - a key given twice is decoded twice into the same field: later scalars win, objects merge into the
//    same struct/map. JSON.parse keeps only the last value, so it cannot see what Go merged.
// So: `field()` looks keys up by Go's fold, and `duplicateKey()` scans the raw text for keys given twice
// (also case variants) in the objects the plugin checks; callers deny those bodies.

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

/** Which nested objects `duplicateKey` checks: struct objects compare keys by Go's fold, maps exactly. */
export interface KeySpec {
  /** true: a struct (keys folded); false: a map (keys exact). */
  fold: boolean
  /** Checked child objects, by folded key (struct) or exact key (map). */
  children?: Record<string, KeySpec>
}

/**
 * The first key given twice (for structs also as a case variant) in `text` within the objects `spec`
 * names, as a dotted path; null when there is none. `text` must already be valid JSON (JSON.parse
 * accepted it): this only walks it, it does not validate.
 */
export function duplicateKey (text: string, spec: KeySpec): string | null {
  const s = new Scanner(text)
  s.ws()
  if (text.charCodeAt(s.pos) !== 0x7b) return null
  return s.object(spec, '')
}

class Scanner {
  pos = 0
  constructor (private readonly t: string) {}

  ws (): void {
    const t = this.t
    let c = t.charCodeAt(this.pos)
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = t.charCodeAt(++this.pos)
  }

  /** At a '"': returns the decoded string and moves past it. */
  string (): string {
    const t = this.t
    const start = this.pos
    let end = t.indexOf('"', start + 1)
    let escaped = false
    for (;;) {
      let bs = 0
      while (t.charCodeAt(end - 1 - bs) === 0x5c) bs++
      if (bs > 0) escaped = true
      if ((bs & 1) === 0) break
      end = t.indexOf('"', end + 1)
    }
    this.pos = end + 1
    return escaped ? JSON.parse(t.slice(start, end + 1)) as string : t.slice(start + 1, end)
  }

  /** At a '{': checks its keys (and its checked children), moves past it. */
  object (spec: KeySpec, path: string): string | null {
    const t = this.t
    this.pos++
    const seen = new Set<string>()
    for (;;) {
      this.ws()
      if (t.charCodeAt(this.pos) === 0x7d) { this.pos++; return null }
      const key = this.string()
      const k = spec.fold ? foldKey(key) : key
      if (seen.has(k)) return path + key
      seen.add(k)
      this.ws()
      this.pos++ // ':'
      this.ws()
      const child = spec.children?.[k]
      if (child !== undefined && t.charCodeAt(this.pos) === 0x7b) {
        const dup = this.object(child, `${path}${key}.`)
        if (dup !== null) return dup
      } else {
        this.skip()
      }
      this.ws()
      if (t.charCodeAt(this.pos) === 0x2c) this.pos++ // ','
      else { this.pos++; return null } // '}'
    }
  }

  /** Moves past one value. */
  skip (): void {
    const t = this.t
    const c = t.charCodeAt(this.pos)
    if (c === 0x22) { this.string(); return }
    if (c === 0x7b || c === 0x5b) {
      let depth = 0
      for (;;) {
        const d = t.charCodeAt(this.pos)
        if (d === 0x22) { this.string(); if (depth === 0) return; continue }
        if (d === 0x7b || d === 0x5b) depth++
        else if (d === 0x7d || d === 0x5d) depth--
        this.pos++
        if (depth === 0) return
        if (Number.isNaN(d)) return
      }
    }
    for (;;) { // number / true / false / null
      const d = t.charCodeAt(this.pos)
      if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09 || Number.isNaN(d)) return
      this.pos++
    }
  }
}
