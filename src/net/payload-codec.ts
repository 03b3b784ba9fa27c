/**
 * How results, queries and answers cross the client protocol. Commands are encoded with the
 * runtime's `CommandCodec` (what the log stores); these are the other three payloads. JSON by
 * default, like the runtime's default command codec.
 */
import { InvalidArgumentError } from '../util/errors.js'

export interface PayloadCodec<Q, A, R = unknown> {
  encodeResult (result: R): Uint8Array
  decodeResult (bytes: Uint8Array): R
  encodeQuery (query: Q): Uint8Array
  /** Throws on bytes that are not a query (the member answers with the error). */
  decodeQuery (bytes: Uint8Array): Q
  encodeAnswer (answer: A): Uint8Array
  decodeAnswer (bytes: Uint8Array): A
}

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

function toJson (value: unknown): Uint8Array {
  // `undefined` (a state machine that returns nothing) travels as null.
  return enc.encode(JSON.stringify(value ?? null))
}

function fromJson (bytes: Uint8Array, what: string): never | unknown {
  try {
    return JSON.parse(dec.decode(bytes)) as unknown
  } catch (error) {
    throw new InvalidArgumentError(`${what} is not UTF-8 JSON`, { cause: error })
  }
}

export function jsonPayloads<Q, A, R = unknown> (): PayloadCodec<Q, A, R> {
  return {
    encodeResult: toJson,
    decodeResult: b => fromJson(b, 'result') as R,
    encodeQuery: toJson,
    decodeQuery: b => fromJson(b, 'query') as Q,
    encodeAnswer: toJson,
    decodeAnswer: b => fromJson(b, 'answer') as A
  }
}
