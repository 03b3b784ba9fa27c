/**
 * Folder replication between real `vpeer start` processes on 127.0.0.1 (the harness:
 * simulations/replica-hosts.ts): computers that are online at different times, concurrent
 * edits, deletes and renames, an offline host catching up, a revoked peer, a crash mid-landing.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ReplicaHosts } from '../../simulations/replica-hosts.js'

let hosts: ReplicaHosts | undefined
afterEach(async () => {
  await hosts?.close()
  hosts = undefined
})

async function make (n: number): Promise<ReplicaHosts> {
  hosts = await ReplicaHosts.create({ hosts: n })
  return hosts
}

describe('replication between vpeer processes', () => {
  it('four hosts, one different file each: every file everywhere', async () => {
    const h = await make(4)
    for (const name of h.names) await h.writeFile(name, `from-${name}.txt`, `written on ${name}`)
    await h.found('C1')
    for (const name of ['C2', 'C3', 'C4']) await h.invite('C1', name)
    await Promise.all(['C2', 'C3', 'C4'].map(async name => await h.start(name)))
    const files = await h.waitConverged(h.names, { timeoutMs: 30_000 })
    expect(files).toEqual({ 'from-C1.txt': 'written on C1', 'from-C2.txt': 'written on C2', 'from-C3.txt': 'written on C3', 'from-C4.txt': 'written on C4' })
  }, 60_000)
})
