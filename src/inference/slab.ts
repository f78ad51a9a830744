// The shared-memory hand-off between the main thread and one inference worker. Every batch in
// flight owns a slot, a growable SharedArrayBuffer: the main thread writes the request into
// it (version key and model path, input tensors, whether to count drift bins) and the worker
// writes the answer over it (output tensors and bin counts, or an error). A control block per
// worker holds two rings of slot numbers, submitted and completed, whose counters both sides
// wait on with Atomics. So a batch costs no structured clone and no MessagePort, and a worker
// that is still busy picks the next batch up without being woken at all.
// Both threads import this file; it knows tensors, not models or HTTP.
import { allocate, ORT_TYPES, StackedTensor, type TensorData, type TypedArray, type WireTensor } from './tensors.js';

// ES2024 members Node 20 has and TypeScript's ES2022 library does not declare.
declare global {
  interface SharedArrayBuffer {
    grow(newByteLength: number): void;
  }
  interface SharedArrayBufferConstructor {
    new (byteLength: number, options?: { maxByteLength?: number }): SharedArrayBuffer;
  }
  interface Atomics {
    waitAsync(array: Int32Array, index: number, value: number): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
  }
}

/** Control block cells (Int32Array indices). */
const STOP = 0;
/** Batches the main thread has put in the submit ring (only ever grows, wraps at 2^31). */
export const SUBMITTED = 1;
/** Batches the worker has put in the done ring. */
export const COMPLETED = 2;
/** Batches the worker has taken from the submit ring (started running). */
export const STARTED = 3;
/** 1 when the latest submission asks the worker to poll for the next one once it has answered. */
const LINGER = 4;
/** Lingers the worker began, and those that caught the next batch (tests read them). */
const LINGERS = 5;
const LINGER_CATCHES = 6;
const RINGS = 7;

const SLOT_HEADER_BYTES = 16;
const STATUS = 0; // Int32 index in a slot: 0 request, 1 ok, 2 failed
const STATUS_OK = 1;
const STATUS_FAILED = 2;
/** Reserved address space per slot; only what a batch uses is ever committed. */
const SLOT_MAX_BYTES = 1 << 30;
const SLOT_INITIAL_BYTES = 64 * 1024;

const TYPE_CODE = new Map(ORT_TYPES.map((t, i) => [t, i]));

/** Bin counts of a batch's feature rows (see config/reference-bins.ts countBins). */
export interface FeatureBins {
  counts: Float64Array;
  nonFinite: Float64Array;
}

/** What a worker reads from a slot. */
export interface BatchRequest {
  key: string;
  path: string;
  countBins: boolean;
  inputs: WireTensor[];
}

/** What the main thread reads back. */
export type BatchAnswer = { ok: true; outputs: WireTensor[] } | { ok: false; error: string };

/** What a worker writes back: the answer, with its batch's bin counts when it counted them. */
export type WorkerAnswer = { ok: true; outputs: WireTensor[]; bins: FeatureBins | null } | { ok: false; error: string };

/** One worker's control block and slots, as both threads see them (both are shared). */
export interface Channel {
  control: SharedArrayBuffer;
  slots: SharedArrayBuffer[];
}

export function createChannel(slots: number): Channel {
  return {
    control: new SharedArrayBuffer(4 * (RINGS + 2 * ringSize(slots))),
    slots: Array.from({ length: slots }, () => new SharedArrayBuffer(SLOT_INITIAL_BYTES, { maxByteLength: SLOT_MAX_BYTES })),
  };
}

/** A power of two, so that `counter & mask` stays continuous when a counter wraps at 2^31. */
function ringSize(slots: number): number {
  let size = 1;
  while (size < slots) size *= 2;
  return size;
}

/** The two rings over a control block: slot numbers submitted by main, completed by the worker. */
export class Rings {
  readonly cells: Int32Array;
  private readonly size: number;
  private readonly mask: number;

  constructor(channel: Channel) {
    this.cells = new Int32Array(channel.control);
    this.size = ringSize(channel.slots.length);
    this.mask = this.size - 1;
  }

