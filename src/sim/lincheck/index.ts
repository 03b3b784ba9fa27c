/**
 * Linearizability checker for client histories of key-value registers (`checkHistory`) and of
 * any application against its sequential model (`checkModelHistory`).
 * See README.md for the algorithm and the meaning of `fail` and `info`.
 */
export { parseHistory } from './parse.js'
export { checkHistory, relevantOperations } from './check.js'
export type { CheckOptions, LincheckResult } from './check.js'
export { MalformedHistoryError, InvalidCheckOptionError } from './errors.js'
export { validateEvent, sameValue } from './history.js'
export type { CasValue, EventType, HistoryEvent, HistoryValue, Key, OpFunction, Process, Scalar } from './history.js'
export { pairOperations, operationsByKey } from './operations.js'
export type { Operation } from './operations.js'
export type { Model, StepResult } from './model.js'
export { registerModel } from './register-model.js'
export type { RegisterInput, RegisterState } from './register-model.js'
export { linearize } from './search.js'
export type { SearchBudget, SearchResult } from './search.js'
export type { SearchOp } from './search-op.js'
export { formatOperation, formatViolation } from './format.js'
export { checkModelHistory, pairModelOperations, formatModelOperation, formatModelViolation } from './sequential.js'
export type { SequentialModel, ModelHistoryEvent, ModelOperation, ModelCheckResult } from './sequential.js'
export { canonical } from './canonical.js'
export { InvalidModelError } from './errors.js'
