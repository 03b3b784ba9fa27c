import type { Scheduler } from './scheduler.js'

/**
 * The life of a simulated client, shared by the KV client and the application client: `run`
 * loops until `stop`, sleeping and timing out in virtual time. `stop` cuts a sleep short, so a
 * stopped client ends at its next step instead of after its think time.
 */
export abstract class ClientLoop {
  /** True while `run` is inside an operation or a sleep. */
  running = false
  protected stopped = false
  private wake: (() => void) | undefined
  private readonly clock: Scheduler

  constructor (scheduler: Scheduler) {
    this.clock = scheduler
  }

  stop (): void {
    this.stopped = true
    this.wake?.()
  }

  async run (): Promise<void> {
    this.running = true
    try {
      await this.loop()
    } finally {
      this.running = false
    }
  }

  protected abstract loop (): Promise<void>

  protected async sleep (ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const handle = this.clock.after(ms, () => { this.wake = undefined; resolve() }, 'client-sleep')
      this.wake = () => { this.clock.cancel(handle); this.wake = undefined; resolve() }
    })
  }

  /** An attempt's signal: it aborts after `ms` of virtual time unless cancelled. */
  protected timeout (ms: number): { signal: AbortSignal, cancel: () => void } {
    const ctl = new AbortController()
    const handle = this.clock.after(ms, () => { ctl.abort(new Error('attempt timed out')) }, 'client-timeout')
    return { signal: ctl.signal, cancel: () => { this.clock.cancel(handle) } }
  }
}
