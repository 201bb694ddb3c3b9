// The floor of any Docker authorization plugin, for `npm run bench -- plugin-overhead`: the same image and socket
// as econumi's, answering Allow to every call without reading it (ECONUMI_PLUGIN_MODE=floor). Comparing
// `docker run` under it with no plugin measures what dockerd's authz round trips cost by themselves, which no
// plugin code can remove. It refuses one thing: build-plugin.sh's probe (`docker stop econumi-agent-probe-*`),
// so the script can tell that dockerd consults it.
import { createServer, type Server } from 'node:http'
import { mkdir, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

const ALLOW = Buffer.from('{"Allow":true}')
const PROBE = Buffer.from('econumi-agent-probe-')
const DENY_PROBE = Buffer.from('{"Allow":false,"Msg":"floor plugin: probe refused [E_AGENT_PROTECTED]"}')

export async function startFloor (socketPath: string): Promise<Server> {
  await mkdir(dirname(socketPath), { recursive: true })
  await unlink(socketPath).catch(() => {})
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = req.url === '/Plugin.Activate' ? Buffer.from('{"Implements":["authz"]}') : Buffer.concat(chunks).includes(PROBE) ? DENY_PROBE : ALLOW
      res.sendDate = false
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.plugins.v1+json', 'Content-Length': body.length })
      res.end(body)
    })
  })
  server.keepAliveTimeout = 0
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  return server
}
