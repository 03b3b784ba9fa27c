import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Swarm } from '../../src/sync/swarm.js'
import type { SwarmFailure, SwarmRequest } from '../../src/sync/swarm.js'

/** A seeded xorshift, enough for tie-breaks. */
function seeded (seed: number): { int (min: number, max: number): number } {
  let x = (seed | 0) || 0x9e3779b9
  return {
    int (min, max) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5
      return min + ((x >>> 0) % (max - min))
    }
  }
}

const idOf = (i: number): string => i.toString(16).padStart(64, '0')

interface Scenario {
  sizes: number[]
  /** Per chunk: the holder that always answers (undefined: nobody has it), and the flaky ones. */
  honest: Array<number | undefined>
  flaky: number[][]
  peers: number
  perPeerMax: number
  /** Infinity: no per-peer byte bound. */
  perPeerBytesMax: number
  inflightBytesMax: number
  seed: number
  choices: number[]
}

const scenario: fc.Arbitrary<Scenario> = fc.integer({ min: 1, max: 5 }).chain(peers => fc.integer({ min: 1, max: 25 }).chain(n => fc.record({
  sizes: fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: n, maxLength: n }),
  honest: fc.array(fc.option(fc.integer({ min: 0, max: peers - 1 }), { freq: 6, nil: undefined }), { minLength: n, maxLength: n }),
  flaky: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: peers - 1 }), { maxLength: peers }), { minLength: n, maxLength: n }),
  peers: fc.constant(peers),
  perPeerMax: fc.integer({ min: 1, max: 4 }),
  perPeerBytesMax: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.integer({ min: 1, max: 3000 })),
  inflightBytesMax: fc.integer({ min: 1, max: 4000 }),
  seed: fc.integer(),
  choices: fc.array(fc.nat(), { minLength: 50, maxLength: 50 })
})))

