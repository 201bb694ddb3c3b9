// The `econumi` program: global options, the command groups, and how failures are reported. Every command
// prints readable text, or one JSON object on stdout with --json; every failure is one line on stderr,
// `econumi: <message>[; <hint>] [<CODE>]`, and a non-zero exit status: 1 for a refused request (bad input, wrong
// passphrase, node not running, …), 2 for a usage error (unknown command or option, missing argument), 70 for
// an internal error (stack with ECONUMI_DEBUG=1). cli/entry.ts runs it; tests import it.
import { codeInfo } from '../protocol/error-codes.js'
import { packageVersion } from './version.js'
import { Command, CommanderError } from 'commander'
import { isEconumiError } from '../protocol/errors.js'
import { addAdmissionCommands } from './admission.js'
import { addChainCommands } from './chain-commands.js'
import { addNodeCommands } from './node-commands.js'
import { action, client, emit, jsonText } from './output.js'
import { getPassphrase } from './passphrase.js'
import { addWalletCommands } from './wallet-commands.js'

const EXIT_REFUSED = 1
const EXIT_USAGE = 2
const EXIT_INTERNAL = 70
const EXIT_CANCELLED = 130

export function buildProgram (): Command {
  const program = new Command('econumi')
  program
    .description('econumi: a blockchain whose proof of work is attested container work')
    .version(packageVersion() ?? 'unknown', '-V, --version', 'print the version')
    .option('--data-dir <dir>', 'node data directory (default: $ECONUMI_HOME/node, ECONUMI_HOME defaults to ~/.econumi)')
    .option('--wallet-dir <dir>', 'wallet directory (default: $ECONUMI_HOME/wallets)')
    .option('--api-url <url>', 'reach the node over TCP (http://host:port) instead of <data-dir>/api.sock')
    .option('--api-token <token>', 'bearer token for --api-url; visible to other users in `ps`: prefer $ECONUMI_API_TOKEN or --api-token-file')
    .option('--api-token-file <file>', 'read the bearer token for --api-url from this file (e.g. the node\'s <data-dir>/api.token)')
    .option('--passphrase-file <file>', 'read the wallet passphrase from the first line of this file (scripts; keep it mode 0600)')
    .option('--insecure-passphrase', 'allow a new wallet passphrase shorter than 8 characters (throwaway wallets)')
    .option('--json', 'machine-readable output: one JSON object on stdout')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true })
    // Settings inherited by every subcommand defined below: errors are thrown to run(), never printed by commander.
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .addHelpText('after', '\nEnvironment: ECONUMI_HOME, ECONUMI_PASSPHRASE, ECONUMI_API_TOKEN, ECONUMI_DEBUG=1 (stack traces)')

  addNodeCommands(program) // start, ps, console, stop, reindex, genesis, identity
  // register, unregister, withdraw, nodes, ca
  addAdmissionCommands(program, { action, client, emit, getPassphrase: async (g, prompt, isNew) => await getPassphrase(g, prompt, isNew) })
  addChainCommands(program) // status, getblockcount, getbestblockhash, getblockreward, getblock, printchain, gettransaction, getmempoolinfo, getpeerinfo
  addWalletCommands(program) // createwallet, listaddresses, getbalance, send
  return program
}

// ---- error reporting ----
const COMMANDER_CODES: Record<string, string> = {
  'commander.unknownCommand': 'E_UNKNOWN_COMMAND',
  'commander.unknownOption': 'E_UNKNOWN_OPTION',
  'commander.missingArgument': 'E_MISSING_ARGUMENT',
  'commander.optionMissingArgument': 'E_MISSING_ARGUMENT',
  'commander.missingMandatoryOptionValue': 'E_MISSING_ARGUMENT',
  'commander.excessArguments': 'E_TOO_MANY_ARGUMENTS',
  'commander.invalidArgument': 'E_BAD_ARGUMENT',
  'commander.conflictingOption': 'E_CONFLICTING_OPTIONS'
}

function oneLine (text: string): string {
  return text.replace(/^error:\s*/, '').split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ')
}

function reportError (json: boolean, code: string, message: string): void {
  const { hint } = codeInfo(code) // what to do, from the one table of codes (protocol/error-codes.ts)
  const h = hint === undefined || message.includes(hint) ? undefined : hint
  process.stderr.write(json ? jsonText({ error: { code, message, ...(h === undefined ? {} : { hint: h }) } }) + '\n' : `econumi: ${message}${h === undefined ? '' : `; ${h}`} [${code}]\n`)
}

/** Run the CLI; returns the exit status. */
export async function run (argv: string[]): Promise<number> {
  const args = argv.slice(2)
  const dashDash = args.indexOf('--')
  const json = (dashDash === -1 ? args : args.slice(0, dashDash)).includes('--json')
  try {
    await buildProgram().parseAsync(argv)
    return 0
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0
      if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : EXIT_USAGE // `econumi` with no command: help on stderr
      reportError(json, COMMANDER_CODES[err.code] ?? 'E_USAGE', oneLine(err.message))
      return EXIT_USAGE
    }
    if (isEconumiError(err)) {
      reportError(json, err.code, oneLine(err.message))
      return err.code === 'E_CANCELLED' ? EXIT_CANCELLED : EXIT_REFUSED
    }
    const e = err as NodeJS.ErrnoException
    if (e?.code === 'ERR_MODULE_NOT_FOUND') {
      reportError(json, 'E_NOT_BUILT', `a part of econumi is missing (${oneLine(String(e.message)).slice(0, 200)}); run \`npm run build\``)
      return EXIT_INTERNAL
    }
    reportError(json, 'E_INTERNAL', `internal error: ${oneLine(String(e?.message ?? err))}${process.env.ECONUMI_DEBUG === '1' ? '' : ' (set ECONUMI_DEBUG=1 for details)'}`)
    if (process.env.ECONUMI_DEBUG === '1') process.stderr.write(`${e?.stack ?? String(err)}\n`)
    return EXIT_INTERNAL
  }
}

