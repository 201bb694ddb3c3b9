// The plugin's memory: which containers are econumi agents (learned from their create calls), which
// ordinary containers have names that look like id prefixes (dockerd resolves an exact name before an id
// prefix, so `docker stop db` means the container named db, not an agent whose id starts with db), and
// which plugin ids are this plugin (learned from `GET /plugins` answers). Persisted atomically as JSON so a
// plugin restart keeps protecting running agents.
import { readFile, rename, writeFile } from 'node:fs/promises'

export interface AgentEntry {
  /** Full 64-hex container id. */
  id: string
  /** Container name without the leading '/', when the create call gave one. */
  name?: string
  /** ms since the epoch when the plugin learned it. */
  since: number
}

/** An ordinary (non-agent) container whose name is all lowercase hex, i.e. could also be read as an id prefix. */
export interface ContainerEntry {
  /** Full 64-hex container id. */
  id: string
  /** Name without the leading '/'. */
  name: string
  since: number
  /** Created with HostConfig.AutoRemove: dockerd removes it on exit without an API call the plugin sees,
   *  so its name may be free at any moment and never shields an id prefix. */
  autoRemove: boolean
}

/** What `decide()` may read. Implemented by `PluginState`; tests can pass plain objects. */
export interface StateView {
  /** Full id → entry. */
  readonly agents: ReadonlyMap<string, AgentEntry>
  /** Names (no leading '/') of known agents. */
  readonly agentNames: ReadonlySet<string>
  /** Full ids this plugin is known under. */
  readonly selfPluginIds: ReadonlySet<string>
  /** Name → entry of known ordinary containers with hex-looking names. */
  readonly containers: ReadonlyMap<string, ContainerEntry>
}

/** State changes `decide()` asks for; applied by the server, never inside the decision. */
export type StateUpdate =
  | { op: 'add-agent', id: string, name?: string, since: number }
  | { op: 'remove-agent', ref: string }
  | { op: 'self-plugin-id', id: string }
  | { op: 'add-container', id: string, name: string, since: number, autoRemove: boolean }
  /** A DELETE of `ref` succeeded: forget every ordinary entry it may have meant (name, id, any id prefix). */
  | { op: 'remove-container', ref: string }
  /** A prune succeeded: forget these ids; null (answer unreadable): forget every ordinary entry. */
  | { op: 'pruned', ids: string[] | null }
  /** A rename of `ref` to `to` succeeded. */
  | { op: 'renamed', ref: string, to: string }

interface PersistedState {
  version: 2
  agents: AgentEntry[]
  selfPluginIds: string[]
  containers: ContainerEntry[]
}

const FULL_ID = /^[0-9a-f]{64}$/
/** Names that dockerd could also read as an id prefix (ids are lowercase hex). */
export const HEX_NAME = /^[0-9a-f]+$/

/** Most agents remembered; the oldest are forgotten first (an agent exits with its workload). */
export const MAX_AGENTS = 4096
/** Most ordinary containers remembered; forgetting one only loses its name's exemption (fails closed). */
export const MAX_CONTAINERS = 4096

export class PluginState implements StateView {
  readonly agents = new Map<string, AgentEntry>()
  readonly agentNames = new Set<string>()
  readonly selfPluginIds = new Set<string>()
  readonly containers = new Map<string, ContainerEntry>()
  private readonly file: string | null
  private saving: Promise<void> | null = null
  private dirty = false

  constructor (file: string | null = null) {
    this.file = file
  }

