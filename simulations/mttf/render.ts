/**
 * Everything that leaves the process: Markdown table, JSON, and SVG charts rendered headless
 * with vega-lite → vega (`renderer: 'none'`, no browser, no canvas). The model modules stay pure;
 * this module and cli.ts are the only ones that touch the file system.
 *
 * Seam for the "real code under the simulator" study (issue 4, part 3): that runner measures
 * MTTFs by running the actual Paxos implementation, and passes its points to `renderCharts`
 * as `RealCodePoint[]`; chart 2 (`model-vs-real.svg`) is drawn only when such points exist.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile } from 'vega-lite'
import type { TopLevelSpec } from 'vega-lite'
import { exactMttf } from './analytic.js'
import { formatDuration, YEAR_S } from './duration.js'
import { MttfError } from './errors.js'
import { REPAIR_DISTS, REPAIR_MODES, type RepairDist, type RepairMode } from './model.js'
import type { MttfRow } from './study.js'

/** One measurement of the real Paxos code under the deterministic simulator (part 3). */
export interface RealCodePoint {
  readonly members: number
  readonly peerMttfS: number
  readonly repairS: number
  readonly dist: RepairDist
  /** Defaults to `parallel` (the VP replaces each failed member independently). */
  readonly repairMode?: RepairMode
  /** Measured mean time to VP failure, s, with its 95 % CI. */
  readonly measuredS: number
  readonly ciLowS: number
  readonly ciHighS: number
  /** Number of simulated lifetimes (or cycles) behind the measurement. */
  readonly runs: number
}

export interface RenderReport {
  /** Absolute or out-dir-relative paths of the files written. */
  readonly written: string[]
  /** Charts not drawn, with the reason (printed by the CLI). */
  readonly skipped: string[]
}

const HOUR = 3600
const PLOT_WIDTH = 560

/** Validate points coming from outside (a JSON file) before trusting their shape. */
export function parseRealPoints (data: unknown): RealCodePoint[] {
  const bad = (why: string): never => { throw new MttfError('ERR_MTTF_BAD_REAL_POINTS', `real-code points: ${why}`) }
  const list = Array.isArray(data) ? data : (data !== null && typeof data === 'object' && Array.isArray((data as { points?: unknown }).points) ? (data as { points: unknown[] }).points : bad('expected an array or { points: [...] }'))
  return list.map((x: unknown, i: number): RealCodePoint => {
    if (x === null || typeof x !== 'object') return bad(`item ${i} is not an object`)
    const o = x as Record<string, unknown>
    const num = (k: string): number => {
      const v = o[k]
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : bad(`item ${i}: ${k} must be a finite number ≥ 0`)
    }
    const dist = o.dist
    if (typeof dist !== 'string' || !(REPAIR_DISTS as readonly string[]).includes(dist)) bad(`item ${i}: dist must be one of ${REPAIR_DISTS.join(', ')}`)
    const mode = o.repairMode ?? 'parallel'
    if (typeof mode !== 'string' || !(REPAIR_MODES as readonly string[]).includes(mode)) bad(`item ${i}: repairMode must be one of ${REPAIR_MODES.join(', ')}`)
    return {
      members: num('members'),
      peerMttfS: num('peerMttfS'),
      repairS: num('repairS'),
      dist: dist as RepairDist,
      repairMode: mode as RepairMode,
      measuredS: num('measuredS'),
      ciLowS: num('ciLowS'),
      ciHighS: num('ciHighS'),
      runs: num('runs')
    }
  })
}

function panelLabel (dist: RepairDist, mode: RepairMode, repairS: number): string {
  const g = dist === 'exp' ? 'G ~ Exp(mean R)' : dist === 'fixed' ? 'G = R' : 'G ~ U(0, R), mean R/2'
  return `${g}, ${mode} repair, R = ${formatDuration(repairS)}`
}

function logRange (lo: number, hi: number, n: number): number[] {
  const a = Math.log10(lo)
  const b = Math.log10(hi)
  if (n < 2 || a === b) return [lo]
  return Array.from({ length: n }, (_, i) => 10 ** (a + (b - a) * i / (n - 1)))
}

/** Powers of ten covering [lo, hi], thinned so the axis has at most ~9 labels. */
function decadeTicks (lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo))
  const b = Math.ceil(Math.log10(hi))
  const step = Math.max(1, Math.ceil((b - a) / 8))
  const out: number[] = []
  // Keep stepping until the top tick covers `hi`: the ticks double as the axis domain.
  for (let e = a; ; e += step) {
    out.push(10 ** e)
    if (e >= b) break
  }
  return out
}

