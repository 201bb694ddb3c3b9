// Wallet commands: createwallet, listaddresses, getbalance (one address, or the total of the local wallets,
// as Bitcoin Core's wallet total), send.
import type { Command } from 'commander'
import { decodeAddress } from '../protocol/address.js'
import { MAX_MONEY, formatAmount, parseAmount } from '../protocol/amount.js'
import { fromHex, toHex } from '../protocol/encoding.js'
import { fail } from '../protocol/errors.js'
import { encodeTransaction, signTransaction, transactionId } from '../protocol/transaction.js'
import { type NodeIdentity, loadIdentity } from '../node/identity.js'
import type { AccountJson, GenesisJson, StatusJson } from '../node/api-types.js'
import { parsePositiveAmount } from './args.js'
import { addCommands } from './chain-commands.js'
import { getPassphrase } from './passphrase.js'
import { type GlobalOptions, action, client, eco, emit, table } from './output.js'
import { createWallet, hasWallet, importWallet, listWallets, unlockWallet } from './wallet.js'

export function readNodeIdentity (dataDir: string): NodeIdentity {
  let identity: NodeIdentity | null
  try {
    identity = loadIdentity(dataDir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM') fail('E_NODE_KEY_UNREADABLE', `cannot read the node key in ${dataDir} (owned by another user? run as the node's owner)`, { dataDir })
    throw err
  }
  if (identity === null) fail('E_NO_NODE_KEY', `no node key in ${dataDir}: start the node once first, or pass --data-dir`, { dataDir })
  return identity
}

async function cmdCreateWallet (g: GlobalOptions, opts: { importNodeKey?: boolean }): Promise<void> {
  let seed: Uint8Array | undefined
  if (opts.importNodeKey === true) {
    // the node's own key receives block rewards unless --reward-address says otherwise
    seed = readNodeIdentity(g.dataDir).signer.seed
  }
  const passphrase = await getPassphrase(g, seed === undefined ? 'Passphrase for the new wallet: ' : 'Passphrase for the wallet of the node key: ', true)
  const w = seed === undefined ? await createWallet(g.walletDir, passphrase) : await importWallet(g.walletDir, seed, passphrase)
  emit(g, { address: w.address, publicKey: toHex(w.publicKey), file: w.path }, [w.address])
  if (!g.json) process.stderr.write(`wallet saved to ${w.path}; keep the passphrase: without it the coins are lost\n`)
}

interface WalletBalance { address: string, balance: string, balanceUnits: string, nonce: string }

/** Every local wallet's balance, and their sum. */
async function walletBalances (g: GlobalOptions): Promise<{ rows: WalletBalance[], total: bigint }> {
  const api = client(g)
  const rows: WalletBalance[] = []
  for (const address of await listWallets(g.walletDir)) {
    const a = await api.get<AccountJson>(`/v1/accounts/${address}`)
    rows.push({ address, balance: formatAmount(BigInt(a.balance)), balanceUnits: a.balance, nonce: a.nonce })
  }
  return { rows, total: rows.reduce((sum, r) => sum + BigInt(r.balanceUnits), 0n) }
}

async function cmdListAddresses (g: GlobalOptions, opts: { balances?: boolean }): Promise<void> {
  if (opts.balances !== true) {
    const addresses = await listWallets(g.walletDir)
    emit(g, { addresses: addresses.map((address) => ({ address })) }, addresses.length > 0 ? addresses : [`no wallets in ${g.walletDir}; create one with \`econumi createwallet\``])
    return
  }
  const { rows, total } = await walletBalances(g)
  const width = Math.max(0, ...rows.map((r) => r.balance.length))
  emit(g, { addresses: rows, total: formatAmount(total), totalUnits: total.toString() },
    rows.length > 0 ? [...rows.map((r) => `${r.address}  ${r.balance.padStart(width)} ECO`), `total ${eco(total)}`] : [`no wallets in ${g.walletDir}`])
}

