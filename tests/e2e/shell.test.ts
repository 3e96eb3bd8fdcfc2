// The browser UI end to end: the real `hukuk serve` (built CLI, real handlers, real addon)
// in Debian's Chromium. Clicks through the shell, switches language and theme, reads the
// System page and checks its values against this machine, and checks the server's access
// rules (token, origin) and typed errors at the WebSocket level.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { en } from '../../renderer/i18n/en';
import { tr } from '../../renderer/i18n/tr';
import { launchChromium, openPage, updateScreenshots } from './helpers/browser';
import { repoRoot, startServe, type Served } from './helpers/serve';

const routes = [
  ['models', 'nav.models'],
  ['datasets', 'nav.datasets'],
  ['runs', 'nav.runs'],
  ['new-run', 'nav.newRun'],
  ['chat', 'nav.chat'],
  ['settings', 'nav.settings'],
  ['system', 'nav.system'],
] as const;
const pageTitleKey = {
  models: 'models.title',
  datasets: 'datasets.title',
  runs: 'runs.title',
  'new-run': 'newRun.title',
  chat: 'chat.title',
  settings: 'settings.title',
  system: 'system.title',
} as const;

let served: Served;
let browser: Browser;
let page: Page;
let problems: string[] = [];

beforeAll(async () => {
  served = await startServe();
  browser = await launchChromium();
  // A Turkish system: the UI must start in Turkish.
  page = await openPage(browser, (p) => problems.push(p), { locale: 'tr-TR', height: 800 });
});

afterEach(() => {
  // CSP violations, failed asset loads and React errors all land here.
  const seen = problems;
  problems = [];
  expect(seen).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await served?.stop();
});

async function open(route = 'models') {
  await page.goto(`${served.url}#/${route}`);
  await page.locator('[data-testid="connection-state"][data-state="open"]').waitFor({ timeout: 60_000 });
}

async function chooseLanguage(language: 'tr' | 'en') {
  await page.getByTestId('nav-settings').click();
  await page.getByTestId('settings-language').getByRole('combobox').click();
  await page.getByTestId(`settings-language-${language}`).click();
  await expect.poll(() => page.evaluate(() => document.documentElement.lang)).toBe(language);
}

describe('hukuk serve in Chromium', () => {
  it('starts in Turkish on a Turkish system and every navigation item opens its page', async () => {
    await open();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('tr');
    expect(await page.getByTestId('page-title-models').textContent()).toBe('Modeller');
    for (const [route, navKey] of routes) {
      const item = page.getByTestId(`nav-${route}`);
      expect(await item.textContent()).toBe(tr[navKey]);
      await item.click();
      await expect.poll(() => page.evaluate(() => location.hash)).toBe(`#/${route}`);
      const title = page.getByTestId(`page-title-${route}`);
      await title.waitFor();
      expect(await title.textContent()).toBe(tr[pageTitleKey[route]]);
      expect(await item.getAttribute('aria-current')).toBe('page');
    }
  });

  it('switches to English, keeps it over a reload, and switches back', async () => {
    await open('models');
    await chooseLanguage('en');
    expect(await page.getByTestId('page-title-settings').textContent()).toBe('Settings');
    expect(await page.getByTestId('nav-models').textContent()).toBe(en['nav.models']);
    expect(await page.getByTestId('nav-new-run').textContent()).toBe('New run');
    await page.reload();
    await page.getByTestId('page-title-settings').waitFor();
    expect(await page.getByTestId('page-title-settings').textContent()).toBe('Settings');
    await chooseLanguage('tr');
    expect(await page.getByTestId('page-title-settings').textContent()).toBe('Ayarlar');
    expect(await page.getByTestId('nav-runs').textContent()).toBe('Eğitimler');
  });

  it('toggles the dark theme from the app bar and remembers it', async () => {
    await open('new-run');
    const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(await theme()).toBe('light'); // the context prefers light
    const lightBg = await background();
    await page.getByTestId('theme-toggle').click();
    await expect.poll(theme).toBe('dark');
    await page.reload();
    await page.getByTestId('page-title-new-run').waitFor();
    expect(await theme()).toBe('dark');
    const darkBg = await background();
    expect(darkBg).not.toBe(lightBg);
    expect(luminance(darkBg)).toBeLessThan(0.1);
    expect(luminance(lightBg)).toBeGreaterThan(0.8);
    if (updateScreenshots) {
      await page.getByTestId('preset-flagship-qlora').waitFor();
      await page.mouse.move(0, 0);
      await page.screenshot({ path: join(repoRoot, 'docs/screenshot-shell-dark.png') });
    }
    // The Settings page offers the same choice, including "follow the system".
    await page.getByTestId('nav-settings').click();
    await page.getByTestId('settings-theme-system').click();
    await expect.poll(theme).toBe('light');
    await page.getByTestId('settings-theme-dark').click();
    await expect.poll(theme).toBe('dark');
    await page.getByTestId('theme-toggle').click();
    await expect.poll(theme).toBe('light');
  });

  it('shows the real system facts on the System page', async () => {
    await open('settings');
    await chooseLanguage('en');
    await page.getByTestId('nav-system').click();
    await page.getByTestId('system-info').waitFor({ timeout: 30_000 });

    const engine = createRequire(__filename)(join(repoRoot, 'native/index.cjs')).loadEngine() as {
      version(): string;
      cudaCompiled(): boolean;
      gpus?: () => unknown[];
    };
    expect(await page.getByTestId('system-cpu-cores').getAttribute('data-value')).toBe(String(cpus().length));
    expect(await page.getByTestId('system-addon-version').textContent()).toBe(engine.version());
    expect(await page.getByTestId('system-cuda-compiled').getAttribute('data-value')).toBe(String(engine.cudaCompiled()));
    expect(await page.getByTestId('system-ram').getAttribute('data-value')).toBe(String(totalmem()));
    expect(await page.getByTestId('system-cpu-model').textContent()).toBe(cpus()[0].model.trim());
    expect(await page.getByTestId('system-data-dir').textContent()).toBe(served.dataDir);
    const appVersion = createRequire(__filename)(join(repoRoot, 'package.json')).version as string;
    expect(await page.getByTestId('system-app-version').textContent()).toBe(appVersion);

    const gpuCount = await page.getByTestId('system-gpu').count();
    if (!hasNvidiaSmi() && (engine.gpus?.() ?? []).length === 0) {
      expect(gpuCount).toBe(0);
      expect(await page.getByTestId('system-no-gpu').textContent()).toBe(en['system.noGpu']);
    } else {
      expect(gpuCount).toBeGreaterThan(0);
    }
    if (updateScreenshots) {
      await page.mouse.move(0, 0);
      await page.screenshot({ path: join(repoRoot, 'docs/screenshot-system.png') });
    }
    await chooseLanguage('tr');
  });

  it('opens a page from its address (hash route)', async () => {
    await open('system');
    await page.getByTestId('page-title-system').waitFor();
    const language = await page.evaluate(() => document.documentElement.lang);
    expect(await page.getByTestId('page-title-system').textContent()).toBe((language === 'en' ? en : tr)['system.title']);
    expect(await page.getByTestId('nav-system').getAttribute('aria-current')).toBe('page');
  });
});

