// The Docker engine as the CLI reaches it: the socket, the client, and engine errors in the user's terms
// (no engine, or no permission on its socket). Shared by start, stop, ps and the console.
import Docker from 'dockerode'
import { EconumiError } from '../protocol/errors.js'

export const DOCKER_SOCKET = process.env.ECONUMI_DOCKER_SOCKET ?? '/var/run/docker.sock'
/** The node container's name; overridable for tests running next to a real installation. */
export function nodeContainerName (): string { return process.env.ECONUMI_NODE_CONTAINER ?? 'econumi-node' }

export function dockerClient (): Docker { return new Docker({ socketPath: DOCKER_SOCKET }) }

const NO_ENGINE = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE'])

/** Turns "engine unreachable" errors into E_NO_DOCKER (EACCES: E_DOCKER_PERMISSION); others pass through. */
export function dockerError (err: unknown, hint = 'or run the node without Docker: `econumi start --foreground`'): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'EACCES') {
    // the engine is there; this user may not talk to it
    return new EconumiError('E_DOCKER_PERMISSION', `permission denied on ${DOCKER_SOCKET}: join the docker group (sudo usermod -aG docker $USER, then log in again) or run as root, ${hint}`, { socket: DOCKER_SOCKET })
  }
  if (typeof code === 'string' && NO_ENGINE.has(code)) {
    return new EconumiError('E_NO_DOCKER', `no Docker engine answers at ${DOCKER_SOCKET} (${code}); start dockerd (scripts/docker-up.sh), ${hint}`, { socket: DOCKER_SOCKET })
  }
  return err
}

/** Pings the engine: E_NO_DOCKER when it does not answer. */
export async function requireEngine (docker: Docker, hint?: string): Promise<void> {
  try { await docker.ping() } catch (err) { throw dockerError(err, hint) }
}

export function statusCode (err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | undefined)?.statusCode
  return typeof s === 'number' ? s : undefined
}
