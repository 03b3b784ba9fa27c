/**
 * The structured logger the network layer writes to: fields first, then a message (pino's
 * signature, so a pino logger is one; `vpeer node` uses pino and writes JSON lines).
 */
export interface NetLogger {
  debug (fields: Record<string, unknown>, message: string): void
  info (fields: Record<string, unknown>, message: string): void
  warn (fields: Record<string, unknown>, message: string): void
  error (fields: Record<string, unknown>, message: string): void
}

const ignore = (): void => {}

/** Discards everything (the default: a library logs only when asked). */
export const silentLogger: NetLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore }

/** An error as log fields: code, message and name, never a stack (the reason must be readable). */
export function errorFields (error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return { err: { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) } }
  }
  return { err: { message: String(error) } }
}
