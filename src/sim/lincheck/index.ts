/**
 * Linearizability checker for client histories of key-value registers (DESIGN.md, src/sim).
 * See README.md for the algorithm and the meaning of `fail` and `info`.
 */
export { parseHistory } from './parse.ts'
export { checkHistory, relevantOperations } from './check.ts'
export type { CheckOptions, LincheckResult } from './check.ts'
export { MalformedHistoryError, InvalidCheckOptionError } from './errors.ts'
export { validateEvent, sameValue } from './history.ts'
export type { CasValue, EventType, HistoryEvent, HistoryValue, Key, OpFunction, Process, Scalar } from './history.ts'
export { pairOperations, operationsByKey } from './operations.ts'
export type { Operation } from './operations.ts'
export type { Model, StepResult } from './model.ts'
export { registerModel } from './register-model.ts'
export type { RegisterInput, RegisterState } from './register-model.ts'
export { linearize } from './search.ts'
export type { SearchBudget, SearchResult } from './search.ts'
export type { SearchOp } from './search-op.ts'
export { formatOperation, formatViolation } from './format.ts'
