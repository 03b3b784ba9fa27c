import { describe, it, expect } from 'vitest'
import { checkHistory, MalformedHistoryError, parseHistory } from '../../../src/sim/lincheck/index.js'
import type { HistoryEvent } from '../../../src/sim/lincheck/index.js'

const line = (event: Record<string, unknown>): string => JSON.stringify(event)
const invokeWrite = line({ process: 1, type: 'invoke', f: 'write', key: 'x', value: 1, time: 1 })
const okWrite = line({ process: 1, type: 'ok', f: 'write', key: 'x', value: 1, time: 2 })

function malformedAt (text: string): { line: number, reason: string } {
  try {
    parseHistory(text)
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedHistoryError)
    const malformed = error as MalformedHistoryError
    expect(malformed.code).toBe('ERR_MALFORMED_HISTORY')
    expect(malformed.message).toContain(`line ${malformed.line}`)
    return { line: malformed.line, reason: malformed.reason }
  }
  throw new Error('expected a MalformedHistoryError')
}

describe('parseHistory', () => {
  it('parses events, keeps line numbers and skips blank lines', () => {
    const events = parseHistory(`${invokeWrite}\n\n  \r\n${okWrite}\n`)
    expect(events).toHaveLength(2)
    expect(events[0]).toEqual({ process: 1, type: 'invoke', f: 'write', key: 'x', value: 1, time: 1, line: 1 })
    expect(events[1]?.line).toBe(4)
  })

  it('ignores unknown fields', () => {
    const events = parseHistory(line({ process: 'p', type: 'invoke', f: 'read', key: 3, value: null, time: 0, index: 7, node: 'n1' }))
    expect(events[0]).toEqual({ process: 'p', type: 'invoke', f: 'read', key: 3, value: null, time: 0, line: 1 })
  })

  const table: Array<{ name: string, text: string, line: number, reason: RegExp }> = [
    { name: 'bad JSON', text: `${invokeWrite}\n${okWrite}\n{"process":`, line: 3, reason: /invalid JSON/ },
    { name: 'not an object', text: `${invokeWrite}\n[1,2]`, line: 2, reason: /JSON object/ },
    { name: 'unknown type', text: line({ process: 1, type: 'start', f: 'read', key: 'x', value: null, time: 0 }), line: 1, reason: /unknown "type"/ },
    { name: 'unknown f', text: `${invokeWrite}\n${okWrite}\n${line({ process: 1, type: 'invoke', f: 'append', key: 'x', value: 1, time: 0 })}`, line: 3, reason: /unknown "f"/ },
    { name: 'missing key', text: line({ process: 1, type: 'invoke', f: 'read', value: null, time: 0 }), line: 1, reason: /missing field "key"/ },
    { name: 'missing value', text: line({ process: 1, type: 'invoke', f: 'read', key: 'x', time: 0 }), line: 1, reason: /missing field "value"/ },
    { name: 'missing time', text: line({ process: 1, type: 'invoke', f: 'read', key: 'x', value: null }), line: 1, reason: /missing field "time"/ },
    { name: 'object key', text: line({ process: 1, type: 'invoke', f: 'read', key: { a: 1 }, value: null, time: 0 }), line: 1, reason: /"key"/ },
    { name: 'boolean process', text: line({ process: true, type: 'invoke', f: 'read', key: 'x', value: null, time: 0 }), line: 1, reason: /"process"/ },
    { name: 'read invoke with a value', text: line({ process: 1, type: 'invoke', f: 'read', key: 'x', value: 3, time: 0 }), line: 1, reason: /read invoke/ },
    { name: 'write of null', text: line({ process: 1, type: 'invoke', f: 'write', key: 'x', value: null, time: 0 }), line: 1, reason: /write value/ },
    { name: 'cas value not a pair', text: `\n${line({ process: 1, type: 'invoke', f: 'cas', key: 'x', value: [1, 2, 3], time: 0 })}`, line: 2, reason: /\[expected, new\]/ },
    { name: 'cas value a scalar', text: line({ process: 1, type: 'invoke', f: 'cas', key: 'x', value: 1, time: 0 }), line: 1, reason: /\[expected, new\]/ },
    { name: 'completion without invoke', text: `${invokeWrite}\n${okWrite}\n${okWrite}`, line: 3, reason: /no outstanding invoke/ },
    { name: 'second invoke while outstanding', text: `${invokeWrite}\n${invokeWrite}`, line: 2, reason: /invokes again/ },
    { name: 'completion of another function', text: `${invokeWrite}\n${line({ process: 1, type: 'ok', f: 'read', key: 'x', value: 1, time: 2 })}`, line: 2, reason: /does not match/ },
    { name: 'completion on another key', text: `${invokeWrite}\n${line({ process: 1, type: 'ok', f: 'write', key: 'y', value: 1, time: 2 })}`, line: 2, reason: /does not match/ },
    { name: 'ok write of another value', text: `${invokeWrite}\n${line({ process: 1, type: 'ok', f: 'write', key: 'x', value: 2, time: 2 })}`, line: 2, reason: /differs/ }
  ]
  for (const { name, text, line: expectedLine, reason } of table) {
    it(`rejects ${name} at line ${expectedLine}`, () => {
      const error = malformedAt(text)
      expect(error.line).toBe(expectedLine)
      expect(error.reason).toMatch(reason)
    })
  }

  it('accepts a null value on fail and info completions', () => {
    const text = [
      invokeWrite,
      line({ process: 1, type: 'info', f: 'write', key: 'x', value: null, time: 2 }),
      line({ process: 2, type: 'invoke', f: 'cas', key: 'x', value: [1, 2], time: 3 }),
      line({ process: 2, type: 'fail', f: 'cas', key: 'x', value: null, time: 4 })
    ].join('\n')
    expect(parseHistory(text)).toHaveLength(4)
  })
})

describe('checkHistory on malformed events built in code', () => {
  it('reports the 1-based array position', () => {
    const events: HistoryEvent[] = [
      { process: 1, type: 'invoke', f: 'read', key: 'x', value: null, time: 0 },
      { process: 1, type: 'ok', f: 'read', key: 'x', value: null, time: 1 },
      { process: 2, type: 'ok', f: 'read', key: 'x', value: null, time: 2 }
    ]
    expect(() => checkHistory(events)).toThrow(MalformedHistoryError)
    try {
      checkHistory(events)
    } catch (error) {
      expect((error as MalformedHistoryError).line).toBe(3)
    }
  })

  it('rejects a cas whose value is not a pair', () => {
    const events = [{ process: 1, type: 'invoke', f: 'cas', key: 'x', value: 5, time: 0 }] as unknown as HistoryEvent[]
    expect(() => checkHistory(events)).toThrow(/line 1: a cas value/)
  })
})
