/**
 * The Transport compliance suite: what every `Transport<WireMessage>` — `LocalNetwork`,
 * `SimNetwork`, the libp2p transport — must do for the runtime. Each spec file supplies a
 * fixture; the cases are the same.
 *
 * - delivery: every message type arrives intact, with the sender's id as the transport knows
 *   it (never taken from the message);
 * - loss tolerance: a send to a peer that is down or does not exist never throws and never
 *   holds up traffic to the others;
 * - reconnect: after the other side restarts, messages flow again without any action by the
 *   sender;
 * - frame limit: a message over the transport's limit is dropped without a throw and without
 *   harming what follows (a transport with no limit carries a large message intact);
 * - unknown sender: a transport with access control delivers nothing from a peer outside the
 *   group; one without it reports the true sender.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Transport, WireMessage } from '../../src/contracts/index.js'
import type { NodeId } from '../../src/paxos/index.js'

export interface TransportEndpoint {
  readonly id: NodeId
  readonly transport: Transport<WireMessage>
}

export interface TransportFixture {
  /** Members of one group: each may send to each. */
  readonly endpoints: readonly TransportEndpoint[]
  /** Lets time pass until `predicate` holds or `budgetMs` (fixture time) ran out; returns the predicate. */
  waitFor (predicate: () => boolean, budgetMs?: number): Promise<boolean>
  /** Takes endpoint `i` down (its process dies: nothing is delivered to or from it). */
  down (i: number): Promise<void>
  /** Brings endpoint `i` back as a new incarnation with the same id; returns its new endpoint. */
  up (i: number): Promise<TransportEndpoint>
  /** An endpoint outside the group that knows where endpoint 0 is. */
  stranger (): Promise<TransportEndpoint>
  /** Whether the transport refuses messages from peers outside the group. */
  readonly refusesStrangers: boolean
  /** Largest encoded message carried, bytes; undefined when there is no limit (in process). */
  readonly frameBytesMax: number | undefined
  close (): Promise<void>
}

const ballot = { round: 3, node: 'n-ballot' }
const value = { id: '3.n.7', commands: [{ client: 'c/1', seq: 9, data: Uint8Array.of(1, 2, 3) }], time: 1_700_000_000_000 }
const entry = { ballot, value }
const ROOT = 'cd'.repeat(32)

/** One message of every type, with every optional field in both forms somewhere. */
export const SAMPLE_MESSAGES: readonly WireMessage[] = [
  { type: 'probe', ballot, transfer: false },
  { type: 'probeReply', ballot, granted: true, promised: { round: 0, node: '' }, commitIndex: 5 },
  { type: 'prepare', ballot, fromSlot: 6, transfer: true },
  { type: 'promise', ballot, commitIndex: 5, entries: [[6, entry], [7, { ballot, value: { id: '1.m.7', commands: [] } }]] },
  { type: 'reject', ballot, promised: { round: 4, node: 'x' }, reason: 'promised-higher' },
  { type: 'reject', ballot, promised: ballot, reason: 'leader-alive' },
  { type: 'accept', ballot, slot: 8, value, commitIndex: 7 },
  { type: 'accepted', ballot, slot: 8 },
  { type: 'heartbeat', ballot, commitIndex: 8, readSeq: 2 },
  { type: 'heartbeatAck', ballot, readSeq: 2, commitIndex: 8 },
  { type: 'catchupRequest', fromSlot: 1, toSlot: 4 },
  { type: 'catchupReply', entries: [[1, entry], [2, entry]], commitIndex: 2 },
  { type: 'forward', commands: value.commands },
  { type: 'readRequest', id: 'r1' },
  { type: 'readReply', id: 'r1', index: 8 },
  { type: 'readReply', id: 'r2', index: undefined },
  { type: 'timeoutNow', ballot },
  { type: 'snapshotOffer', manifest: Uint8Array.of(9, 8, 7) },
  { type: 'snapshotChunkRequest', root: ROOT, chunk: 0 },
  { type: 'snapshotChunk', root: ROOT, chunk: 1, bytes: new Uint8Array(1000).fill(7) },
  { type: 'snapshotDone', root: ROOT, index: 40 }
]

function heartbeat (n: number): WireMessage {
  return { type: 'heartbeat', ballot, commitIndex: n, readSeq: 0 }
}

interface Inbox {
  readonly got: Array<{ from: NodeId, message: WireMessage }>
  stop: () => void
}

function listen (endpoint: TransportEndpoint): Inbox {
  const got: Inbox['got'] = []
  const stop = endpoint.transport.onMessage((from, message) => { got.push({ from, message }) })
  return { got, stop }
}

/** Fields as plain data (Uint8Arrays as arrays), for comparisons that ignore key order and absent-vs-undefined. */
function plain (m: unknown): unknown {
  return JSON.parse(JSON.stringify(m, (_k, v: unknown) => v instanceof Uint8Array ? { bytes: [...v] } : v))
}

