/**
 * Worker process of `real-runner.ts` (forked with `--import tsx`): runs the tasks it is handed,
 * one at a time, and reports each over IPC. A file of its own so that neither CLI has to
 * double as a worker (and so that importing the runner never starts one).
 */
import { RealRunError, runRealVp } from './real.js'
import type { RealTask, WorkerReply } from './real-runner.js'

const send = async (m: WorkerReply): Promise<void> => {
  await new Promise<void>((resolve, reject) => { process.send?.(m, (err: Error | null) => { if (err !== null) reject(err); else resolve() }) })
}

// Without its parent there is nobody to report to: when the IPC channel closes (the parent
// said 'done', or it died — killed by a test's timeout, say) the worker exits at once instead
// of running on as an orphan holding gigabytes.
process.on('disconnect', () => { process.exit() })

process.on('message', (m: RealTask | 'done') => {
  if (m === 'done') { process.disconnect?.(); return }
  runRealVp(m.options).then(
    async result => { await send({ kind: 'result', point: m.point, run: m.run, result }) },
    async (e: unknown) => { await send({ kind: 'error', point: m.point, run: m.run, message: e instanceof Error ? e.message : String(e), code: e instanceof RealRunError ? e.code : undefined }) }
  ).catch((e: unknown) => {
    process.stderr.write(`worker: cannot report: ${String(e)}\n`)
    process.exitCode = 1
    process.disconnect?.()
  })
})
send({ kind: 'ready' }).catch(() => { process.exitCode = 1 })
