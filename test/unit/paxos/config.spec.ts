import { describe, expect, it } from 'vitest'
import { DEFAULT_PAXOS_CONFIG, resolveConfig, validateConfig } from '../../../src/paxos/config.js'
import type { PaxosConfig } from '../../../src/paxos/config.js'
import { validateConfiguration } from '../../../src/paxos/configuration.js'
import { ConfigurationError, PaxosError } from '../../../src/paxos/errors.js'
import { PaxosNode } from '../../../src/paxos/node.js'
import type { Configuration } from '../../../src/paxos/types.js'
import { emptyDurableState } from '../../../src/paxos/types.js'

const configuration: Configuration = { epoch: 0, voters: ['a', 'b', 'c'], learners: ['d'] }
const good: PaxosConfig = { ...DEFAULT_PAXOS_CONFIG, id: 'a', configuration }

function expectConfigurationError (fn: () => void, message?: RegExp): void {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  expect(caught).toBeInstanceOf(ConfigurationError)
  expect(caught).toBeInstanceOf(PaxosError)
  const err = caught as ConfigurationError
  expect(err.code).toBe('ERR_INVALID_CONFIGURATION')
  expect(err.name).toBe('ConfigurationError')
  if (message !== undefined) expect(err.message).toMatch(message)
}

describe('validateConfig', () => {
  it('accepts the defaults', () => {
    expect(() => { validateConfig(good) }).not.toThrow()
    expect(resolveConfig({ id: 'a', configuration })).toEqual(good)
  })

  const positiveFields = ['electionTicksMin', 'electionTicksMax', 'heartbeatTicks', 'acceptRetryTicks', 'catchupRetryTicks',
    'alpha', 'batchCommandsMax', 'batchBytesMax', 'catchupEntriesMax', 'committedMax', 'proposalQueueMax'] as const
  const badNumbers: Array<[string, unknown]> = [['zero', 0], ['negative', -1], ['fraction', 1.5], ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY], ['unsafe integer', 2 ** 53], ['string', '5'], ['undefined', undefined]]

  for (const field of positiveFields) {
    for (const [label, value] of badNumbers) {
      it(`rejects ${field} = ${label}`, () => {
        expectConfigurationError(() => { validateConfig({ ...good, [field]: value } as unknown as PaxosConfig) }, new RegExp(field))
      })
    }
  }

  it.each([
    ['electionTicksMax equal to electionTicksMin', { electionTicksMin: 20, electionTicksMax: 20 }, /electionTicksMax/],
    ['electionTicksMax below electionTicksMin', { electionTicksMin: 20, electionTicksMax: 10 }, /electionTicksMax/],
    ['heartbeatTicks above half of electionTicksMin', { electionTicksMin: 10, electionTicksMax: 20, heartbeatTicks: 6 }, /heartbeatTicks/],
    ['an empty id', { id: '' }, /id/],
    ['a non-string id', { id: 7 }, /id/],
    ['a configuration with no voters', { configuration: { epoch: 0, voters: [], learners: ['a'] } }, /voter/]
  ])('rejects %s', (_label, patch, message) => {
    expectConfigurationError(() => { validateConfig({ ...good, ...patch } as unknown as PaxosConfig) }, message)
  })

  it('accepts heartbeatTicks at exactly half of electionTicksMin', () => {
    expect(() => { validateConfig({ ...good, electionTicksMin: 10, electionTicksMax: 11, heartbeatTicks: 5 }) }).not.toThrow()
  })

  it('resolveConfig and the PaxosNode constructor validate too', () => {
    expectConfigurationError(() => resolveConfig({ id: 'a', configuration, alpha: 0 }), /alpha/)
    expectConfigurationError(() => new PaxosNode({ id: 'a', configuration, batchBytesMax: -5 }, emptyDurableState(), { int: min => min }), /batchBytesMax/)
  })
})

describe('alpha and its deprecated alias pipelineMax', () => {
  it('takes pipelineMax as alpha when alpha is not given', () => {
    const resolved = resolveConfig({ id: 'a', configuration, pipelineMax: 7 })
    expect(resolved.alpha).toBe(7)
    expect('pipelineMax' in resolved).toBe(false)
  })

  it('accepts both when they agree, and refuses them when they disagree', () => {
    expect(resolveConfig({ id: 'a', configuration, alpha: 5, pipelineMax: 5 }).alpha).toBe(5)
    expectConfigurationError(() => resolveConfig({ id: 'a', configuration, alpha: 5, pipelineMax: 6 }), /pipelineMax/)
  })

  it('validates the alias like alpha itself', () => {
    expectConfigurationError(() => resolveConfig({ id: 'a', configuration, pipelineMax: 0 }), /alpha/)
  })
})

describe('validateConfiguration', () => {
  it('accepts a well-formed configuration, with or without learners', () => {
    expect(() => { validateConfiguration(configuration) }).not.toThrow()
    expect(() => { validateConfiguration({ epoch: 3, voters: ['x'], learners: [] }) }).not.toThrow()
  })

  it.each([
    ['a negative epoch', { epoch: -1, voters: ['a'], learners: [] }, /epoch/],
    ['a fractional epoch', { epoch: 0.5, voters: ['a'], learners: [] }, /epoch/],
    ['a NaN epoch', { epoch: Number.NaN, voters: ['a'], learners: [] }, /epoch/],
    ['no voters', { epoch: 0, voters: [], learners: [] }, /voter/],
    ['a duplicate voter', { epoch: 0, voters: ['a', 'b', 'a'], learners: [] }, /twice/],
    ['a duplicate learner', { epoch: 0, voters: ['a'], learners: ['l', 'l'] }, /twice/],
    ['a node both voter and learner', { epoch: 0, voters: ['a', 'b'], learners: ['b'] }, /twice/],
    ['an empty voter id', { epoch: 0, voters: ['a', ''], learners: [] }, /non-empty/],
    ['an empty learner id', { epoch: 0, voters: ['a'], learners: [''] }, /non-empty/],
    ['a non-string id', { epoch: 0, voters: ['a', 5], learners: [] }, /non-empty/]
  ])('rejects %s', (_label, bad, message) => {
    expectConfigurationError(() => { validateConfiguration(bad as unknown as Configuration) }, message)
  })
})
