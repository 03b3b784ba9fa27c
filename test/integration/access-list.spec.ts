import { afterEach, describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../src/storage/memory-storage.js'
import { KvStateMachine } from '../../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../src/sim/kv.js'
import { LocalNetwork } from '../../src/vpeer/local-network.js'
import { SystemClock } from '../../src/vpeer/system-clock.js'
import { systemRandom } from '../../src/vpeer/system-random.js'
import { VirtualPeer } from '../../src/vpeer/virtual-peer.js'
import type { VirtualPeerEvents } from '../../src/vpeer/virtual-peer.js'
import type { WireMessage } from '../../src/vpeer/snapshot-transfer.js'
import { decodeRuntimeBlob } from '../../src/vpeer/snapshots.js'
import { buildManifest } from '../../src/migration/snapshot.js'
import { aclClient } from '../../src/vpeer/access-list.js'
import {
  AccessControlOffError, CommandTooLargeError, InvalidArgumentError, LastAdminError, NotAdminError
} from '../../src/vpeer/errors.js'
import type { Configuration, NodeId } from '../../src/paxos/index.js'

// The client allow-list end to end, in real time: three members on the in-process network with
// memory storage. Changes go through the log and hold on every member; a non-administrator is
// refused alike everywhere; the list survives snapshots, restarts and a snapshot transfer.

type Peer = VirtualPeer<KvCommand, KvResult, KvQuery, KvAnswer>
type AccessDetail = VirtualPeerEvents['access']['detail']

const IDS = ['a', 'b', 'c']
const BATCH_BYTES_MAX = 64 * 1024
const CONFIGURATION: Configuration = { epoch: 0, voters: IDS, learners: [] }
const ROOT = '12D3KooWRootAdminxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
const ALICE = '12D3KooWAlicexxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
const BOB = '12D3KooWBobxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
const MALLORY = '12D3KooWMalloryxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'

interface Member {
  readonly id: NodeId
  readonly storage: MemoryStorage
  peer: Peer
  readonly events: AccessDetail[]
}

class Cluster {
  readonly clock = new SystemClock()
  readonly network = new LocalNetwork<WireMessage>()
  readonly members = new Map<NodeId, Member>()
  private incarnation = 0

  constructor (private readonly options: { admins?: readonly string[], snapshotEverySlots?: number, logRetentionSlots?: number } = {}) {}

  async boot (id: NodeId, storage = new MemoryStorage()): Promise<Member> {
    const peer = await VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
      id,
      configuration: CONFIGURATION,
      transport: this.network.endpoint(id),
      storage,
      clock: this.clock,
      random: systemRandom(),
      stateMachine: new KvStateMachine(),
      clientId: `${id}/${++this.incarnation}`,
      paxos: { batchCommandsMax: 1, batchBytesMax: BATCH_BYTES_MAX },
      snapshotEverySlots: this.options.snapshotEverySlots ?? 0,
      logRetentionSlots: this.options.logRetentionSlots ?? 1000,
      ...(this.options.admins !== undefined ? { access: { admins: this.options.admins } } : {})
    })
    const member: Member = { id, storage, peer, events: [] }
    peer.addEventListener('access', e => { member.events.push(e.detail) })
    this.members.set(id, member)
    return member
  }

  start (m: Member): void {
    this.network.reconnect(m.id)
    m.peer.start()
  }

  async startAll (): Promise<void> {
    for (const id of IDS) this.start(await this.boot(id))
    await until(() => this.leader() !== undefined, 'a leader')
  }

  peer (id: NodeId): Peer {
    const m = this.members.get(id)
    if (m === undefined) throw new Error(`no member ${id}`)
    return m.peer
  }

  leader (): NodeId | undefined {
    return [...this.members.values()].find(m => m.peer.running && m.peer.status().role === 'leader')?.id
  }

  running (): Member[] {
    return [...this.members.values()].filter(m => m.peer.running)
  }

  /** Waits until every running member has applied what `via` has applied. */
  async converge (): Promise<void> {
    await until(() => {
      const applied = this.running().map(m => m.peer.applied)
      return applied.every(a => a === applied[0])
    }, 'every member at the same applied index')
  }

  async stopAll (): Promise<void> {
    await Promise.all([...this.members.values()].map(async m => { await m.peer.stop() }))
    this.clock.stop()
  }
}

