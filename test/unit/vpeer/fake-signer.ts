import { createHash } from 'node:crypto'
import type { CertificateSigner } from '../../../src/vpeer/certificates.js'

/**
 * A deterministic stand-in for a signature scheme in runtime tests: member `id` "signs" with
 * sha256(id, bytes), and anyone verifies by recomputing it. No secrecy, but the runtime's rules
 * (who may sign, what is signed, majorities) are tested without real keys.
 */
export function fakeSigner (id: string, context = new Uint8Array([7])): CertificateSigner {
  const sig = (who: string, bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(who).update('\u0000').update(bytes).digest())
  return {
    context,
    sign: bytes => sig(id, bytes),
    verify: (signer, bytes, signature) => Buffer.from(sig(signer, bytes)).equals(signature)
  }
}
