/**
 * `npm run demo:group [-- --dht N] [--voters N]`: a virtual peer followed by its group key
 * alone (issue 10).
 *
 * It starts a private DHT of plain libp2p nodes on 127.0.0.1, a VP of 5 members and 5 spares
 * inside it (all in this process, simulations/group-cluster.ts), and prints the group key. A
 * client that knows only that key and the address of one plain node (not a member) finds the
 * members through the DHT and writes, one write after another. Then each original member is
 * stopped for good, one at a time and the leader last (so no redirect tells the client about a
 * new member: it must find them through the DHT): the leader replaces it by a spare, and the demo prints who
 * left, who joined and how long it took, and how many writes the same client got through
 * meanwhile. At the end none of the members the client found at the start is left; the client
 * still writes, and reads every acknowledged write back. Everything is removed on exit.
 */
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { DHT_SPARES, GroupCluster, describe } from '../simulations/group-cluster.js'
import type { KvClient } from '../simulations/group-cluster.js'

const USAGE = `usage: npm run demo:group -- [options]

A private DHT of libp2p nodes on 127.0.0.1 (one process), a virtual peer of members and spares
inside it, and a client that knows only the group key and one DHT node's address. Every original
member is stopped for good, one at a time; the client follows the group as spares replace them.
  --dht N         DHT nodes in all: the members, as many spares, and plain nodes (default 20)
  --voters N      members of the virtual peer (default 5)
  --help          this text
Takes about a minute. Exit codes: 0 every check passed, 1 a check failed, 2 bad options`

/** One write after another through the client, until stopped. */
class Writer {
  acked: number[] = []
  failed = 0
  lastError = ''
  private next = 0
  private stopped = false
  private readonly done: Promise<void>
  constructor (private readonly client: KvClient) { this.done = this.loop() }
  private async loop (): Promise<void> {
    while (!this.stopped) {
      const i = this.next++
      try {
        await this.client.submit({ f: 'write', key: `demo/${i}`, value: i }, { signal: AbortSignal.timeout(20_000) })
        this.acked.push(i)
      } catch (error) {
        this.failed++
        this.lastError = `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`
      }
      await sleep(20)
    }
  }

  async until (more: number, timeoutMs: number): Promise<boolean> {
    const target = this.acked.length + more
    const deadline = Date.now() + timeoutMs
    while (this.acked.length < target && Date.now() < deadline) await sleep(20)
    return this.acked.length >= target
  }

  async stop (): Promise<void> { this.stopped = true; await this.done }
}

async function main (): Promise<number> {
  let args
  try {
    args = parseArgs({ options: { dht: { type: 'string' }, voters: { type: 'string' }, help: { type: 'boolean' } }, strict: true })
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (args.values.help === true) { process.stdout.write(`${USAGE}\n`); return 0 }
  const dht = Number(args.values.dht ?? 20)
  const voters = Number(args.values.voters ?? 5)
  if (!Number.isSafeInteger(voters) || voters < 3 || voters > 9) { process.stderr.write(`--voters must be 3-9\n\n${USAGE}\n`); return 2 }
  if (!Number.isSafeInteger(dht) || dht < 2 * voters + 1 || dht > 200) { process.stderr.write(`--dht must be ${2 * voters + 1}-200 (the members, the spares and at least one plain node)\n\n${USAGE}\n`); return 2 }
  const dhtNodes = dht - 2 * voters

  const out = (line: string): void => { process.stdout.write(`${line}\n`) }
  const t0 = performance.now()
  const at = (): string => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s]`
  out(`${at()} starting ${dhtNodes} plain DHT nodes, ${voters} members and ${voters} spares on 127.0.0.1`)
  const cluster = await GroupCluster.start({ dhtNodes, voters, spares: voters, spareSource: DHT_SPARES, progress: line => { out(`${at()}   ${line}`) } })
  let client: KvClient | undefined
  let writer: Writer | undefined
  try {
    const name = (id: string): string => cluster.nameOf(id)
    out(`${at()} group key ${cluster.groupKey.toString()}`)
    out(`${at()} the VP: ${describe(cluster.configuration(), name)}; leader ${name(cluster.leader()?.id ?? '?')}`)
    const bootstrap = cluster.bootstrapAddress()
    out(`${at()} a client is given the group key and one address: ${name(bootstrap.slice(bootstrap.lastIndexOf('/') + 1))}, a plain DHT node (${bootstrap})`)
    const connectStarted = performance.now()
    client = await cluster.connectClient({ bootstrap })
    const connectMs = Math.round(performance.now() - connectStarted)
    writer = new Writer(client)
    if (!await writer.until(1, 30_000)) { out(`FAIL: the client wrote nothing within 30 s (${writer.lastError})`); return 1 }
    out(`${at()} it found the members through the DHT in ${connectMs} ms and its first write committed ${Math.round(performance.now() - connectStarted)} ms after it started`)

    const originals = [...cluster.originalVoters]
    out(`${at()} stopping the original members for good, one at a time, the leader last`)
    for (let i = 0; i < originals.length; i++) {
      const victim = cluster.nextOriginalVictim()
      if (victim === undefined) break
      const before = cluster.configuration()
      const wasLeader = cluster.leader()?.id === victim
      const ackedBefore = writer.acked.length
      const killedAt = performance.now()
      await cluster.kill(victim)
      out(`${at()} ${i + 1}/${originals.length}: ${name(victim)}${wasLeader ? ' (the leader)' : ''} stopped for good`)
      const after = await cluster.waitForReplacement(victim, { timeoutMs: 60_000 })
      const joined = after.voters.filter(v => !before.voters.includes(v))
      out(`${at()}      ${joined.map(name).join(' ')} replaced it after ${Math.round(performance.now() - killedAt)} ms: ${describe(after, name)}`)
      if (!await writer.until(3, 30_000)) {
        const known = originals.filter(id => !cluster.list().find(n => n.id === id)?.alive)
        out(`FAIL: the client did not write again within 30 s of the replacement (${writer.lastError})${known.length === originals.length ? '; every member it found at connect is gone' : ''}`)
        return 1
      }
      out(`${at()}      the client kept writing: ${writer.acked.length - ackedBefore} writes acknowledged since the stop${writer.failed > 0 ? ` (${writer.failed} attempts failed so far)` : ''}`)
    }

    const final = cluster.configuration()
    const stillOriginal = final.voters.filter(v => originals.includes(v))
    if (stillOriginal.length > 0) { out(`FAIL: ${stillOriginal.map(name).join(' ')} still vote`); return 1 }
    if (!await writer.until(5, 30_000)) { out(`FAIL: the client stopped writing after the turnover (${writer.lastError})`); return 1 }
    await writer.stop()
    const view = await client.whenLeader({ signal: AbortSignal.timeout(20_000) })
    out(`${at()} the client now reaches ${describe(final, name)}, leader ${name(view.leader ?? '?')}: none of the members it found at the start`)
    let wrong = 0
    for (const i of writer.acked) if (await client.read({ key: `demo/${i}` }, { signal: AbortSignal.timeout(20_000) }) !== i) wrong++
    if (wrong > 0) { out(`FAIL: ${wrong} acknowledged writes read back wrong`); return 1 }
    out(`${at()} summary: ${writer.acked.length} writes acknowledged through ${originals.length} replacements, every one read back; ${writer.failed} attempts failed with an unknown outcome; DHT of ${cluster.size} nodes`)
    return 0
  } finally {
    await writer?.stop()
    await client?.close()
    await cluster.stop()
  }
}

main().then(code => { process.exitCode = code }, (error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
