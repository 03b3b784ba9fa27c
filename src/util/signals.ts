/**
 * A signal for one operation inside a long-lived scope. `AbortSignal.any([parent, timeout])`
 * keeps a listener on `parent` until the composite signal is garbage-collected, so a loop that
 * makes one per attempt on a signal that lives for hours piles listeners up (Node warns at 11).
 * This one detaches from its parents as soon as the operation says it is done.
 */
export interface ScopedSignal {
  readonly signal: AbortSignal
  /** Detaches from the parents and stops the timer; the signal stays as it is. */
  dispose (): void
}

/** Aborts when any parent aborts (with its reason) or after `timeoutMs` (a TimeoutError). */
export function scopedSignal (parents: ReadonlyArray<AbortSignal | undefined>, timeoutMs?: number): ScopedSignal {
  const controller = new AbortController()
  const attached: Array<{ parent: AbortSignal, onAbort: () => void }> = []
  let timer: ReturnType<typeof setTimeout> | undefined
  const dispose = (): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    for (const { parent, onAbort } of attached.splice(0)) parent.removeEventListener('abort', onAbort)
  }
  for (const parent of parents) {
    if (parent === undefined) continue
    if (parent.aborted) {
      controller.abort(parent.reason)
      dispose()
      return { signal: controller.signal, dispose }
    }
    const onAbort = (): void => { controller.abort(parent.reason); dispose() }
    parent.addEventListener('abort', onAbort, { once: true })
    attached.push({ parent, onAbort })
  }
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => {
      controller.abort(new DOMException(`the operation timed out after ${timeoutMs} ms`, 'TimeoutError'))
      dispose()
    }, timeoutMs)
    timer.unref?.()
  }
  return { signal: controller.signal, dispose }
}
