// Stacked batches travel as their parts: stackRows keeps each request's tensors as they are,
// and the slot the worker reads holds them one after another, exactly as if they had been
// copied into one array first (which `data` still gives any other reader). Stacking groups that
// are themselves stacked (shadow groups queued together) flattens them.
import { describe, expect, it } from 'vitest';
import { createChannel, readRequest, writeRequest } from '../../src/inference/slab.js';
import { StackedTensor, stackRows, type RowBlock, type WireTensor } from '../../src/inference/tensors.js';

function block(rows: number, first: number, words: string[]): RowBlock {
  const x = new Float32Array(rows * 3).map((_, i) => first + i / 4);
  // A view into a bigger buffer, at an offset: parts are read through their own offsets.
  const ids = new BigInt64Array(new ArrayBuffer(8 * (rows + 2)), 8, rows).map((_, i) => BigInt(first * 100 + i));
  return {
    rows,
    inputs: [
      { name: 'x', type: 'float32', dims: [rows, 3], data: x },
      { name: 'id', type: 'int64', dims: [rows], data: ids },
      { name: 'word', type: 'string', dims: [rows, 1], data: words },
    ],
  };
}

/** What the worker reads back from a slot the main thread wrote `inputs` into. */
function handOff(inputs: WireTensor[]): WireTensor[] {
  const [slot] = createChannel(1).slots;
  writeRequest(slot!, { key: 'm/1', path: '/m.onnx', countBins: false, inputs });
  return readRequest(slot!).inputs;
}

describe('stacked batches', () => {
  const blocks = [block(2, 1, ['a', 'b']), block(1, 5, ['héllo']), block(3, 9, ['', 'x', 'y'])];

  it('reach the worker as the rows stacked in order, without a stacked copy first', () => {
    const stacked = stackRows(blocks, 6);
    expect(stacked.every((t) => t instanceof StackedTensor && t.parts.length === 3)).toBe(true);
    const [x, id, word] = handOff(stacked);
    expect(x).toEqual({ name: 'x', type: 'float32', dims: [6, 3], data: new Float32Array([...blocks.flatMap((b) => Array.from(b.inputs[0]!.data as Float32Array))]) });
    expect(Array.from(id!.data as BigInt64Array)).toEqual([100n, 101n, 500n, 900n, 901n, 902n]);
    expect(id!.dims).toEqual([6]);
    expect(word).toEqual({ name: 'word', type: 'string', dims: [6, 1], data: ['a', 'b', 'héllo', '', 'x', 'y'] });
  });

  it('give the same rows to a reader of `data`', () => {
    const stacked = stackRows(blocks, 6);
    const handed = handOff(stacked);
    stacked.forEach((tensor, i) => expect(tensor.data).toEqual(handed[i]!.data));
  });

  it('flatten a stacked group stacked again', () => {
    const group = { rows: 3, inputs: stackRows(blocks.slice(0, 2), 3) };
    const again = stackRows([group, blocks[2]!], 6);
    expect(again[0]!.parts).toHaveLength(3);
    expect(handOff(again)).toEqual(handOff(stackRows(blocks, 6)));
  });
});
