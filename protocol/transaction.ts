// Account-model transfer: from (public key), to (address), amount, fee, nonce, signature.
// The signature also covers the genesis hash, so a transaction is valid on one network only.
import { ADDRESS_BYTES, ADDRESS_VERSION, addressBytesFromPublicKey, addressFromPublicKey, encodeAddress } from './address.js'
import { MAX_MONEY, eco } from './amount.js'
import { Reader, Writer, equalBytes } from './encoding.js'
import { fail } from './errors.js'
import { taggedHash } from './hash.js'
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, type Signer, verify } from './keys.js'

export const TX_VERSION = 1
export const TX_LENGTH = 1 + PUBLIC_KEY_LENGTH + ADDRESS_BYTES + 8 + 8 + 8 + SIGNATURE_LENGTH

export interface UnsignedTransaction {
  from: Uint8Array // sender public key
  to: Uint8Array // recipient raw address (21 bytes)
  amount: bigint
  fee: bigint
  nonce: bigint
}

export interface Transaction extends UnsignedTransaction { signature: Uint8Array }

function writeBody (w: Writer, tx: UnsignedTransaction): Writer {
  return w.u8(TX_VERSION).fixed(tx.from, PUBLIC_KEY_LENGTH).fixed(tx.to, ADDRESS_BYTES).u64(tx.amount).u64(tx.fee).u64(tx.nonce)
}

export function signingMessage (tx: UnsignedTransaction, genesis: Uint8Array): Uint8Array {
  return taggedHash('tx-sign', genesis, writeBody(new Writer(128), tx).finish())
}

export function signTransaction (tx: UnsignedTransaction, signer: Signer, genesis: Uint8Array): Transaction {
  if (!equalBytes(signer.publicKey, tx.from)) fail('E_TX_SIGNER', 'signer does not own the sending account')
  return { ...tx, signature: signer.sign(signingMessage(tx, genesis)) }
}

export function encodeTransaction (tx: Transaction): Uint8Array {
  return writeBody(new Writer(TX_LENGTH), tx).fixed(tx.signature, SIGNATURE_LENGTH).finish()
}

export function readTransaction (r: Reader): Transaction {
  const version = r.u8()
  if (version !== TX_VERSION) fail('E_TX_VERSION', 'unknown transaction version', { version })
  const from = r.fixed(PUBLIC_KEY_LENGTH)
  const to = r.fixed(ADDRESS_BYTES)
  if (to[0] !== ADDRESS_VERSION) fail('E_TX_ADDRESS', 'recipient address has an unknown version', { version: to[0] })
  const amount = r.u64()
  const fee = r.u64()
  const nonce = r.u64()
  const signature = r.fixed(SIGNATURE_LENGTH)
  return { from, to, amount, fee, nonce, signature }
}

export function decodeTransaction (bytes: Uint8Array): Transaction {
  if (bytes.length !== TX_LENGTH) fail('E_TX_LENGTH', 'transaction has the wrong length', { expected: TX_LENGTH, actual: bytes.length })
  const r = new Reader(bytes, 'transaction')
  const tx = readTransaction(r)
  r.end()
  return tx
}

export function transactionId (tx: Transaction): Uint8Array {
  return transactionIdOfBytes(encodeTransaction(tx))
}

/** The id of an encoded transaction (the encoding is canonical: decode then encode gives the same bytes). */
export function transactionIdOfBytes (bytes: Uint8Array): Uint8Array {
  return taggedHash('txid', bytes)
}

export function senderAddress (tx: UnsignedTransaction): string {
  return addressFromPublicKey(tx.from)
}

export function recipientAddress (tx: UnsignedTransaction): string {
  return encodeAddress(tx.to)
}

/** Checks that need no account state: amounts, fee floor and the signature. */
export function checkTransaction (tx: Transaction, genesis: Uint8Array, minFee: bigint): void {
  if (tx.amount <= 0n) fail('E_TX_AMOUNT', 'amount must be positive', { amount: eco(tx.amount) })
  if (tx.amount > MAX_MONEY || tx.fee > MAX_MONEY) fail('E_TX_AMOUNT', 'amount or fee exceeds the money supply', { amount: eco(tx.amount), fee: eco(tx.fee) })
  if (tx.fee < minFee) fail('E_TX_FEE', 'fee is below the network minimum', { fee: eco(tx.fee), minFee: eco(minFee) })
  if (equalBytes(addressBytesFromPublicKey(tx.from), tx.to)) fail('E_TX_SELF', 'sender and recipient are the same address', { address: recipientAddress(tx) })
  if (!verify(tx.from, signingMessage(tx, genesis), tx.signature)) fail('E_TX_SIGNATURE', 'transaction signature does not verify', { from: senderAddress(tx), nonce: tx.nonce })
}
