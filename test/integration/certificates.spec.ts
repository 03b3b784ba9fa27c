import { afterEach, describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../src/storage/memory-storage.js'
import { KvStateMachine } from '../../src/sim/kv.js'
import type { KvAnswer, KvCommand, KvQuery, KvResult } from '../../src/sim/kv.js'
import { LocalNetwork } from '../../src/vpeer/local-network.js'
import { SystemClock } from '../../src/vpeer/system-clock.js'
import { systemRandom } from '../../src/vpeer/system-random.js'
import { VirtualPeer } from '../../src/vpeer/virtual-peer.js'
import type { CommandCodec } from '../../src/vpeer/virtual-peer.js'
import type { WireMessage } from '../../src/vpeer/snapshot-transfer.js'
import { decodeRuntimeBlob } from '../../src/vpeer/snapshots.js'
import { certCommand, certificateBytes } from '../../src/vpeer/certificates.js'
import type { CertificateChain, CertificateSigner } from '../../src/vpeer/certificates.js'
import type { Configuration, NodeId } from '../../src/paxos/index.js'
import { fakeSigner } from '../unit/vpeer/fake-signer.js'

// Configuration certificates end to end in the runtime, in real time: members on the in-process
// network with memory storage and a deterministic fake signer. After replacements every replica
// holds the same complete chain; it survives a restart from snapshots and reaches a new member
// by snapshot transfer; forged signatures are refused alike everywhere.

type Peer = VirtualPeer<KvCommand, KvResult, KvQuery, KvAnswer>

const IDS = ['a', 'b', 'c']
const CONFIGURATION: Configuration = { epoch: 0, voters: IDS, learners: [] }

interface Member {
  readonly id: NodeId
  readonly storage: MemoryStorage
  peer: Peer
  readonly completed: number[]
  /** Epochs of the 'membership' events, and the newest one heard when each snapshot was installed. */
  readonly memberships: number[]
  readonly membershipAtSnapshot: Array<number | undefined>
}

class Cluster {
  readonly clock = new SystemClock()
  readonly network = new LocalNetwork<WireMessage>()
  readonly members = new Map<NodeId, Member>()
  private incarnation = 0

  constructor (private readonly options: { snapshotEverySlots?: number, logRetentionSlots?: number } = {}) {}

  async boot (id: NodeId, storage = new MemoryStorage(), signer: CertificateSigner = fakeSigner(id)): Promise<Member> {
    const peer = await VirtualPeer.create<KvCommand, KvResult, KvQuery, KvAnswer>({
      id,
      configuration: CONFIGURATION,
      transport: this.network.endpoint(id),
      storage,
      clock: this.clock,
      random: systemRandom(),
      stateMachine: new KvStateMachine(),
      clientId: `${id}/${++this.incarnation}`,
      retryMs: 50,
      paxos: { batchCommandsMax: 1 },
      snapshotEverySlots: this.options.snapshotEverySlots ?? 0,
      logRetentionSlots: this.options.logRetentionSlots ?? 1000,
      certificates: signer,
      codec: rawOrJson
    })
    const member: Member = { id, storage, peer, completed: [], memberships: [], membershipAtSnapshot: [] }
    peer.addEventListener('certificate', e => { member.completed.push(e.detail.epoch) })
    peer.addEventListener('membership', e => { member.memberships.push(e.detail.configuration.epoch) })
    peer.addEventListener('snapshot', () => { member.membershipAtSnapshot.push(member.memberships.at(-1)) })
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

/** The newest epoch a chain certifies. */
function tip (chain: CertificateChain | undefined): number {
  return chain === undefined ? -1 : (chain.links.at(-1)?.configuration ?? chain.base).epoch
}

/** Checks a chain as an outside verifier would, with the fake scheme: every link by a majority of the previous voters. */
function verifies (chain: CertificateChain): boolean {
  const signer = fakeSigner('verifier')
  let previous = chain.base
  for (const link of chain.links) {
    const bytes = certificateBytes(signer.context, previous, link.configuration)
    const good = link.signatures.filter(s => previous.voters.includes(s.signer) && signer.verify(s.signer, bytes, s.signature))
    if (link.configuration.epoch !== previous.epoch + 1 || new Set(good.map(s => s.signer)).size <= previous.voters.length / 2) return false
    previous = link.configuration
  }
  return true
}

/**
 * JSON commands, except that a Uint8Array passes through as the command's bytes: how the tests
 * put forged certificate bodies into the log through `submit` with a reserved session.
 */
const rawOrJson: CommandCodec<KvCommand> = {
  encode: c => (c as unknown) instanceof Uint8Array ? c as unknown as Uint8Array : new TextEncoder().encode(JSON.stringify(c)),
  decode: b => JSON.parse(new TextDecoder().decode(b)) as KvCommand
}
const raw = (bytes: Uint8Array): KvCommand => bytes as unknown as KvCommand

let cluster: Cluster | undefined
afterEach(async () => {
  await cluster?.stopAll()
  cluster = undefined
})

describe('configuration certificates across a group (LocalNetwork, fake signer)', () => {
  it('after a replacement every replica holds the same complete chain from the bootstrap configuration', async () => {
    cluster = new Cluster()
    await cluster.startAll()
    const leader = cluster.leader() as NodeId
    const victim = IDS.find(id => id !== leader) as NodeId
    // The victim dies; a spare joins as a learner and is swapped in (two changes: epochs 1 and 2).
    await cluster.peer(victim).stop()
    const d = await cluster.boot('d')
    cluster.start(d)
    await cluster.peer(leader).reconfigure({ kind: 'addLearner', node: 'd' })
    const c2 = await cluster.peer(leader).reconfigure({ kind: 'replaceVoter', remove: victim, add: 'd' })
    expect(c2.epoch).toBe(2)
    const live = (): Member[] => cluster?.running() ?? []
    await until(() => live().every(m => tip(m.peer.certificateChain()) === 2), 'a complete chain to epoch 2 on every live replica')
    const chains = live().map(m => m.peer.certificateChain())
    for (const c of chains) expect(c).toEqual(chains[0])
    const chain = chains[0] as CertificateChain
    expect(chain.base).toEqual(CONFIGURATION)
    expect(chain.links.map(l => l.configuration)).toEqual([
      { epoch: 1, voters: IDS, learners: ['d'] },
      { epoch: 2, voters: IDS.map(id => id === victim ? 'd' : id), learners: [] }
    ])
    // Signed by the two live voters of the replaced configuration, never by the dead one.
    for (const l of chain.links) expect(l.signatures.map(s => s.signer).sort()).toEqual(IDS.filter(id => id !== victim).sort())
    expect(verifies(chain)).toBe(true)
    for (const m of live()) if (m.id !== 'd') expect(m.completed).toEqual([1, 2])
    // From a later epoch: that configuration and the links above it.
    expect(cluster.peer(leader).certificateChain(1)?.links.map(l => l.configuration.epoch)).toEqual([2])
  })

  it('forged signatures and signers outside the replaced voters are refused alike on every replica', async () => {
    cluster = new Cluster()
    await cluster.startAll()
    const leader = cluster.leader() as NodeId
    // One voter is down: it never signs epoch 1, so its session for epoch 1 is unused.
    const silent = IDS.find(id => id !== leader) as NodeId
    await cluster.peer(silent).stop()
    await cluster.peer(leader).reconfigure({ kind: 'addLearner', node: 'd' })
    await until(() => cluster?.running().every(m => tip(m.peer.certificateChain()) === 1) === true, 'epoch 1 certified')
    const before = cluster.peer(leader).certificateChain()
    const bytes = certificateBytes(new Uint8Array([7]), CONFIGURATION, { epoch: 1, voters: IDS, learners: ['d'] })
    // In the silent voter's name, signed by another key.
    const session = { client: certCommand(silent, 1, new Uint8Array()).client, seq: 1 }
    await expect(cluster.peer(leader).submit(raw(fakeSigner('mallory').sign(bytes) as Uint8Array), { session }))
      .rejects.toMatchObject({ code: 'ERR_CERTIFICATE_REFUSED' })
    // A correct signature by a stranger (not a voter of epoch 0).
    const forged = certCommand('mallory', 1, fakeSigner('mallory').sign(bytes) as Uint8Array)
    await expect(cluster.peer(leader).submit(raw(forged.data), { session: { client: forged.client, seq: 1 } }))
      .rejects.toMatchObject({ code: 'ERR_CERTIFICATE_REFUSED', message: expect.stringContaining('not a voter') })
    await writes(cluster.peer(leader), 3, 'k')
    for (const m of cluster.running()) {
      expect(m.peer.certificateChain()).toEqual(before)
      expect(m.peer.certificateChain()?.links[0]?.signatures.map(s => s.signer)).not.toContain(silent)
    }
  })

  it('survives a restart from snapshots and reaches a new member by snapshot transfer', async () => {
    cluster = new Cluster({ snapshotEverySlots: 5, logRetentionSlots: 2 })
    await cluster.startAll()
    let leader = cluster.leader() as NodeId
    await cluster.peer(leader).reconfigure({ kind: 'addLearner', node: 'x' })
    await cluster.peer(leader).reconfigure({ kind: 'removeLearner', node: 'x' })
    await until(() => cluster?.running().every(m => tip(m.peer.certificateChain()) === 2) === true, 'epoch 2 certified')
    const certSlot = Math.max(...IDS.map(id => cluster?.peer(id).applied ?? 0))
    await writes(cluster.peer(leader), 20, 'k')
    await until(() => IDS.every(id => (cluster?.peer(id).status().snapshotIndex ?? 0) > certSlot), 'snapshots above the certificates')
    const expected = cluster.peer(leader).certificateChain()

    const storages = IDS.map(id => cluster?.members.get(id)?.storage as MemoryStorage)
    await Promise.all(IDS.map(async id => { await cluster?.peer(id).stop() }))
    for (const s of storages) {
      const stored = await s.loadSnapshot()
      expect(decodeRuntimeBlob(stored?.meta.sessions ?? new Uint8Array()).certificates?.links.length).toBe(2)
    }
    for (const [i, id] of IDS.entries()) {
      const m = await cluster.boot(id, storages[i])
      // Before start: the table comes from the snapshot alone.
      expect(m.peer.certificateChain()).toEqual(expected)
      cluster.start(m)
    }
    await until(() => cluster?.leader() !== undefined, 'a leader after the restart')
    leader = cluster.leader() as NodeId
    await writes(cluster.peer(leader), 12, 'j')

    // A new member joins as a learner; the log is compacted away, so it gets the snapshot, and
    // with it the chain; the change that added it is signed like any other.
    const d = await cluster.boot('d')
    cluster.start(d)
    await cluster.peer(leader).reconfigure({ kind: 'addLearner', node: 'd' })
    await writes(cluster.peer(leader), 3, 'l')
    await until(() => d.peer.snapshotTransfer.stats.installs >= 1 && tip(d.peer.certificateChain()) === 3, 'the learner holding the chain to epoch 3')
    // The configurations the snapshot carried were announced when it was installed, though their
    // commands were never applied here (listeners such as allow-lists depend on that).
    expect(d.membershipAtSnapshot[0]).toBeGreaterThanOrEqual(2)
    expect(d.memberships.at(-1)).toBe(3)
    const all = cluster.running().map(m => m.peer.certificateChain())
    for (const c of all) expect(c).toEqual(all[0])
    expect(all[0]?.links.slice(0, 2)).toEqual(expected?.links)
    expect(verifies(all[0] as CertificateChain)).toBe(true)
  })

  it('a signature that failed at apply time is made by the duty timer', async () => {
    cluster = new Cluster()
    await cluster.startAll()
    const leader = cluster.leader() as NodeId
    const [flaky, down] = IDS.filter(id => id !== leader) as [NodeId, NodeId]
    // `flaky`'s first signing attempt fails; `down` is down: the link needs the leader and `flaky`.
    await cluster.peer(flaky).stop()
    const inner = fakeSigner(flaky)
    let failures = 0
    const signer: CertificateSigner = {
      context: inner.context,
      verify: inner.verify,
      sign: bytes => {
        if (failures++ === 0) throw new Error('the key store is busy')
        return inner.sign(bytes)
      }
    }
    const m = await cluster.boot(flaky, cluster.members.get(flaky)?.storage, signer)
    cluster.start(m)
    await cluster.peer(down).stop()
    await until(() => cluster?.leader() !== undefined, 'a leader of the two')
    await cluster.peer(cluster.leader() as NodeId).reconfigure({ kind: 'addLearner', node: 'd' })
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(failures).toBe(1)
    expect(tip(m.peer.certificateChain())).toBe(0)
    await until(() => tip(m.peer.certificateChain()) === 1, 'the duty timer signing epoch 1', 5000)
    expect(m.peer.certificateChain()?.links[0]?.signatures.map(s => s.signer).sort()).toEqual([leader, flaky].sort())
  })
})
