// What an error code means beyond its message, in one table that the API, the peer handlers and the CLI all
// read: the HTTP status an API answer carries, the points a peer is charged when a message it relayed fails
// with the code, and what the user can do about it. A code not listed is a plain refusal: 400, no charge.

export interface CodeInfo {
  /** HTTP status of an API answer that fails with this code. */
  readonly http: number
  /**
   * Points charged to the peer that relayed a transaction, operation or frame failing with this code. Only codes
   * that prove the message malformed or forged whatever the chain state are charged: a nonce race, a full pool or
   * a stale report is not the sender's fault (Bitcoin Core charges no misbehaviour for those either).
   */
  readonly penalty: number
  /** What to do, for the user; the CLI shows it after the message. */
  readonly hint?: string
}

/** A relayed message that is malformed or forged. */
export const FORGED_PENALTY = 25
/**
 * A served block that fails any check, whatever the code: it is judged against its parent, which the producer
 * had, so every failure is the producer's. Two of them ban the peer (network.ts BAN_SCORE).
 */
export const INVALID_BLOCK_PENALTY = 50

const REFUSED: CodeInfo = { http: 400, penalty: 0 }

const STORAGE_HINT = 'stop the node; run `econumi reindex`, or restore the data directory from a backup (README: Backup and restore)'

const TABLE: Record<string, Partial<CodeInfo>> = {
  // the API's own answers
  E_UNAUTHORIZED: { http: 401, hint: 'pass the node API token (ECONUMI_API_TOKEN or --api-token-file; the token is api.token in the data directory)' },
  E_NOT_FOUND: { http: 404 },
  E_NODE_CLOSING: { http: 503, hint: 'the node is stopping; start it again with `econumi start`' },
  // the node's own storage, not the request: 500, and one line in the node's log
  E_LEDGER_CORRUPT: { http: 500, hint: STORAGE_HINT },
  E_LEDGER_LOCKED: { http: 500, hint: 'another node process holds this data directory; stop it first (`econumi stop`)' },
  E_STORE_CORRUPT: { http: 500, hint: STORAGE_HINT },
  E_STORE_MOVED: { http: 500, hint: 'the chain store was copied while a node ran; restore it from a backup made with the node stopped' },
  E_DATA_ACCESS: { http: 500, hint: 'the node cannot read its data directory; check its owner and mode (0700)' },
  E_INTERNAL: { http: 500 },
  // malformed or forged whatever the chain state: the relaying peer is charged
  E_DECODE_LENGTH: { penalty: FORGED_PENALTY },
  E_DECODE_SHORT: { penalty: FORGED_PENALTY },
  E_DECODE_TRAILING: { penalty: FORGED_PENALTY },
  E_ENCODE_LENGTH: { penalty: FORGED_PENALTY },
  E_KEY_LENGTH: { penalty: FORGED_PENALTY },
  E_BAD_ADDRESS: { penalty: FORGED_PENALTY },
  E_BAD_ADDRESS_CHECKSUM: { penalty: FORGED_PENALTY },
  E_BAD_AMOUNT: { penalty: FORGED_PENALTY },
  E_SAME_ADDRESS: { penalty: FORGED_PENALTY },
  E_TX_ADDRESS: { penalty: FORGED_PENALTY },
  E_TX_AMOUNT: { penalty: FORGED_PENALTY },
  E_TX_LENGTH: { penalty: FORGED_PENALTY },
  E_TX_SIGNATURE: { penalty: FORGED_PENALTY },
  E_TX_VERSION: { penalty: FORGED_PENALTY },
  E_BLOCK_SIGNATURE: { penalty: FORGED_PENALTY },
  E_BLOCK_VERSION: { penalty: FORGED_PENALTY },
  E_OP_DECODE: { penalty: FORGED_PENALTY },
  E_OP_SIGNATURE: { penalty: FORGED_PENALTY },
  E_REPORT_SIGNATURE: { penalty: FORGED_PENALTY },
  E_REPORT_VERSION: { penalty: FORGED_PENALTY },
  E_FRAUD_DECODE: { penalty: FORGED_PENALTY },
  E_FRAUD_INVALID: { penalty: FORGED_PENALTY },
  E_FRAUD_ANNOUNCE: { penalty: FORGED_PENALTY },
  E_EVIDENCE_DECODE: { penalty: FORGED_PENALTY },
  E_WIRE_BAD: { penalty: 20 },
  E_WIRE_OVERSIZE: { penalty: 20 },
  E_WIRE_TYPE: { penalty: 20 },
  E_WIRE_VERSION: { penalty: 20 },
  E_WIRE_HELLO: { penalty: 20 },
  E_WRONG_NETWORK: { penalty: 1000 },
  // refusals the user can act on
  E_TX_NONCE: { hint: 'the account\'s next nonce is in `econumi getbalance <address> --json`; wait for pending transactions to confirm' },
  E_TX_NONCE_GAP: { hint: 'an earlier nonce of this account is missing; send that one first' },
  E_TX_OVERDRAFT: { hint: 'the balance does not cover amount + fee; check it with `econumi getbalance <address>`' },
  E_MEMPOOL_FEE: { hint: 'the mempool is full; pay a higher fee (--fee)' },
  E_MEMPOOL_FULL: { hint: 'the mempool is full; pay a higher fee (--fee) or try again later' },
  E_TX_TOO_MANY_PENDING: { hint: 'wait for some of this account\'s pending transactions to confirm' },
  E_UNATTESTED_CLAIMS: { hint: 'fixed compute units are for devnets only; start with --attest' }
}

/** The table's entry for a code (a plain refusal when it has none). */
export function codeInfo (code: string): CodeInfo {
  const t = Object.prototype.hasOwnProperty.call(TABLE, code) ? TABLE[code] : undefined
  return t === undefined ? REFUSED : { ...REFUSED, ...t }
}

/** Points for a message failing with this code when its kind alone already proves it bad (at least `floor`). */
export function chargeAtLeast (code: string, floor: number): number {
  return Math.max(floor, codeInfo(code).penalty)
}

/** Points for a served block that fails with this code (never less than an invalid block's). */
export function blockPenalty (code: string): number { return chargeAtLeast(code, INVALID_BLOCK_PENALTY) }

/** Every code the table describes (for tests). */
export function describedCodes (): string[] { return Object.keys(TABLE) }
