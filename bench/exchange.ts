/**
 * Block exchange, one origin and several receivers in one process on 127.0.0.1 (libp2p tcp +
 * noise + yamux, in-memory chunk stores):
 *
 *   npm run bench:exchange                     JSON on stdout, progress on stderr
 *   npm run bench:exchange -- --quick          small sizes (a smoke run); chunks are 16 KiB (FastCDC's average) unless --chunk-kib
 *   npm run bench:exchange -- --mb 64 --shaped-mb 4 --receivers 5 --chunk-kib 16 --per-peer 32 --per-peer-kib 256
 *   (--per-peer, --per-peer-kib: the exchange's perPeerMax and perPeerBytesMax; default: its defaults)
 *   --raw-mb N: first, one plain libp2p stream pushing N MiB (the ceiling); 0 skips it
 *
 * Phases:
 *   - unshaped: the origin holds `--mb` MiB of random chunks; every receiver fetches all of it
 *     from everyone at once. Wall time, and the origin's upload (bytes on the wire) over the data
 *     set: 1.0 would be a perfect swarm, `receivers` what every receiver pulling from the origin
 *     would cost.
 *   - shaped: the same with `--shaped-mb` MiB and every host behind a LinkShaper at 3 Mbit/s each
 *     way and 10 ms one-way delay (the paper's setting). The physical limit: each receiver must
 *     download the whole data set through its 3 Mbit/s, so no schedule beats data × 8 / 3e6 s.
 */
import '../src/util/polyfills.js'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { generateIdentity } from '../src/alm/identity.js'
import { createVpeerNode } from '../src/alm/node-factory.js'
import type { VpeerLibp2p } from '../src/alm/node-factory.js'
import { BlockExchange } from '../src/replica/exchange.js'
import type { BlockExchangeLimits } from '../src/replica/exchange.js'
import { chunkIdOf } from '../src/sync/chunk.js'
import type { ChunkId, ChunkRef, ChunkStore } from '../src/sync/chunk.js'
import { CorruptChunkError, MissingChunkError } from '../src/sync/errors.js'

class MapStore implements ChunkStore {
  readonly map = new Map<ChunkId, Uint8Array>()
  async has (id: ChunkId): Promise<boolean> { return this.map.has(id) }
  async get (id: ChunkId): Promise<Uint8Array> {
    const b = this.map.get(id)
    if (b === undefined) throw new MissingChunkError(id)
    return b
  }

  async put (id: ChunkId, bytes: Uint8Array): Promise<void> {
    if (chunkIdOf(bytes) !== id) throw new CorruptChunkError(`bytes do not hash to ${id}`)
    this.map.set(id, bytes)
  }

  async delete (id: ChunkId): Promise<void> { this.map.delete(id) }
  async * ids (): AsyncIterable<ChunkId> { yield * this.map.keys() }
}

interface PhaseResult {
  readonly phase: string
  readonly receivers: number
  readonly dataMiB: number
  readonly chunkKiB: number
  readonly limits: BlockExchangeLimits
  readonly wallSeconds: number
  /** CPU time of this process over the phase (all nodes share it): steadier than wall time on a busy machine. */
  readonly cpuSeconds: number
  /** Origin's bytes on the wire / data set. */
  readonly originUploadRatio: number
  /** Bytes all receivers sent each other / data set. */
  readonly peerUploadRatio: number
  readonly shaper?: { readonly bitsPerSecond: number, readonly delayMs: number, readonly physicalLimitSeconds: number, readonly timeOverLimit: number }
}

