/**
 * vpeer/sim — the deterministic simulator, for fault-injection tests of your own state machine.
 * One seeded PRNG drives message delay, loss, duplication, reordering, partitions, crashes
 * (unsynced writes lost) and restarts, and clock skew; the same seed replays the same run.
 *
 * For your own state machine: `runSeed({ seed, app: defineApp({ stateMachine, workload, model }) })`
 * runs it under the seed's faults with every checker (agreement, validity, integrity, replica
 * equality, durability, liveness, and linearizability against your sequential model). For a
 * hand-written schedule: `new SimCluster({ seed, nodes, stateMachine })` with `crash`,
 * `restart`, `partition`, `heal`, `skewClock`.
 */
export { Prng } from './prng.js'
export { Scheduler, flushMicrotasks } from './scheduler.js'
export type { TimerHandle } from './scheduler.js'
export { SimClock } from './sim-clock.js'
export type { SimClockOptions } from './sim-clock.js'
export { SimNetwork } from './sim-network.js'
export type { NetworkFaults, NetworkStats, NetworkTraceEvent, DelayRange, DropReason } from './sim-network.js'
export { InvalidSimOptionError, UnknownNodeError } from './sim-errors.js'
export { SimCluster, SIM_MUTATIONS } from './cluster.js'
export type { SimClusterOptions, SimMutations, SimPeer, KvPeer } from './cluster.js'
export { defineApp, describeOperation } from './app.js'
export type { SimApplication, SimOperation, Workload, WorkloadContext } from './app.js'
export { SimClient } from './client.js'
export { ClientLoop } from './client-loop.js'
export type { ClientOptions } from './client.js'
export { ModelClient } from './model-client.js'
export type { ModelClientOptions, AppHistoryEvent } from './model-client.js'
export { checkModelHistory, formatModelViolation, canonical, InvalidModelError } from './lincheck/index.js'
export type { SequentialModel, ModelHistoryEvent, ModelOperation, ModelCheckResult } from './lincheck/index.js'
export { SafetyChecker } from './checkers.js'
export { DurabilityChecker } from './durability.js'
export type { LoadedState } from './durability.js'
export type { Violation, ViolationKind } from './checkers.js'
export { KvStateMachine, kvModel, kvWorkload, kvApp } from './kv.js'
export type { KvCommand, KvResult, KvQuery, KvAnswer } from './kv.js'
export { runSeed, parseFaults, ALL_FAULTS, NO_FAULTS } from './vopr.js'
export type { AppRunOptions, FaultSet, RunOptions, RunResult, RunStats } from './vopr.js'
export { CoreCluster, DurableImage } from './core-cluster.js'
export type { CoreClusterOptions, InFlight } from './core-cluster.js'
export * as lincheck from './lincheck/index.js'
export { MemoryStorage } from '../storage/memory-storage.js'
