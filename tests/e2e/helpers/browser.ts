// Debian's Chromium driven by playwright-core (no browser download on these machines).
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const chromiumPath = process.env.HUKUK_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium is not installed at ${chromiumPath}. Install it with \`apt-get install -y chromium\` (.ci/run does).`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Screenshots for docs/ are written only on request, so CI never dirties the tree. */
export const updateScreenshots = process.env.UPDATE_SCREENSHOTS === '1';

/** A light-theme page 1280 px wide whose page errors and console errors go to `report` (every
 * browser test asserts that none came). */
export async function openPage(
  browser: Browser,
  report: (problem: string) => void,
  opts: { locale?: string; height?: number } = {},
): Promise<Page> {
  const context = await browser.newContext({ locale: opts.locale ?? 'en-US', colorScheme: 'light', viewport: { width: 1280, height: opts.height ?? 1000 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => report(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') report(`console error: ${m.text()}`);
  });
  return page;
}
