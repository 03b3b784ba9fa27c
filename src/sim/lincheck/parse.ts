import { MalformedHistoryError } from './errors.js'
import { validateEvent } from './history.js'
import type { HistoryEvent } from './history.js'
import { pairOperations } from './operations.js'

/**
 * Parses a JSON-lines client history. Blank lines are skipped but still counted, so line
 * numbers in errors match what an editor shows. The pairing rules are checked here too, so a
 * history that parses can always be checked.
 * @throws MalformedHistoryError with the 1-based line number
 */
export function parseHistory (text: string): HistoryEvent[] {
  const events: HistoryEvent[] = []
  const lines = text.split(/\r?\n/)
  lines.forEach((source, index) => {
    const line = index + 1
    if (source.trim() === '') return
    let raw: unknown
    try {
      raw = JSON.parse(source)
    } catch (error) {
      throw new MalformedHistoryError(line, `invalid JSON: ${(error as Error).message}`)
    }
    events.push(validateEvent(raw, line))
  })
  pairOperations(events)
  return events
}
