// Getting an image the engine lacks: from a registry through the Engine API (docker pull), else from a peer
// that offers it (the node downloads its core, verifies the archive against the image ID, loads it). Both show
// a progress bar on a terminal and a line per quarter otherwise.
import type Docker from 'dockerode'
import { request } from 'node:http'
import { join } from 'node:path'
import { EconumiError, fail } from '../protocol/errors.js'

export type Progress = (done: number, total: number, what: string) => void

function mb (n: number): string { return `${(n / 1e6).toFixed(1)} MB` }

/** A progress printer: a redrawn bar on a terminal, else a line at each quarter. */
export function progressPrinter (write: (s: string) => void, terminal: boolean): { update: Progress, end: () => void } {
  let lastQuarter = -1
  let drawn = false
  return {
    update: (done, total, what) => {
      const f = total > 0 ? Math.min(1, done / total) : 0
      if (terminal) {
        const width = 30
        const fill = Math.round(f * width)
        write(`\r${what} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(f * 100).toFixed(0).padStart(3)}% ${mb(done)}${total > 0 ? ` / ${mb(total)}` : ''}`)
        drawn = true
      } else {
        const q = Math.floor(f * 4)
        if (q !== lastQuarter) { lastQuarter = q; write(`${what}: ${(f * 100).toFixed(0)}% (${mb(done)}${total > 0 ? ` of ${mb(total)}` : ''})\n`) }
      }
    },
    end: () => { if (drawn) write('\n') }
  }
}

/**
 * docker pull through the Engine API; false when no registry has it (or none answers), or the pull failed on the
 * way: once the engine has begun its answer (HTTP 200), it reports a failure (a layer the registry lost, a
 * connection cut) as an `error` line inside the stream, which the stream's end does not tell apart from success.
 */
export async function pullImage (d: Docker, ref: string, progress: Progress): Promise<boolean> {
  let stream: NodeJS.ReadableStream
  try {
    stream = await d.pull(ref) as NodeJS.ReadableStream
  } catch {
    return false // no registry answers, or it does not know the image
  }
  return await new Promise<boolean>((resolve) => {
    const layers = new Map<string, { current: number, total: number }>()
    let failed = false
    d.modem.followProgress(stream, (err: Error | null) => { resolve(err === null && !failed) }, (e: { id?: string, status?: string, error?: string, progressDetail?: { current?: number, total?: number } }) => {
      if (e.error !== undefined) { failed = true; return }
      // the download only: the engine then reports extraction under the same layer id, which would run the bar again
      if (e.id !== undefined && e.status === 'Downloading' && e.progressDetail?.total !== undefined) layers.set(e.id, { current: e.progressDetail.current ?? 0, total: e.progressDetail.total })
      const l = e.id === undefined ? undefined : layers.get(e.id)
      if (l !== undefined && (e.status === 'Download complete' || e.status === 'Pull complete')) l.current = l.total
      if (e.status !== 'Downloading' && e.status !== 'Download complete') return
      let done = 0; let total = 0
      for (const l of layers.values()) { done += l.current; total += l.total }
      if (total > 0) progress(done, total, `pulling ${ref}`)
    })
  })
}

interface FetchLine {
  offer?: { ref: string, imageId: string, size: string, nodeId: string }
  progress?: { bytes: number, total: number }
  done?: { imageId: string, ref: string, bytes: number }
  error?: { code: string, message: string }
}

/** Ask the local node to download `ref` from a peer that offers it: resolves with the verified image ID. */
export async function fetchFromPeer (dataDir: string, ref: string, progress: Progress): Promise<{ imageId: string, nodeId: string }> {
  return await new Promise((resolve, reject) => {
    const body = JSON.stringify({ ref })
    const req = request({ socketPath: join(dataDir, 'api.sock'), method: 'POST', path: '/v1/images/fetch', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let buf = ''
      let nodeId = ''
      let settled = false
      const settle = (err: Error | null, v?: { imageId: string, nodeId: string }): void => { if (!settled) { settled = true; if (err !== null) reject(err); else resolve(v!) } }
      res.on('data', (c: Buffer) => {
        buf += c.toString()
        if (buf.length > 1_000_000) { req.destroy(); settle(new EconumiError('E_IMAGE_FETCH', 'the node answered more than expected')); return }
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl); buf = buf.slice(nl + 1)
          let m: FetchLine & { error?: { code: string, message: string } }
          try { m = JSON.parse(line) } catch { continue }
          if (res.statusCode !== 200 && m.error !== undefined) { settle(new EconumiError(m.error.code, m.error.message)); return }
          if (m.offer !== undefined) nodeId = m.offer.nodeId
          if (m.progress !== undefined) progress(m.progress.bytes, m.progress.total, `downloading ${ref} from ${nodeId.slice(0, 16)}`)
          if (m.error !== undefined) { settle(new EconumiError(m.error.code, m.error.message)); return }
          if (m.done !== undefined) { settle(null, { imageId: m.done.imageId, nodeId }); return }
        }
      })
      res.on('end', () => {
        // a refusal before the download started is one JSON error object (no newline)
        try { const m = JSON.parse(buf) as FetchLine; if (m.error !== undefined) { settle(new EconumiError(m.error.code, m.error.message)); return } } catch {}
        settle(new EconumiError('E_IMAGE_FETCH', 'the node ended the download without a result'))
      })
      res.on('error', (err) => settle(err))
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new EconumiError('E_NODE_NOT_RUNNING', `the image is not on this engine and no registry has it; peers can serve it, but no node runs on ${dataDir} (econumi start)`, { image: ref }))
      else reject(err)
    })
    req.end(body)
  })
}

/** The image on the engine, pulled from a registry or downloaded from a peer if it is missing. */
export async function ensureImage (d: Docker, dataDir: string, ref: string, out: { write: (s: string) => void, terminal: boolean }): Promise<'local' | 'pulled' | 'peer'> {
  try {
    await d.getImage(ref).inspect()
    return 'local'
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err
  }
  const pull = progressPrinter(out.write, out.terminal)
  const pulled = await pullImage(d, ref, pull.update)
  pull.end()
  if (pulled) return 'pulled'
  const peer = progressPrinter(out.write, out.terminal)
  try {
    await fetchFromPeer(dataDir, ref, peer.update)
  } catch (err) {
    peer.end()
    if (err instanceof EconumiError && err.code === 'E_IMAGE_NOT_OFFERED') fail('E_IMAGE_NOT_FOUND', `image ${ref} is not on this engine, no registry has it, and no peer offers it (show images lists what peers offer)`, { image: ref })
    throw err
  }
  peer.end()
  return 'peer'
}
