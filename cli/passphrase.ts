// Wallet passphrases: from --passphrase-file (scripts), ECONUMI_PASSPHRASE, or a hidden prompt on a terminal.
// A new wallet's passphrase must have at least MIN_PASSPHRASE characters unless --insecure-passphrase says
// otherwise: the wallet file is the only thing between a copied disk and the coins (scrypt slows a guess, it
// cannot make a short word long).
import { readFileSync } from 'node:fs'
import { EconumiError, fail } from '../protocol/errors.js'

export const MIN_PASSPHRASE = 8
/** A passphrase file is read whole; more than this is not a passphrase. */
const MAX_PASSPHRASE_FILE = 4096

export interface PassphraseSource { passphraseFile?: string, insecurePassphrase: boolean }

async function promptHidden (prompt: string): Promise<string> {
  const stdin = process.stdin
  return await new Promise<string>((resolvePromise, reject) => {
    let value = ''
    const finish = (err?: Error): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
      if (err !== undefined) reject(err); else resolvePromise(value)
    }
    const onData = (chunk: Buffer | string): void => {
      const text = chunk.toString().replace(/\u001b\[[0-9;]*[A-Za-z~]/g, '') // drop arrow keys and the like
      for (const ch of text) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') { finish(); return }
        if (ch === '\u0003') { finish(new EconumiError('E_CANCELLED', 'cancelled')); return }
        if (ch === '\u007f' || ch === '\b') { value = [...value].slice(0, -1).join(''); continue }
        if (ch < ' ') continue
        value += ch
      }
    }
    process.stderr.write(prompt)
    stdin.setRawMode(true)
    stdin.resume()
    stdin.on('data', onData)
  })
}

/** The first line of a passphrase file (a trailing newline is not part of it, as for `--password-file` tools). */
function readPassphraseFile (path: string): string {
  let text: string
  try {
    const buf = readFileSync(path)
    if (buf.length > MAX_PASSPHRASE_FILE) fail('E_PASSPHRASE_FILE', `${path} is larger than a passphrase file can be (${MAX_PASSPHRASE_FILE} bytes)`, { path })
    text = buf.toString('utf8')
  } catch (err) {
    if (err instanceof EconumiError) throw err
    fail('E_PASSPHRASE_FILE', `cannot read the passphrase file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { path })
  }
  return text.split(/\r?\n/)[0]
}

/**
 * The passphrase: --passphrase-file, else ECONUMI_PASSPHRASE, else a hidden prompt (asked twice when `isNew`).
 * A new one is held to MIN_PASSPHRASE unless `insecurePassphrase`.
 */
export async function getPassphrase (src: PassphraseSource, prompt: string, isNew: boolean): Promise<string> {
  let passphrase: string
  const env = process.env.ECONUMI_PASSPHRASE
  if (src.passphraseFile !== undefined) passphrase = readPassphraseFile(src.passphraseFile)
  else if (env !== undefined) passphrase = env
  else {
    if (process.stdin.isTTY !== true) fail('E_NO_PASSPHRASE', 'no passphrase: use --passphrase-file, set ECONUMI_PASSPHRASE, or run the command in a terminal')
    passphrase = await promptHidden(prompt)
    if (isNew && passphrase.length > 0 && [...passphrase].length >= MIN_PASSPHRASE) {
      const second = await promptHidden('Repeat the passphrase: ')
      if (passphrase !== second) fail('E_PASSPHRASE_MISMATCH', 'the two passphrases differ')
    }
  }
  if (passphrase.length === 0) fail('E_EMPTY_PASSPHRASE', 'the passphrase must not be empty')
  if (isNew && [...passphrase].length < MIN_PASSPHRASE && !src.insecurePassphrase) {
    fail('E_WEAK_PASSPHRASE', `a wallet passphrase needs at least ${MIN_PASSPHRASE} characters (--insecure-passphrase allows a shorter one, for throwaway wallets)`, { length: [...passphrase].length })
  }
  return passphrase
}
