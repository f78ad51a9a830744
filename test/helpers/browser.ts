// A real headless browser for page tests: Debian's chromium driven by playwright-core (no
// browser download: `npx playwright install` cannot reach the network here). Override the
// binary with VIGIL_CHROMIUM.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.VIGIL_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium or set VIGIL_CHROMIUM`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The element's textContent ('' when absent), read once. */
export async function textOf(page: Page, testid: string): Promise<string> {
  return page.evaluate((id) => {
    const doc = (globalThis as any).document;
    const node = doc.querySelector(`[data-testid="${(globalThis as any).CSS.escape(id)}"]`);
    return node ? String(node.textContent) : '';
  }, testid);
}

/**
 * Waits (polling the live page, no sleeps) until the text of `[data-testid=testid]` matches
 * `pattern`; returns that text. On timeout the error names the element and its last text.
 */
export async function waitForText(page: Page, testid: string, pattern: RegExp, timeout = 20_000): Promise<string> {
  try {
    const handle = await page.waitForFunction(({ id, source, flags }) => {
      const doc = (globalThis as any).document;
      const node = doc.querySelector(`[data-testid="${(globalThis as any).CSS.escape(id)}"]`);
      const text = node ? String(node.textContent) : '';
      return new RegExp(source, flags).test(text) ? text : false;
    }, { id: testid, source: pattern.source, flags: pattern.flags }, { timeout, polling: 100 });
    return (await handle.jsonValue()) as string;
  } catch (error) {
    const last = await textOf(page, testid).catch(() => '(page gone)');
    throw new Error(`[data-testid="${testid}"] text did not match ${pattern} within ${timeout} ms; last text: ${JSON.stringify(last)}\n${String(error)}`);
  }
}

/** Waits until `[data-testid=testid]` shows a number (thousands separators allowed) >= min; returns it. */
export async function waitForNumber(page: Page, testid: string, min: number, timeout = 20_000): Promise<number> {
  try {
    const handle = await page.waitForFunction(({ id, floor }) => {
      const doc = (globalThis as any).document;
      const node = doc.querySelector(`[data-testid="${(globalThis as any).CSS.escape(id)}"]`);
      const text = node ? String(node.textContent).replace(/,/g, '').trim() : '';
      if (!/^-?\d+(\.\d+)?$/.test(text)) return false;
      const value = Number(text);
      return value >= floor ? value : false;
    }, { id: testid, floor: min }, { timeout, polling: 100 });
    return (await handle.jsonValue()) as number;
  } catch (error) {
    const last = await textOf(page, testid).catch(() => '(page gone)');
    throw new Error(`[data-testid="${testid}"] never showed a number >= ${min} within ${timeout} ms; last text: ${JSON.stringify(last)}\n${String(error)}`);
  }
}
