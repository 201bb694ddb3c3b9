// One way to read untrusted JSON (genesis files, econumi.config, API bodies): a zod schema, and an error that
// names the path of every field that is wrong (`nodes[0].millicores: …`), with the caller's stable code.
import { z } from 'zod'
import { fail } from './errors.js'

export { z }

/** A non-negative integer as JSON carries it: a decimal string (any size) or a safe integer number. */
export const uint = z.union([z.string().regex(/^\d{1,30}$/, 'must be a non-negative integer'), z.number().int().nonnegative().refine(Number.isSafeInteger, 'must be a safe integer')])
  .transform((v) => BigInt(v))

/** `a.b[0].c` for a zod issue path. */
function pathText (path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`
  return out === '' ? '(top level)' : out
}

/** What is wrong, at most a few issues, one clause each. */
export function issuesText (error: z.ZodError, max = 3): string {
  const parts = error.issues.slice(0, max).map((i) => `${pathText(i.path)}: ${i.message}`)
  if (error.issues.length > max) parts.push(`and ${error.issues.length - max} more`)
  return parts.join('; ')
}

/** Parse `value` with `schema`, or fail with `code`: "<what>: <path>: <problem>; …". */
export function parseWith<S extends z.ZodType> (schema: S, value: unknown, code: string, what: string, details: Record<string, unknown> = {}): z.output<S> {
  const r = schema.safeParse(value)
  if (!r.success) fail(code, `${what}: ${issuesText(r.error)}`, details)
  return r.data
}
