// Runs one browser scenario against a running registry in Debian's Chromium (headless, through
// playwright-core) and prints what happened as one JSON object on stdout: every request the
// browser made, console and page errors, CSP violations, dialogs and XSS side effects, and the
// scenario's own return value. tests/common/browser.rs runs it and parses the object.
//
//   node tests/browser/run.mjs <scenario.mjs> <base_url> <shots_dir>
//
// Environment: PLAYWRIGHT_CORE (the playwright-core package's folder), CHROMIUM (the binary),
// SCENARIO_PARAMS (JSON handed to the scenario as `params`), SCENARIO_DEADLINE_MS.
//
// A scenario module exports `async function run(api)`; `api` holds:
//   page, phone      a page in the desktop context (1280×800) and one in the phone context
//                    (390×844, isMobile, hasTouch), both with `base` as their base URL
//   desktop, mobile  the two browser contexts
//   base             the registry's URL; params: SCENARIO_PARAMS
//   both(fn)         runs `fn(page)` on both pages at once: `await both(p => p.goto('/'))`
//   shot(name)       writes <shots_dir>/<name>-desktop.png and <name>-phone.png (full page)
//   copied(page, selector)  clicks `selector` and returns the clipboard's text afterwards
//   xss()            what the XSS hooks saw so far: { fired, effects, dialogs }
// What it returns (any JSON value) comes back as the result's `value`.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// Nothing but the result may reach stdout: a scenario's console.log goes to stderr.
console.log = (...args) => console.error(...args);

const [scenarioPath, base, shotsDir] = process.argv.slice(2);
if (!scenarioPath || !base || !shotsDir) {
  console.error('usage: node run.mjs <scenario.mjs> <base_url> <shots_dir>');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE ?? 'playwright-core');
const params = JSON.parse(process.env.SCENARIO_PARAMS ?? 'null');
const deadlineMs = Number(process.env.SCENARIO_DEADLINE_MS ?? 60000);

// Chromium must not reach the network on its own: no background services, updates, sync or
// QUIC, and every host name but the registry's own resolves to nothing.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
];

// Installed in every document before its own scripts run (through the DevTools protocol, so a
// page's CSP does not stop it): `window.__xss`, whose push an XSS payload can call, and
// alert/confirm/prompt, each reported to the test before the real dialog opens; CSP violations
// are reported too.
const HOOKS = `(() => {
  const report = (kind, args) => {
    try { window.__pantryReport(kind, args.map((a) => String(a))); } catch (e) {}
  };
  const seen = [];
  seen.push = (...values) => { report('__xss', values); return Array.prototype.push.apply(seen, values); };
  Object.defineProperty(window, '__xss', { value: seen, writable: false });
  for (const name of ['alert', 'confirm', 'prompt']) {
    const original = window[name];
    window[name] = function (...args) { report(name, args); return original.apply(window, args); };
  }
  document.addEventListener('securitypolicyviolation', (e) => {
    report('csp', [e.violatedDirective, e.blockedURI, e.sourceFile, String(e.lineNumber)]);
  });
})();`;

const result = {
  requests: [],
  console_errors: [],
  page_errors: [],
  csp_violations: [],
  effects: [],
  dialogs: [],
  value: null,
  error: null,
};

function watch(context, label) {
  const byRequest = new Map();
  context.on('request', (request) => {
    const entry = { url: request.url(), method: request.method(), type: request.resourceType(), context: label };
    byRequest.set(request, entry);
    result.requests.push(entry);
  });
  context.on('requestfailed', (request) => {
    const entry = byRequest.get(request);
    if (entry) entry.failure = request.failure()?.errorText ?? 'failed';
  });
  context.on('console', (message) => {
    if (message.type() === 'error') {
      const location = message.location();
      result.console_errors.push({ text: message.text(), url: location?.url ?? '', context: label });
    }
  });
  context.on('weberror', (error) => {
    result.page_errors.push({ message: String(error.error()), context: label });
  });
  context.on('page', (page) => {
    page.on('websocket', (socket) => result.requests.push({ url: socket.url(), method: 'GET', type: 'websocket', context: label }));
    // Every dialog is recorded and dismissed, so none can hang a scenario.
    page.on('dialog', async (dialog) => {
      result.dialogs.push({ type: dialog.type(), message: dialog.message(), url: page.url(), context: label });
      await dialog.dismiss().catch(() => {});
    });
  });
}

async function newContext(browser, label, options) {
  const context = await browser.newContext({ baseURL: base, ...options });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(base).origin });
  await context.exposeBinding('__pantryReport', ({ frame }, kind, args) => {
    const entry = { kind, args, url: frame?.url() ?? '', context: label };
    if (kind === 'csp') result.csp_violations.push(entry);
    else result.effects.push(entry);
  });
  await context.addInitScript(HOOKS);
  // A request to anywhere but the registry is recorded (above) and never sent.
  const origin = new URL(base).origin;
  await context.route(
    (url) => url.origin !== origin && url.protocol !== 'data:' && url.protocol !== 'blob:',
    (route) => route.abort('blockedbyclient'),
  );
  context.setDefaultTimeout(30000);
  context.setDefaultNavigationTimeout(45000);
  watch(context, label);
  return context;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: CHROMIUM_ARGS,
  timeout: 30000,
});
const scenarioName = basename(scenarioPath).replace(/\.m?js$/, '');
let desktop;
let mobile;
let page;
let phone;
mkdirSync(shotsDir, { recursive: true });
const shot = async (name, options = {}) => {
  await Promise.all([
    page.screenshot({ path: join(shotsDir, `${name}-desktop.png`), fullPage: true, ...options }),
    phone.screenshot({ path: join(shotsDir, `${name}-phone.png`), fullPage: true, ...options }),
  ]);
};
try {
  desktop = await newContext(browser, 'desktop', { viewport: { width: 1280, height: 800 } });
  mobile = await newContext(browser, 'phone', {
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  page = await desktop.newPage();
  phone = await mobile.newPage();
  const api = {
    page,
    phone,
    desktop,
    mobile,
    base,
    params,
    both: (fn) => Promise.all([fn(page), fn(phone)]),
    shot,
    copied: async (target, selector) => {
      await target.click(selector);
      return target.evaluate(() => navigator.clipboard.readText());
    },
    xss: async () => {
      // Let reports still on their way from the pages arrive.
      await Promise.all([page, phone].map((p) => p.evaluate(() => 0).catch(() => {})));
      const effects = result.effects.slice();
      const dialogs = result.dialogs.slice();
      return { fired: effects.length > 0 || dialogs.length > 0, effects, dialogs };
    },
  };
  const scenario = await import(pathToFileURL(resolve(scenarioPath)).href);
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the scenario took longer than ${deadlineMs} ms`)), deadlineMs);
  });
  try {
    result.value = (await Promise.race([scenario.run(api), deadline])) ?? null;
  } finally {
    clearTimeout(timer);
  }
} catch (error) {
  result.error = String(error?.stack ?? error);
  // What the pages showed when it failed.
  if (page && phone) await shot(`${scenarioName}-failure`).catch(() => {});
} finally {
  await browser.close().catch(() => {});
}
process.stdout.write(JSON.stringify(result));
process.exitCode = result.error ? 1 : 0;
