import { describe, expect, it } from 'vitest';
import { VigilError } from '../../src/errors.js';
import {
  TrafficState,
  defaultPolicy,
  rolesOf,
  validateTrafficPolicy,
  type TrafficPolicy,
} from '../../src/routing/traffic.js';

const loaded = ['1', '2', '3'];

function fieldOf(body: unknown, versions: readonly string[] = loaded): { field: string; message: string } {
  try {
    validateTrafficPolicy(body, versions);
  } catch (e) {
    expect(e).toBeInstanceOf(VigilError);
    const err = e as VigilError;
    expect(err.status).toBe(400);
    expect(err.message.startsWith(`${err.field}: `)).toBe(true);
    return { field: err.field!, message: err.message };
  }
  throw new Error(`expected ${JSON.stringify(body)} to be rejected`);
}

describe('validateTrafficPolicy', () => {
  it('accepts a valid policy and returns a normalized frozen copy', () => {
    const body = { weights: { '1': 90, '2': 10 }, shadow: { version: '3', percent: 100 } };
    const p = validateTrafficPolicy(body, loaded);
    expect(p).toEqual(body);
    expect(p.weights).not.toBe(body.weights);
    expect(Object.isFrozen(p) && Object.isFrozen(p.weights) && Object.isFrozen(p.shadow)).toBe(true);
  });

  it('treats a missing shadow as null and accepts zero weights with a positive sum', () => {
    expect(validateTrafficPolicy({ weights: { '1': 0, '2': 1 } }, loaded)).toEqual({
      weights: { '1': 0, '2': 1 },
      shadow: null,
    });
    expect(validateTrafficPolicy({ weights: { '2': 0.5 }, shadow: null }, loaded).shadow).toBeNull();
    expect(validateTrafficPolicy({ weights: { '1': 1 }, shadow: { version: '2', percent: 0 } }, loaded).shadow).toEqual({
      version: '2',
      percent: 0,
    });
  });

  it('names the field for each kind of error', () => {
    expect(fieldOf({ weights: { '7': 10 } })).toEqual({ field: 'weights/7', message: 'weights/7: version 7 is not loaded' });
    expect(fieldOf({ weights: { '1': -1 } }).field).toBe('weights/1');
    expect(fieldOf({ weights: { '1': 'ten' } }).field).toBe('weights/1');
    expect(fieldOf({ weights: { '1': 0, '2': 0 } })).toEqual({
      field: 'weights',
      message: 'weights: weights must have a positive sum',
    });
    expect(fieldOf({ weights: {} }).field).toBe('weights');
    expect(fieldOf({ weights: { v2: 10 } }).field).toBe('weights/v2');
    expect(fieldOf({ weights: { '../x': 10 } }).field).toBe('weights/../x');
    expect(fieldOf({ weights: { '01': 10 } }).field).toBe('weights/01');
    expect(fieldOf({ weights: [90, 10] }).field).toBe('weights');
    expect(fieldOf({ shadow: null })).toEqual({ field: 'weights', message: 'weights: is required' });
    expect(fieldOf({ weights: { '1': 1 }, extra: true })).toEqual({ field: 'extra', message: 'extra: is not an allowed key' });
    expect(fieldOf({ weights: { '1': 1 }, shadow: { version: '2', percent: 101 } }).field).toBe('shadow/percent');
    expect(fieldOf({ weights: { '1': 1 }, shadow: { version: '2', percent: -1 } }).field).toBe('shadow/percent');
    expect(fieldOf({ weights: { '1': 1 }, shadow: { version: '2' } }).field).toBe('shadow/percent');
    expect(fieldOf({ weights: { '1': 1 }, shadow: { version: '9', percent: 5 } })).toEqual({
      field: 'shadow/version',
      message: 'shadow/version: version 9 is not loaded',
    });
    expect(fieldOf({ weights: { '1': 1 }, shadow: { version: '2', percent: 5, x: 1 } }).field).toBe('shadow/x');
    expect(fieldOf({ weights: { '1': 1 }, shadow: 'v2' }).field).toBe('shadow');
    expect(fieldOf(null).field).toBe('body');
    expect(fieldOf([]).field).toBe('body');
  });

  it('rejects non-finite numbers that did not come from JSON', () => {
    expect(fieldOf({ weights: { '1': Number.POSITIVE_INFINITY } }).field).toBe('weights/1');
    expect(fieldOf({ weights: { '1': Number.NaN } }).field).toBe('weights/1');
  });
});

