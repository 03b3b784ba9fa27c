import { describe, it, expect } from 'vitest'
import { nextConfiguration, decodeReconfiguration, reconfigCommand, configurationAt, isReconfigCommand } from '../../../src/paxos/reconfiguration.js'
import type { ConfigChange } from '../../../src/paxos/reconfiguration.js'
import type { Configuration } from '../../../src/paxos/index.js'

const base: Configuration = { epoch: 3, voters: ['a', 'b', 'c'], learners: ['l', 'm', 'n'] }

describe('nextConfiguration', () => {
  const ok: Array<[ConfigChange, string[], string[]]> = [
    [{ kind: 'addVoter', node: 'd' }, ['a', 'b', 'c', 'd'], ['l', 'm', 'n']],
    [{ kind: 'addVoter', node: 'l' }, ['a', 'b', 'c', 'l'], ['m', 'n']],
    [{ kind: 'removeVoter', node: 'b' }, ['a', 'c'], ['l', 'm', 'n']],
    [{ kind: 'replaceVoter', remove: 'b', add: 'd' }, ['a', 'd', 'c'], ['l', 'm', 'n']],
    [{ kind: 'replaceVoter', remove: 'b', add: 'l' }, ['a', 'l', 'c'], ['m', 'n']],
    [{ kind: 'addLearner', node: 'o' }, ['a', 'b', 'c'], ['l', 'm', 'n', 'o']],
    [{ kind: 'removeLearner', node: 'l' }, ['a', 'b', 'c'], ['m', 'n']],
    [{ kind: 'promoteLearner', node: 'l' }, ['a', 'b', 'c', 'l'], ['m', 'n']],
    [{ kind: 'promoteLearners', nodes: ['n', 'l'] }, ['a', 'b', 'c', 'n', 'l'], ['m']]
  ]
  for (const [change, voters, learners] of ok) {
    it(`${change.kind} ${JSON.stringify(change)}`, () => {
      expect(nextConfiguration(base, { expectEpoch: 3, change })).toEqual({ epoch: 4, voters, learners })
    })
  }

  const bad: Array<[ConfigChange, RegExp]> = [
    [{ kind: 'addVoter', node: 'a' }, /already a voter/],
    [{ kind: 'removeVoter', node: 'z' }, /not a voter/],
    [{ kind: 'replaceVoter', remove: 'z', add: 'd' }, /not a voter/],
    [{ kind: 'replaceVoter', remove: 'a', add: 'b' }, /already a voter/],
    [{ kind: 'addLearner', node: 'a' }, /already a member/],
    [{ kind: 'removeLearner', node: 'a' }, /not a learner/],
    [{ kind: 'promoteLearner', node: 'a' }, /not a learner/],
    [{ kind: 'promoteLearners', nodes: ['l', 'a'] }, /a is not a learner/],
    [{ kind: 'promoteLearners', nodes: ['l', 'l'] }, /distinct/],
    [{ kind: 'promoteLearners', nodes: [] }, /distinct/]
  ]
  for (const [change, why] of bad) {
    it(`rejects ${JSON.stringify(change)}`, () => {
      const r = nextConfiguration(base, { expectEpoch: 3, change })
      expect('error' in r && r.error).toMatch(why)
    })
  }

  it('is a compare-and-set on the epoch: a stale change is rejected', () => {
    const r = nextConfiguration(base, { expectEpoch: 2, change: { kind: 'addVoter', node: 'd' } })
    expect('error' in r && r.error).toMatch(/stale/)
  })

  it('never removes the last voter', () => {
    const r = nextConfiguration({ epoch: 0, voters: ['a'], learners: [] }, { expectEpoch: 0, change: { kind: 'removeVoter', node: 'a' } })
    expect('error' in r && r.error).toMatch(/last voter/)
  })
})

describe('reconfiguration commands', () => {
  it('round-trip through a command in the reserved namespace', () => {
    const c = reconfigCommand('op', 7, { expectEpoch: 1, change: { kind: 'replaceVoter', remove: 'a', add: 'b' } })
    expect(isReconfigCommand(c)).toBe(true)
    expect(isReconfigCommand({ client: 'op', seq: 1, data: new Uint8Array() })).toBe(false)
    expect(decodeReconfiguration(c.data)).toEqual({ expectEpoch: 1, change: { kind: 'replaceVoter', remove: 'a', add: 'b' } })
    const many = reconfigCommand('op', 8, { expectEpoch: 2, change: { kind: 'promoteLearners', nodes: ['x', 'y'] } })
    expect(decodeReconfiguration(many.data)).toEqual({ expectEpoch: 2, change: { kind: 'promoteLearners', nodes: ['x', 'y'] } })
  })

  it('decodes malformed bytes to undefined (rejected alike on every replica)', () => {
    const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
    for (const bad of [new Uint8Array([0xff, 0xfe]), enc(null), enc({ expectEpoch: 'x' }), enc({ expectEpoch: 1, change: { kind: 'nuke' } }),
      enc({ expectEpoch: 1, change: { kind: 'addVoter', node: '' } }), enc({ expectEpoch: 1.5, change: { kind: 'addVoter', node: 'a' } }),
      enc({ expectEpoch: 1, change: { kind: 'promoteLearners', nodes: [] } }), enc({ expectEpoch: 1, change: { kind: 'promoteLearners', nodes: 'ab' } }),
      enc({ expectEpoch: 1, change: { kind: 'promoteLearners', nodes: ['a', 'a'] } }), enc({ expectEpoch: 1, change: { kind: 'promoteLearners', nodes: ['a', 7] } }),
      enc({ expectEpoch: 1, change: { kind: 'promoteLearners', nodes: Array.from({ length: 17 }, (_, i) => `n${i}`) } })]) {
      expect(decodeReconfiguration(bad)).toBeUndefined()
    }
  })

  it('configurationAt picks the last configuration starting at or below the slot', () => {
    const c0 = { epoch: 0, voters: ['a'], learners: [] }
    const c1 = { epoch: 1, voters: ['b'], learners: [] }
    const configs = [{ fromSlot: 1, configuration: c0 }, { fromSlot: 10, configuration: c1 }]
    expect(configurationAt(configs, 9)).toBe(c0)
    expect(configurationAt(configs, 10)).toBe(c1)
    expect(configurationAt(configs, 99)).toBe(c1)
  })
})
