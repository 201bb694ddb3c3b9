// The agent and plugin images ship without node_modules (Dockerfile.agent, Dockerfile.plugin): every module
// they contain must load with Node built-ins alone. Laid out here exactly as in the images, outside the repo.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '../..')

for (const [image, dirs] of [['agent', ['agent', 'protocol']], ['plugin', ['plugin']]] as const) {
  t.test(`the ${image} image's modules load without node_modules`, async (t) => {
    if (!existsSync(join(ROOT, 'dist', image))) { t.fail('dist/ missing: run `npm run build` (npm test does)'); return }
    const app = mkdtempSync(join(tmpdir(), `econumi-${image}-image-`))
    t.teardown(() => rmSync(app, { recursive: true, force: true }))
    cpSync(join(ROOT, image, 'package.json'), join(app, 'package.json'))
    for (const d of dirs) cpSync(join(ROOT, 'dist', d), join(app, d), { recursive: true })
    // every module except the entry point (which would start the program)
    const modules = readdirSync(join(app, image)).filter((f) => f.endsWith('.js') && f !== 'main.js').map((f) => join(app, image, f))
    t.ok(modules.length > 0)
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', modules.map((m) => `await import(${JSON.stringify(m)})`).join(';')], { cwd: app, encoding: 'utf8', timeout: 30_000 })
    t.equal(r.status, 0, `imports succeed: ${r.stderr.split('\n').find((l) => l.includes('Error')) ?? ''}`)
  })
}
