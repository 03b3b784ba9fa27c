import { describe, expect, it } from 'vitest'
import { rankSpares } from '../../../src/vpeer/spare-choice.js'
import { Prng } from '../../../src/sim/prng.js'

describe('rankSpares', () => {
  it('prefers the longest uptime, unknown uptimes last, ties by id', () => {
    const ranked = rankSpares([
      { id: 'd' }, { id: 'a', uptimeMs: 10 }, { id: 'c', uptimeMs: 5_000 }, { id: 'b', uptimeMs: 10 }, { id: 'e', uptimeMs: Number.NaN }
    ], 'uptime')
    expect(ranked).toEqual(['c', 'a', 'b', 'd', 'e'])
  })

  it('random is a seeded permutation of the pool', () => {
    const pool = Array.from({ length: 8 }, (_, i) => ({ id: `n${i}`, uptimeMs: i }))
    const one = rankSpares(pool, 'random', new Prng(7))
    expect([...one].sort()).toEqual(pool.map(p => p.id).sort())
    expect(rankSpares(pool, 'random', new Prng(7))).toEqual(one)
    expect(() => rankSpares(pool, 'random')).toThrow(TypeError)
  })
})