async function until (cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

async function writes (peer: Peer, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) await peer.submit({ f: 'write', key: `${tag}${i % 3}`, value: i })
}

let cluster: Cluster | undefined
afterEach(async () => {
  await cluster?.stopAll()
  cluster = undefined
})

describe('client allow-list across a group (LocalNetwork, MemoryStorage)', () => {
  it('allow and revoke issued through any member hold on every member, with an access event each', async () => {
    cluster = new Cluster({ admins: [ROOT] })
    await cluster.startAll()
    const followers = IDS.filter(id => id !== cluster?.leader())
    for (const id of IDS) {
      expect(cluster.peer(id).isClientAllowed(ROOT)).toBe(true)
      expect(cluster.peer(id).isClientAdmin(ROOT)).toBe(true)
      expect(cluster.peer(id).isClientAllowed(ALICE)).toBe(false)
    }

    // Through a follower (forwarded to the leader), issued by the genesis administrator.
    const change = await cluster.peer(followers[0] as string).allowClient(ALICE, { issuer: ROOT })
    expect(change).toEqual({ peer: ALICE, allowed: true, admin: false, changed: true })
    await cluster.converge()
    for (const id of IDS) {
      expect(cluster.peer(id).isClientAllowed(ALICE)).toBe(true)
      expect(cluster.peer(id).isClientAdmin(ALICE)).toBe(false)
    }

    // Promote Alice; she then allows Bob and revokes the genesis administrator.
    await cluster.peer('a').allowClient(ALICE, { issuer: ROOT, admin: true })
    await cluster.peer('b').allowClient(BOB, { issuer: ALICE })
    await cluster.peer('c').revokeClient(ROOT, { issuer: ALICE })
    await cluster.converge()
    const expected = [{ peer: ALICE, admin: true }, { peer: BOB, admin: false }]
    for (const id of IDS) expect(cluster.peer(id).accessEntries()).toEqual(expected)
    // The revoked administrator's word no longer counts, at whatever member it arrives.
    await expect(cluster.peer('a').revokeClient(ALICE, { issuer: ROOT })).rejects.toBeInstanceOf(NotAdminError)
    // Alice may not leave the list without an administrator.
    await expect(cluster.peer('b').revokeClient(ALICE, { issuer: ALICE })).rejects.toBeInstanceOf(LastAdminError)
    await expect(cluster.peer('b').allowClient(ALICE, { issuer: ALICE, admin: false })).rejects.toMatchObject({ code: 'ERR_LAST_ADMIN' })
    await cluster.converge()

    // Every member saw the same changes in the same slots.
    const first = cluster.members.get('a')?.events
    expect(first?.map(e => [e.peer, e.allowed, e.admin, e.issuer])).toEqual([
      [ALICE, true, false, ROOT], [ALICE, true, true, ROOT], [BOB, true, false, ALICE], [ROOT, false, false, ALICE]
    ])
    for (const id of IDS) expect(cluster.members.get(id)?.events).toEqual(first)
  })

  it('a non-administrator is refused with NotAdminError, and every member remembers the same refusal', async () => {
    cluster = new Cluster({ admins: [ROOT] })
    await cluster.startAll()
    const session = { client: 'mallory-nonce', seq: 1 }
    await expect(cluster.peer('a').allowClient(MALLORY, { issuer: MALLORY, session })).rejects.toBeInstanceOf(NotAdminError)
    await cluster.converge()
    // The same session retried at each member is answered from its session table: refused alike.
    for (const id of IDS) {
      await expect(cluster.peer(id).allowClient(MALLORY, { issuer: MALLORY, session })).rejects.toMatchObject({ code: 'ERR_NOT_ADMIN' })
      expect(cluster.peer(id).isClientAllowed(MALLORY)).toBe(false)
    }
    // A member's own node id is no administrator either (the default issuer).
    await expect(cluster.peer('b').allowClient(MALLORY)).rejects.toBeInstanceOf(NotAdminError)
    // Exactly once: a retry of an applied allow is not applied twice (no second event).
    const allowSession = { client: 'root-nonce', seq: 7 }
    await cluster.peer('a').allowClient(ALICE, { issuer: ROOT, session: allowSession })
    await cluster.peer('c').revokeClient(ALICE, { issuer: ROOT })
    expect(await cluster.peer('b').allowClient(ALICE, { issuer: ROOT, session: allowSession })).toMatchObject({ allowed: true, changed: true })
    await cluster.converge()
    for (const id of IDS) {
      expect(cluster.peer(id).isClientAllowed(ALICE)).toBe(false)
      expect(cluster.members.get(id)?.events.map(e => e.allowed)).toEqual([true, false])
    }
  })

  it('without genesis administrators access control is off: everyone is allowed, changes are refused', async () => {
    cluster = new Cluster()
    await cluster.startAll()
    const peer = cluster.peer('a')
    expect(peer.isClientAllowed(MALLORY)).toBe(true)
    expect(peer.isClientAdmin(ROOT)).toBe(false)
    expect(peer.accessEntries()).toBeUndefined()
    await expect(peer.allowClient(ALICE, { issuer: ROOT })).rejects.toBeInstanceOf(AccessControlOffError)
    // A command in the ACL namespace that reaches the log anyway (here: `submit` with such a
    // session, bypassing allowClient) is refused on apply and never reaches the state machine.
    await expect(peer.submit({ f: 'write', key: 'x', value: 1 }, { session: { client: aclClient(ROOT, 'n'), seq: 1 } })).rejects.toBeInstanceOf(AccessControlOffError)
    expect(await peer.read({ key: 'x' })).toBeNull()
    // An empty genesis list would leave the group unmanageable: refused at creation.
    await expect(VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
      id: 'z', configuration: CONFIGURATION, transport: cluster.network.endpoint('z'), storage: new MemoryStorage(), clock: cluster.clock,
      random: systemRandom(), stateMachine: new KvStateMachine(), access: { admins: [] }
    })).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('submitEncoded runs the client’s bytes under its session, refuses reserved clients and oversized data', async () => {
    cluster = new Cluster({ admins: [ROOT] })
    await cluster.startAll()
    const bytes = new TextEncoder().encode(JSON.stringify({ f: 'write', key: 'k', value: 42 }))
    const session = { client: ALICE, seq: 1 }
    const first = await cluster.peer('a').submitEncoded({ ...session, data: bytes })
    // Retried at another member: the remembered outcome, not a second write.
    expect(await cluster.peer('b').submitEncoded({ ...session, data: bytes })).toEqual(first)
    expect(await cluster.peer('c').read({ key: 'k' })).toBe(42)
    const peer = cluster.peer('a')
    for (const client of ['\u0000acl/' + ROOT + '/n', '\u0000cfg/x', '\u0000', '']) {
      await expect(peer.submitEncoded({ client, seq: 2, data: bytes })).rejects.toBeInstanceOf(InvalidArgumentError)
    }
    await expect(peer.submitEncoded({ client: ALICE, seq: -1, data: bytes })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(peer.submitEncoded({ client: ALICE, seq: 2, data: new Uint8Array(BATCH_BYTES_MAX + 1) })).rejects.toBeInstanceOf(CommandTooLargeError)
  })
})

describe('the allow-list in snapshots', () => {
  it('survives a restart from snapshots and reaches a new learner by snapshot transfer', async () => {
    cluster = new Cluster({ admins: [ROOT], snapshotEverySlots: 5, logRetentionSlots: 2 })
    await cluster.startAll()
    await cluster.peer('a').allowClient(ALICE, { issuer: ROOT, admin: true })
    await cluster.peer('b').allowClient(BOB, { issuer: ALICE })
    await cluster.peer('c').revokeClient(ROOT, { issuer: ALICE })
    const aclSlot = cluster.peer('c').applied
    await writes(cluster.peer('a'), 20, 'k')
    await cluster.converge()
    const expected = [{ peer: ALICE, admin: true }, { peer: BOB, admin: false }]
    await until(() => IDS.every(id => (cluster?.peer(id).status().snapshotIndex ?? 0) > aclSlot), 'snapshots above the ACL changes')

    // Restart every member on its storage: the list comes from the snapshot (checked before
    // start, when nothing above the snapshot has been replayed yet).
    const storages = IDS.map(id => cluster?.members.get(id)?.storage as MemoryStorage)
    await Promise.all(IDS.map(async id => { await cluster?.peer(id).stop() }))
    for (const s of storages) {
      const stored = await s.loadSnapshot()
      expect(stored).toBeDefined()
      expect(decodeRuntimeBlob(stored?.meta.sessions ?? new Uint8Array()).access).toEqual([[ALICE, true], [BOB, false]])
    }
    for (const [i, id] of IDS.entries()) {
      const m = await cluster.boot(id, storages[i])
      expect(m.peer.applied).toBeGreaterThan(aclSlot)
      expect(m.peer.accessEntries()).toEqual(expected)
      expect(m.peer.isClientAllowed(ROOT)).toBe(false)
      cluster.start(m)
    }
    await until(() => cluster?.leader() !== undefined, 'a leader after the restart')
    // Still enforced after the restart: the revoked genesis administrator has no say.
    await expect(cluster.peer('a').allowClient(MALLORY, { issuer: ROOT })).rejects.toBeInstanceOf(NotAdminError)
    await writes(cluster.peer('b'), 12, 'j')

    // A new member, booted with the bootstrap configuration and the same genesis list, joins
    // as a learner; the log it needs is compacted away, so it gets the snapshot.
    const d = await cluster.boot('d')
    expect(d.peer.isClientAllowed(ROOT)).toBe(true)
    cluster.start(d)
    const leader = cluster.leader() as NodeId
    await cluster.peer(leader).reconfigure({ kind: 'addLearner', node: 'd' })
    await writes(cluster.peer(leader), 3, 'l')
    await until(() => d.peer.snapshotTransfer.stats.installs >= 1 && d.peer.applied >= cluster!.peer(leader).applied, 'the learner caught up by snapshot')
    expect(d.peer.accessEntries()).toEqual(expected)
    expect(d.peer.isClientAllowed(ROOT)).toBe(false)
    // The install reported what changed against its genesis list.
    expect(d.events.slice(0, 3).map(e => [e.peer, e.allowed, e.admin, e.issuer])).toEqual([
      [ALICE, true, true, undefined], [BOB, true, false, undefined], [ROOT, false, false, undefined]
    ])
    // And it applies later changes like everyone.
    await cluster.peer(leader).allowClient(MALLORY, { issuer: ALICE })
    await until(() => d.peer.isClientAllowed(MALLORY), 'the learner applying a later change')
  })

  it('a member starting from a version-2 snapshot (no list) starts from the genesis list', async () => {
    const storage = new MemoryStorage()
    const sm = new KvStateMachine()
    sm.apply({ f: 'write', key: 'old', value: 1 }, { slot: 1, offset: 0, client: 'x', seq: 1, proposedAtMs: 0, send: () => { throw new Error('no outputs here') } })
    const configuration: Configuration = { epoch: 0, voters: ['a'], learners: [] }
    const v2 = new TextEncoder().encode(JSON.stringify({ v: 2, sessions: [], configs: [{ fromSlot: 1, configuration }], sessionClock: 0, tombstones: [] }))
    const state = sm.snapshot()
    await storage.installSnapshot(buildManifest(10, configuration, v2, state, 1024), state)
    const clock = new SystemClock()
    const network = new LocalNetwork<WireMessage>()
    const peer = await VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
      id: 'a', configuration, transport: network.endpoint('a'), storage, clock, random: systemRandom(), stateMachine: new KvStateMachine(), access: { admins: [ROOT] }
    })
    try {
      expect(peer.applied).toBe(10)
      expect(peer.accessEntries()).toEqual([{ peer: ROOT, admin: true }])
      peer.start()
      await until(() => peer.status().role === 'leader', 'leadership')
      await peer.allowClient(ALICE, { issuer: ROOT })
      expect(peer.isClientAllowed(ALICE)).toBe(true)
    } finally {
      await peer.stop()
      clock.stop()
    }
  })
})
