/**
 * Persist throughput of LevelStorage: one `persist` = one synced LevelDB batch, so this measures
 * how fast an acceptor can make its votes durable at a given batch size.
 *
 *   npx tsx bench/storage.ts            JSON on stdout
 *   BENCH_MS=3000 npx tsx bench/storage.ts
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LogEntry, Slot } from '../src/paxos/types.js'
import { LevelStorage } from '../src/storage/index.js'

const USAGE = `usage: npm run bench:storage [-- --help]

LevelDB persist throughput of LevelStorage by batch size (1, 16, 64 entries) and payload (64 B,
4 KiB): one persist = one synced LevelDB batch. JSON on stdout. BENCH_MS sets the time per case
(default 1500 ms).`

const args = process.argv.slice(2)
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(USAGE + '\n')
  process.exit(0)
}
if (args.length > 0) {
  process.stderr.write(`unknown arguments: ${args.join(' ')}\n${USAGE}\n`)
  process.exit(2)
}

const durationMs = Number(process.env['BENCH_MS'] ?? 1500)
const batchSizes = [1, 16, 64]
const payloadBytes = [64, 4096]

interface Result {
  payloadBytes: number
  entriesPerBatch: number
  persists: number
  persistsPerSec: number
  entriesPerSec: number
  payloadMBPerSec: number
  latencyMsP50: number
  latencyMsP99: number
}

function entryOf (slot: Slot, data: Uint8Array): LogEntry {
  return { ballot: { round: 1, node: 'bench-node' }, value: { id: `1.bench-node.${slot}`, commands: [{ client: 'bench-client', seq: slot, data }] } }
}

function quantile (sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

async function measure (payload: number, entriesPerBatch: number): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'vpeer-'))
  try {
    const storage = await LevelStorage.open(dir)
    try {
      const data = new Uint8Array(payload).map((_, i) => (i * 7) & 0xff)
      let slot = 0
      const latencies: number[] = []
      const start = performance.now()
      while (performance.now() - start < durationMs) {
        const entries: Array<[Slot, LogEntry]> = []
        for (let i = 0; i < entriesPerBatch; i++) entries.push([++slot, entryOf(slot, data)])
        const t0 = performance.now()
        await storage.persist({ commitIndex: slot - entriesPerBatch, entries })
        latencies.push(performance.now() - t0)
      }
      const seconds = (performance.now() - start) / 1000
      latencies.sort((a, b) => a - b)
      const round = (x: number, digits = 3): number => Number(x.toFixed(digits))
      return {
        payloadBytes: payload,
        entriesPerBatch,
        persists: latencies.length,
        persistsPerSec: round(latencies.length / seconds, 0),
        entriesPerSec: round(slot / seconds, 0),
        payloadMBPerSec: round((slot * payload) / seconds / 1e6, 2),
        latencyMsP50: round(quantile(latencies, 0.5)),
        latencyMsP99: round(quantile(latencies, 0.99))
      }
    } finally {
      await storage.close()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const results: Result[] = []
for (const payload of payloadBytes) {
  for (const size of batchSizes) results.push(await measure(payload, size))
}
process.stdout.write(`${JSON.stringify({ bench: 'storage.level.persist', node: process.version, durationMs, results }, null, 2)}\n`)