export function transportCompliance (name: string, create: () => Promise<TransportFixture>, options: { timeoutMs?: number } = {}): void {
  const timeout = options.timeoutMs ?? 20_000
  describe(`Transport compliance: ${name}`, () => {
    let fixture: TransportFixture | undefined
    afterEach(async () => {
      await fixture?.close()
      fixture = undefined
    })

    it('delivers every message type intact, with the sender\'s id', async () => {
      fixture = await create()
      const [a, b] = fixture.endpoints as [TransportEndpoint, TransportEndpoint]
      const inbox = listen(b)
      for (const m of SAMPLE_MESSAGES) a.transport.send(b.id, m)
      expect(await fixture.waitFor(() => inbox.got.length >= SAMPLE_MESSAGES.length)).toBe(true)
      expect(inbox.got.every(g => g.from === a.id)).toBe(true)
      const received = inbox.got.map(g => plain(g.message))
      for (const m of SAMPLE_MESSAGES) expect(received).toContainEqual(plain(m))
      // Absent optional fields stay absent (a value without a time is not a value at time 0).
      const promise = inbox.got.find(g => g.message.type === 'promise')?.message
      expect(promise?.type === 'promise' && 'time' in (promise.entries[1]?.[1].value ?? {})).toBe(false)
    }, timeout)

    it('tolerates loss: sends to a down or unknown peer never throw nor hold up the others', async () => {
      fixture = await create()
      const [a, b, c] = fixture.endpoints as [TransportEndpoint, TransportEndpoint, TransportEndpoint]
      await fixture.down(1)
      const inboxC = listen(c)
      for (let i = 0; i < 200; i++) {
        expect(() => { a.transport.send(b.id, heartbeat(i)) }).not.toThrow()
        expect(() => { a.transport.send('12D3KooWNoSuchPeerNoSuchPeerNoSuchPeerNoSuchPeerXY', heartbeat(i)) }).not.toThrow()
        a.transport.send(c.id, heartbeat(i))
      }
      expect(await fixture.waitFor(() => inboxC.got.length >= 200)).toBe(true)
      // b comes back: new messages reach it without anything done at a.
      const b2 = await fixture.up(1)
      const inboxB = listen(b2)
      let n = 1000
      const delivered = await fixture.waitFor(() => {
        a.transport.send(b.id, heartbeat(n++))
        return inboxB.got.some(g => g.from === a.id)
      }, 15_000)
      expect(delivered).toBe(true)
      void b
    }, timeout)

    it('reconnects after the other side restarts', async () => {
      fixture = await create()
      const [a, b] = fixture.endpoints as [TransportEndpoint, TransportEndpoint]
      const first = listen(b)
      a.transport.send(b.id, heartbeat(1))
      expect(await fixture.waitFor(() => first.got.length === 1)).toBe(true)
      first.stop()
      await fixture.down(1)
      const b2 = await fixture.up(1)
      const second = listen(b2)
      let n = 2
      expect(await fixture.waitFor(() => {
        a.transport.send(b.id, heartbeat(n++))
        return second.got.length > 0
      }, 15_000)).toBe(true)
      // And the other direction, from the restarted side.
      const back = listen(a)
      expect(await fixture.waitFor(() => {
        b2.transport.send(a.id, heartbeat(n++))
        return back.got.length > 0
      }, 15_000)).toBe(true)
    }, timeout)

    it('enforces its frame limit without harm to what follows', async () => {
      fixture = await create()
      const [a, b] = fixture.endpoints as [TransportEndpoint, TransportEndpoint]
      const inbox = listen(b)
      const limit = fixture.frameBytesMax
      const size = limit === undefined ? 4 * 1024 * 1024 : limit + 1
      const big: WireMessage = { type: 'snapshotChunk', root: ROOT, chunk: 3, bytes: new Uint8Array(size).fill(5) }
      expect(() => { a.transport.send(b.id, big) }).not.toThrow()
      a.transport.send(b.id, { type: 'snapshotDone', root: ROOT, index: 1 })
      a.transport.send(b.id, heartbeat(1))
      expect(await fixture.waitFor(() => inbox.got.length >= (limit === undefined ? 3 : 2))).toBe(true)
      const chunks = inbox.got.filter(g => g.message.type === 'snapshotChunk')
      if (limit === undefined) {
        expect(chunks).toHaveLength(1)
        const m = chunks[0]?.message
        expect(m?.type === 'snapshotChunk' && m.bytes.byteLength === size && m.bytes[size - 1] === 5).toBe(true)
      } else {
        expect(chunks).toHaveLength(0)
      }
      expect(inbox.got.map(g => g.message.type)).toEqual(expect.arrayContaining(['snapshotDone', 'heartbeat']))
    }, timeout)

    it('handles a sender outside the group as the transport promises', async () => {
      fixture = await create()
      const [a, b] = fixture.endpoints as [TransportEndpoint, TransportEndpoint]
      const stranger = await fixture.stranger()
      const inbox = listen(a)
      for (let i = 0; i < 20; i++) stranger.transport.send(a.id, heartbeat(i))
      // Members keep talking meanwhile.
      for (let i = 0; i < 20; i++) b.transport.send(a.id, heartbeat(100 + i))
      expect(await fixture.waitFor(() => inbox.got.filter(g => g.from === b.id).length >= 20)).toBe(true)
      if (fixture.refusesStrangers) {
        // Give the stranger's frames every chance to arrive, then check none did.
        await fixture.waitFor(() => false, 500)
        expect(inbox.got.filter(g => g.from === stranger.id)).toEqual([])
      } else {
        expect(await fixture.waitFor(() => inbox.got.filter(g => g.from === stranger.id).length >= 20)).toBe(true)
      }
      expect(inbox.got.every(g => g.from === b.id || g.from === stranger.id)).toBe(true)
    }, timeout)
  })
}
