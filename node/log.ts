export type LogFn = (event: string, fields?: Record<string, unknown>) => void
