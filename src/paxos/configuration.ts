import { ConfigurationError } from './errors.js'
import type { Configuration, NodeId } from './types.js'

export function isVoter (configuration: Configuration, id: NodeId): boolean {
  return configuration.voters.includes(id)
}

export function isMember (configuration: Configuration, id: NodeId): boolean {
  return configuration.voters.includes(id) || configuration.learners.includes(id)
}

/** Every node that must hear about commits: voters and learners. */
export function members (configuration: Configuration): NodeId[] {
  return [...configuration.voters, ...configuration.learners]
}

/** Rejects configurations that cannot work: no voters, duplicates, a node both voter and learner. */
export function validateConfiguration (configuration: Configuration): void {
  const { voters, learners, epoch } = configuration
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ConfigurationError(`epoch must be a non-negative integer, got ${epoch}`)
  if (voters.length === 0) throw new ConfigurationError('a configuration needs at least one voter')
  const all = [...voters, ...learners]
  if (new Set(all).size !== all.length) throw new ConfigurationError('a node appears twice in the configuration')
  for (const id of all) if (typeof id !== 'string' || id.length === 0) throw new ConfigurationError('node ids must be non-empty strings')
}