async function cmdGetBalance (g: GlobalOptions, address: string | undefined): Promise<void> {
  if (address === undefined) {
    const { rows, total } = await walletBalances(g)
    emit(g, { balance: formatAmount(total), balanceUnits: total.toString(), wallets: rows.length },
      rows.length > 0 ? eco(total) : `${eco(0n)} (no wallets in ${g.walletDir}; create one with \`econumi createwallet\`)`)
    return
  }
  decodeAddress(address)
  const a = await client(g).get<AccountJson>(`/v1/accounts/${address}`)
  emit(g, { address, balance: formatAmount(BigInt(a.balance)), balanceUnits: a.balance, nonce: a.nonce, pendingNonce: a.pendingNonce },
    table([['address', address], ['balance', eco(a.balance)], ['nonce', a.nonce]]))
}

async function cmdSend (g: GlobalOptions, from: string, to: string, amountText: string, opts: { fee?: string }): Promise<void> {
  decodeAddress(from)
  const toRaw = decodeAddress(to)
  const amount = parsePositiveAmount(amountText, 'amount')
  const feeGiven = opts.fee === undefined ? undefined : parseAmount(opts.fee)
  // the protocol's bound on one amount: refused here, before the node is asked or a passphrase typed
  for (const [what, units] of [['amount', amount], ['fee', feeGiven ?? 0n]] as const) {
    if (units > MAX_MONEY) fail('E_BAD_AMOUNT', `${what} exceeds the largest a transaction can carry (${formatAmount(MAX_MONEY)} ECO)`, { [what]: formatAmount(units) })
  }
  if (from === to) fail('E_SAME_ADDRESS', 'sender and recipient are the same address', { address: to })
  if (!await hasWallet(g.walletDir, from)) fail('E_WALLET_NOT_FOUND', 'no wallet for the sending address in the wallet directory', { address: from, dir: g.walletDir })
  // Ask the node first, so a stopped node is reported before the passphrase is typed.
  const api = client(g)
  const status = await api.get<StatusJson>('/v1/status')
  const genesis = await api.get<GenesisJson>('/v1/genesis')
  const account = await api.get<AccountJson>(`/v1/accounts/${from}`)
  const minFee = BigInt(genesis.minFee)
  const fee = feeGiven ?? minFee
  if (fee < minFee) fail('E_TX_FEE', `fee is below the network minimum of ${eco(minFee)}`, { fee: formatAmount(fee), minFee: formatAmount(minFee) })
  const genesisHash = fromHex(status.genesisHash, 32, 'genesis hash')
  const nonce = BigInt(account.pendingNonce)
  const passphrase = await getPassphrase(g, `Passphrase for ${from}: `, false)
  const wallet = await unlockWallet(g.walletDir, from, passphrase)
  const tx = signTransaction({ from: wallet.publicKey, to: toRaw, amount, fee, nonce }, wallet.signer, genesisHash)
  const localTxid = toHex(transactionId(tx))
  const { txid } = await api.post<{ txid: string }>('/v1/transactions', { tx: toHex(encodeTransaction(tx)) })
  if (txid !== localTxid) fail('E_TXID_MISMATCH', 'the node reported a different transaction id than the one signed', { local: localTxid, node: txid })
  emit(g, { txid, from, to, amount: formatAmount(amount), amountUnits: amount.toString(), fee: formatAmount(fee), feeUnits: fee.toString(), nonce: nonce.toString() }, [txid])
}

export function addWalletCommands (program: Command): void {
  addCommands(program, action, [
    {
      name: 'createwallet',
      description: 'create a wallet (passphrase from --passphrase-file, ECONUMI_PASSPHRASE or a prompt) and print its address',
      options: [['--import-node-key', 'instead of a new key, encrypt the node\'s own key (it receives block rewards by default) into a wallet, so they can be spent']],
      run: cmdCreateWallet
    },
    { name: 'listaddresses', description: 'list the addresses of the local wallets', options: [['--balances', 'also show each balance (asks the node)']], run: cmdListAddresses },
    { name: 'getbalance', description: 'the balance of an address; without one, the total of the local wallets', args: [['[address]', 'an econumi address']], run: cmdGetBalance },
    {
      name: 'send',
      description: 'send coins from a local wallet',
      args: [['<from>', 'sending address (a wallet in the wallet directory)'], ['<to>', 'receiving address'], ['<amount>', 'amount in ECO, at most 8 decimals (e.g. 1.5)']],
      options: [['--fee <eco>', 'fee in ECO (default: the network minimum)']],
      run: cmdSend
    }
  ])
}
