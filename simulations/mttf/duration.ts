/**
 * Durations on the command line ("500ms", "60s", "5m", "1h", "6h", "1d", "2w", or a plain
 * number of seconds) and human-readable durations in the Markdown table ("3.2 y").
 */
import { MttfError } from './errors.js'

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 7 * 86400
}

/** A Julian year: the unit people mean by "the VP lives 3 years". */
export const YEAR_S = 365.25 * 86400

/** Parse one duration into seconds. Throws `ERR_MTTF_BAD_DURATION` on anything else. */
export function parseDuration (text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(text)
  if (!m) {
    throw new MttfError('ERR_MTTF_BAD_DURATION',
      `bad duration ${JSON.stringify(text)}: expected a number with an optional unit ms, s, m, h, d or w (e.g. 500ms, 60s, 5m, 1h, 1d, 2w)`)
  }
  const value = Number(m[1])
  const unit = UNIT_SECONDS[m[2] ?? 's'] as number
  const seconds = value * unit
  if (!Number.isFinite(seconds)) {
    throw new MttfError('ERR_MTTF_BAD_DURATION', `duration ${JSON.stringify(text)} is not finite`)
  }
  return seconds
}

/** Parse a comma-separated list of durations. */
export function parseDurationList (text: string): number[] {
  const parts = text.split(',').map(s => s.trim())
  if (parts.some(p => p === '')) {
    throw new MttfError('ERR_MTTF_BAD_DURATION', `bad duration list ${JSON.stringify(text)}: empty item`)
  }
  return parts.map(parseDuration)
}

const FORMAT_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['y', YEAR_S],
  ['d', 86400],
  ['h', 3600],
  ['min', 60],
  ['s', 1],
  ['ms', 1e-3]
]

/**
 * Human form with 2–3 significant digits in the largest unit that keeps the number ≥ 1;
 * beyond 10 000 years switch to scientific notation ("4.7e9 y") because nobody reads zeros.
 */
export function formatDuration (seconds: number): string {
  if (!Number.isFinite(seconds)) return seconds > 0 ? '∞' : 'n/a'
  if (seconds === 0) return '0 s'
  for (const [name, size] of FORMAT_UNITS) {
    const v = seconds / size
    if (v >= 1 || name === 'ms') {
      if (name === 'y' && v >= 1e4) {
        const [mant, exp] = v.toExponential(1).split('e')
        return `${mant ?? ''}e${Number(exp)} y`
      }
      return `${v >= 100 ? Math.round(v).toString() : Number(v.toPrecision(2)).toString()} ${name}`
    }
  }
  return `${seconds} s`
}
