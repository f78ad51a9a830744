// Memory for binary request bodies, used again and again. A binary body's tensors are read in
// place (views over the body), so a fresh body per request is a fresh ArrayBuffer per request,
// and V8 counts every one towards its next full collection of the main isolate: at a few
// thousand 16 KB bodies a second that was several full collections a second.
//
// A body comes back only when its request says nothing holds its tensors any more (the data
// plane, once the live batch has settled and no shadow mirror took the inputs). A body that
// never comes back is simply collected, so forgetting to give one back costs memory churn,
// never correctness; giving one back early would hand its bytes to another request, which is
// why only that one place gives them back.

/** Pooled sizes: powers of two from MIN_BYTES to MAX_BYTES; larger bodies are not pooled. */
const MIN_BYTES = 1 << 12;
const MAX_BYTES = 1 << 20;
/** Most bytes kept idle in the pool (the rest go to the collector). */
const MAX_IDLE_BYTES = 8 << 20;

export class BodyPool {
  private readonly idle = new Map<number, Buffer[]>();
  private idleBytes = 0;

  constructor(private readonly maxIdleBytes = MAX_IDLE_BYTES) {}

  /** Memory for at least `length` bytes: its own buffer, not shared with any other taker until given back. */
  take(length: number): Buffer {
    const size = sizeClass(length);
    if (size === 0) return Buffer.allocUnsafeSlow(length);
    const reused = this.idle.get(size)?.pop();
    if (!reused) return Buffer.allocUnsafeSlow(size);
    this.idleBytes -= size;
    return reused;
  }

  /** Gives back a buffer `take` returned, once nothing reads or writes it any more. */
  give(buffer: Buffer): void {
    const size = buffer.length;
    if (buffer.byteOffset !== 0 || buffer.buffer.byteLength !== size || sizeClass(size) !== size) return;
    if (this.idleBytes + size > this.maxIdleBytes) return;
    let list = this.idle.get(size);
    if (!list) this.idle.set(size, (list = []));
    list.push(buffer);
    this.idleBytes += size;
  }

  /** Bytes idle in the pool. */
  get idleByteCount(): number {
    return this.idleBytes;
  }
}

/** The pooled size for `length` bytes, or 0 when a body that long is not pooled. */
function sizeClass(length: number): number {
  if (length > MAX_BYTES) return 0;
  let size = MIN_BYTES;
  while (size < length) size *= 2;
  return size;
}

/** The process's pool (bodies of every connection share it). */
export const bodyPool = new BodyPool();