  /**
   * Main thread: hands slot `slot` to the worker, waking it if it sleeps. `linger`: the worker
   * should poll for the next batch for a moment once it has answered this one (worker.ts).
   */
  submit(slot: number, linger = false): void {
    const n = Atomics.load(this.cells, SUBMITTED);
    this.cells[RINGS + (n & this.mask)] = slot;
    Atomics.store(this.cells, LINGER, linger ? 1 : 0);
    Atomics.store(this.cells, SUBMITTED, (n + 1) | 0);
    // Wakes a worker waiting on SUBMITTED; with none waiting (it is busy) this is only a check.
    Atomics.notify(this.cells, SUBMITTED);
  }

  /**
   * Main thread: wakes a sleeping worker without handing it anything, ahead of a batch being
   * prepared (the worker then polls for it briefly; see worker.ts).
   */
  ring(): void {
    Atomics.notify(this.cells, SUBMITTED);
  }

  /** The slot handed over as the `n`-th submission. */
  submitted(n: number): number {
    return this.cells[RINGS + (n & this.mask)]!;
  }

  /** Worker: reports slot `slot` done and wakes the main thread's waiter. */
  complete(slot: number): void {
    const n = Atomics.load(this.cells, COMPLETED);
    this.cells[RINGS + this.size + (n & this.mask)] = slot;
    Atomics.store(this.cells, COMPLETED, (n + 1) | 0);
    Atomics.notify(this.cells, COMPLETED);
  }

  completed(n: number): number {
    return this.cells[RINGS + this.size + (n & this.mask)]!;
  }

  /** Worker: the `n`-th submission (and those before it) has started. */
  started(n: number): void {
    Atomics.store(this.cells, STARTED, n);
  }

  count(cell: typeof SUBMITTED | typeof COMPLETED | typeof STARTED): number {
    return Atomics.load(this.cells, cell);
  }

  /** Worker: whether the latest submission asked it to linger after answering. */
  lingerAsked(): boolean {
    return Atomics.load(this.cells, LINGER) === 1;
  }

  /** Worker: counts a linger, and whether it caught the next batch. */
  lingered(caught: boolean): void {
    Atomics.add(this.cells, LINGERS, 1);
    if (caught) Atomics.add(this.cells, LINGER_CATCHES, 1);
  }

  /** Lingers since the worker started, and those that caught the next batch. */
  lingerCounts(): { lingers: number; catches: number } {
    return { lingers: Atomics.load(this.cells, LINGERS), catches: Atomics.load(this.cells, LINGER_CATCHES) };
  }

  /**
   * Blocks this thread until `cell` no longer holds `seen` or `ms` pass; true if it changed.
   * A blocked thread is woken by the other side's notify directly, not through its event loop.
   */
  waitFor(cell: typeof SUBMITTED | typeof COMPLETED, seen: number, ms: number): boolean {
    return Atomics.wait(this.cells, cell, seen, ms) !== 'timed-out';
  }

  /**
   * Polls until `cell` no longer holds `seen` or `ms` pass, without sleeping; true if it
   * changed. Only for waits of microseconds: it burns this thread's core meanwhile.
   */
  spinFor(cell: typeof SUBMITTED | typeof COMPLETED, seen: number, ms: number): boolean {
    const end = performance.now() + ms;
    while (Atomics.load(this.cells, cell) === seen) if (performance.now() > end) return false;
    return true;
  }

  /** Resolves once `cell` no longer holds `seen` (at once if it already does not). */
  async changed(cell: typeof SUBMITTED | typeof COMPLETED, seen: number): Promise<void> {
    const wait = Atomics.waitAsync(this.cells, cell, seen);
    if (wait.async) await wait.value;
  }

  stop(): void {
    Atomics.store(this.cells, STOP, 1);
    Atomics.notify(this.cells, SUBMITTED);
  }

  get stopped(): boolean {
    return Atomics.load(this.cells, STOP) === 1;
  }