/** For log scales an interval must stay positive; a CI reaching 0 is drawn down to y/1000. */
function positive (lo: number | null, y: number): number {
  return lo !== null && lo > 0 ? lo : y / 1000
}

const REFERENCE_LINES: ReadonlyArray<readonly [string, number]> = [
  ['1 hour', HOUR], ['1 day', 86400], ['1 year', YEAR_S], ['1000 years', 1000 * YEAR_S], ['1e6 years', 1e6 * YEAR_S], ['1e9 years', 1e9 * YEAR_S]
]

interface SeriesPoint { panel: string, n: string, members: number, lambdaPerHour: number, peerMttf: string, y: number, lo?: number, hi?: number, estimator?: string }

function layeredSpec (title: string, subtitle: string[], lines: SeriesPoint[], points: SeriesPoint[], pointShape: string): TopLevelSpec {
  const ys = [...lines.map(p => p.y), ...points.flatMap(p => [p.y, p.lo ?? p.y, p.hi ?? p.y])].filter(v => v > 0)
  const xs = [...lines, ...points].map(p => p.lambdaPerHour)
  const yLo = Math.min(...ys)
  const yHi = Math.max(...ys)
  const yTicks = decadeTicks(yLo, yHi)
  // Ticks at the grid's own λ values, labelled with λ and the per-peer MTTF 1/λ (two lines),
  // because readers think in "a peer lives 1 h", not in "λ = 1 per hour".
  const tickSource = points.length > 0 ? points : [lines[0], lines[lines.length - 1]].filter(p => p !== undefined)
  const xTicks = [...new Set(tickSource.map(p => p.lambdaPerHour))].sort((a, b) => a - b)
  const refs = REFERENCE_LINES.filter(([, s]) => s >= yLo && s <= yHi).map(([label, s]) => ({ label, y: s }))
  const panels = [...new Set([...lines, ...points].map(p => p.panel))]
  const nOrder = [...new Set([...lines, ...points].map(p => p.members))].sort((a, b) => a - b).map(n => `N = ${n}`)
  const x = {
    field: 'lambdaPerHour', type: 'quantitative', title: 'per-peer failure rate λ per hour (per-peer MTTF), log scale',
    scale: { type: 'log', nice: false },
    axis: {
      values: xTicks,
      grid: true,
      labelExpr: "[format(datum.value, '.2~g'), '(' + (datum.value >= 1 ? format(60 / datum.value, '.2~g') + ' min' : 1 / datum.value < 23.5 ? format(1 / datum.value, '.2~g') + ' h' : format(1 / (24 * datum.value), '.2~g') + ' d') + ')']",
      labelOverlap: false
    }
  } as const
  const y = {
    field: 'y', type: 'quantitative', title: 'VP MTTF (seconds, log scale)',
    scale: { type: 'log', domain: [yTicks[0] as number, yTicks[yTicks.length - 1] as number] },
    axis: { values: yTicks, format: '.0e', grid: true }
  } as const
  const color = { field: 'n', type: 'nominal', title: 'members', sort: nOrder, scale: { scheme: 'category10' } } as const
  const layers: unknown[] = [
    {
      data: { values: refs },
      mark: { type: 'rule', strokeDash: [2, 3], color: '#999' },
      encoding: { y: { field: 'y', type: 'quantitative' } }
    },
    {
      data: { values: refs },
      mark: { type: 'text', align: 'right', dx: -4, dy: -6, color: '#777', fontSize: 10 },
      encoding: { y: { field: 'y', type: 'quantitative' }, x: { value: PLOT_WIDTH }, text: { field: 'label' } }
    },
    { data: { values: lines }, mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x, y, color } },
    {
      data: { values: points },
      mark: { type: 'rule', strokeWidth: 1.5 },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color }
    },
    {
      data: { values: points },
      mark: { type: 'point', filled: true, size: 45, shape: pointShape, opacity: 1 },
      encoding: {
        x, y, color,
        tooltip: [{ field: 'n' }, { field: 'peerMttf', title: 'peer MTTF' }, { field: 'y', format: '.3e' }, { field: 'estimator' }]
      }
    }
  ]
  const inner = { width: PLOT_WIDTH, height: 360, layer: layers }
  const base = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle, anchor: 'start' },
    background: 'white',
    padding: 12,
    config: { font: 'sans-serif', legend: { orient: 'right' } }
  }
  if (panels.length <= 1) return { ...base, ...inner } as unknown as TopLevelSpec
  // Several (G, discipline, R) combinations: one panel each, stacked, sharing the legend.
  return {
    ...base,
    vconcat: panels.map(panel => ({
      title: panel,
      width: inner.width,
      height: inner.height,
      layer: layers.map(l => {
        const layer = l as { data: { values: Array<{ panel?: string }> } }
        return { ...layer, data: { values: layer.data.values.filter(v => v.panel === undefined || v.panel === panel) } }
      })
    })),
    resolve: { scale: { color: 'shared' } }
  } as unknown as TopLevelSpec
}

