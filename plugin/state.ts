// The plugin's memory: which containers are econumi agents (learned from their create calls) and which
// plugin ids are this plugin (learned from `GET /plugins` answers). Persisted atomically as JSON so a
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

/** What `decide()` may read. Implemented by `PluginState`; tests can pass plain objects. */
export interface StateView {
  /** Full id → entry. */
  readonly agents: ReadonlyMap<string, AgentEntry>
  /** Names (no leading '/') of known agents. */
  readonly agentNames: ReadonlySet<string>
  /** Full ids this plugin is known under. */
  readonly selfPluginIds: ReadonlySet<string>
}

/** State changes `decide()` asks for; applied by the server, never inside the decision. */
export type StateUpdate =
  | { op: 'add-agent', id: string, name?: string, since: number }
  | { op: 'remove-agent', ref: string }
  | { op: 'self-plugin-id', id: string }

interface PersistedState {
  version: 1
  agents: AgentEntry[]
  selfPluginIds: string[]
}

/** Most agents remembered; the oldest are forgotten first (an agent exits with its workload). */
export const MAX_AGENTS = 4096

export class PluginState implements StateView {
  readonly agents = new Map<string, AgentEntry>()
  readonly agentNames = new Set<string>()
  readonly selfPluginIds = new Set<string>()
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
        if (typeof id === 'string' && /^[0-9a-f]{64}$/.test(id)) this.selfPluginIds.add(id)
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
      } else if (!this.selfPluginIds.has(u.id)) {
        this.selfPluginIds.add(u.id)
        changed = true
      }
    }
    if (changed) this.scheduleSave()
    return changed
  }

  toJSON (): PersistedState {
    return { version: 1, agents: [...this.agents.values()], selfPluginIds: [...this.selfPluginIds] }
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
