import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import '../../src/util/polyfills.js'
import { initFolder, joinFolder } from '../../src/replica/folder.js'
import { ReplicaNode } from '../../src/replica/node.js'
import { loadOrCreateIdentity } from '../../src/alm/identity.js'
import { controlRequest, controlSocketPath } from '../../src/replica/control.js'

let dir: string
const nodes: ReplicaNode[] = []
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'vpeer-replica-')) })
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop().catch(() => {})
  await rm(dir, { recursive: true, force: true })
})

async function files (folder: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const e of await readdir(join(folder, rel), { withFileTypes: true })) {
    if (e.name.startsWith('.vpeer')) continue
    const path = rel === '' ? e.name : `${rel}/${e.name}`
    if (e.isDirectory()) Object.assign(out, await files(folder, path))
    else {
      // A file the node removes (or renames) between the listing and the read is not there.
      const text = await readFile(join(folder, path), 'utf8').catch((error: { code?: string }) => { if (error.code === 'ENOENT') return undefined; throw error })
      if (text !== undefined) out[path] = text
    }
  }
  return out
}

async function until (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

async function idOf (folder: string): Promise<string> {
  return (await loadOrCreateIdentity(join(folder, '.vpeer', 'identity.key'))).id
}

async function start (folder: string, replaceAfterMs?: number, extra: Partial<Parameters<typeof ReplicaNode.start>[0]> = {}): Promise<ReplicaNode> {
  const node = await ReplicaNode.start({ folder, rescanEveryMs: 500, tickMs: 10, ...(replaceAfterMs !== undefined ? { replaceAfterMs } : {}), ...extra })
  nodes.push(node)
  return node
}

describe('replication nodes over libp2p on 127.0.0.1', () => {
  it('three nodes: founded, invited, joined; files from two of them converge everywhere, edits and deletes follow', async () => {
    const [a, b, c] = [join(dir, 'a'), join(dir, 'b'), join(dir, 'c')]
    for (const f of [a, b, c]) await initFolder(f, { name: f.slice(-1) })
    await writeFile(join(a, 'F1.txt'), 'one')
    await mkdir(join(a, 'docs'))
    await writeFile(join(a, 'docs', 'F2.txt'), 'two'.repeat(50_000))
    await writeFile(join(b, 'F4.txt'), 'four')
    const na = await start(a)
    // The CLI path: invitations through the running node's control socket.
    const inviteB = await controlRequest(controlSocketPath(na.paths.state), a, 'invite', { peer: await idOf(b) }) as { invitation: string }
    await joinFolder(b, inviteB.invitation)
    const nb = await start(b)
    const inviteC = await na.invite(await idOf(c))
    await joinFolder(c, inviteC)
    const nc = await start(c)
    const expected = { 'F1.txt': 'one', 'docs/F2.txt': 'two'.repeat(50_000), 'F4.txt': 'four' }
    for (const [name, folder] of [['a', a], ['b', b], ['c', c]] as const) {
      await until(`${name} to have every file`, async () => JSON.stringify(await files(folder)) === JSON.stringify(await files(a)) && Object.keys(await files(folder)).length === 3)
    }
    for (const folder of [a, b, c]) expect(await files(folder)).toEqual(expected)
    // Every machine is in every address book, so the joiners can fetch from each other.
    await until('every machine in every address book', () => [na, nb, nc].every(n => n.machines().length === 3))
    expect(nb.contentPeers().sort()).toEqual([na.id, nc.id].sort())
    // With two learners ready, the group grew to three voters.
    await until('three voters', () => na.status().voters.length === 3)
    // An edit on c and a delete on b reach everyone.
    await writeFile(join(c, 'F1.txt'), 'one, edited on c')
    await rm(join(b, 'F4.txt'))
    const after = { 'F1.txt': 'one, edited on c', 'docs/F2.txt': 'two'.repeat(50_000) }
    for (const [name, folder] of [['a', a], ['b', b], ['c', c]] as const) {
      await until(`${name} to see the edit and the delete`, async () => JSON.stringify(await files(folder)) === JSON.stringify(after))
    }
    const status = await controlRequest(controlSocketPath(nb.paths.state), b, 'status') as { catalog: { files: number }, role: string }
    expect(status.catalog.files).toBe(2)
    expect(['voter', 'learner']).toContain(status.role)
    expect(nc.status().sync.problems).toEqual([])
  }, 120_000)

  it('a voter replaced while it was away is added back as a learner when it returns, and catches up', async () => {
    const folders = ['a', 'b', 'c', 'd'].map(n => join(dir, n))
    for (const f of folders) await initFolder(f, { name: f.slice(-1) })
    const first = await start(folders[0] as string, 1500)
    for (const f of folders.slice(1)) {
      await joinFolder(f, await first.invite(await idOf(f)))
      await start(f, 1500)
    }
    // The newest configuration must govern before a voter is stopped: until its α-window has passed,
    // the one before it (two voters while the group grows) still decides the slots in between.
    await until('three voters and a learner, governing', () => first.status().voters.length === 3 && first.status().learners.length === 1 && first.member.vp.status().configurations.length === 1)
    // Stop a voter that is not the leader; the learner replaces it.
    const leader = first.status().leader
    const victim = nodes.find(n => n.id !== leader && first.status().voters.includes(n.id)) as ReplicaNode
    const victimFolder = victim.paths.root
    await victim.stop()
    nodes.splice(nodes.indexOf(victim), 1)
    const byLeader = (): ReplicaNode => nodes.find(n => n.id === leader) as ReplicaNode
    await until('the victim replaced', () => !byLeader().status().voters.includes(victim.id) && byLeader().status().voters.length === 3).catch((e) => {
      // Seen timing out under load in CI-like runs: say what the leader saw, if it recurs.
      const st = byLeader().member.vp.status()
      console.log('not replaced:', JSON.stringify({ role: st.role, leader: st.leader, ticks: st.ticks, commit: st.commitIndex, configurations: st.configurations, peers: st.peers }))
      throw e
    })
    await writeFile(join(folders[0] as string, 'while-away.txt'), 'written while the victim was away')
    const back = await start(victimFolder, 1500)
    await until('the victim back as a learner', () => byLeader().status().learners.includes(back.id))
    await until('the victim caught up', async () => (await files(victimFolder))['while-away.txt'] === 'written while the victim was away')
  }, 120_000)

  it('a machine that accepted an invitation while the inviting machine was off joins once it is back', async () => {
    const [a, b] = [join(dir, 'a'), join(dir, 'b')]
    for (const f of [a, b]) await initFolder(f, { name: f.slice(-1) })
    await writeFile(join(a, 'hello.txt'), 'from a')
    const na = await start(a)
    await joinFolder(b, await na.invite(await idOf(b)))
    // The inviting machine goes off before b first starts: b's dial is refused, and a (restarted)
    // does not know where b listens. Only b dialing again can bring them together.
    await na.stop()
    nodes.splice(nodes.indexOf(na), 1)
    await start(b)
    await new Promise(resolve => setTimeout(resolve, 1500))
    await start(a)
    await until('b to have a\'s file', async () => (await files(b))['hello.txt'] === 'from a', 30_000)
  }, 60_000)

  it('a node offline while the others compacted their logs past it catches up (the catalog and the chunks it lacks)', async () => {
    const folders = ['a', 'b', 'c'].map(n => join(dir, n))
    for (const f of folders) await initFolder(f, { name: f.slice(-1) })
    const compact = { snapshotEverySlots: 5, logRetentionSlots: 0 }
    const first = await start(folders[0] as string, undefined, compact)
    for (const f of folders.slice(1)) {
      await joinFolder(f, await first.invite(await idOf(f)))
      await start(f, undefined, compact)
    }
    await writeFile(join(folders[0] as string, 'before.txt'), 'before')
    for (const f of folders) await until(`${f} has before.txt`, async () => (await files(f))['before.txt'] === 'before')
    const away = nodes.find(n => n.paths.root === folders[2]) as ReplicaNode
    const awayApplied = away.member.vp.status().appliedIndex
    await away.stop()
    nodes.splice(nodes.indexOf(away), 1)
    // Many changes while it is away: the log below the snapshots is dropped.
    for (let i = 0; i < 30; i++) await writeFile(join(folders[0] as string, `f${i}.txt`), `file ${i} `.repeat(1000))
    await rm(join(folders[0] as string, 'before.txt'))
    await until('the others in step', async () => Object.keys(await files(folders[1] as string)).length === 30 && first.status().sync.idle).catch(async (e) => {
      // Seen stalling once in a few loaded runs (not reproduced since): say where, if it recurs.
      for (const n of nodes) {
        const st = n.status()
        const vp = n.member.vp.status()
        console.log('stalled:', n.paths.root.slice(-1), Object.keys(await files(n.paths.root)).length, 'files', JSON.stringify({
          role: st.role, leader: st.leader?.slice(-4), revision: st.catalog.revision, local: st.local, sync: st.sync,
          exchange: { timedOut: st.exchange.requestsTimedOut, fetched: st.exchange.blocksFetched, served: st.exchange.blocksServed },
          transfer: st.transfer, applied: vp.appliedIndex, commit: vp.commitIndex
        }))
      }
      throw e
    })
    // Every live member has dropped the log the returning node would need.
    await until('the log compacted past it', () => nodes.every(n => n.member.vp.status().compactedThrough > awayApplied))
    await start(folders[2] as string, undefined, compact)
    await until('the returning node in step', async () => JSON.stringify(await files(folders[2] as string)) === JSON.stringify(await files(folders[0] as string)))
    expect(Object.keys(await files(folders[2] as string))).toHaveLength(30)
  }, 120_000)
})
