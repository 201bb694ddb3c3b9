// The `econumi` executable's entry (bin/econumi.js loads it): run the program, exit with its status.
import { run } from './main.js'

// A closed pipe (`econumi printchain | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); throw err })

const status = await run(process.argv)
if (status !== 0) process.exit(status)
process.exitCode = 0
