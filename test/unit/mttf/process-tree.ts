import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/**
 * Child processes for tests that start CLIs which fork workers: each CLI runs in a process
 * group of its own (`detached`), and what a test started is killed as a whole — the CLI and
 * every worker — on timeout, on failure and after each test (`killAllTrees`). Killing only the
 * CLI (what `spawnSync`'s timeout does) would orphan its workers.
 */
const live = new Set<ChildProcess>()

export interface TreeResult {
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly timedOut: boolean
}

export interface TreeOptions {
  readonly cwd: string
  readonly env?: NodeJS.ProcessEnv
  readonly timeoutMs: number
}

/** Starts `node --import tsx script …args` as the leader of a new process group. */
export function startTree (script: string, args: readonly string[], options: Omit<TreeOptions, 'timeoutMs'>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe']
  })
  live.add(child)
  child.once('exit', () => { live.delete(child) })
  return child
}

/** SIGKILL to the whole process group of `child` (it leads it): the CLI and its workers. */
export function killTree (child: ChildProcess): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

/** Kills every tree a test started and has not seen finish (for afterEach). */
export function killAllTrees (): void {
  for (const child of live) killTree(child)
  live.clear()
}

/** Runs a CLI to its end; past `timeoutMs` its whole tree is killed. Leftovers are killed in any case. */
export async function runTree (script: string, args: readonly string[], options: TreeOptions): Promise<TreeResult> {
  const child = startTree(script, args, options)
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; killTree(child) }, options.timeoutMs)
  try {
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', (code, sig) => { resolve([code, sig]) })
    })
    // Output still in the pipes (the workers share them, so do not wait for them to close).
    await new Promise(resolve => setImmediate(resolve))
    return { status, signal, stdout, stderr, timedOut }
  } finally {
    clearTimeout(timer)
    killTree(child)
  }
}

/**
 * Live (non-zombie) processes in process group `pgid`, from /proc (Linux). Orphans keep their
 * group, so this finds workers whose parent is gone too.
 */
export function processGroup (pgid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try { stat = readFileSync(`/proc/${name}/stat`, 'utf8') } catch { continue }
    // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] !== 'Z' && Number(fields[2]) === pgid) out.push(Number(name))
  }
  return out
}

/** CPU seconds (user + system) process `pid` has used so far, from /proc (Linux; 100 ticks a second); 0 once it is gone. */
export function cpuSeconds (pid: number): number {
  let stat: string
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return 0 }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Polls `cond` every 100 ms until it holds or `ms` pass. */
export async function waitFor (cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) return false
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return true
}
