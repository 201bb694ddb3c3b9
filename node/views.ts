// JSON shapes of the HTTP API (declared in api-types.ts). BigInt values travel as decimal strings.
import type { BlockJson, TxJson } from './api-types.js'
import { addressFromPublicKey, encodeAddress } from '../protocol/address.js'
import type { Block } from '../protocol/block.js'
import { blockHash } from '../protocol/block.js'
import { toHex } from '../protocol/encoding.js'
import { type Transaction, recipientAddress, senderAddress, transactionId } from '../protocol/transaction.js'
import type { NetworkParams } from '../protocol/params.js'
import { paramsToJson } from '../protocol/params.js'
import { namedReports } from '../protocol/fraud.js'
import { type Op, evidenceEpoch, opHash, opNode } from '../protocol/ops.js'

export function blockToJson (b: Block): BlockJson {
  const h = b.header
  return {
    hash: toHex(blockHash(h)),
    height: h.height.toString(),
    prevHash: toHex(h.prevHash),
    epoch: h.epoch.toString(),
    time: h.time.toString(),
    miner: encodeAddress(h.miner),
    coinbase: b.coinbase.toString(),
    winner: { nodeId: toHex(h.winner.nodeKey), weight: h.weight.toString(), totalWeight: h.totalWeight.toString() },
    reports: b.reports.map((r) => ({ nodeId: toHex(r.nodeKey), epoch: r.epoch.toString(), cu: r.cu.toString(), evidenceRoot: toHex(r.evidenceRoot) })),
    ops: b.ops.map(opToJson),
    txs: b.txs.map(txToJson)
  }
}

export function txToJson (tx: Transaction): TxJson {
  return {
    txid: toHex(transactionId(tx)),
    from: senderAddress(tx),
    to: recipientAddress(tx),
    amount: tx.amount.toString(),
    fee: tx.fee.toString(),
    nonce: tx.nonce.toString()
  }
}

export function genesisToJson (p: NetworkParams): Record<string, unknown> { return { ...paramsToJson(p) } }

export function opToJson (op: Op): Record<string, unknown> {
  const base = { op: toHex(opHash(op)), kind: op.kind, nodeId: toHex(opNode(op)) }
  switch (op.kind) {
    case 'register': return { ...base, seq: op.seq.toString(), millicores: op.millicores.toString(), memoryBytes: op.memoryBytes.toString(), bond: op.bond.toString(), certificate: op.certDer.length > 0 }
    case 'unregister': case 'withdraw': return { ...base, seq: op.seq.toString() }
    case 'equivocation': return { ...base, evidence: op.evidence.type, epoch: evidenceEpoch(op.evidence).toString() }
    case 'fraud': {
      const r = namedReports(op.proof)[0]
      return { ...base, reporter: toHex(op.reporter), reporterAddress: addressFromPublicKey(op.reporter), proof: op.proof.kind, reportNode: toHex(r.nodeKey), epoch: r.epoch.toString() }
    }
  }
}
