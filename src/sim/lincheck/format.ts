import { formatValue } from './history.js'
import type { Operation } from './operations.js'
import type { LincheckResult } from './check.js'

/** `process 2 read -> 3 (invoke line 7, return line 9)`. */
export function formatOperation (op: Operation): string {
  const what = op.f === 'read'
    ? `read -> ${op.outcome === 'ok' ? formatValue(op.value) : '?'}`
    : `${op.f} ${formatValue(op.value)}`
  const end = op.returnLine === undefined
    ? 'never completed'
    : op.outcome === 'ok' ? `return line ${op.returnLine}` : `${op.outcome} at line ${op.returnLine}`
  return `process ${JSON.stringify(op.process)} ${what} (invoke line ${op.invokeLine}, ${end})`
}

/** How many completed operations before the blocked one to show, besides those concurrent with it. */
const precedingShown = 8
const linesMax = 40

/**
 * A readable report of a violation: the blocked operation, then the operations that explain
 * it best (those concurrent with it, and the last few that completed before it was invoked).
 */
export function formatViolation (result: Extract<LincheckResult, { outcome: 'violation' }>): string {
  const { op, ops } = result
  const concurrent = ops.filter((other) => other !== op && other.returnAt > op.invokeAt)
  const preceding = ops.filter((other) => other.returnAt < op.invokeAt).slice(-precedingShown)
  const lines = [
    `not linearizable: key ${JSON.stringify(result.key)}`,
    `  ${result.message}`,
    `  cannot be linearized:`,
    `    ${formatOperation(op)}`
  ]
  const section = (title: string, list: readonly Operation[]): void => {
    if (list.length === 0) return
    lines.push(`  ${title}:`)
    const shown = list.slice(0, linesMax)
    for (const other of shown) lines.push(`    ${formatOperation(other)}`)
    if (list.length > shown.length) lines.push(`    … ${list.length - shown.length} more`)
  }
  section('concurrent with it', concurrent)
  section(`last ${preceding.length} completed before it was invoked`, preceding)
  lines.push(`  the failing prefix has ${ops.length} operations on this key`)
  return lines.join('\n')
}
