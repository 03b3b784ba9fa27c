import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { PersistentMap } from '../../src/sync/persistent-map.js'

type Op = { op: 'set', key: string, value: number } | { op: 'delete', key: string }

const key = fc.string({ maxLength: 4, unit: fc.constantFrom('a', 'b', 'c', '/', 'é', '\u{1F600}') })
const ops = fc.array(fc.oneof(
  fc.record({ op: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({ op: fc.constant('delete' as const), key })
), { maxLength: 200 })

const sortedModel = (m: Map<string, number>): Array<[string, number]> => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

describe('PersistentMap (against a plain Map)', () => {
  it('get, has, size and in-order iteration agree with the model after any operations; the AVL height bound holds', () => {
    fc.assert(fc.property(ops, key, (list: Op[], probe) => {
      let map = PersistentMap.empty<number>()
      const model = new Map<string, number>()
      for (const o of list) {
        if (o.op === 'set') { map = map.set(o.key, o.value); model.set(o.key, o.value) } else { map = map.delete(o.key); model.delete(o.key) }
      }
      expect(map.size).toBe(model.size)
      expect([...map]).toEqual(sortedModel(model))
      expect(map.get(probe)).toBe(model.get(probe))
      expect(map.has(probe)).toBe(model.has(probe))
      expect(map.height).toBeLessThanOrEqual(Math.ceil(1.45 * Math.log2(map.size + 2)))
      // Iteration from a key, inclusive and exclusive.
      const expected = sortedModel(model)
      expect([...map.entries({ key: probe })]).toEqual(expected.filter(([k]) => k >= probe))
      expect([...map.entries({ key: probe, exclusive: true })]).toEqual(expected.filter(([k]) => k > probe))
    }), { numRuns: 300 })
  })

  it('is persistent: every earlier version still reads as it did, whatever came after', () => {
    fc.assert(fc.property(ops, (list: Op[]) => {
      const versions: Array<{ map: PersistentMap<string, number>, model: Array<[string, number]> }> = []
      let map = PersistentMap.empty<number>()
      const model = new Map<string, number>()
      for (const o of list) {
        versions.push({ map, model: sortedModel(model) })
        if (o.op === 'set') { map = map.set(o.key, o.value); model.set(o.key, o.value) } else { map = map.delete(o.key); model.delete(o.key) }
      }
      for (const v of versions) expect([...v.map]).toEqual(v.model)
    }), { numRuns: 100 })
  })

  it('an iterator taken before later updates reads the version it came from', () => {
    let map = PersistentMap.empty<number>()
    for (let i = 0; i < 100; i++) map = map.set(`k${String(i).padStart(3, '0')}`, i)
    const it = map.entries()
    const first = it.next().value
    let later = map
    for (let i = 0; i < 100; i += 2) later = later.delete(`k${String(i).padStart(3, '0')}`)
    const rest = [...it]
    expect(first).toEqual(['k000', 0])
    expect(rest).toHaveLength(99)
    expect(later.size).toBe(50)
  })

  it('fromSorted builds the same map as inserting, and refuses keys out of order', () => {
    fc.assert(fc.property(fc.uniqueArray(key, { maxLength: 300 }), keys => {
      const entries = keys.map((k, i): [string, number] => [k, i]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      const built = PersistentMap.fromSorted(entries)
      expect([...built]).toEqual(entries)
      expect(built.height).toBeLessThanOrEqual(Math.ceil(Math.log2(entries.length + 1)))
      for (const [k, v] of entries) expect(built.get(k)).toBe(v)
    }))
    expect(() => PersistentMap.fromSorted([['b', 1], ['a', 2]])).toThrow(RangeError)
    expect(() => PersistentMap.fromSorted([['a', 1], ['a', 2]])).toThrow(RangeError)
  })

  it('delete of a missing key returns the same map', () => {
    const m = PersistentMap.empty<number>().set('a', 1)
    expect(m.delete('b')).toBe(m)
  })
})
