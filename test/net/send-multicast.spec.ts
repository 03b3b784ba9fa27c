import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ApplyContext, StateMachine } from '../../src/contracts/index.js'
import { readIdentity } from '../../src/alm/identity.js'
import { FrameStream } from '../../src/alm/frame-stream.js'
import { createVpeerNode, parseMultiaddr } from '../../src/alm/node-factory.js'
import { VirtualPeerClient } from '../../src/net/client.js'
import { CLIENT_LIMITS, CLIENT_PROTOCOL, decodeResponse, encodeRequest } from '../../src/net/client-protocol.js'
import type { Notification } from '../../src/net/client-service.js'
import { initCluster } from '../../src/net/init.js'
import { Member } from '../../src/net/member.js'

/** A counter: applying a command twice would show in the total. */
class Counter implements StateMachine<{ add: number }, number, null, number> {
  total = 0
  apply (c: { add: number }, _ctx: ApplyContext): number { this.total += c.add; return this.total }
  query (): number { return this.total }
  snapshot (): Uint8Array { return new TextEncoder().encode(String(this.total)) }
  restore (b: Uint8Array): void { this.total = Number(new TextDecoder().decode(b)) }
}

type CounterMember = Member<{ add: number }, number, null, number>

describe('send and multicast to a group', () => {
  const cleanup: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c() })

  async function group (n: number): Promise<{ members: CounterMember[], notes: Map<string, Notification[]>, adminKey: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'vpeer-send-'))
    cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
    const cluster = await initCluster({ dir, members: n, spares: 0 })
    const members: CounterMember[] = []
    const notes = new Map<string, Notification[]>()
    cleanup.push(async () => { for (const m of members) await m.stop() })
    for (const node of cluster.nodes) {
      const identity = await readIdentity(join(node.dir, 'identity.key'))
      const list: Notification[] = []
      notes.set(identity.id, list)
      members.push(await Member.start({
        identity, dataDir: node.dir, cluster: cluster.spec, stateMachine: new Counter(), replacement: false,
        onMulticast: n => { list.push(n) }
      }))
    }
    return { members, notes, adminKey: cluster.adminKey }
  }

  it('send gives the command to every voter, the log applies it once, and it survives the leader stopping', async () => {
    const { members, adminKey } = await group(3)
    const client = await VirtualPeerClient.create<{ add: number }, number, null, number>({
      members: members.map(m => m.addresses[0] as string), identity: await readIdentity(adminKey)
    })
    cleanup.push(async () => { await client.close() })
    const signal = AbortSignal.timeout(30_000)
    await client.whenLeader({ signal })
    let expected = 0
    for (let i = 1; i <= 20; i++) {
      expected += i
      expect(await client.send({ add: i }, { signal })).toBe(expected)
    }
    // Every voter received each command, yet the total counts each once.
    expect(await client.read(null, { signal })).toBe(expected)
    const leader = (await client.whenLeader({ signal })).leader
    const stopped = members.find(m => m.id === leader) as CounterMember
    await stopped.stop()
    for (let i = 0; i < 5; i++) {
      expected += 1
      expect(await client.send({ add: 1 }, { signal })).toBe(expected)
    }
    expect(await client.read(null, { signal })).toBe(expected)
  }, 60_000)

  it('multicast reaches every member once; a repeated message id is dropped; a member that is down is reported missing', async () => {
    const { members, notes, adminKey } = await group(3)
    const client = await VirtualPeerClient.create<{ add: number }, number, null, number>({
      members: members.map(m => m.addresses[0] as string), identity: await readIdentity(adminKey), multicastDeadlineMs: 1500
    })
    cleanup.push(async () => { await client.close() })
    const signal = AbortSignal.timeout(30_000)
    await client.whenLeader({ signal })
    const report = await client.multicast(new TextEncoder().encode('hello'), { signal })
    expect([...report.acknowledged].sort()).toEqual(members.map(m => m.id).sort())
    expect(report.missing).toEqual([])
    for (const m of members) {
      expect(notes.get(m.id)?.map(n => new TextDecoder().decode(n.payload))).toEqual(['hello'])
      expect(notes.get(m.id)?.[0]?.from).toBe(client.id)
    }

    // The same message id twice on a raw stream: handed to the application once, acknowledged twice.
    const target = members[0] as CounterMember
    // An allowed client (the administrator's key) speaking the protocol by hand.
    const raw = await createVpeerNode({ privateKey: (await readIdentity(adminKey)).privateKey, listen: [], dial: 'loopback' })
    cleanup.push(async () => { await raw.stop() })
    const stream = await raw.dialProtocol(parseMultiaddr(target.addresses[0] as string), CLIENT_PROTOCOL)
    const frames = new FrameStream(stream, CLIENT_LIMITS.frameBytesMax)
    const id = Uint8Array.of(1, 2, 3)
    frames.write(encodeRequest({ kind: 'notify', id: 1, messageId: id, payload: Uint8Array.of(42) }))
    frames.write(encodeRequest({ kind: 'notify', id: 2, messageId: id, payload: Uint8Array.of(42) }))
    const answers: string[] = []
    for await (const body of frames.frames()) {
      answers.push(decodeResponse(body).kind)
      if (answers.length === 2) break
    }
    frames.abort(new Error('done'))
    expect(answers).toEqual(['ok', 'ok'])
    expect(notes.get(target.id)?.map(n => n.payload[0])).toEqual([104, 42]) // 'h' of hello, then 42 once
    expect(target.service.stats().duplicateNotifications).toBe(1)

    const down = members[2] as CounterMember
    await down.stop()
    const partial = await client.multicast(Uint8Array.of(7), { signal })
    expect(partial.missing).toEqual([down.id])
    expect([...partial.acknowledged].sort()).toEqual([members[0]!.id, members[1]!.id].sort())
  }, 60_000)
})