function lineKey (members: number, repairS: number, dist: RepairDist, mode: RepairMode): string {
  return `${members}|${repairS}|${dist}|${mode}`
}

/** Chart 1: VP MTTF against λ; analytic (exponential G) curves, Monte-Carlo points with CIs. */
export function mttfChartSpec (rows: readonly MttfRow[]): TopLevelSpec {
  const lines: SeriesPoint[] = []
  const points: SeriesPoint[] = []
  const curves = new Map<string, { members: number, repairS: number, dist: RepairDist, mode: RepairMode, lambdas: number[] }>()
  for (const r of rows) {
    const key = lineKey(r.members, r.repairS, r.dist, r.repairMode)
    const c = curves.get(key) ?? { members: r.members, repairS: r.repairS, dist: r.dist, mode: r.repairMode, lambdas: [] }
    c.lambdas.push(r.lambda)
    curves.set(key, c)
    if (r.mcS !== null) {
      points.push({
        panel: panelLabel(r.dist, r.repairMode, r.repairS), n: `N = ${r.members}`, members: r.members,
        lambdaPerHour: r.lambda * HOUR, peerMttf: formatDuration(r.peerMttfS), y: r.mcS,
        lo: positive(r.ciLowS, r.mcS), hi: r.ciHighS ?? r.mcS, estimator: r.estimator
      })
    }
  }
  // Smooth analytic curves (60 points per decade-spanning line) rather than joining grid points.
  for (const c of curves.values()) lines.push(...analyticCurve(c))
  const anyNonExp = rows.some(r => r.dist !== 'exp')
  const subtitle = [
    'lines: exact CTMC with exponential repair time (mean R); dots: Monte Carlo with 95 % CI bars',
    ...(anyNonExp ? ['for fixed / uniform G the line is the exponential-G reference, not an exact value for that G'] : [])
  ]
  return layeredSpec('Virtual-peer MTTF vs per-peer failure rate', subtitle, lines, points, 'circle')
}

/** The exact exponential-G curve over the span of `lambdas`, 60 log-spaced points (1 if a single λ). */
function analyticCurve (c: { members: number, repairS: number, dist: RepairDist, mode: RepairMode, lambdas: readonly number[] }): SeriesPoint[] {
  const lo = Math.min(...c.lambdas)
  const hi = Math.max(...c.lambdas)
  return logRange(lo, hi, lo === hi ? 1 : 60).map(lambda => ({
    panel: panelLabel(c.dist, c.mode, c.repairS), n: `N = ${c.members}`, members: c.members,
    lambdaPerHour: lambda * HOUR, peerMttf: formatDuration(1 / lambda),
    y: exactMttf({ members: c.members, lambda, repairS: c.repairS, repairMode: c.mode })
  }))
}

/** Chart 2: real-code measurements (diamonds) against the model (lines/dots). */
export function modelVsRealChartSpec (rows: readonly MttfRow[], real: readonly RealCodePoint[]): TopLevelSpec {
  const lines: SeriesPoint[] = []
  const points: SeriesPoint[] = []
  const combos = new Map<string, { members: number, repairS: number, dist: RepairDist, mode: RepairMode, lambdas: number[] }>()
  for (const p of real) {
    const mode = p.repairMode ?? 'parallel'
    const key = lineKey(p.members, p.repairS, p.dist, mode)
    const c = combos.get(key) ?? { members: p.members, repairS: p.repairS, dist: p.dist, mode, lambdas: [] }
    c.lambdas.push(1 / p.peerMttfS)
    combos.set(key, c)
    points.push({
      panel: panelLabel(p.dist, mode, p.repairS), n: `N = ${p.members}`, members: p.members,
      lambdaPerHour: HOUR / p.peerMttfS, peerMttf: formatDuration(p.peerMttfS), y: p.measuredS,
      lo: positive(p.ciLowS, p.measuredS), hi: p.ciHighS, estimator: `real code (${p.runs} runs)`
    })
  }
  for (const c of combos.values()) {
    if (c.dist === 'exp') {
      lines.push(...analyticCurve(c))
    } else {
      // No closed form for this G: the model is the Monte-Carlo estimate at the study's points.
      for (const r of rows) {
        if (lineKey(r.members, r.repairS, r.dist, r.repairMode) === lineKey(c.members, c.repairS, c.dist, c.mode) && r.mcS !== null) {
          lines.push({
            panel: panelLabel(c.dist, c.mode, c.repairS), n: `N = ${c.members}`, members: c.members,
            lambdaPerHour: r.lambda * HOUR, peerMttf: formatDuration(r.peerMttfS), y: r.mcS
          })
        }
      }
    }
  }
  lines.sort((a, b) => a.members - b.members || a.lambdaPerHour - b.lambdaPerHour)
  return layeredSpec('Model vs real Paxos code under the simulator',
    ['lines: model (exact CTMC for exponential G, else Monte Carlo); diamonds: real-code measurements with 95 % CI bars'],
    lines, points, 'diamond')
}