async function phase (name: string, receivers: number, dataMiB: number, chunkKiB: number, limits: BlockExchangeLimits, shaper?: { bitsPerSecond: number, delayMs: number }): Promise<PhaseResult> {
  const nodes: VpeerLibp2p[] = []
  const exchanges: BlockExchange[] = []
  try {
    const hosts: Array<{ id: string, node: VpeerLibp2p, store: MapStore, ex: BlockExchange }> = []
    for (let i = 0; i <= receivers; i++) {
      const identity = await generateIdentity()
      const node = await createVpeerNode({ privateKey: identity.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
      const store = new MapStore()
      const ex = new BlockExchange({ node, store, isAllowed: () => true, limits, ...(shaper === undefined ? {} : { shaper }) })
      await ex.start()
      nodes.push(node)
      exchanges.push(ex)
      hosts.push({ id: identity.id, node, store, ex })
    }
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        await nodes[i]!.peerStore.merge(nodes[j]!.peerId, { multiaddrs: nodes[j]!.getMultiaddrs() })
        await nodes[j]!.peerStore.merge(nodes[i]!.peerId, { multiaddrs: nodes[i]!.getMultiaddrs() })
        await nodes[i]!.dial(nodes[j]!.peerId)
      }
    }
    const origin = hosts[0]!
    const chunkBytes = chunkKiB * 1024
    const count = Math.ceil(dataMiB * 1024 * 1024 / chunkBytes)
    const refs: ChunkRef[] = []
    for (let i = 0; i < count; i++) {
      const bytes = new Uint8Array(randomBytes(chunkBytes))
      const id = chunkIdOf(bytes)
      await origin.store.put(id, bytes)
      refs.push({ id, size: chunkBytes })
    }
    const dataBytes = count * chunkBytes
    const everyone = hosts.map(h => h.id)
    const started = performance.now()
    const cpuStart = process.cpuUsage()
    const tracer = process.env.BENCH_TRACE === undefined ? undefined : setInterval(() => {
      process.stderr.write(`${((performance.now() - started) / 1000).toFixed(1)} s: ${hosts.slice(1).map(h => h.store.map.size).join(' ')} cpu ${((process.cpuUsage(cpuStart).user) / 1e6).toFixed(1)}\n`)
    }, 1000)
    await Promise.all(hosts.slice(1).map(async (h, i) => {
      await h.ex.fetch(refs, everyone.filter(p => p !== h.id))
      process.stderr.write(`${name}: receiver ${i + 1} done at ${((performance.now() - started) / 1000).toFixed(2)} s\n`)
    }))
    const wallSeconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuStart)
    if (tracer !== undefined) clearInterval(tracer)
    for (const h of hosts.slice(1)) if (h.store.map.size !== count) throw new Error('a receiver is missing chunks')
    const peerUpload = hosts.slice(1).reduce((a, h) => a + h.ex.stats().bytesSent, 0)
    const result: PhaseResult = {
      phase: name,
      receivers,
      dataMiB: dataBytes / 1024 / 1024,
      chunkKiB,
      limits,
      wallSeconds: round(wallSeconds),
      cpuSeconds: round((cpu.user + cpu.system) / 1e6),
      originUploadRatio: round(origin.ex.stats().bytesSent / dataBytes),
      peerUploadRatio: round(peerUpload / dataBytes)
    }
    if (shaper === undefined) return result
    const limit = dataBytes * 8 / shaper.bitsPerSecond
    return { ...result, shaper: { ...shaper, physicalLimitSeconds: round(limit), timeOverLimit: round(wallSeconds / limit) } }
  } finally {
    for (const e of exchanges) await e.stop()
    await Promise.all(nodes.map(async n => { await n.stop() }))
  }
}

/**
 * The ceiling: one libp2p stream (tcp + noise + yamux) pushing `mib` MiB between two nodes in this
 * process, 64 KiB writes, no exchange protocol, no hashing.
 */
async function raw (mib: number): Promise<{ phase: string, dataMiB: number, wallSeconds: number, cpuSeconds: number, mibPerSecond: number }> {
  const nodes: VpeerLibp2p[] = []
  try {
    for (let i = 0; i < 2; i++) {
      const identity = await generateIdentity()
      nodes.push(await createVpeerNode({ privateKey: identity.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] }))
    }
    const [a, b] = nodes as [VpeerLibp2p, VpeerLibp2p]
    const total = mib * 1024 * 1024
    let received = 0
    let done!: () => void
    const finished = new Promise<void>(resolve => { done = resolve })
    await b.handle('/bench/raw/1.0.0', stream => {
      void (async () => {
        for await (const chunk of stream) {
          received += chunk.byteLength
          if (received >= total) done()
        }
      })()
    })
    await a.peerStore.merge(b.peerId, { multiaddrs: b.getMultiaddrs() })
    const stream = await a.dialProtocol(b.peerId, '/bench/raw/1.0.0')
    const block = new Uint8Array(randomBytes(64 * 1024))
    const started = performance.now()
    const cpuStart = process.cpuUsage()
    for (let sent = 0; sent < total; sent += block.byteLength) {
      if (!stream.send(block)) await stream.onDrain()
    }
    await finished
    const wallSeconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuStart)
    await stream.close()
    return { phase: 'raw stream', dataMiB: mib, wallSeconds: round(wallSeconds), cpuSeconds: round((cpu.user + cpu.system) / 1e6), mibPerSecond: round(mib / wallSeconds) }
  } finally {
    await Promise.all(nodes.map(async n => { await n.stop() }))
  }
}