  /** Back to empty rings (a worker that restarts starts from zero). */
  reset(): void {
    this.cells.fill(0);
  }
}

/**
 * A sequential writer/reader over one slot. Scalars are 32-bit little-endian; typed-array
 * payloads start 8-byte aligned; strings (and BYTES elements, as in Triton's binary tensor
 * format) are a 32-bit length and UTF-8 bytes. Each thread keeps one cursor per slot (see
 * cursorAt): making its views anew per batch cost more than the batch's own bytes.
 */
class SlotCursor {
  private view!: DataView;
  private bytes!: Buffer;
  private readonly header: Int32Array;
  at = SLOT_HEADER_BYTES;

  constructor(private readonly sab: SharedArrayBuffer) {
    this.header = new Int32Array(sab, 0, 1);
    this.refresh();
  }

  /** Back to the first byte after the header, with views over all of the slot as it is now. */
  rewind(): this {
    this.at = SLOT_HEADER_BYTES;
    // The other thread may have grown the slot since this thread last used it.
    if (this.bytes.length !== this.sab.byteLength) this.refresh();
    return this;
  }

  private refresh(): void {
    this.view = new DataView(this.sab, 0, this.sab.byteLength);
    this.bytes = Buffer.from(this.sab, 0, this.sab.byteLength);
  }

  status(): number {
    return Atomics.load(this.header, STATUS);
  }

  setStatus(status: number): void {
    Atomics.store(this.header, STATUS, status);
  }

  private ensure(bytes: number): void {
    const end = this.at + bytes;
    if (end <= this.sab.byteLength) return;
    if (end > SLOT_MAX_BYTES) throw new Error(`a batch of ${end} bytes is over the ${SLOT_MAX_BYTES}-byte hand-off limit`);
    this.sab.grow(Math.min(SLOT_MAX_BYTES, Math.max(end, 2 * this.sab.byteLength)));
    this.refresh();
  }

  private align(): void {
    this.at = (this.at + 7) & ~7;
  }

  writeU32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.at, value, true);
    this.at += 4;
  }

  readU32(): number {
    const value = this.view.getUint32(this.at, true);
    this.at += 4;
    return value;
  }

  writeString(value: string): void {
    const length = Buffer.byteLength(value);
    this.writeU32(length);
    this.ensure(length);
    this.bytes.write(value, this.at, 'utf8');
    this.at += length;
  }

  readString(): string {
    const length = this.readU32();
    const value = this.bytes.toString('utf8', this.at, this.at + length);
    this.at += length;
    return value;
  }

  writeArray(data: TypedArray): void {
    this.writeArrays([data]);
  }

  /** One payload: the arrays' bytes one after the other. */
  private writeArrays(parts: readonly TypedArray[]): void {
    let byteLength = 0;
    for (const part of parts) byteLength += part.byteLength;
    this.writeU32(byteLength);
    this.align();
    this.ensure(byteLength);
    for (const part of parts) {
      new Uint8Array(this.sab, this.at, part.byteLength).set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
      this.at += part.byteLength;
    }
  }

  /** Copies a payload out into `into` (ORT refuses shared memory, and the slot is reused). */
  readArrayInto(into: TypedArray): void {
    const byteLength = this.readU32();
    this.align();
    if (byteLength !== into.byteLength) throw new Error(`slot holds ${byteLength} bytes where ${into.byteLength} were expected`);
    new Uint8Array(into.buffer, into.byteOffset, byteLength).set(new Uint8Array(this.sab, this.at, byteLength));
    this.at += byteLength;
  }

  /** A payload as a view over the slot itself: valid only until the slot is reused. */
  viewFloat64(): Float64Array {
    const byteLength = this.readU32();
    this.align();
    const view = new Float64Array(this.sab, this.at, byteLength / 8);
    this.at += byteLength;
    return view;
  }

  writeTensor(tensor: WireTensor): void {
    this.writeString(tensor.name);
    this.writeU32(TYPE_CODE.get(tensor.type)!);
    this.writeU32(tensor.dims.length);
    for (const d of tensor.dims) this.writeU32(d);
    const parts = tensor instanceof StackedTensor ? tensor.parts : [tensor.data];
    if (tensor.type === 'string') {
      this.writeU32(parts.reduce((n, part) => n + part.length, 0));
      for (const part of parts) for (const s of part as string[]) this.writeString(s);
    } else {
      this.writeArrays(parts as readonly TypedArray[]);
    }
  }

  readTensor(): WireTensor {
    const name = this.readString();
    const type = ORT_TYPES[this.readU32()]!;
    const dims = new Array<number>(this.readU32());
    for (let i = 0; i < dims.length; i++) dims[i] = this.readU32();
    let data: TensorData;
    if (type === 'string') {
      const strings = new Array<string>(this.readU32());
      for (let i = 0; i < strings.length; i++) strings[i] = this.readString();
      data = strings;
    } else {
      let count = 1;
      for (const d of dims) count *= d;
      data = allocate(type, count);
      this.readArrayInto(data as TypedArray);
    }
    return { name, type, dims, data };
  }
}

