/**
 * Headless Chromium for the browser tests: Debian's `chromium` (RSQLO_CHROMIUM overrides the path)
 * driven by playwright-core, with the flags this machine needs (no sandbox as root, nothing beyond
 * loopback). CI must run the browser tests (.ci/run installs chromium); elsewhere a missing
 * browser skips them and says why.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

const CHROMIUM = process.env.RSQLO_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Whether the browser is there; without it CI fails the file, elsewhere `file` says it is skipped. */
export function haveChromium(file: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  const why = `the browser test needs Debian's chromium at ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it)`;
  if (process.env.CI) throw new Error(`CI must run the browser test: ${why}`);
  process.stderr.write(`${file}: skipped: ${why}\n`);
  return false;
}

/** A fresh browser profile with a viewport 1280 px wide and `height` tall. */
export function launchChromium(height: number): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), 'rsqlo-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height },
  });
}
