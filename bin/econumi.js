#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm install`).
import('../dist/cli/entry.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('econumi: not built yet; run `npm install` (or `npm run build`) first [E_NOT_BUILT]\n')
    process.exit(1)
  }
  throw err
})
