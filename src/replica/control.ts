/**
 * The control socket of a running replication node: how `vpeer status`, `invite`, `conflicts` and
 * `revoke` talk to the `vpeer start` process of the same folder. A Unix socket in the folder's
 * `.vpeer/` (mode 0700, the socket 0600): whoever may read the folder's identity key may
 * control its node, nobody else. One JSON request per line, one JSON response per line.
 *
 * Unix socket paths are limited to ~107 bytes; a folder deep enough to pass that gets its socket
 * in the temporary directory, named by a hash of the folder (both sides compute the same name).
 */
import { createHash } from 'node:crypto'
import { chmod, rm } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SyncError } from '../sync/errors.js'
import { AbortError, CodedError } from '../util/errors.js'
import type { CodedErrorOptions } from '../util/errors.js'

/** Longest request or response line. */
export const CONTROL_LINE_BYTES_MAX = 4 * 1024 * 1024
const SOCKET_PATH_BYTES_MAX = 100

export class ControlError extends SyncError {
  static override name = 'ControlError'
  constructor (message: string, code = 'ERR_CONTROL', options?: CodedErrorOptions) {
    super(message, code, options)
  }
}

/** No node is running for this folder (nothing listens on its control socket). */
export class NodeNotRunningError extends ControlError {
  static override name = 'NodeNotRunningError'
  constructor (folder: string, options?: CodedErrorOptions) {
    super(`no vpeer node is running for ${folder} (start it with: vpeer start ${folder})`, 'ERR_NODE_NOT_RUNNING', options)
  }
}

export function controlSocketPath (stateDir: string): string {
  const local = join(stateDir, 'control.sock')
  if (Buffer.byteLength(local) <= SOCKET_PATH_BYTES_MAX) return local
  return join(tmpdir(), `vpeer-${createHash('sha256').update(stateDir).digest('hex').slice(0, 20)}.sock`)
}

export type ControlHandler = (args: Record<string, unknown>) => Promise<unknown>

/** Serves `handlers` on the folder's control socket until `close`. */
export class ControlServer {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()

  constructor (private readonly path: string, private readonly handlers: Readonly<Record<string, ControlHandler>>) {}

  async start (): Promise<void> {
    // A socket file left by a node that crashed would make listen fail with EADDRINUSE.
    await rm(this.path, { force: true })
    const server = createServer(socket => { this.serve(socket) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.path, () => { server.off('error', reject); resolve() })
    })
    await chmod(this.path, 0o600)
    this.server = server
  }

  private serve (socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    let buffered = ''
    socket.setEncoding('utf8')
    socket.on('data', (text: string) => {
      buffered += text
      if (buffered.length > CONTROL_LINE_BYTES_MAX) {
        socket.destroy()
        return
      }
      let newline
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        void this.answer(line).then(reply => { if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n') })
      }
    })
  }

  private async answer (line: string): Promise<unknown> {
    let request: { id?: unknown, op?: unknown, args?: unknown }
    try {
      request = JSON.parse(line) as typeof request
    } catch {
      return { id: null, ok: false, error: { code: 'ERR_CONTROL', message: 'not JSON' } }
    }
    const id = typeof request.id === 'number' ? request.id : null
    const handler = typeof request.op === 'string' && Object.hasOwn(this.handlers, request.op) ? this.handlers[request.op] : undefined
    if (handler === undefined) return { id, ok: false, error: { code: 'ERR_CONTROL', message: `unknown operation ${JSON.stringify(String(request.op)).slice(0, 80)}` } }
    const args = typeof request.args === 'object' && request.args !== null && !Array.isArray(request.args) ? request.args as Record<string, unknown> : {}
    try {
      return { id, ok: true, result: await handler(args) }
    } catch (error) {
      const e = error as { code?: unknown, message?: unknown }
      return { id, ok: false, error: { code: typeof e.code === 'string' ? e.code : 'ERR_CONTROL', message: typeof e.message === 'string' ? e.message : String(error) } }
    }
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    const server = this.server
    this.server = undefined
    if (server !== undefined) await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    await rm(this.path, { force: true })
  }
}

/**
 * Sends one request to the node of the folder whose control socket is `path`; resolves with its
 * result, or rejects with the node's error (its code kept) or `NodeNotRunningError`.
 */
export async function controlRequest (path: string, folder: string, op: string, args: Record<string, unknown> = {}, options: { signal?: AbortSignal } = {}): Promise<unknown> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection(path)
    let buffered = ''
    let settled = false
    const finish = (fn: () => void): void => {
      if (settled) return
      settled = true
      options.signal?.removeEventListener('abort', onAbort)
      socket.destroy()
      fn()
    }
    const onAbort = (): void => { finish(() => { reject(new AbortError('control request aborted', { cause: options.signal?.reason })) }) }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    socket.setEncoding('utf8')
    socket.on('connect', () => { socket.write(JSON.stringify({ id: 1, op, args }) + '\n') })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      finish(() => { reject(error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? new NodeNotRunningError(folder, { cause: error }) : new ControlError(error.message, 'ERR_CONTROL', { cause: error })) })
    })
    socket.on('data', (text: string) => {
      buffered += text
      if (buffered.length > CONTROL_LINE_BYTES_MAX) {
        finish(() => { reject(new ControlError('the node answered with an oversized line')) })
        return
      }
      const newline = buffered.indexOf('\n')
      if (newline < 0) return
      finish(() => {
        try {
          const reply = JSON.parse(buffered.slice(0, newline)) as { ok?: unknown, result?: unknown, error?: { code?: unknown, message?: unknown } }
          if (reply.ok === true) resolve(reply.result)
          else reject(new CodedError(String(reply.error?.message ?? 'failed'), String(reply.error?.code ?? 'ERR_CONTROL')))
        } catch (error) {
          reject(new ControlError('the node answered with something that is not JSON', 'ERR_CONTROL', { cause: error }))
        }
      })
    })
    socket.on('end', () => { finish(() => { reject(new ControlError('the node closed the control connection without answering')) }) })
  })
}
