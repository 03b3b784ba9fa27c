import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// The layer rules of docs/ARCHITECTURE.md, checked on every import in src/, so the page cannot
// drift from the code: dependencies point down only.
const src = fileURLToPath(new URL('../../src/', import.meta.url))

const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  util: [],
  paxos: ['util'],
  migration: ['paxos', 'util'],
  // The contracts every adapter and the runtime share (Storage, Transport, Clock, StateMachine, WireMessage, …).
  contracts: ['paxos', 'migration', 'util'],
  storage: ['contracts', 'paxos', 'migration', 'util'],
  vpeer: ['contracts', 'paxos', 'migration', 'util'],
  sim: ['contracts', 'paxos', 'migration', 'util', 'vpeer', 'storage'],
  // The libp2p adapter: node factory, identity, wire codec, transport. Written against the contracts only.
  alm: ['contracts', 'paxos', 'migration', 'util'],
  // The network runtime: member processes, the client service and VirtualPeerClient.
  net: ['contracts', 'paxos', 'migration', 'util', 'vpeer', 'storage', 'alm'],
  // File replication, the parts that are pure or local: catalog state machine, chunking, chunk
  // store, paths, scanning, the file-system contract, the block-exchange codec and scheduler.
  sync: ['contracts', 'util'],
  // The replication node: the catalog VP over the network, block exchange on libp2p, watcher.
  replica: ['contracts', 'paxos', 'migration', 'util', 'vpeer', 'storage', 'alm', 'net', 'sync'],
  // The vpeer command (package bin): members with the KV state machine of src/sim, replication nodes.
  cli: ['contracts', 'paxos', 'migration', 'util', 'vpeer', 'storage', 'alm', 'net', 'sim', 'sync', 'replica']
}

function files (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

describe('layers (docs/ARCHITECTURE.md)', () => {
  it('every import in src/ points down', () => {
    const broken: string[] = []
    for (const file of files(src)) {
      const layer = relative(src, file).split('/')[0] as string
      if (!file.slice(src.length).includes('/')) continue // src/index.ts re-exports everything
      const allowed = MAY_IMPORT[layer]
      expect(allowed, `src/${layer} is not in the layer table`).toBeDefined()
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/from '(\.\.?\/[^']+)'/g)) {
        const resolved = relative(src, join(file, '..', target as string))
        const to = resolved.split('/')[0] as string
        if (to === layer) continue
        if (!(allowed ?? []).some(a => resolved === a || to === a)) broken.push(`${relative(src, file)} imports ${resolved}`)
        // The core is used through its index: its internals can be cut and moved freely.
        else if (to === 'paxos' && resolved !== 'paxos/index.js') broken.push(`${relative(src, file)} imports ${resolved} (use paxos/index.js)`)
      }
    }
    expect(broken).toEqual([])
  })

  it('the core reads no clock, sets no timer and draws no ambient randomness', () => {
    const found: string[] = []
    for (const file of files(join(src, 'paxos'))) {
      const text = readFileSync(file, 'utf8')
      for (const banned of ['Date.now', 'setTimeout', 'setInterval', 'Math.random', 'performance.now', 'await ']) {
        if (text.includes(banned)) found.push(`${relative(src, file)}: ${banned}`)
      }
    }
    expect(found).toEqual([])
  })
})
