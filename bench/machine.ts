import { cpus } from 'node:os'

/** Where and when a benchmark ran: every JSON report starts with this, so figures can be compared. */
export interface MachineInfo {
  readonly date: string
  readonly node: string
  readonly platform: string
  readonly cpu: { readonly model: string, readonly count: number }
}

export function machineInfo (): MachineInfo {
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: { model: cpus()[0]?.model ?? 'unknown', count: cpus().length }
  }
}
