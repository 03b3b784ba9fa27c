/**
 * Memory of the replicated client-session table (src/vpeer/sessions.ts) with many short-lived
 * clients: 100,000 distinct clients, one command each, one command every `--gap-ms` of log
 * time, for several session TTLs. Reports how many sessions and tombstones stay, the heap they
 * take (bytes per remembered session and per tombstone, measured with forced GCs), the bytes a
 * session takes in a snapshot, and the table's throughput.
 *
 *   npm run bench:sessions                     a table
 *   npm run bench:sessions -- --json           JSON (with the machine it ran on)
 *   npm run bench:sessions -- --clients 1000000 --gap-ms 1
 */
import { parseArgs } from 'node:util'
import type { Command } from '../src/paxos/types.js'
import { SessionTable } from '../src/vpeer/sessions.js'
import type { Outcome } from '../src/vpeer/sessions.js'
import { machineInfo } from './machine.js'

const USAGE = `usage: npm run bench:sessions -- [--clients N] [--gap-ms MS] [--json]
  --clients N    distinct clients, one command each (default 100000)
  --gap-ms MS    log time between two commands (default 10)
  --json         print JSON instead of a table`

interface Row {
  ttlMs: number
  clients: number
  sessions: number
  tombstones: number
  heapBytes: number
  /** Heap per entry kept (a remembered session or a tombstone). */
  bytesPerEntry: number
  snapshotBytesPerSession: number
  commandsPerSec: number
}

const gc = (globalThis as { gc?: () => void }).gc

function heapUsed (): number {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}

/** A realistic client id (a peer id and a random suffix, like VirtualPeer's own) and a small result. */
function command (i: number): Command {
  return { client: `12D3KooWClient${i.toString(36).padStart(8, '0')}#${(i * 2654435761 % 2 ** 32).toString(36)}`, seq: 1, data: new Uint8Array() }
}
const OUTCOME: Outcome<{ ok: boolean }> = { ok: true, result: { ok: true } }

function run (ttlMs: number, clients: number, gapMs: number): Row {
  const before = heapUsed()
  const table = new SessionTable<{ ok: boolean }>(1024, ttlMs)
  const started = performance.now()
  for (let i = 0; i < clients; i++) {
    table.advance(i * gapMs)
    const c = command(i)
    if (table.lookup(c) === undefined) table.record(c, OUTCOME)
  }
  const elapsed = performance.now() - started
  const heapBytes = Math.max(0, heapUsed() - before)
  const json = JSON.stringify(table.toJSON())
  const row: Row = {
    ttlMs,
    clients,
    sessions: table.size,
    tombstones: table.forgotten,
    heapBytes,
    bytesPerEntry: Math.round(heapBytes / Math.max(1, table.size + table.forgotten)),
    snapshotBytesPerSession: Math.round(json.length / Math.max(1, table.size)),
    commandsPerSec: Math.round(clients / (elapsed / 1000))
  }
  // Keep the table alive until it was measured.
  if (table.size < 0) console.log(table)
  return row
}

function main (): void {
  let values: { clients?: string, 'gap-ms'?: string, json?: boolean, help?: boolean }
  try {
    values = parseArgs({ options: { clients: { type: 'string' }, 'gap-ms': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }).values
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`)
    process.exitCode = 2
    return
  }
  if (values.help === true) { console.log(USAGE); return }
  const clients = Number(values.clients ?? 100_000)
  const gapMs = Number(values['gap-ms'] ?? 10)
  if (!Number.isSafeInteger(clients) || clients <= 0 || !(gapMs > 0)) { console.error(USAGE); process.exitCode = 2; return }
  if (gc === undefined) console.error('note: run with node --expose-gc (npm run bench:sessions does) for exact heap figures')
  const rows = [60_000, 600_000, 3_600_000, Number.POSITIVE_INFINITY].map(ttl => run(ttl, clients, gapMs))
  if (values.json === true) {
    console.log(JSON.stringify({ machine: machineInfo(), clients, gapMs, rows: rows.map(r => ({ ...r, ttlMs: Number.isFinite(r.ttlMs) ? r.ttlMs : null })) }, null, 2))
    return
  }
  console.log(`${clients.toLocaleString('en-US')} distinct clients, one command each, one every ${gapMs} ms of log time (${(clients * gapMs / 1000).toLocaleString('en-US')} s)`)
  console.log('| session TTL | sessions kept | tombstones | heap | heap bytes per entry | snapshot bytes per session | commands/s |')
  console.log('|---|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    const ttl = Number.isFinite(r.ttlMs) ? `${r.ttlMs / 1000} s` : 'never'
    console.log(`| ${ttl} | ${r.sessions.toLocaleString('en-US')} | ${r.tombstones.toLocaleString('en-US')} | ${(r.heapBytes / 2 ** 20).toFixed(1)} MiB | ${r.bytesPerEntry} | ${r.snapshotBytesPerSession} | ${r.commandsPerSec.toLocaleString('en-US')} |`)
  }
  console.log('an entry is a remembered session (its client id, seq and last outcome) or a tombstone (client id and time)')
}

main()