describe('hukuk serve access rules', () => {
  it('refuses the page without the token or with a wrong one', async () => {
    for (const path of ['/', '/?token=wrong', '/index.html']) {
      const res = await fetch(served.origin + path, { redirect: 'manual' });
      expect([401, 403], `GET ${path} answered ${res.status}`).toContain(res.status);
    }
  });

  it('refuses a WebSocket without the right token or from another origin', async () => {
    expect([401, 403]).toContain(await upgradeStatus(`/ws?token=wrong`, served.origin));
    expect([401, 403]).toContain(await upgradeStatus(`/ws`, served.origin));
    expect([401, 403]).toContain(await upgradeStatus(`/ws?token=${served.token}`, 'http://evil.example'));
    // The right token from the page's own origin is let in (so the refusals above mean something).
    expect(await upgradeStatus(`/ws?token=${served.token}`, served.origin)).toBe(0);
  });

  it('answers a call over the WebSocket, and a malformed one with a typed error', async () => {
    const ws = new WebSocket(`${served.origin.replace(/^http/, 'ws')}/ws?token=${served.token}`, { origin: served.origin });
    await new Promise<void>((ok, fail) => {
      ws.once('open', () => ok());
      ws.once('error', fail);
    });
    const replies = new Map<number, unknown>();
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { id?: number; result?: unknown };
      if (typeof m.id === 'number') replies.set(m.id, m.result);
    });
    ws.send(JSON.stringify({ id: 1, channel: 'system:info', payload: {} }));
    ws.send(JSON.stringify({ id: 2, channel: 'system:info', payload: { unexpected: true } }));
    ws.send(JSON.stringify({ id: 3, channel: 'no-such:channel', payload: {} }));
    await expect.poll(() => replies.size, { timeout: 30_000 }).toBe(3);
    ws.close();
    const ok = replies.get(1) as { ok: boolean; value: { cpu: { cores: number } } };
    expect(ok.ok).toBe(true);
    expect(ok.value.cpu.cores).toBe(cpus().length);
    for (const id of [2, 3]) {
      const r = replies.get(id) as { ok: boolean; error: { code: string; message: string } };
      expect(r.ok).toBe(false);
      expect(r.error.code).toBe('invalid_payload');
      expect(r.error.message.length).toBeGreaterThan(0);
    }
  });
});

/** The HTTP status a WebSocket upgrade is refused with (0 if it was accepted). */
function upgradeStatus(path: string, origin: string): Promise<number> {
  return new Promise((resolveStatus) => {
    const ws = new WebSocket(served.origin.replace(/^http/, 'ws') + path, { origin });
    ws.once('unexpected-response', (_req, res) => {
      resolveStatus(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      resolveStatus(0);
      ws.close();
    });
    ws.once('error', () => resolveStatus(-1));
  });
}

function hasNvidiaSmi(): boolean {
  try {
    execFileSync('nvidia-smi', ['-L'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Relative luminance of "rgb(r, g, b)", 0 (black) to 1 (white). */
function luminance(rgb: string): number {
  const [r, g, b] = (rgb.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

describe('when the server goes away', () => {
  it('shows the lost connection, and a call fails with a typed error in the snackbar', async () => {
    await chooseLanguage('en');
    await page.getByTestId('nav-system').click();
    await page.getByTestId('system-info').waitFor({ timeout: 30_000 });
    await served.stop();
    await page.locator('[data-testid="connection-state"][data-state="reconnecting"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('connection-banner').textContent()).toContain(en['connection.lost']);
    // A call made while disconnected waits for the server, then fails with a typed error.
    await page.getByTestId('system-refresh').click();
    await page.getByTestId('error-message').waitFor({ timeout: 40_000 });
    expect(await page.getByTestId('error-message').textContent()).toBe(en['connection.timeout']);
    await page.getByRole('button', { name: en['error.details'] }).click();
    expect(await page.getByTestId('error-details').textContent()).toContain('no connection to');
    expect(await page.getByTestId('error-details').textContent()).not.toContain(served.token);
    await page.getByTestId('system-error').waitFor();
    // The browser reports the refused reconnects; nothing else may have gone wrong.
    problems = problems.filter((p) => !/WebSocket connection to .* failed/.test(p));
  });
});