const cursors = new WeakMap<SharedArrayBuffer, SlotCursor>();

/** This thread's cursor over `slot`, at the start of its payload. */
function cursorAt(slot: SharedArrayBuffer): SlotCursor {
  let cursor = cursors.get(slot);
  if (!cursor) {
    cursor = new SlotCursor(slot);
    cursors.set(slot, cursor);
  }
  return cursor.rewind();
}

/** Main thread: writes a batch request into a slot. */
export function writeRequest(slot: SharedArrayBuffer, request: BatchRequest): void {
  const cursor = cursorAt(slot);
  cursor.setStatus(0);
  cursor.writeString(request.key);
  cursor.writeString(request.path);
  cursor.writeU32(request.countBins ? 1 : 0);
  cursor.writeU32(request.inputs.length);
  for (const tensor of request.inputs) cursor.writeTensor(tensor);
}

/** Worker: reads the request the main thread wrote. */
export function readRequest(slot: SharedArrayBuffer): BatchRequest {
  const cursor = cursorAt(slot);
  const key = cursor.readString();
  const path = cursor.readString();
  const countBins = cursor.readU32() === 1;
  const inputs = new Array<WireTensor>(cursor.readU32());
  for (let i = 0; i < inputs.length; i++) inputs[i] = cursor.readTensor();
  return { key, path, countBins, inputs };
}

/** Worker: writes the answer over the request. */
export function writeAnswer(slot: SharedArrayBuffer, answer: WorkerAnswer): void {
  const cursor = cursorAt(slot);
  if (!answer.ok) {
    cursor.writeString(answer.error);
    cursor.setStatus(STATUS_FAILED);
    return;
  }
  cursor.writeU32(answer.outputs.length);
  for (const tensor of answer.outputs) cursor.writeTensor(tensor);
  cursor.writeU32(answer.bins ? 1 : 0);
  if (answer.bins) {
    cursor.writeArray(answer.bins.counts);
    cursor.writeArray(answer.bins.nonFinite);
  }
  cursor.setStatus(STATUS_OK);
}

/**
 * Main thread: reads the worker's answer. Bin counts, when the answer has them, go to `onBins`
 * before this returns, as views over the slot (valid only during the call: the slot is reused).
 */
export function readAnswer(slot: SharedArrayBuffer, onBins?: (bins: FeatureBins) => void): BatchAnswer {
  const cursor = cursorAt(slot);
  if (cursor.status() === STATUS_FAILED) return { ok: false, error: cursor.readString() };
  const outputs = new Array<WireTensor>(cursor.readU32());
  for (let i = 0; i < outputs.length; i++) outputs[i] = cursor.readTensor();
  if (cursor.readU32() === 1) {
    const counts = cursor.viewFloat64();
    const nonFinite = cursor.viewFloat64();
    onBins?.({ counts, nonFinite });
  }
  return { ok: true, outputs };
}
