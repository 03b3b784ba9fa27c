import { getEventListeners } from 'node:events'
import { describe, expect, it } from 'vitest'
import { scopedSignal } from '../../../src/util/signals.js'

describe('scopedSignal', () => {
  it('follows a parent, times out, and leaves no listener behind once disposed', async () => {
    const parent = new AbortController()
    for (let i = 0; i < 50; i++) scopedSignal([parent.signal], 10_000).dispose()
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0)

    const live = scopedSignal([parent.signal, undefined], 10_000)
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(1)
    parent.abort(new Error('stop'))
    expect(live.signal.aborted).toBe(true)
    expect((live.signal.reason as Error).message).toBe('stop')
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0)

    const timed = scopedSignal([], 20)
    await new Promise(resolve => setTimeout(resolve, 60))
    expect(timed.signal.aborted).toBe(true)
    expect((timed.signal.reason as DOMException).name).toBe('TimeoutError')

    const early = scopedSignal([AbortSignal.abort('gone')])
    expect(early.signal.aborted).toBe(true)
    expect(early.signal.reason).toBe('gone')
  })
})