  /** Loads the persisted registry; a missing or corrupt file gives an empty registry (and says so). */
  async load (): Promise<{ agents: number, error?: string }> {
    if (this.file === null) return { agents: 0 }
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { agents: 0 }
      return { agents: 0, error: (err as Error).message }
    }
    try {
      const data = JSON.parse(text) as Partial<PersistedState>
      for (const a of Array.isArray(data.agents) ? data.agents : []) {
        if (typeof a?.id === 'string' && /^[0-9a-f]{64}$/.test(a.id)) {
          this.addAgent(a.id, typeof a.name === 'string' ? a.name : undefined, typeof a.since === 'number' ? a.since : 0)
        }
      }
      for (const id of Array.isArray(data.selfPluginIds) ? data.selfPluginIds : []) {
        if (typeof id === 'string' && FULL_ID.test(id)) this.selfPluginIds.add(id)
      }
      for (const c of Array.isArray(data.containers) ? data.containers : []) {
        if (typeof c?.id === 'string' && FULL_ID.test(c.id) && typeof c.name === 'string' && HEX_NAME.test(c.name)) {
          this.addContainer(c.id, c.name, typeof c.since === 'number' ? c.since : 0, c.autoRemove !== false)
        }
      }
      return { agents: this.agents.size }
    } catch (err) {
      return { agents: 0, error: `corrupt state file: ${(err as Error).message}` }
    }
  }

  addAgent (id: string, name: string | undefined, since: number): void {
    const old = this.agents.get(id)
    if (old?.name !== undefined) this.agentNames.delete(old.name)
    this.agents.delete(id)
    const entry: AgentEntry = name === undefined ? { id, since } : { id, name, since }
    this.agents.set(id, entry)
    if (name !== undefined) this.agentNames.add(name)
    while (this.agents.size > MAX_AGENTS) {
      const oldest = this.agents.keys().next().value as string
      this.removeId(oldest)
    }
  }

  /** Removes the agent a reference (name, full id, or unique id prefix) points at; returns whether one was. */
  removeAgent (ref: string): boolean {
    const name = ref.startsWith('/') ? ref.slice(1) : ref
    for (const [id, entry] of this.agents) {
      if (entry.name === name || id === ref) return this.removeId(id)
    }
    let match: string | null = null
    for (const id of this.agents.keys()) {
      if (ref.length > 0 && id.startsWith(ref)) {
        if (match !== null) return false // ambiguous: docker refuses it too
        match = id
      }
    }
    return match === null ? false : this.removeId(match)
  }

  /** Records an ordinary container; only hex-looking names are kept (others never collide with an id prefix). */
  addContainer (id: string, name: string, since: number, autoRemove: boolean): boolean {
    let changed = this.forgetContainers((c) => c.id === id)
    if (!HEX_NAME.test(name)) return changed
    this.containers.delete(name) // a stale holder of the name (names are unique in dockerd)
    this.containers.set(name, { id, name, since, autoRemove })
    changed = true
    while (this.containers.size > MAX_CONTAINERS) this.containers.delete(this.containers.keys().next().value as string)
    return changed
  }

  /** Forgets every ordinary entry a reference may mean: its exact name, its full id, any id it prefixes. */
  removeContainer (ref: string): boolean {
    const name = ref.startsWith('/') ? ref.slice(1) : ref
    if (name === '') return false
    let changed = this.containers.delete(name)
    if (HEX_NAME.test(name)) changed = this.forgetContainers((c) => c.id.startsWith(name)) || changed
    return changed
  }

  private forgetContainers (match: (c: ContainerEntry) => boolean): boolean {
    let changed = false
    for (const [name, c] of this.containers) {
      if (match(c)) {
        this.containers.delete(name)
        changed = true
      }
    }
    return changed
  }

  /**
   * A rename succeeded. dockerd resolved `ref` as full id, else exact name, else id prefix among *all*
   * containers; the plugin only knows some, so it keeps a name only when it is sure which container was
   * renamed (full id or exact name it knows); otherwise it forgets what the ref may have meant.
   */
  rename (ref: string, to: string): boolean {
    const from = ref.startsWith('/') ? ref.slice(1) : ref
    const newName = to.startsWith('/') ? to.slice(1) : to
    let changed = false
    // agents (only the node renames them)
    const agent = this.agents.get(from) ?? [...this.agents.values()].find((a) => a.name === from)
    if (agent !== undefined) {
      this.addAgent(agent.id, newName, agent.since)
      return true
    }
    let known: ContainerEntry | undefined
    if (FULL_ID.test(from)) known = [...this.containers.values()].find((c) => c.id === from)
    if (known === undefined) known = this.containers.get(from)
    if (known === undefined) {
      changed = this.removeContainer(from)
      if (FULL_ID.test(from)) known = { id: from, name: from, since: 0, autoRemove: true }
    }
    if (this.containers.delete(newName)) changed = true
    if (known !== undefined) {
      this.containers.delete(known.name)
      changed = this.addContainer(known.id, newName, known.since, known.autoRemove) || changed
    }
    return changed
  }

  private removeId (id: string): boolean {
    const entry = this.agents.get(id)
    if (entry === undefined) return false
    this.agents.delete(id)
    if (entry.name !== undefined) this.agentNames.delete(entry.name)
    return true
  }

  /** Applies the updates of one decision; returns true when something persistent changed. */
  apply (updates: readonly StateUpdate[]): boolean {
    let changed = false
    for (const u of updates) {
      if (u.op === 'add-agent') {
        this.addAgent(u.id, u.name, u.since)
        changed = true
      } else if (u.op === 'remove-agent') {
        changed = this.removeAgent(u.ref) || changed
      } else if (u.op === 'add-container') {
        changed = this.addContainer(u.id, u.name, u.since, u.autoRemove) || changed
      } else if (u.op === 'remove-container') {
        changed = this.removeContainer(u.ref) || changed
      } else if (u.op === 'pruned') {
        if (u.ids === null) {
          changed = this.containers.size > 0 || changed
          this.containers.clear()
        } else {
          const gone = new Set(u.ids)
          changed = this.forgetContainers((c) => gone.has(c.id)) || changed
        }
      } else if (u.op === 'renamed') {
        changed = this.rename(u.ref, u.to) || changed
      } else if (!this.selfPluginIds.has(u.id)) {
        this.selfPluginIds.add(u.id)
        changed = true
      }
    }
    if (changed) this.scheduleSave()
    return changed
  }

  toJSON (): PersistedState {
    return { version: 2, agents: [...this.agents.values()], selfPluginIds: [...this.selfPluginIds], containers: [...this.containers.values()] }
  }

  /** Coalesced atomic save (write a temp file, then rename over the old one). Never throws. */
  scheduleSave (): void {
    if (this.file === null) return
    this.dirty = true
    if (this.saving !== null) return
    this.saving = this.saveLoop()
  }

  /** Resolves once every scheduled save has reached the disk (or failed). */
  async flush (): Promise<void> {
    while (this.saving !== null) await this.saving
  }

  private async saveLoop (): Promise<void> {
    const file = this.file as string
    // first let the caller write dockerd its answer: the save (JSON of up to 4096 entries) is not the decision
    await new Promise((resolve) => setImmediate(resolve))
    try {
      while (this.dirty) {
        this.dirty = false
        const tmp = `${file}.${process.pid}.tmp`
        try {
          await writeFile(tmp, JSON.stringify(this.toJSON()), { mode: 0o600 })
          await rename(tmp, file)
        } catch (err) {
          process.stderr.write(`econumi-plugin: cannot save ${file}: ${(err as Error).message} [E_PLUGIN_STATE_SAVE]\n`)
        }
      }
    } finally {
      this.saving = null
    }
  }
}
