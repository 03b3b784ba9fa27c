import type { Command, NodeId, Slot, Value } from '../paxos/index.js'
import { isReconfigCommand } from '../paxos/index.js'

/** `durability`: a reply left before its write was durable, or a restart or a write lost or lowered a durable promise or vote (durability.ts). */
export type ViolationKind = 'agreement' | 'validity' | 'integrity' | 'replica-equality' | 'linearizability' | 'liveness' | 'crash' | 'durability'

export interface Violation {
  readonly kind: ViolationKind
  readonly message: string
  readonly time: number
}

function commandKey (c: Command): string {
  return `${c.client}\u0000${c.seq}`
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * The safety oracles that watch every replica as it applies (TigerBeetle's state checker):
 * - agreement: no slot is applied with two different values anywhere;
 * - validity: every applied command was proposed by some client, with the same bytes;
 * - integrity: each replica incarnation applies slots 1, 2, 3, … in order, each once, and runs
 *   each command at most once;
 * - replica equality: replicas that applied the same slot hold the same state.
 * A violation is recorded, never thrown, so one run reports everything it found.
 */
export class SafetyChecker {
  readonly violations: Violation[] = []
  private readonly chosen = new Map<Slot, Value>()
  private readonly proposed = new Map<string, Uint8Array>()
  private readonly digests = new Map<Slot, { node: NodeId, digest: string }>()
  private readonly lastSlot = new Map<string, Slot>()
  private readonly ran = new Map<string, Set<string>>()
  private readonly now: () => number
  private readonly limit: number
  slotsApplied = 0
  commandsApplied = 0
  /** Commands in chosen slots (counted once per slot, duplicates of a retried command included). */
  commandsChosen = 0

  constructor (now: () => number, limit = 20) {
    this.now = now
    this.limit = limit
  }

  /** A client is about to submit `command` (possibly again). */
  proposedCommand (command: Command): void {
    this.proposed.set(commandKey(command), command.data)
  }

  onSlot (node: NodeId, incarnation: number, slot: Slot, value: Value): void {
    this.slotsApplied++
    const who = `${node}#${incarnation}`
    const last = this.lastSlot.get(who) ?? 0
    if (slot !== last + 1) this.report('integrity', `${who} applied slot ${slot} after slot ${last}`)
    this.lastSlot.set(who, Math.max(last, slot))
    const known = this.chosen.get(slot)
    if (known === undefined) {
      this.chosen.set(slot, value)
      this.commandsChosen += value.commands.length
      for (const c of value.commands) {
        // Membership changes come from the runtime, not from clients; the core validates them.
        if (isReconfigCommand(c)) continue
        const data = this.proposed.get(commandKey(c))
        if (data === undefined) this.report('validity', `slot ${slot}: command ${c.client}/${c.seq} was never proposed`)
        else if (!sameBytes(data, c.data)) this.report('validity', `slot ${slot}: command ${c.client}/${c.seq} differs from what was proposed`)
      }
    } else if (known.id !== value.id || known.commands.length !== value.commands.length) {
      this.report('agreement', `slot ${slot}: ${node} applied value ${value.id} (${value.commands.length} cmds) but ${known.id} (${known.commands.length} cmds) was applied before`)
    }
  }

  onCommand (node: NodeId, incarnation: number, command: Command): void {
    this.commandsApplied++
    const who = `${node}#${incarnation}`
    let set = this.ran.get(who)
    if (set === undefined) { set = new Set(); this.ran.set(who, set) }
    const key = commandKey(command)
    if (set.has(key)) this.report('integrity', `${who} ran command ${command.client}/${command.seq} twice`)
    set.add(key)
  }

  onApplied (node: NodeId, slot: Slot, digest: string): void {
    const known = this.digests.get(slot)
    if (known === undefined) this.digests.set(slot, { node, digest })
    else if (known.digest !== digest) this.report('replica-equality', `slot ${slot}: state of ${node} differs from ${known.node}`)
  }

  /**
   * A replica incarnation jumped to `index` by loading or installing a snapshot: it goes on at
   * index + 1 (integrity), and its state must equal every other replica's at `index`.
   */
  onSnapshot (node: NodeId, incarnation: number, index: Slot, digest: string): void {
    const who = `${node}#${incarnation}`
    const last = this.lastSlot.get(who) ?? 0
    if (index < last) this.report('integrity', `${who} installed a snapshot at ${index} after applying slot ${last}`)
    this.lastSlot.set(who, Math.max(last, index))
    this.onApplied(node, index, digest)
  }

  /** The value applied at `slot` by anyone, if any. */
  chosenAt (slot: Slot): Value | undefined {
    return this.chosen.get(slot)
  }

  highestChosen (): Slot {
    let max = 0
    for (const s of this.chosen.keys()) if (s > max) max = s
    return max
  }

  report (kind: ViolationKind, message: string): void {
    if (this.violations.length < this.limit) this.violations.push({ kind, message, time: this.now() })
  }
}
