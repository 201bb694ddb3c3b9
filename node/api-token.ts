// The API token file's format, shared by the node that writes it and the CLI that reads it (no imports: the CLI
// loads this on every command).
/** A token file's token: the bare text (an older node wrote it as a JSON string; that is read too). */
export function tokenFromText (text: string): string {
  const t = text.trim()
  if (t.startsWith('"')) { try { const j: unknown = JSON.parse(t); if (typeof j === 'string') return j } catch {} }
  return t
}
