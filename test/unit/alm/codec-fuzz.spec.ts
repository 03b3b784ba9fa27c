import { describe, expect, it } from 'vitest'
import { CODEC_FUZZ_MUTATIONS, FuzzPrng, fuzzWireCodec, randomWireMessage, wireEqual } from '../../../src/alm/codec-fuzz.js'
import { decodeWireMessage, encodeWireMessage, WIRE_MESSAGE_TAGS } from '../../../src/alm/wire-codec.js'
import { HelpRequested, UsageError } from '../../../bench/cli-errors.js'
import { parseOptions } from '../../../simulations/codec-fuzz.js'

describe('codec fuzzer', () => {
  it('20,000 frames: no unexpected error, no round-trip mismatch, and frames both decode and get refused', () => {
    const frames = 20_000
    const progress: number[] = []
    const report = fuzzWireCodec({ seed: 20_250_601, frames, progressEvery: 5000, onProgress: p => progress.push(p.done) })
    expect(report.unexpectedErrors).toEqual([])
    expect(report.mismatches).toEqual([])
    expect(report.unexpectedErrorCount).toBe(0)
    expect(report.roundTripMismatches).toBe(0)
    // The run must exercise both sides, or it could not find anything.
    expect(report.decoded).toBeGreaterThan(frames * 0.1)
    expect(report.refused.ERR_WIRE_DECODE ?? 0).toBeGreaterThan(frames * 0.4)
    expect(report.refused.ERR_FRAME_TOO_LARGE ?? 0).toBeGreaterThan(0)
    expect(report.decoded + (report.refused.ERR_WIRE_DECODE ?? 0) + (report.refused.ERR_FRAME_TOO_LARGE ?? 0)).toBe(frames)
    for (const type of Object.keys(WIRE_MESSAGE_TAGS)) expect(report.decodedByType[type], type).toBeGreaterThan(50)
    for (const kind of CODEC_FUZZ_MUTATIONS) expect(report.byMutation[kind].frames, kind).toBeGreaterThan(100)
    // Mutated frames that still decode are where canonicity is really tested.
    expect(report.byMutation.bitflip.decoded + report.byMutation.length.decoded + report.byMutation.delete.decoded).toBeGreaterThan(1000)
    expect(progress).toEqual([5000, 10_000, 15_000, 20_000])
  })

  it('is deterministic in its seed', () => {
    const a = fuzzWireCodec({ seed: 7, frames: 2000 })
    const b = fuzzWireCodec({ seed: 7, frames: 2000 })
    const c = fuzzWireCodec({ seed: 8, frames: 2000 })
    expect(a).toEqual(b)
    expect(c.decoded === a.decoded && c.refused.ERR_WIRE_DECODE === a.refused.ERR_WIRE_DECODE).toBe(false)
  })

  it('generates valid messages that round-trip', () => {
    const rng = new FuzzPrng(1)
    for (let i = 0; i < 2000; i++) {
      const m = randomWireMessage(rng)
      expect(wireEqual(decodeWireMessage(encodeWireMessage(m)), m)).toBe(true)
    }
  })

  it('wireEqual tells apart what the codec must keep apart', () => {
    expect(wireEqual({ id: 'v', commands: [] }, { id: 'v', commands: [], time: 0 })).toBe(false)
    expect(wireEqual({ id: 'r', index: undefined }, { id: 'r' })).toBe(false)
    expect(wireEqual(new Uint8Array([1]), Buffer.from([1]))).toBe(false)
    expect(wireEqual({ a: [1, new Uint8Array([2])] }, { a: [1, new Uint8Array([2])] })).toBe(true)
    expect(wireEqual({ a: [1, new Uint8Array([2])] }, { a: [1, new Uint8Array([3])] })).toBe(false)
  })

  it('CLI options', () => {
    expect(parseOptions([])).toEqual({ frames: 1_000_000, seed: 1, json: false })
    expect(parseOptions(['--frames', '1_000', '--seed', '0', '--json'])).toEqual({ frames: 1000, seed: 0, json: true })
    expect(() => parseOptions(['--help'])).toThrow(HelpRequested)
    for (const bad of [['--frames', '0'], ['--frames', ''], ['--seed', '-1'], ['--seed', '1.5'], ['--nope'], ['positional']]) {
      expect(() => parseOptions(bad), bad.join(' ')).toThrow(UsageError)
    }
  })
})
