/**
 * Length-prefixed frames over one libp2p stream, for request/response protocols (the client
 * protocol): `write` sends a frame, `frames()` yields the bodies that arrive and throws
 * `BadFrameError` on a frame over the limit or a stream that ends inside a frame.
 */
import type { Stream } from '@libp2p/interface'
import { BadFrameError } from './errors.js'
import { FrameReader, frameAll } from './frames.js'

export class FrameStream {
  readonly stream: Stream
  private readonly reader: FrameReader
  /** Frames written in this turn of the event loop, sent together at its end. */
  private batch: Uint8Array[] = []

  constructor (stream: Stream, frameBytesMax: number) {
    this.stream = stream
    this.reader = new FrameReader(frameBytesMax)
  }

  get open (): boolean {
    return this.stream.status === 'open' && this.stream.writeStatus === 'writable'
  }

  /**
   * Queues one frame, sent with the others of this event-loop turn. False when the stream can
   * no longer be written (closed or reset): the frame is lost, as on any network. libp2p buffers what the muxer cannot take yet; the
   * protocols on top bound how much that is (requests in flight per client).
   */
  write (body: Uint8Array): boolean {
    if (!this.open) return false
    // Replies to a batch of commands resolve together: one write carries them all.
    if (this.batch.length === 0) setImmediate(() => { this.flush() })
    this.batch.push(body)
    return true
  }

  private flush (): void {
    const bodies = this.batch
    this.batch = []
    if (bodies.length === 0 || !this.open) return
    try {
      this.stream.send(frameAll(bodies))
    } catch {
      // Closed or reset meanwhile: the frames are lost, as on any network.
    }
  }

  async * frames (): AsyncGenerator<Uint8Array> {
    for await (const chunk of this.stream) yield * this.reader.push(chunk)
    if (this.reader.pending) throw new BadFrameError('stream ended inside a frame (truncated)')
  }

  abort (error: Error): void {
    this.stream.abort(error)
  }

  async close (): Promise<void> {
    await this.stream.close().catch(() => { this.stream.abort(new BadFrameError('close failed')) })
  }
}
