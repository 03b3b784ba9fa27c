import type { NodeId } from '../paxos/index.js'
import type { StateMachine } from '../contracts/index.js'
import type { CommandCodec } from '../vpeer/virtual-peer.js'
import { canonical } from './lincheck/canonical.js'
import type { SequentialModel } from './lincheck/sequential.js'
import type { Prng } from './prng.js'

/** What a simulated client does next: submit a command (through the log) or read with a query (linearizable read). */
export type SimOperation<C, Q> = { readonly submit: C } | { readonly read: Q }

/** Passed to a workload with every draw. */
export interface WorkloadContext {
  /** The client process (1, 2, …), e.g. to make written values unique per client. */
  readonly process: number
  /** Operations this client drew before this one. */
  readonly count: number
}

/**
 * How a simulated client draws its next operation. Draw every random choice from `prng` (never
 * `Math.random`), so the seed replays the run.
 */
export type Workload<C, Q> = (prng: Prng, client: WorkloadContext) => SimOperation<C, Q>

/**
 * Everything the simulator needs to fault-inject an application's own state machine
 * (`runSeed({ seed, app })`):
 * - `stateMachine` builds one replica's state machine (a fresh one for every node incarnation:
 *   a restart starts from the snapshot and log on the simulated disk);
 * - `workload` says what the simulated clients do;
 * - `model` is the sequential specification the client history is checked against for
 *   linearizability. Its inputs are the workload's operations and its outputs what `submit`
 *   resolves with (`R`) or `read` answers (`A`).
 */
export interface SimApplication<C, R, Q, A, S> {
  readonly stateMachine: (id: NodeId) => StateMachine<C, R, Q, A>
  readonly workload: Workload<C, Q>
  readonly model: SequentialModel<S, SimOperation<C, Q>, R | A>
  /**
   * A canonical form of a replica's state, compared across replicas after each slot (replica
   * equality). Default: the state machine's own `digest()` if it has one, else a hash of
   * `snapshot()`, which must then be canonical (equal states, equal bytes).
   */
  readonly digest?: (stateMachine: StateMachine<C, R, Q, A>) => string
  /** How commands become log bytes (default: JSON, as in VirtualPeer). */
  readonly codec?: CommandCodec<C>
}

/**
 * Identity function that lets TypeScript infer an application's types from its state machine
 * factory (`C, R, Q, A`) and the model's `init` (`S`), so the workload and `step` are typed
 * without annotations. The workload and the model are not inference sites: an object-literal
 * union returned by the workload would otherwise widen `C` with `undefined`.
 */
export function defineApp<C, R, Q, A, S> (app: {
  readonly stateMachine: (id: NodeId) => StateMachine<C, R, Q, A>
  readonly workload: NoInfer<Workload<C, Q>>
  readonly model: SequentialModel<S, NoInfer<SimOperation<C, Q>>, NoInfer<R | A>>
  readonly digest?: NoInfer<(stateMachine: StateMachine<C, R, Q, A>) => string>
  readonly codec?: NoInfer<CommandCodec<C>>
}): SimApplication<C, R, Q, A, S> {
  return app
}

/** `submit {"add":2}` or `read "total"`: the default description of an operation in violation messages. */
export function describeOperation<C, Q> (op: SimOperation<C, Q>): string {
  return 'submit' in op ? `submit ${canonical(op.submit)}` : `read ${canonical(op.read)}`
}
