// ImageArchiveVerifier on archives built here in docker save's layout: the config must hash to the image ID,
// each layer to its diff_id; tampering, truncation, a symlinked layer and chunking at any size are covered.
import t from 'tap'
import { createHash } from 'node:crypto'
import { ImageArchiveVerifier } from '../../protocol/image-archive.js'

function header (name: string, size: number, type = '0', link = ''): Buffer {
  const h = Buffer.alloc(512)
  h.write(name, 0, 100)
  h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116)
  h.write(size.toString(8).padStart(11, '0') + '\0', 124)
  h.write('00000000000\0', 136)
  h.write('        ', 148)
  h.write(type, 156)
  h.write(link, 157, 100)
  h.write('ustar\0', 257); h.write('00', 263)
  let sum = 0
  for (const b of h) sum += b
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148)
  return h
}

function tar (files: Array<{ name: string, data?: Buffer, link?: string }>): Buffer {
  const parts: Buffer[] = []
  for (const f of files) {
    if (f.link !== undefined) { parts.push(header(f.name, 0, '2', f.link)); continue }
    const d = f.data ?? Buffer.alloc(0)
    parts.push(header(f.name, d.length), d, Buffer.alloc((512 - (d.length % 512)) % 512))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

function image (opts: { linkSecond?: boolean } = {}): { archive: Buffer, id: string } {
  const layer = tar([{ name: 'bin/app', data: Buffer.alloc(70_000, 7) }])
  const layers = opts.linkSecond === true ? [layer, layer] : [layer]
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l)}`) } }))
  const id = sha(config)
  const names = ['l1/layer.tar']
  const entries: Array<{ name: string, data?: Buffer, link?: string }> = [{ name: 'l1/layer.tar', data: layer }]
  if (opts.linkSecond === true) { entries.push({ name: 'l2/layer.tar', link: '../l1/layer.tar' }); names.push('l2/layer.tar') }
  entries.push({ name: `${id}.json`, data: config }, { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${id}.json`, RepoTags: ['app:v1'], Layers: names }])) })
  return { archive: tar(entries), id }
}

function verify (archive: Buffer, id: string, chunk = 65536): ReturnType<ImageArchiveVerifier['finish']> {
  const v = new ImageArchiveVerifier()
  for (let i = 0; i < archive.length; i += chunk) v.push(archive.subarray(i, i + chunk))
  return v.finish(id)
}

t.test('a whole archive verifies, at any chunk size', async (t) => {
  const { archive, id } = image()
  for (const chunk of [1, 511, 512, 4096, 65536, archive.length]) t.same(verify(archive, id, chunk), { config: `${id}.json`, layers: 1, repoTags: ['app:v1'] }, `chunks of ${chunk}`)
  const linked = image({ linkSecond: true })
  t.equal(verify(linked.archive, linked.id).layers, 2, 'a repeated layer given as a symlink')
})

t.test('anything changed is refused', async (t) => {
  const { archive, id } = image()
  t.throws(() => verify(archive, 'ab'.repeat(32)), { code: 'E_IMAGE_VERIFY' }, 'another image ID')
  const inLayer = Buffer.from(archive); inLayer[512 * 3 + 100] ^= 1
  t.throws(() => verify(inLayer, id), { code: 'E_IMAGE_VERIFY', message: /layer 0/ }, 'a byte of a layer')
  const inHeader = Buffer.from(archive); inHeader[10] ^= 1
  t.throws(() => verify(inHeader, id), { code: 'E_IMAGE_ARCHIVE', message: /checksum/ }, 'a byte of a header')
  t.throws(() => verify(archive.subarray(0, archive.length - 5000), id), { code: /^E_IMAGE_/ }, 'a truncated archive')
  t.throws(() => verify(Buffer.concat([archive, Buffer.from(header('x', 1)), Buffer.alloc(512)]), id), { code: 'E_IMAGE_ARCHIVE' }, 'data after the end marker')
  t.throws(() => verify(tar([{ name: 'other', data: Buffer.from('x') }]), id), { code: 'E_IMAGE_ARCHIVE', message: /manifest/ }, 'not docker save output')
})
