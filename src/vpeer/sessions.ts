import type { Command } from '../paxos/types.js'

/** What a command's application produced, remembered per client session. */
export type Outcome<R> =
  | { readonly ok: true, readonly result: R }
  | { readonly ok: false, readonly code: string, readonly message: string }

interface Session<R> {
  maxSeq: number
  /** Insertion order is ascending seq in practice, which makes eviction from the front cheap. */
  readonly results: Map<number, Outcome<R>>
}

/**
 * The replicated client-session table: it makes a retried command (same client and seq) take
 * effect once, and answers the retry with the remembered outcome, whichever leader or replica
 * it reaches.
 *
 * Each session remembers the outcomes of its last `window` sequence numbers. A client keeps at
 * most `window` commands outstanding, so any seq a client can still retry is inside the window:
 * a seq inside the window with no remembered outcome has never run. Older seqs are answered with
 * `expired`. Every replica evicts identically, so the table is part of the replicated state.
 */
export class SessionTable<R> {
  private readonly sessions = new Map<string, Session<R>>()
  readonly window: number

  constructor (window: number) {
    this.window = window
  }

  /** Returns the remembered outcome, 'expired', or undefined if the command must run now. */
  lookup (command: Command): Outcome<R> | 'expired' | undefined {
    const s = this.sessions.get(command.client)
    if (s === undefined) return undefined
    const known = s.results.get(command.seq)
    if (known !== undefined) return known
    if (command.seq <= s.maxSeq - this.window) return 'expired'
    return undefined
  }

  record (command: Command, outcome: Outcome<R>): void {
    let s = this.sessions.get(command.client)
    if (s === undefined) {
      s = { maxSeq: 0, results: new Map() }
      this.sessions.set(command.client, s)
    }
    s.results.set(command.seq, outcome)
    if (command.seq > s.maxSeq) s.maxSeq = command.seq
    const floor = s.maxSeq - this.window
    for (const seq of s.results.keys()) {
      if (seq > floor) break
      s.results.delete(seq)
    }
  }

  get size (): number {
    return this.sessions.size
  }

  /**
   * Replaces the whole table with `entries` (the output of `toJSON`, e.g. from a snapshot). The
   * caller validated their shape (snapshots.ts does, before anything is installed).
   */
  restore (entries: ReadonlyArray<readonly [string, number, ReadonlyArray<readonly [number, Outcome<R>]>]>): void {
    this.sessions.clear()
    for (const [client, maxSeq, results] of entries) this.sessions.set(client, { maxSeq, results: new Map(results) })
  }

  /** Plain data for snapshots (issue 3) and replica comparison. */
  toJSON (): Array<[string, number, Array<[number, Outcome<R>]>]> {
    return [...this.sessions].map(([client, s]) => [client, s.maxSeq, [...s.results]])
  }
}