describe('swarm scheduler (pure)', () => {
  it('never exceeds its bounds, never asks a non-holder, picks the rarest, and fetches every chunk some holder has', () => {
    fc.assert(fc.property(scenario, s => {
      const peer = (p: number): string => `p${p}`
      const holders = s.sizes.map((_, i) => new Set<string>([...(s.honest[i] === undefined ? [] : [peer(s.honest[i] as number)]), ...s.flaky[i]!.map(peer)]))
      const swarm = new Swarm(s.sizes.map((size, i) => ({ id: idOf(i), size })), { random: seeded(s.seed), perPeerMax: s.perPeerMax, perPeerBytesMax: s.perPeerBytesMax, inflightBytesMax: s.inflightBytesMax })
      holders.forEach((hs, i) => { for (const p of hs) swarm.addHolder(p, idOf(i)) })
      const outstanding: SwarmRequest[] = []
      const done = new Set<string>()
      let step = 0
      const choice = (): number => s.choices[step++ % s.choices.length]! + step
      for (let round = 0; round < 5000 && !swarm.done; round++) {
        // What next() may pick from: waiting chunks (none of their requests out) with a usable holder that has room.
        for (;;) {
          const perPeer = (p: string): number => outstanding.filter(r => r.peer === p).length
          const perPeerBytes = (p: string): number => outstanding.filter(r => r.peer === p).reduce((a, x) => a + x.size, 0)
          const hasRoom = (p: string): boolean => perPeer(p) === 0 || (perPeer(p) < s.perPeerMax && perPeerBytes(p) < s.perPeerBytesMax)
          const eligible = s.sizes.map((size, i) => ({ i, size, id: idOf(i) }))
            .filter(c => !done.has(c.id) && !outstanding.some(r => r.id === c.id))
            .map(c => ({ ...c, usable: swarm.usableHolders(c.id) }))
            .filter(c => c.usable.some(hasRoom))
          const r = swarm.next()
          const bytes = outstanding.reduce((a, x) => a + x.size, 0)
          if (r === undefined) {
            // Waiting only because the rarest does not fit the byte budget, or nothing is eligible.
            if (eligible.length > 0) {
              const min = Math.min(...eligible.map(c => c.usable.length))
              expect(outstanding.length > 0 && eligible.some(c => c.usable.length === min && bytes + c.size > s.inflightBytesMax)).toBe(true)
            }
            break
          }
          expect(holders[parseInt(r.id, 16)]!.has(r.peer)).toBe(true)
          expect(swarm.isBanned(r.peer)).toBe(false)
          if (!r.duplicate) {
            const min = Math.min(...eligible.map(c => c.usable.length))
            expect(eligible.find(c => c.id === r.id)?.usable.length).toBe(min)
          } else {
            expect(eligible).toEqual([])
          }
          // The peer had room when asked: under both of its bounds, or idle.
          expect(hasRoom(r.peer)).toBe(true)
          outstanding.push(r)
          expect(outstanding.filter(x => x.peer === r.peer).length).toBeLessThanOrEqual(s.perPeerMax)
          expect(swarm.inflightTo(r.peer)).toBe(outstanding.filter(x => x.peer === r.peer).length)
          const total = bytes + r.size
          expect(total <= s.inflightBytesMax || outstanding.length === 1).toBe(true)
          expect(swarm.inflightBytes).toBe(total)
        }
        if (outstanding.length === 0) break
        // One request ends: the honest holder always delivers; a flaky one fails half the time.
        const r = outstanding.splice(choice() % outstanding.length, 1)[0]!
        const i = parseInt(r.id, 16)
        const isHonest = s.honest[i] !== undefined && peer(s.honest[i] as number) === r.peer
        if (isHonest || choice() % 2 === 0) {
          const cancelled = swarm.completed(r.id, r.peer)
          done.add(r.id)
          for (const c of cancelled) {
            const at = outstanding.findIndex(x => x.id === c.id && x.peer === c.peer)
            expect(at).toBeGreaterThanOrEqual(0)
            outstanding.splice(at, 1)
          }
          expect(outstanding.some(x => x.id === r.id)).toBe(false)
        } else {
          // A peer that is some chunk's honest holder sends nothing corrupt (a ban would take it out of every chunk).
          const honestSomewhere = s.honest.some(h => h !== undefined && peer(h) === r.peer)
          const reasons: SwarmFailure[] = honestSomewhere ? ['timeout', 'busy', 'error', 'missing'] : ['timeout', 'busy', 'error', 'corrupt', 'missing']
          const reason = reasons[choice() % reasons.length]!
          swarm.failed(r.id, r.peer, reason)
          if (reason === 'corrupt' || reason === 'missing') holders[i]!.delete(r.peer)
          // Its next announce brings a holder back that said missing.
          if (reason === 'missing' && choice() % 3 === 0) { holders[i]!.add(r.peer); swarm.addHolder(r.peer, r.id) }
          if (swarm.isBanned(r.peer)) for (const h of holders) h.delete(r.peer)
        }
      }
      for (let i = 0; i < s.sizes.length; i++) {
        if (s.honest[i] !== undefined) expect(done.has(idOf(i))).toBe(true)
      }
      expect(swarm.remaining).toBe(s.sizes.length - done.size)
      expect(swarm.inflightRequests).toBe(0)
    }), { numRuns: 300 })
  })

  it('rarest first: a chunk with one holder goes before chunks with more', () => {
    const swarm = new Swarm([{ id: idOf(1), size: 10 }, { id: idOf(2), size: 10 }, { id: idOf(3), size: 10 }], { random: seeded(1), perPeerMax: 8 })
    for (const p of ['a', 'b', 'c']) swarm.addHolder(p, idOf(1))
    for (const p of ['a', 'b']) swarm.addHolder(p, idOf(2))
    swarm.addHolder('c', idOf(3))
    expect([swarm.next()?.id, swarm.next()?.id, swarm.next()?.id]).toEqual([idOf(3), idOf(2), idOf(1)])
  })

  it('random tie-breaks: receivers with different seeds start on different chunks', () => {
    const firsts = new Set<string>()
    for (let seed = 1; seed <= 5; seed++) {
      const swarm = new Swarm(Array.from({ length: 100 }, (_, i) => ({ id: idOf(i), size: 1 })), { random: seeded(seed * 7919), perPeerMax: 8 })
      for (let i = 0; i < 100; i++) swarm.addHolder('origin', idOf(i))
      for (let k = 0; k < 8; k++) firsts.add(swarm.next()!.id)
    }
    // 5 receivers × 8 requests each out of 100 chunks: a fixed order would give 8 distinct.
    expect(firsts.size).toBeGreaterThan(25)
  })

  it('the least-loaded holder gets the request, and a failed peer is deprioritized for that chunk', () => {
    const swarm = new Swarm([{ id: idOf(1), size: 100 }, { id: idOf(2), size: 100 }], { random: seeded(3), perPeerMax: 8 })
    for (const p of ['a', 'b']) { swarm.addHolder(p, idOf(1)); swarm.addHolder(p, idOf(2)) }
    const r1 = swarm.next()!
    const r2 = swarm.next()!
    expect(r1.peer).not.toBe(r2.peer)
    swarm.failed(r1.id, r1.peer, 'timeout')
    const again = swarm.next()!
    expect(again.id).toBe(r1.id)
    expect(again.peer).toBe(r2.peer)
  })

  it('endgame: the last chunks in flight go to a second holder; the first answer cancels the other', () => {
    const swarm = new Swarm([{ id: idOf(1), size: 100 }], { random: seeded(9), perPeerMax: 8 })
    swarm.addHolder('a', idOf(1))
    swarm.addHolder('b', idOf(1))
    const first = swarm.next()!
    const dup = swarm.next()!
    expect(dup).toMatchObject({ id: idOf(1), duplicate: true })
    expect(dup.peer).not.toBe(first.peer)
    expect(swarm.next()).toBeUndefined()
    expect(swarm.completed(idOf(1), dup.peer)).toEqual([{ id: idOf(1), peer: first.peer, size: 100, duplicate: true }])
    expect(swarm.done).toBe(true)
    expect(swarm.inflightBytes).toBe(0)
  })

  it('endgame copies stay within endgameBytesMax; each completion frees room for the next oldest', () => {
    const ids = [1, 2, 3, 4, 5, 6].map(idOf)
    const swarm = new Swarm(ids.map(id => ({ id, size: 100 })), { random: seeded(4), perPeerMax: 8, endgameBytesMax: 250 })
    for (const id of ids) swarm.addHolder('slow', id)
    const firsts: SwarmRequest[] = []
    for (let r = swarm.next(); r !== undefined; r = swarm.next()) firsts.push(r)
    expect(firsts.map(r => r.peer)).toEqual(Array(6).fill('slow'))
    // Another holder appears: only two copies (200 bytes) go out, the oldest requests first.
    for (const id of ids) swarm.addHolder('fast', id)
    const copies: SwarmRequest[] = []
    for (let r = swarm.next(); r !== undefined; r = swarm.next()) copies.push(r)
    expect(copies).toEqual(firsts.slice(0, 2).map(r => ({ id: r.id, peer: 'fast', size: 100, duplicate: true })))
    // A copy answered: its original is returned for cancelling, and the next oldest is copied.
    expect(swarm.completed(copies[0]!.id, 'fast')).toEqual([{ id: copies[0]!.id, peer: 'slow', size: 100, duplicate: true }])
    expect(swarm.next()).toEqual({ id: firsts[2]!.id, peer: 'fast', size: 100, duplicate: true })
    expect(swarm.next()).toBeUndefined()
    // The slow peer answers a chunk that has a copy in flight: the copy is cancelled, room frees.
    expect(swarm.completed(firsts[1]!.id, 'slow')).toEqual([{ id: firsts[1]!.id, peer: 'fast', size: 100, duplicate: true }])
    expect(swarm.next()).toEqual({ id: firsts[3]!.id, peer: 'fast', size: 100, duplicate: true })
    // A chunk larger than the budget still gets one copy when none is in flight.
    const big = new Swarm([{ id: idOf(9), size: 1000 }], { random: seeded(4), endgameBytesMax: 10 })
    big.addHolder('a', idOf(9))
    big.addHolder('b', idOf(9))
    expect(big.next()).toMatchObject({ duplicate: false })
    expect(big.next()).toMatchObject({ duplicate: true })
  })

  it('endgameAfterMs: a request is copied only once it is that old; endgameDueAt says when', () => {
    const swarm = new Swarm([idOf(1), idOf(2)].map(id => ({ id, size: 10 })), { random: seeded(3), perPeerMax: 1, endgameAfterMs: 100 })
    for (const id of [idOf(1), idOf(2)]) { swarm.addHolder('a', id); swarm.addHolder('b', id) }
    const first = swarm.next(1000)!
    const second = swarm.next(1050)!
    expect(first.peer).not.toBe(second.peer)
    // Both holders are busy (one request each): no copy could go, whatever the time.
    expect(swarm.next(5000)).toBeUndefined()
    expect(swarm.endgameDueAt(1060)).toBeUndefined()
    const roomy = new Swarm([idOf(1), idOf(2)].map(id => ({ id, size: 10 })), { random: seeded(3), perPeerMax: 4, endgameAfterMs: 100 })
    roomy.addHolder('a', idOf(1))
    roomy.addHolder('a', idOf(2))
    const r1 = roomy.next(1000)!
    const r2 = roomy.next(1050)!
    expect([r1.peer, r2.peer]).toEqual(['a', 'a'])
    // Nobody else holds them: nothing to wait for.
    expect(roomy.endgameDueAt(1060)).toBeUndefined()
    roomy.addHolder('b', idOf(1))
    roomy.addHolder('b', idOf(2))
    expect(roomy.endgameDueAt(1060)).toBe(1100)
    expect(roomy.next(1099)).toBeUndefined()
    expect(roomy.next(1100)).toEqual({ id: r1.id, peer: 'b', size: 10, duplicate: true })
    expect(roomy.endgameDueAt(1100)).toBe(1150)
    expect(roomy.next(1120)).toBeUndefined()
    expect(roomy.next(1150)).toEqual({ id: r2.id, peer: 'b', size: 10, duplicate: true })
    expect(roomy.endgameDueAt(1150)).toBeUndefined()
  })

  it('setPeerWindow bounds the bytes in flight to one peer; one request always fits', () => {
    const ids = [1, 2, 3, 4, 5, 6].map(idOf)
    const swarm = new Swarm(ids.map(id => ({ id, size: 100 })), { random: seeded(5), perPeerMax: 32, perPeerBytesMax: 1000 })
    for (const id of ids) swarm.addHolder('slow', id)
    swarm.setPeerWindow('slow', 250)
    const sent: SwarmRequest[] = []
    for (let r = swarm.next(); r !== undefined; r = swarm.next()) sent.push(r)
    expect(sent).toHaveLength(3) // 0, 100 and 200 bytes in flight had room; 300 has not
    swarm.setPeerWindow('slow', 1)
    swarm.completed(sent[0]!.id, 'slow')
    expect(swarm.next()).toBeUndefined()
    swarm.completed(sent[1]!.id, 'slow')
    swarm.completed(sent[2]!.id, 'slow')
    expect(swarm.next()).toMatchObject({ peer: 'slow' }) // nothing in flight: room for one
    expect(swarm.next()).toBeUndefined()
    // Never above perPeerBytesMax, whatever the caller asks.
    swarm.setPeerWindow('slow', 10_000)
    let more = 0
    while (swarm.next() !== undefined) more++
    expect(more).toBe(2) // 5 chunks left, 1 in flight: up to 1000 bytes
  })

  it('a peer that sends corrupt chunks is banned at strikesMax', () => {
    const ids = [1, 2, 3, 4].map(idOf)
    const swarm = new Swarm(ids.map(id => ({ id, size: 1 })), { random: seeded(2), perPeerMax: 8, strikesMax: 2, endgameCopies: 1 })
    for (const id of ids) { swarm.addHolder('bad', id); swarm.addHolder('good', id) }
    let corrupt = 0
    for (let r = swarm.next(); r !== undefined || !swarm.done; r = swarm.next()) {
      if (r === undefined) break
      if (r.peer === 'bad') { corrupt++; swarm.failed(r.id, r.peer, 'corrupt') } else swarm.completed(r.id, r.peer)
    }
    expect(swarm.done).toBe(true)
    expect(corrupt).toBeLessThanOrEqual(2)
    expect(swarm.isBanned('bad')).toBe(corrupt === 2)
    expect(swarm.usableHolders(ids[0]!)).not.toContain('bad')
  })
})