/** Headless SVG: vega-lite → vega spec → View with the "none" renderer → SVG string. */
export async function specToSvg (spec: TopLevelSpec): Promise<string> {
  const vgSpec = compile(spec).spec
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/**
 * The seam: writes `mttf.svg`, and `model-vs-real.svg` when real-code points are given.
 * Returns what was written and what was skipped (and why). `modelRows` are the Monte-Carlo rows
 * chart 2 draws for non-exponential G (default `rows`); separate so that model rows computed
 * only for the comparison do not end up in chart 1.
 */
export async function renderCharts (
  rows: readonly MttfRow[],
  realRows: readonly RealCodePoint[] | undefined,
  outDir: string,
  modelRows: readonly MttfRow[] = rows
): Promise<RenderReport> {
  await mkdir(outDir, { recursive: true })
  const written: string[] = []
  const skipped: string[] = []
  if (rows.length > 0) {
    const file = join(outDir, 'mttf.svg')
    await writeFile(file, await specToSvg(mttfChartSpec(rows)))
    written.push(file)
  } else {
    skipped.push('mttf.svg: no result rows')
  }
  if (realRows && realRows.length > 0) {
    const file = join(outDir, 'model-vs-real.svg')
    await writeFile(file, await specToSvg(modelVsRealChartSpec(modelRows, realRows)))
    written.push(file)
  } else {
    skipped.push('model-vs-real.svg: no real-code points (--real-runs 0 or no feasible point, and no --real FILE)')
  }
  return { written, skipped }
}

const fmt = (s: number | null): string => s === null ? '—' : formatDuration(s)

/** Markdown table of the rows in human units. */
export function markdownTable (rows: readonly MttfRow[]): string {
  const head = '| N | peer MTTF | λ (per h) | R | G | repair | analytic (exp G) | Monte Carlo | 95 % CI | estimator | cycles |'
  const sep = '|---:|---:|---:|---:|:--|:--|---:|---:|:--|:--|---:|'
  const body = rows.map(r => [
    r.members,
    formatDuration(r.peerMttfS),
    Number((r.lambda * HOUR).toPrecision(3)),
    formatDuration(r.repairS),
    r.dist === 'uniform' ? 'uniform(0,R)' : r.dist,
    r.repairMode,
    fmt(r.analyticS),
    fmt(r.mcS),
    r.ciLowS === null && r.ciHighS === null ? '—' : `${fmt(r.ciLowS)} – ${fmt(r.ciHighS)}`,
    r.estimator,
    r.cycles
  ].join(' | ')).map(line => `| ${line} |`)
  return [head, sep, ...body].join('\n')
}

export interface StudyOutput {
  readonly parameters: Record<string, unknown>
  readonly notes: readonly string[]
  readonly rows: readonly MttfRow[]
}

export interface RealSection {
  /** Points drawn in chart 2. */
  readonly points: readonly RealCodePoint[]
  /** Model rows for chart 2's non-exponential lines (see renderCharts). */
  readonly modelRows?: readonly MttfRow[]
  /** Markdown appended to mttf.md (the real-vs-model table), if any. */
  readonly markdown?: string
}

/** mttf.json, mttf.md and the charts. */
export async function writeOutputs (out: StudyOutput, outDir: string, real?: RealSection): Promise<RenderReport> {
  await mkdir(outDir, { recursive: true })
  const json = join(outDir, 'mttf.json')
  await writeFile(json, JSON.stringify(out, null, 2) + '\n')
  const md = join(outDir, 'mttf.md')
  const text = [
    '# VP MTTF study',
    '',
    'Generated by `npm run sim:mttf`; see `simulations/README.md` for the model and the estimators.',
    '',
    '```',
    JSON.stringify(out.parameters),
    '```',
    '',
    ...out.notes.map(n => `- ${n}`),
    '',
    markdownTable(out.rows),
    '',
    ...(real?.markdown !== undefined ? [real.markdown, ''] : [])
  ].join('\n')
  await writeFile(md, text)
  const charts = await renderCharts(out.rows, real?.points, outDir, real?.modelRows ?? out.rows)
  return { written: [json, md, ...charts.written], skipped: charts.skipped }
}