function round (x: number): number { return Math.round(x * 1000) / 1000 }

const USAGE = `usage: npm run bench:exchange -- [options]

One origin and several receivers in one process on 127.0.0.1 (libp2p tcp + noise + yamux,
in-memory chunk stores): a raw-stream ceiling, then every receiver fetches the origin's data
from everyone, unshaped and at 3 Mbit/s + 10 ms per host. JSON on stdout, progress on stderr.
  --quick            small sizes (a smoke run; figures are not measurements)
  --mb N             data set of the unshaped phase, MiB (default 64; quick 4)
  --shaped-mb N      data set of the shaped phase, MiB (default 4; quick 0.5; 0 skips it)
  --raw-mb N         bytes pushed on one plain stream first, MiB (default 100; quick 8; 0 skips it)
  --receivers N      receivers (default 5)
  --chunk-kib N      chunk size, KiB (default 16: FastCDC's average)
  --per-peer N       the exchange's perPeerMax (default: the exchange's default)
  --per-peer-kib N   the exchange's perPeerBytesMax, KiB (default: the exchange's default)
  --help             this text
BENCH_TRACE=1 prints each receiver's chunk count every second.
Exit codes: 0 done, 1 the bench failed, 2 bad options.`

class UsageError extends Error {}

async function main (): Promise<void> {
  let values
  try {
    values = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        mb: { type: 'string' },
        'shaped-mb': { type: 'string' },
        receivers: { type: 'string', default: '5' },
        'chunk-kib': { type: 'string', default: '16' },
        'per-peer': { type: 'string' },
        'per-peer-kib': { type: 'string' },
        'raw-mb': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    }).values
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    return
  }
  const num = (name: string, raw: string | undefined, fallback: number, min: number): number => {
    if (raw === undefined) return fallback
    const v = Number(raw)
    if (!Number.isFinite(v) || v < min) throw new UsageError(`--${name}: expected a number >= ${min}, got ${raw}`)
    return v
  }
  const receivers = num('receivers', values.receivers, 5, 1)
  const chunkKiB = num('chunk-kib', values['chunk-kib'], 16, 1 / 1024)
  if (chunkKiB > 1024) throw new UsageError('--chunk-kib: at most 1024 (the chunk limit)')
  const limits: BlockExchangeLimits = {
    ...(values['per-peer'] === undefined ? {} : { perPeerMax: num('per-peer', values['per-peer'], 0, 1) }),
    ...(values['per-peer-kib'] === undefined ? {} : { perPeerBytesMax: num('per-peer-kib', values['per-peer-kib'], 0, 1) * 1024 })
  }
  const mb = num('mb', values.mb, values.quick ? 4 : 64, 0.001)
  const shapedMb = num('shaped-mb', values['shaped-mb'], values.quick ? 0.5 : 4, 0)
  const rawMb = num('raw-mb', values['raw-mb'], values.quick ? 8 : 100, 0)
  const results = [
    ...(rawMb > 0 ? [await raw(rawMb)] : []),
    await phase('unshaped', receivers, mb, chunkKiB, limits),
    ...(shapedMb > 0 ? [await phase('shaped 3 Mbit/s, 10 ms', receivers, shapedMb, chunkKiB, limits, { bitsPerSecond: 3_000_000, delayMs: 10 })] : [])
  ]
  process.stdout.write(JSON.stringify({ node: process.version, results }, null, 2) + '\n')
}

try {
  await main()
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n\n${USAGE}\n`)
    process.exit(2)
  }
  throw error
}
