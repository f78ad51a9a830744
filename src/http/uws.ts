// Loads uWebSockets.js and proves it is the native server. The npm repackaging we depend on
// silently falls back to a slow pure-JS implementation when its binary fails to load; serving
// on that would quietly cost most of our throughput, so it is refused unless explicitly allowed.
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export type Uws = typeof UWS;

export interface LoadedUws {
  uws: Uws;
  native: boolean;
  binary: string | null;
  /** What the package said while loading (its reason for falling back, if it did). */
  warnings: string[];
}

export function loadUws(): LoadedUws {
  const originalWarn = console.warn;
  const warnings: string[] = [];
  // The package reports a failed binary load through console.warn; keep it for our own message.
  console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(' '));
  let uws: Uws;
  try {
    uws = require('uWebSockets.js') as Uws;
  } finally {
    console.warn = originalWarn;
  }
  const binary = Object.keys(require.cache).find((file) => /[\\/]uws_[^\\/]+\.node$/.test(file)) ?? null;
  return { uws, native: binary !== null, binary, warnings };
}

export class UwsFallbackError extends Error {
  constructor(detail: string) {
    super(
      `uWebSockets.js native binary did not load (${process.platform}-${process.arch}, Node ABI ${process.versions.modules}); ` +
      `refusing to serve on the slow pure-JS fallback. Pass --allow-uws-fallback to run anyway. ${detail}`.trim(),
    );
  }
}