describe('defaultPolicy / rolesOf', () => {
  it('gives 100 to the numerically highest version', () => {
    expect(defaultPolicy(['2', '10', '9'])).toEqual({ weights: { '10': 100 }, shadow: null });
    expect(() => defaultPolicy([])).toThrow(VigilError);
  });

  it('primary is the heaviest live version, canaries the other live ones', () => {
    const p = validateTrafficPolicy({ weights: { '1': 90, '2': 10, '3': 0 } }, loaded);
    expect(rolesOf(p)).toEqual({ primary: '1', canaries: ['2'] });
    const tie = validateTrafficPolicy({ weights: { '1': 50, '2': 50 } }, loaded);
    expect(rolesOf(tie)).toEqual({ primary: '1', canaries: ['2'] });
  });
});

describe('TrafficState', () => {
  const p9010: TrafficPolicy = validateTrafficPolicy({ weights: { '1': 90, '2': 10 }, shadow: { version: '2', percent: 100 } }, loaded);
  const p7030: TrafficPolicy = validateTrafficPolicy({ weights: { '1': 70, '2': 30 }, shadow: null }, loaded);

  it('set remembers the previous policy; rollback walks back; nothing left throws', () => {
    const s = new TrafficState(p9010);
    expect(s.canRollback).toBe(false);
    expect(() => s.rollback()).toThrow(VigilError);
    expect(s.set(p7030)).toBe(p9010);
    expect(s.get()).toBe(p7030);
    expect(s.rollback()).toBe(p9010);
    expect(s.get()).toBe(p9010);
    expect(() => s.rollback()).toThrow(/nothing to roll back/);
    expect(s.get()).toBe(p9010);
  });

  it('promote gives the version 100 % and drops a shadow on that same version', () => {
    const s = new TrafficState(p9010);
    expect(s.promote('2')).toEqual({ weights: { '2': 100 }, shadow: null });
    expect(s.rollback()).toBe(p9010);
    const keep = validateTrafficPolicy({ weights: { '1': 90, '2': 10 }, shadow: { version: '3', percent: 5 } }, loaded);
    s.set(keep);
    expect(s.promote('2')).toEqual({ weights: { '2': 100 }, shadow: { version: '3', percent: 5 } });
    expect(s.rollback()).toBe(keep);
    expect(() => s.promote('../2')).toThrow(VigilError);
  });

  it('the splitter follows the current policy', () => {
    const s = new TrafficState(p9010);
    expect(s.splitter.share('2')).toBeCloseTo(0.1, 12);
    const rev = s.revision;
    s.promote('2');
    expect(s.splitter.pick('any-key')).toBe('2');
    expect(s.revision).toBe(rev + 1);
    s.rollback();
    expect(s.splitter.share('2')).toBeCloseTo(0.1, 12);
    expect(s.revision).toBe(rev + 2);
  });

  it('setWeight zeroes a canary (kept at 0, undoable) but never the last live version', () => {
    const s = new TrafficState(p9010);
    expect(s.setWeight('2', 0).weights).toEqual({ '1': 90, '2': 0 });
    expect(s.isLive('2')).toBe(false);
    expect(s.isLive('1')).toBe(true);
    expect(s.isShadow('2')).toBe(true);
    expect(s.splitter.versions).toEqual(['1']);
    expect(() => s.setWeight('1', 0)).toThrow(/no live traffic/);
    expect(s.get().weights).toEqual({ '1': 90, '2': 0 });
    expect(s.rollback()).toBe(p9010);
  });

  it('history is bounded', () => {
    const s = new TrafficState(p9010, 3);
    for (let i = 0; i < 10; i++) s.set(i % 2 ? p9010 : p7030);
    let n = 0;
    while (s.canRollback) {
      s.rollback();
      n++;
    }
    expect(n).toBe(3);
  });
});
