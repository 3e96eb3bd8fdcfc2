#!/usr/bin/env node
// Renders icon.svg to the PNGs electron-builder and the window use (icon.png 512², icon-256.png),
// with Debian's Chromium through playwright-core. Run after editing icon.svg:
//   node resources/icons/render-icons.mjs
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const svg = readFileSync(join(here, 'icon.svg'), 'utf8');
const browser = await chromium.launch({ executablePath: process.env.HUKUK_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  for (const [size, name] of [[512, 'icon.png'], [256, 'icon-256.png']]) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    await page.setContent(`<body style="margin:0">${svg.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body>`);
    await page.screenshot({ path: join(here, name), omitBackground: true });
    console.log(`wrote resources/icons/${name}`);
  }
} finally {
  await browser.close();
}
