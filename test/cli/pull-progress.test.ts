// docker pull's progress as the CLI shows it: the engine reports a layer's download and then its extraction
// under the same layer id, each with its own current/total; only the download is counted, so the bar never runs
// backwards. Fed the engine's JSON lines through dockerode's own followProgress.
import { Readable } from 'node:stream'
import Docker from 'dockerode'
import t from 'tap'
import { pullImage } from '../../cli/image-fetch.js'

function engine (lines: object[]): Docker {
  const d = new Docker({ socketPath: '/nonexistent' })
  d.pull = (async () => Readable.from(lines.map((l) => JSON.stringify(l) + '\n'))) as unknown as Docker['pull']
  return d
}

t.test('download progress only: never backwards, ends at the total', async (t) => {
  const seen: Array<[number, number]> = []
  const ok = await pullImage(engine([
    { status: 'Pulling from app', id: 'v1' },
    { status: 'Pulling fs layer', id: 'a' },
    { status: 'Pulling fs layer', id: 'b' },
    { status: 'Downloading', id: 'a', progressDetail: { current: 50, total: 100 } },
    { status: 'Downloading', id: 'b', progressDetail: { current: 100, total: 300 } },
    { status: 'Downloading', id: 'a', progressDetail: { current: 100, total: 100 } },
    { status: 'Download complete', id: 'a' },
    { status: 'Extracting', id: 'a', progressDetail: { current: 10, total: 100 } },
    { status: 'Downloading', id: 'b', progressDetail: { current: 300, total: 300 } },
    { status: 'Download complete', id: 'b' },
    { status: 'Extracting', id: 'b', progressDetail: { current: 30, total: 300 } },
    { status: 'Pull complete', id: 'a' },
    { status: 'Pull complete', id: 'b' },
    { status: 'Status: Downloaded newer image for app:v1' }
  ]), 'app:v1', (done, total) => { seen.push([done, total]) })
  t.equal(ok, true, 'the pull succeeded')
  t.ok(seen.length >= 4, `progress reported: ${JSON.stringify(seen)}`)
  t.ok(seen.every(([d], i) => i === 0 || d >= seen[i - 1][0]), `never backwards: ${seen.map(([d]) => d).join(' ')}`)
  t.same(seen[seen.length - 1], [400, 400], 'ends at the whole download')
})

t.test('an error line inside the stream is a failed pull', async (t) => {
  const ok = await pullImage(engine([
    { status: 'Downloading', id: 'a', progressDetail: { current: 50, total: 100 } },
    { errorDetail: { message: 'blob unknown' }, error: 'blob unknown to registry' }
  ]), 'app:v1', () => {})
  t.equal(ok, false)
})
