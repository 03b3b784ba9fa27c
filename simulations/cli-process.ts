/**
 * A long-running `vpeer …` child process, as the process harnesses run it (ProcessCluster's
 * `vpeer node`, ReplicaHosts' `vpeer start`): the TypeScript sources through tsx (`node --import
 * tsx src/cli/vpeer.ts`, so a test exercises the code under test, not a stale build), its JSON
 * log lines (pino, stdout) parsed into a record that outlives the incarnation, and a start that
 * resolves on the child's own "started" log line, not on a guess.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The CLI's entry point, run through tsx. */
export const CLI = fileURLToPath(new URL('../src/cli/vpeer.ts', import.meta.url))

export interface LogLine {
  readonly level: number
  readonly msg: string
  readonly [field: string]: unknown
}

/** What is kept of a node across its incarnations (restarts append to it). */
export interface ProcessRecord {
  /** The running incarnation; `undefined` once it exited. */
  child: ChildProcess | undefined
  /** Every JSON log line of every incarnation, in order. */
  readonly logs: LogLine[]
  /** stderr (and non-JSON stdout) of every incarnation: crash reports. */
  stderr: string
  /** If present, the exit code or signal of every incarnation that ended, in order. */
  readonly exits?: Array<number | string>
}

export interface StartOptions {
  /** Names the node in errors. */
  readonly name: string
  /** The `msg` of the log line that says the node is up. */
  readonly startedMsg: string
  /** Default 30 s. */
  readonly timeoutMs?: number
}

/**
 * Spawns `vpeer ...args` as the new incarnation of `record` and resolves once it logged
 * `startedMsg`. If it exits first or does not start in time, it is killed and this rejects with
 * the tail of its stderr.
 */
export async function startCliProcess (record: ProcessRecord, args: readonly string[], options: StartOptions): Promise<ChildProcess> {
  const { name, startedMsg } = options
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  record.child = child
  let buffered = ''
  let started: (() => void) | undefined
  const ready = new Promise<void>((resolve, reject) => {
    started = resolve
    child.once('exit', (code, signal) => { reject(new Error(`${name} exited (${code ?? signal}) before it started: ${record.stderr.slice(-2000)}`)) })
  })
  // The rejection is observed below; this keeps a late exit after a timeout from going unhandled.
  ready.catch(() => {})
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (text: string) => {
    buffered += text
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      try {
        const parsed = JSON.parse(line) as LogLine
        record.logs.push(parsed)
        if (parsed.msg === startedMsg) started?.()
      } catch {
        record.stderr += `[stdout] ${line}\n`
      }
    }
  })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (text: string) => { record.stderr += text })
  child.once('exit', (code, signal) => {
    record.exits?.push(code ?? signal ?? 'unknown')
    if (record.child === child) record.child = undefined
  })
  const timeout = options.timeoutMs ?? 30_000
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await Promise.race([ready, new Promise((_, reject) => { timer = setTimeout(() => { reject(new Error(`${name} did not start within ${timeout} ms: ${record.stderr.slice(-2000)}`)) }, timeout) })])
  } catch (error) {
    await signalAndWait(child, 'SIGKILL')
    throw error
  } finally {
    clearTimeout(timer)
  }
  return child
}

/** Sends `signal` to `child` by its PID and waits until it has exited (nothing if it had). */
export async function signalAndWait (child: ChildProcess, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  // Not after the exit: the PID may belong to another process by now.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  try {
    process.kill(child.pid, signal)
  } catch (error) {
    // Gone already, its exit not yet seen: `exited` resolves when it is.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
  await exited
}
