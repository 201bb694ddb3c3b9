import { readFileSync } from 'node:fs'

/** This package's version from package.json (found from src or dist), or null if it cannot be read. */
export function packageVersion (): string | null {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'econumi' && typeof pkg.version === 'string') return pkg.version
    } catch {}
  }
  return null
}