describe('swarm scheduler at scale', () => {
  it('a 100 MiB transfer in 16 KiB chunks is scheduled in linear time, not quadratic', () => {
    // 6400 chunks (100 MiB at FastCDC's average) on one origin at its request limit, four
    // receivers holding a few each: next() must not walk every chunk waiting on the busy origin.
    // The quadratic scheduler took minutes here; the bound leaves a loaded CI machine ample room.
    const n = 6400
    const ids = Array.from({ length: n }, (_, i) => idOf(i))
    const swarm = new Swarm(ids.map(id => ({ id, size: 16 * 1024 })), { random: seeded(7), perPeerMax: 4, inflightBytesMax: 4 * 1024 * 1024 })
    for (const id of ids) swarm.addHolder('origin', id)
    for (let r = 0; r < 4; r++) for (let i = r; i < n; i += 97) swarm.addHolder(`r${r}`, ids[i]!)
    const started = performance.now()
    let completed = 0
    const inflight: SwarmRequest[] = []
    for (;;) {
      for (let q = swarm.next(); q !== undefined; q = swarm.next()) inflight.push(q)
      const q = inflight.shift()
      if (q === undefined) break
      swarm.completed(q.id, q.peer)
      completed++
    }
    expect(completed).toBe(n)
    expect(swarm.done).toBe(true)
    expect(performance.now() - started).toBeLessThan(3000)
  })
})
