import { validateConfiguration } from './configuration.js'
import { ConfigurationError } from './errors.js'
import type { Configuration, NodeId } from './types.js'

/**
 * Test-only protocol mutations. Each one breaks a safety rule on purpose so that the test suite
 * can prove its checkers catch the bug (a checker that never fails proves nothing). Never set in
 * production.
 */
export interface PaxosMutations {
  /** Become leader without Phase 1: proposes without learning what earlier ballots accepted. */
  skipPhase1?: boolean
  /** Answer reads at the local commit index without confirming leadership (stale reads). */
  unsafeLocalReads?: boolean
  /** Hand the last committed slot out to the state machine a second time. */
  applyTwice?: boolean
  /** Break the α-window rule: a configuration chosen at slot s governs slots ≥ s + 1. */
  reconfigureAtNextSlot?: boolean
  /** Phase 1 re-proposes the *lowest*-ballot vote reported for a slot instead of the highest. */
  phase1KeepsLowestBallot?: boolean
  /** Phase 1 counts ⌊n/2⌋ promises of a configuration as a quorum (one short of a majority). */
  phase1QuorumTooSmall?: boolean
  /** The runtime sends a Ready's messages before its `persist` is durable (VirtualPeer only). */
  sendBeforePersist?: boolean
  /** The α rule off by one: a configuration chosen at slot s governs slots ≥ s + α − 1. */
  alphaOffByOne?: boolean
  /** Catch-up stores a fetched chosen value with the sender's ballot even when ours was higher. */
  catchupLowersBallot?: boolean
  /** The read index ignores the votes Phase 1 reported above the commit index (`maxReported`). */
  readIndexIgnoresPhase1?: boolean
  /** An acceptor overwrites a slot it already knows chosen with a late accept's other value. */
  overwriteChosenSlot?: boolean
}

/**
 * Every PaxosMutations name, for the simulator CLI and for the test that proves each is caught
 * (the `satisfies` clause makes the compiler reject a mutation missing here).
 */
export const PAXOS_MUTATIONS = Object.keys({
  skipPhase1: true,
  unsafeLocalReads: true,
  applyTwice: true,
  reconfigureAtNextSlot: true,
  phase1KeepsLowestBallot: true,
  phase1QuorumTooSmall: true,
  sendBeforePersist: true,
  alphaOffByOne: true,
  catchupLowersBallot: true,
  readIndexIgnoresPhase1: true,
  overwriteChosenSlot: true
} satisfies Record<keyof PaxosMutations, true>) as Array<keyof PaxosMutations>

export interface PaxosConfig {
  readonly id: NodeId
  /** The configuration at slot 1 (bootstrap). */
  readonly configuration: Configuration
  /** Election timeouts are drawn uniformly from [min, max) ticks. Raft's 150–300 ms, at 10 ms a tick. */
  readonly electionTicksMin: number
  readonly electionTicksMax: number
  /** The leader sends a heartbeat every this many ticks; must be well below electionTicksMin. */
  readonly heartbeatTicks: number
  /** A Phase-2 accept that has not reached a quorum is re-sent after this many ticks. */
  readonly acceptRetryTicks: number
  /** An unanswered catch-up request may be re-sent after this many ticks. */
  readonly catchupRetryTicks: number
  /**
   * α, the one number two safety rules share: the leader proposes slot t only when every slot
   * ≤ t − α is chosen here (so at most α slots are in flight: the pipeline depth), and a
   * membership change chosen at slot s governs slots ≥ s + α (so the configuration of every
   * slot a leader may propose is already known and final). Lamport's α-window reconfiguration.
   */
  readonly alpha: number
  /** Bounds on one slot's batch. */
  readonly batchCommandsMax: number
  readonly batchBytesMax: number
  /** Bounds on one catch-up reply. */
  readonly catchupEntriesMax: number
  /** Most committed slots handed to the state machine in one Ready. */
  readonly committedMax: number
  /** Most commands a leader queues before it refuses proposals (back-pressure). */
  readonly proposalQueueMax: number
  /**
   * Jitter retries (accept and prepare re-sends, catch-up requests) by up to half their interval,
   * so members that start retrying on the same tick drift apart. Default true; false replays the
   * schedules of simulator seeds published before jitter existed (regression tests do).
   */
  readonly retryJitter: boolean
  readonly mutations?: PaxosMutations
}

/** Defaults assume one tick every 10 ms in production. */
export const DEFAULT_PAXOS_CONFIG = {
  electionTicksMin: 15,
  electionTicksMax: 30,
  heartbeatTicks: 3,
  acceptRetryTicks: 6,
  catchupRetryTicks: 6,
  alpha: 32,
  batchCommandsMax: 4096,
  batchBytesMax: 1 << 20,
  catchupEntriesMax: 256,
  committedMax: 1024,
  proposalQueueMax: 100_000,
  retryJitter: true
} as const

export type PaxosConfigInit = Pick<PaxosConfig, 'id' | 'configuration'> & Partial<Omit<PaxosConfig, 'id' | 'configuration'>> & {
  /** @deprecated The former name of `alpha`, still accepted; giving both with different values is an error. */
  readonly pipelineMax?: number
}

export function resolveConfig (init: PaxosConfigInit): PaxosConfig {
  const { pipelineMax, ...rest } = init
  if (pipelineMax !== undefined && rest.alpha !== undefined && pipelineMax !== rest.alpha) {
    throw new ConfigurationError(`alpha ${String(rest.alpha)} and its deprecated alias pipelineMax ${String(pipelineMax)} disagree`)
  }
  const config: PaxosConfig = { ...DEFAULT_PAXOS_CONFIG, ...rest, ...(pipelineMax !== undefined && rest.alpha === undefined ? { alpha: pipelineMax } : {}) }
  validateConfig(config)
  return config
}

/** Every bound is checked once, here (etcd's Config.validate). */
export function validateConfig (config: PaxosConfig): void {
  const positive: Array<keyof PaxosConfig> = ['electionTicksMin', 'electionTicksMax', 'heartbeatTicks', 'acceptRetryTicks',
    'catchupRetryTicks', 'alpha', 'batchCommandsMax', 'batchBytesMax', 'catchupEntriesMax', 'committedMax', 'proposalQueueMax']
  for (const key of positive) {
    const v = config[key]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new ConfigurationError(`${key} must be a positive integer, got ${String(v)}`)
  }
  if (config.electionTicksMax <= config.electionTicksMin) throw new ConfigurationError('electionTicksMax must exceed electionTicksMin')
  if (config.heartbeatTicks * 2 > config.electionTicksMin) throw new ConfigurationError('heartbeatTicks must be at most half of electionTicksMin')
  if (typeof config.retryJitter !== 'boolean') throw new ConfigurationError(`retryJitter must be a boolean, got ${String(config.retryJitter)}`)
  if (typeof config.id !== 'string' || config.id.length === 0) throw new ConfigurationError('id must be a non-empty string')
  validateConfiguration(config.configuration)
}
