/**
 * vpeer/sim — the deterministic simulator, for fault-injection tests of your own state machine.
 * One seeded PRNG drives message delay, loss, duplication, reordering, partitions, crashes
 * (unsynced writes lost) and restarts, and clock skew; the same seed replays the same run.
 */
export { Prng } from './prng.ts'
export { Scheduler, flushMicrotasks } from './scheduler.ts'
export type { TimerHandle } from './scheduler.ts'
export { SimClock } from './sim-clock.ts'
export type { SimClockOptions } from './sim-clock.ts'
export { SimNetwork } from './sim-network.ts'
export type { NetworkFaults, NetworkStats, NetworkTraceEvent, DelayRange, DropReason } from './sim-network.ts'
export { InvalidSimOptionError } from './sim-errors.ts'
export { SimCluster, SIM_MUTATIONS } from './cluster.ts'
export type { SimClusterOptions, SimMutations, KvPeer } from './cluster.ts'
export { SimClient } from './client.ts'
export type { ClientOptions } from './client.ts'
export { SafetyChecker } from './checkers.ts'
export { DurabilityChecker } from './durability.ts'
export type { LoadedState } from './durability.ts'
export type { Violation, ViolationKind } from './checkers.ts'
export { KvStateMachine } from './kv.ts'
export type { KvCommand, KvResult, KvQuery, KvAnswer } from './kv.ts'
export { runSeed, parseFaults, ALL_FAULTS, NO_FAULTS } from './vopr.ts'
export type { FaultSet, RunOptions, RunResult, RunStats } from './vopr.ts'
export { CoreCluster, DurableImage } from './core-cluster.ts'
export type { CoreClusterOptions } from './core-cluster.ts'
export * as lincheck from './lincheck/index.ts'
export { MemoryStorage } from '../storage/memory-storage.ts'
