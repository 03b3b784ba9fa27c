/**
 * Node 20 lacks `Promise.withResolvers`, which libp2p 3 calls at run time (see
 * LIBP2P-NOTES.md). The network runtime will import libp2p, so the package entry installs
 * the polyfill first. It only adds the function where it is missing.
 */
interface WithResolvers {
  withResolvers?: <T>() => { promise: Promise<T>, resolve: (v: T | PromiseLike<T>) => void, reject: (e?: unknown) => void }
}

const P = Promise as unknown as WithResolvers
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function <T> () {
    let resolve!: (v: T | PromiseLike<T>) => void
    let reject!: (e?: unknown) => void
    const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
