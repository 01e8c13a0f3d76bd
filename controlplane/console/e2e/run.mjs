// End-to-end tests of the console in a real browser against a real control plane.
//
// Starts `nexbii-controlplane serve` with the quick start's manifests on a free loopback port
// and a temporary data directory, drives Debian's Chromium with playwright-core, and checks
// every page of the console. Screenshots go to test-artifacts/ (also on failure).
//
//   node e2e/run.mjs            (run by `npm test` after the unit tests)
//
// Environment: NEXBII_CONTROLPLANE_BIN (the binary; default target/debug/nexbii-controlplane,
// which must be newer than the console's and the control plane's sources), CARGO_TARGET_DIR,
// CHROMIUM (default /usr/bin/chromium), E2E_ONLY (a regular expression: only matching tests).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const consoleDir = path.resolve(here, '..');
const root = path.resolve(consoleDir, '../..');
const artifacts = path.join(consoleDir, 'test-artifacts');
const PASSWORD = 'e2e-console-password-1';
const TENANT = 'acme';
const svg = (fill) => `data:image/svg+xml;base64,${Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="96" height="24"><rect width="96" height="24" rx="4" fill="${fill}"/></svg>`).toString('base64')}`;
// The quick-start tenant's branding, completed with what the quick start leaves out.
const BRANDING = {
  logoUrl: svg('#1f6feb'),
  darkLogoUrl: svg('#f78166'),
  faviconUrl: svg('#123456'),
  fontFamily: 'Georgia, serif',
};

// A second tenant: single sign-on through the test OpenID provider (tests/env/oidc.sh), and a
// logo on another host, which the console's CSP refuses (its name stands in).
const SSO_TENANT = 'globex';
const OIDC_ISSUER = process.env.NEXBII_TEST_OIDC ?? 'http://127.0.0.1:9400';
const SSO_TENANT_YAML = `apiVersion: v1
kind: Secret
metadata:
  name: ${SSO_TENANT}-oidc
stringData:
  client-secret: nexbii-test-secret
---
apiVersion: nexbii.io/v1alpha1
kind: Tenant
metadata:
  name: ${SSO_TENANT}
spec:
  displayName: Globex
  branding:
    name: Globex Reports
    logoUrl: "https://cdn.globex.example/logo.svg"
    primaryColor: "#8250df"
  auth:
    passwordMinLength: 12
    oidc:
      issuerUrl: ${OIDC_ISSUER}
      clientId: nexbii
      clientSecretRef:
        name: ${SSO_TENANT}-oidc
        key: client-secret
      roleMapping:
        - group: analysts
          role: editor
        - group: bi-admins
          role: admin
      buttonLabel: Sign in with Test IdP
`;

/** The control-plane binary to test; refused when older than the sources it embeds. */
function binary() {
  if (process.env.NEXBII_CONTROLPLANE_BIN) return process.env.NEXBII_CONTROLPLANE_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
  const bin = path.join(target, 'debug', 'nexbii-controlplane');
  // Not built here: `cargo build -p …` after `cargo test --workspace` would rebuild dependencies
  // with other features; tests/run.sh's cargo test step has just built this binary.
  const how = 'build it with `cargo build -p nexbii-controlplane` (or `cargo test --workspace`), or set NEXBII_CONTROLPLANE_BIN';
  if (!existsSync(bin)) throw new Error(`no control-plane binary at ${bin}: ${how}`);
  const built = statSync(bin).mtimeMs;
  const newer = [path.join(consoleDir, 'src'), path.join(root, 'controlplane/src')].flatMap((d) => newerThan(d, built));
  if (newer.length) throw new Error(`${bin} is older than ${newer.slice(0, 3).join(', ')}: ${how}`);
  return bin;
}

function newerThan(dir, ms) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .filter((f) => statSync(f).mtimeMs > ms);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startServer(bin) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nexbii-console-e2e-'));
  mkdirSync(path.join(dir, 'sources'));
  // A SQLite file the data-source form may point at (API-created sources live under the root).
  cpSync(path.join(root, 'examples/quickstart/sales.db'), path.join(dir, 'sources/copy.db'));
  // The quick start's manifests, its tenant with a complete branding (logos, favicon, font).
  const manifests = path.join(dir, 'manifests');
  cpSync(path.join(root, 'examples/quickstart'), manifests, { recursive: true });
  const tenantYaml = path.join(manifests, 'tenant.yaml');
  const extra = Object.entries(BRANDING).map(([k, v]) => `    ${k}: "${v}"`).join('\n');
  // A setting the Tenant declares (read-only in the console's settings page).
  const declared = '  settings:\n    notifications:\n      retentionDays: 60\n';
  writeFileSync(tenantYaml, readFileSync(tenantYaml, 'utf8').replace('  branding:\n', `${declared}  branding:\n${extra}\n`));
  writeFileSync(path.join(manifests, 'sso-tenant.yaml'), SSO_TENANT_YAML);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = [];
  const proc = spawn(
    bin,
    [
      'serve',
      '--manifests', manifests,
      '--listen', `127.0.0.1:${port}`,
      '--store', path.join(dir, 'nexbii.db'),
      '--keys-file', path.join(dir, 'keys.json'),
      '--sqlite-root', path.join(dir, 'sources'),
      '--backup-dir', path.join(dir, 'backups'),
      // The webhook test's receiver listens on the loopback.
      '--webhook-allow', '127.0.0.1/32',
    ],
    // Alerts checked every second, so the alerts test sees one fire and clear at once.
    { env: { ...process.env, NEXBII_BOOTSTRAP_PASSWORD: PASSWORD, NEXBII_ALERT_INTERVAL_SECONDS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout.on('data', (d) => log.push(String(d)));
  proc.stderr.on('data', (d) => log.push(String(d)));
  // The server ships its change journal on shutdown, into the folder: it must have exited
  // before the folder goes (SIGKILL after 10 s).
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Up once the quick start's three dashboards are provisioned.
  const deadline = Date.now() + 60_000;
  let token = null;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) break;
    try {
      if (!token) token = (await api(base, null, 'POST', '/auth/login', { tenant: TENANT, username: 'admin', password: PASSWORD })).token;
      const list = await api(base, token, 'GET', '/dashboards');
      if (list.length >= 3) return { base, token, stop, log };
    } catch {
      // not up yet
    }
    await sleep(250);
  }
  await stop();
  throw new Error(`control plane did not come up:\n${log.join('').slice(-3000)}`);
}

async function api(base, token, method, p, body) {
  const res = await fetch(`${base}/api/v1${p}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

/** RFC 6238 TOTP (SHA-1, 30 s, 6 digits) of a base32 secret: what an authenticator app shows. */
function totp(secret, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...secret.replace(/=+$/, '').toUpperCase()].map((c) => alphabet.indexOf(c).toString(2).padStart(5, '0')).join('');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const h = crypto.createHmac('sha1', key).update(counter).digest();
  const o = h[19] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// --- the harness: each test gets a fresh page; console errors fail it ----------------------

const results = [];
/** `allow`: statuses a test provokes on purpose (a 422 shown at its field): the browser's
 * "Failed to load resource" for them is not an error of the page. `expectErrors`: regular
 * expressions of console errors (`<message> [<url>]`) the test provokes on purpose (a CSP
 * refusal it checks) or that are not the console's (another server's missing favicon). */
async function test(ctx, name, fn, { allow = [], expectErrors = [] } = {}) {
  // E2E_ONLY=<regular expression>: only the tests whose name matches (while working on a page).
  if (process.env.E2E_ONLY && !new RegExp(process.env.E2E_ONLY).test(name)) return;
  const page = await ctx.newPage();
  const errors = [];
  const failed = [];
  page.on('response', (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' || /^Applying inline style violates/.test(m.text())) return;
    const status = /status of (\d+)/.exec(m.text())?.[1];
    if (status && allow.includes(Number(status))) return;
    const text = `${m.text()} [${m.location().url}]`;
    if (expectErrors.some((r) => r.test(text))) return;
    errors.push(text);
  });
  page.on('pageerror', (e) => errors.push(`${e.message} ${String(e.stack ?? '').split('\n').slice(1, 4).join(' ')}`));
  const started = Date.now();
  try {
    await fn(page);
    assert(errors.length === 0, `console errors: ${errors.join(' | ')} (failed requests: ${failed.join(', ') || 'none'})`);
    results.push({ name, ok: true, ms: Date.now() - started });
    console.log(`  ok    ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`  FAIL  ${name}\n        ${String(e.message).split('\n').join('\n        ')}`);
    await page.screenshot({ path: path.join(artifacts, `FAILED-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {});
  } finally {
    await page.close();
  }
}

const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

async function noHorizontalOverflow(page) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert(scroll <= client, `page is wider than the window (${scroll} > ${client} px)`);
}

/** Waits for every widget of the dashboard on screen to be painted; returns their states. */
async function widgetsPainted(page) {
  await page.waitForSelector('[data-testid=dashboard-grid][data-painted=true]', { timeout: 30_000 });
  return page.$$eval('[data-widget]', (els) =>
    els.map((el) => ({
      id: el.getAttribute('data-widget'),
      state: el.getAttribute('data-state'),
      canvas: !!el.querySelector('.echart[data-painted=true] canvas'),
      rows: el.querySelectorAll('tbody tr').length,
      kpi: el.querySelector('[data-testid=kpi-value]')?.textContent ?? null,
      error: el.querySelector('.widget-error')?.textContent ?? null,
    })),
  );
}

async function login(page, base, username = 'admin', password = PASSWORD) {
  await page.goto(`${base}/`);
  await page.getByLabel('Tenant').fill(TENANT);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('[data-testid=brand]');
}

const BROWSER = {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};

/** A browser of its own (no session, no storage shared with the tests' one): someone who
 * was only sent a link. */
async function freshBrowser() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nexbii-chromium-fresh-'));
  const ctx = await chromium.launchPersistentContext(dir, BROWSER);
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  return {
    page,
    close: async () => {
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --- the tests ------------------------------------------------------------------------------

async function main() {
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  const bin = binary();
  const server = await startServer(bin);
  const { base, token } = server;
  const userData = mkdtempSync(path.join(os.tmpdir(), 'nexbii-chromium-'));
  const ctx = await chromium.launchPersistentContext(userData, BROWSER);
  // Every CSP refusal becomes a console error naming the element (the browser's own message,
  // dropped by the harness, names none) — except one that is expected: when typed text replaces
  // highlighted tokens, Chromium's editing engine tries to carry the old token's colour as a
  // style attribute on the editor line; the CSP refuses it and CodeMirror redraws the line from
  // its own state, so nothing is lost.
  await ctx.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) => {
      const el = e.composedPath()[0];
      const editing = e.violatedDirective === 'style-src-attr' && el instanceof Element && el.matches('.cm-editor .cm-line, .cm-editor .cm-line *');
      if (!editing) console.error(`CSP refused (${e.violatedDirective}) ${e.blockedURI} "${e.sample}" at ${String(el?.outerHTML ?? el).slice(0, 200)}`);
    }),
  );
  const figures = {};
  try {
    await run(ctx, base, token, figures);
  } finally {
    await ctx.close();
    rmSync(userData, { recursive: true, force: true });
    await server.stop();
  }
  const failed = results.filter((r) => !r.ok);
  console.log(`\n${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${path.relative(process.cwd(), artifacts) || '.'}`);
  if (figures.paint) console.log(`sales-overview, navigation to all 4 widgets painted: ${figures.paint}`);
  if (failed.length) process.exit(1);
}

async function run(ctx, base, token, figures) {
  const dashboards = ['sales-overview', 'customers', 'products'];
  const expected = {};
  for (const d of dashboards) expected[d] = await api(base, token, 'GET', `/dashboards/${d}/data`);

  await test(ctx, 'serves the console with its caching and security headers', async () => {
    const index = await fetch(`${base}/dashboards/sales-overview`);
    assert(index.status === 200, `deep link answered ${index.status}`);
    assert(index.headers.get('cache-control') === 'no-cache', 'index.html must not be cached');
    const csp = index.headers.get('content-security-policy') ?? '';
    assert(csp.includes("default-src 'self'") && !csp.includes('unsafe'), `CSP: ${csp}`);
    const html = await index.text();
    const asset = html.match(/\/assets\/[^"]+\.js/)?.[0];
    assert(asset, 'index.html names no script asset');
    const a = await fetch(`${base}${asset}`);
    assert(a.status === 200 && a.headers.get('cache-control') === 'public, max-age=31536000, immutable', `asset headers: ${a.headers.get('cache-control')}`);
    assert(a.headers.get('content-encoding') === 'gzip', 'assets are sent gzip-compressed');
    const missing = await fetch(`${base}/api/v1/no-such-route`);
    assert(missing.status === 404 && (missing.headers.get('content-type') ?? '').includes('problem+json'), 'unknown API paths stay problem+json 404');
  });

  await test(ctx, 'login refuses a wrong password and signs in with the right one', async (page) => {
    await page.goto(`${base}/`);
    await shot(page, '01-login');
    await page.getByLabel('Tenant').fill(TENANT);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('not-the-password');
    // The 401 of the login call is an expected network error in the console: ignore it here.
    page.removeAllListeners('console');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The shell shows the tenant's branding name once GET /tenant answered.
    await page.waitForFunction(() => document.querySelector('[data-testid=brand]')?.textContent === 'Acme Insights', null, { timeout: 10_000 });
    await page.getByRole('link', { name: 'Sales overview' }).waitFor();
    const rows = await page.locator('table.list tbody tr').count();
    assert(rows === 3, `dashboards list shows ${rows} rows, expected 3`);
    await page.getByRole('searchbox', { name: 'Search dashboards' }).fill('catalogue');
    await page.waitForFunction(() => document.querySelectorAll('table.list tbody tr').length === 1);
    assert((await page.locator('table.list tbody tr').textContent()).includes('Products'), 'search by folder finds Products');
    await page.getByRole('searchbox', { name: 'Search dashboards' }).fill('');
    await noHorizontalOverflow(page);
    await shot(page, '02-dashboards');
  });

  for (const name of dashboards) {
    await test(ctx, `dashboard ${name} renders every widget`, async (page) => {
      await login(page, base);
      await page.goto(`${base}/dashboards/${name}`);
      const widgets = await widgetsPainted(page);
      const spec = (await api(base, token, 'GET', `/dashboards/${name}`)).spec;
      assert(widgets.length === spec.widgets.length, `${widgets.length} widgets on screen, ${spec.widgets.length} in the spec`);
      for (const w of spec.widgets) {
        const seen = widgets.find((x) => x.id === w.id);
        const data = expected[name].widgets.find((x) => x.id === w.id);
        assert(seen && seen.state === 'done' && !seen.error, `widget ${w.id}: ${JSON.stringify(seen)}`);
        assert(data.result, `widget ${w.id} has no data in the API either: ${JSON.stringify(data.error)}`);
        if (w.chart === 'table') {
          const want = Math.min(data.result.rowCount, 10);
          assert(seen.rows === want, `table ${w.id} shows ${seen.rows} rows, expected ${want}`);
        } else if (w.chart === 'number') {
          const want = Number(data.result.rows[0][0]).toLocaleString('en-US', { maximumFractionDigits: 2 });
          assert(seen.kpi === want, `KPI ${w.id} shows ${seen.kpi}, expected ${want}`);
        } else {
          assert(seen.canvas, `chart ${w.id} (${w.chart}) has no painted canvas`);
        }
      }
      const boxes = await page.$$eval('[data-widget]', (els) => els.map((el) => [el.dataset.widget, el.getBoundingClientRect().toJSON()]));
      for (const [a, ra] of boxes)
        for (const [b, rb] of boxes)
          assert(a === b || ra.right <= rb.left || rb.right <= ra.left || ra.bottom <= rb.top || rb.bottom <= ra.top, `widgets ${a} and ${b} overlap`);
      await noHorizontalOverflow(page);
      await shot(page, `03-dashboard-${name}`);
    });
  }

  await test(ctx, 'changing a variable re-runs the widgets with it', async (page) => {
    await login(page, base);
    await page.goto(`${base}/dashboards/customers`);
    await widgetsPainted(page);
    const table = page.locator('[data-widget=top-customers] tbody');
    const before = await table.textContent();
    const consumer = await api(base, token, 'GET', '/dashboards/customers/data?segment=consumer');
    const first = consumer.widgets.find((w) => w.id === 'top-customers').result.rows[0][0];
    await page.getByLabel('Segment', { exact: true }).selectOption('consumer');
    await page.waitForFunction(
      (want) => document.querySelector('[data-widget=top-customers] tbody tr td')?.textContent === want,
      first,
      { timeout: 15_000 },
    );
    assert((await table.textContent()) !== before, 'the table did not change');
    assert(page.url().includes('segment=consumer'), `the URL keeps the filter: ${page.url()}`);
    await shot(page, '04-dashboard-customers-consumer');
  });

  await test(ctx, 'SQL editor runs a statement, completes from the schema and saves a query', async (page) => {
    await login(page, base);
    await page.getByRole('link', { name: 'SQL editor' }).click();
    await page.waitForSelector('.sql-editor[data-ready=true]');
    // CodeMirror's own styles apply under the CSP (a refused <style> would leave it unstyled).
    const display = await page.locator('.cm-editor').evaluate((el) => getComputedStyle(el).display);
    assert(display === 'flex', `the editor is unstyled (display ${display})`);
    const editor = page.locator('.cm-content');
    await editor.click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('SELECT country, count(*) AS n FROM custo');
    await page.keyboard.press('Control+Space');
    await page.waitForSelector('.cm-tooltip-autocomplete li:has-text("customers")', { timeout: 10_000 });
    await page.keyboard.press('Escape');
    await page.keyboard.type('mers GROUP BY country ORDER BY country');
    await page.keyboard.press('Control+Enter');
    const meta = await page.getByTestId('result-meta').textContent({ timeout: 15_000 });
    const want = await api(base, token, 'POST', '/queries/run', { dataSource: 'sales', sql: 'SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY country' });
    assert(meta.includes(`${want.rowCount} rows`), `result says "${meta}", expected ${want.rowCount} rows`);
    const shown = await page.locator('.result tbody tr').count();
    assert(shown === Math.min(want.rowCount, 50), `grid shows ${shown} rows`);
    await page.getByPlaceholder('Query name').fill('Customers per country');
    await page.getByRole('button', { name: 'Save as query' }).click();
    await page.getByText('Saved as "Customers per country"').waitFor();
    const saved = await api(base, token, 'GET', '/queries');
    assert(saved.some((q) => q.name === 'Customers per country' && q.sql.includes('GROUP BY country')), 'the saved query is not listed by the API');
    await noHorizontalOverflow(page);
    await shot(page, '05-sql-editor');
  });

  await test(ctx, 'SQL editor: schema browser, run history, chart of the result', async (page) => {
    await login(page, base);
    await page.goto(`${base}/sql`);
    await page.waitForSelector('.sql-editor[data-ready=true]');
    const browser = page.getByRole('navigation', { name: 'Schema' });
    await browser.locator('summary', { hasText: 'customers' }).click();
    await page.locator('.cm-content').click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('SELECT ');
    await browser.getByRole('button', { name: 'Insert column customers.country' }).click();
    await page.keyboard.type(', count(*) AS n FROM ');
    await browser.getByRole('button', { name: 'Insert table customers' }).click();
    await page.keyboard.type(' GROUP BY country ORDER BY n DESC');
    const sql = 'SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY n DESC';
    assert((await page.locator('.cm-content').textContent()) === sql, `editor holds ${await page.locator('.cm-content').textContent()}`);
    await page.keyboard.press('Control+Enter');
    await page.getByTestId('result-meta').filter({ hasText: '10 rows' }).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Chart', exact: true }).click();
    await page.waitForSelector('[data-testid=result-chart] .echart[data-painted=true] canvas');
    await page.getByLabel('Chart type').selectOption('pie');
    await page.waitForSelector('[data-testid=result-chart] .echart[data-painted=true] canvas');
    await shot(page, '08-sql-chart');
    // A second statement, then the first one back from the history.
    await page.locator('.cm-content').click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('SELECT 2 AS two');
    await page.keyboard.press('Control+Enter');
    await page.getByTestId('result-meta').filter({ hasText: '1 row' }).waitFor();
    await page.getByText(/^History \(\d+\)$/).click();
    const entries = page.getByTestId('history-entry');
    assert((await entries.first().textContent()).includes('SELECT 2 AS two'), 'the newest run is first');
    await page.getByRole('button', { name: `Load ${sql}` }).click();
    await waitFor('the statement back in the editor', async () => (await page.locator('.cm-content').textContent()) === sql);
    // The chart follows the new result's columns.
    await page.keyboard.press('Control+Enter');
    await page.getByTestId('result-meta').filter({ hasText: '10 rows' }).waitFor();
    await page.waitForSelector('[data-testid=result-chart] .echart[data-painted=true] canvas');
    await noHorizontalOverflow(page);
    await shot(page, '09-sql-history');
  });

  await test(ctx, 'data sources: list, connection test, schema, create', async (page) => {
    await login(page, base);
    await page.getByRole('link', { name: 'Data sources' }).click();
    const row = page.locator('tr', { has: page.getByRole('rowheader', { name: /^sales/ }) });
    await row.getByRole('button', { name: 'Test connection' }).click();
    await row.getByText(/^Connected: /).waitFor({ timeout: 15_000 });
    await row.getByRole('button', { name: 'Schema' }).click();
    await page.locator('.schema li', { hasText: 'customers' }).first().waitFor();
    await page.getByLabel('Name', { exact: true }).fill('sales-copy');
    await page.getByLabel('Type').selectOption('sqlite');
    await page.getByLabel(/Database file/).fill('copy.db');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByText('Created sales-copy.').waitFor({ timeout: 15_000 });
    await page.getByRole('rowheader', { name: /^sales-copy/ }).waitFor();
    // Edit: the display name changes, the rest of the spec stays.
    await page.getByRole('button', { name: 'Edit sales-copy' }).click();
    await page.getByRole('heading', { name: 'Edit sales-copy' }).waitFor();
    await page.getByLabel('Display name').fill('Copy of sales');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Saved sales-copy.').waitFor();
    await page.getByRole('rowheader', { name: /^sales-copy\s*Copy of sales/ }).waitFor();
    const copy = await api(base, token, 'GET', '/datasources/sales-copy');
    assert(copy.spec.displayName === 'Copy of sales' && copy.spec.path === 'copy.db', `after edit: ${JSON.stringify(copy.spec)}`);
    await noHorizontalOverflow(page);
    await shot(page, '06-datasources');
  });

  await test(ctx, 'dashboard editor: create with two widgets (preview, keyboard move, drag resize), reload, edit', async (page) => {
    await login(page, base);
    await page.getByRole('link', { name: 'New dashboard' }).click();
    await page.getByLabel('Name (in the address)').fill('e2e-two-widgets');
    await page.getByLabel('Title', { exact: true }).fill('E2E two widgets');
    const typeSql = async (sql) => {
      await page.locator('.widget-form .sql-editor[data-ready=true]').waitFor();
      await page.locator('.widget-form .cm-content').click();
      await page.keyboard.type(sql);
      await page.keyboard.press('Escape');
    };
    await page.getByRole('button', { name: 'Add widget' }).click();
    await page.getByLabel('Widget title').fill('Orders by status');
    await typeSql('SELECT status, count(*) AS n FROM orders GROUP BY status');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.waitForSelector('[data-testid=widget-preview] .echart[data-painted=true] canvas', { timeout: 15_000 });
    await page.getByRole('button', { name: 'Add widget' }).click();
    await page.getByLabel('Widget title').fill('Customers');
    await page.getByRole('combobox', { name: /^Chart/ }).selectOption('number');
    await typeSql('SELECT count(*) AS customers FROM customers');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('[data-testid=widget-preview] [data-testid=kpi-value]').waitFor();
    // The second widget sits right of the first; one row down by keyboard.
    const box2 = page.locator('[data-box=w2]');
    assert((await box2.getAttribute('data-pos')) === '6,0,6,4', `w2 at ${await box2.getAttribute('data-pos')}`);
    await box2.focus();
    await page.keyboard.press('ArrowDown');
    assert((await box2.getAttribute('data-pos')) === '6,1,6,4', `w2 after ArrowDown at ${await box2.getAttribute('data-pos')}`);
    // The first one two rows taller by dragging its corner.
    const handle = await page.locator('[data-resize=w1]').boundingBox();
    await page.mouse.move(handle.x + 8, handle.y + 8);
    await page.mouse.down();
    await page.mouse.move(handle.x + 8, handle.y + 8 + 70, { steps: 5 });
    await page.mouse.move(handle.x + 8, handle.y + 8 + 136, { steps: 5 });
    await page.mouse.up();
    assert((await page.locator('[data-box=w1]').getAttribute('data-pos')) === '0,0,6,6', `w1 after resize at ${await page.locator('[data-box=w1]').getAttribute('data-pos')}`);
    await noHorizontalOverflow(page);
    await shot(page, '26-dashboard-editor');
    await page.getByRole('button', { name: 'Save dashboard' }).click();
    await page.waitForURL(/\/dashboards\/e2e-two-widgets$/);
    let widgets = await widgetsPainted(page);
    assert(widgets.length === 2 && widgets.every((w) => w.state === 'done' && !w.error), `after save: ${JSON.stringify(widgets)}`);
    await page.reload();
    widgets = await widgetsPainted(page);
    assert(widgets.length === 2 && widgets.some((w) => w.canvas) && widgets.some((w) => w.kpi), `after reload: ${JSON.stringify(widgets)}`);
    const saved = await api(base, token, 'GET', '/dashboards/e2e-two-widgets');
    const pos = Object.fromEntries(saved.spec.widgets.map((w) => [w.id, w.position]));
    assert(pos.w1.h === 6 && pos.w2.y === 1, `positions ${JSON.stringify(pos)}`);
    // Edit: a new title through PUT with the revision.
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await page.getByLabel('Title', { exact: true }).fill('E2E two widgets, edited');
    await page.getByRole('button', { name: 'Save dashboard' }).click();
    await page.getByRole('heading', { name: 'E2E two widgets, edited' }).waitFor();
    // Provisioned dashboards cannot be edited here.
    await page.goto(`${base}/dashboards/sales-overview/edit`);
    await page.getByText(/read-only here/).waitFor();
    await shot(page, '27-dashboard-created');
  });

  await test(ctx, 'dark theme and logout', async (page) => {
    await login(page, base);
    await page.goto(`${base}/dashboards/sales-overview`);
    await widgetsPainted(page);
    await page.getByRole('button', { name: 'Dark theme' }).click();
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await widgetsPainted(page);
    await shot(page, '07-dashboard-dark');
    await page.getByRole('button', { name: 'Light theme' }).click();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  });

  await test(ctx, 'time from navigation to all widgets painted (sales-overview)', async (page) => {
    await login(page, base);
    const times = [];
    for (let i = 0; i < 6; i++) {
      await page.goto(`${base}/dashboards/sales-overview`);
      await widgetsPainted(page);
      times.push(await page.evaluate(() => performance.getEntriesByName('nexbii:dashboard-painted')[0].startTime));
    }
    const sorted = [...times].sort((a, b) => a - b);
    figures.paint = `first ${times[0].toFixed(0)} ms, then median ${sorted[3].toFixed(0)} ms (min ${sorted[0].toFixed(0)}, max ${sorted[5].toFixed(0)}) over 6 loads`;
  });

  await adminTests(ctx, base, token);
  await embedTests(ctx, base, token);
  await actingAndConfigTests(ctx, base, token);
  await ssoTests(ctx, base);
  // Last: alerts notify the admins, and forced MFA changes how everyone logs in.
  await accountTests(ctx, base, token);
}

/** A receiver for webhook deliveries on the loopback. */
function receiver() {
  const got = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ path: req.url, headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ got, url: `http://127.0.0.1:${server.address().port}/hook`, close: () => server.close() })));
}

async function waitFor(what, fn, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const cssVar = (page, name) => page.evaluate((n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim(), name);

/** A host application's page on another loopback origin that frames `src`. */
function hostPage(src) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Host app</title><h1>Host app</h1><iframe title="Embedded dashboard" src="${src}" width="1200" height="700"></iframe>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() })));
}

async function embedTests(ctx, base, token) {
  await test(ctx, 'embedding: a host page on another origin frames the embed page, which renders the widgets', async (page) => {
    const minted = await api(base, token, 'POST', '/embed/tokens', { dashboard: 'customers', variables: { segment: 'consumer' } });
    // The host asks for the dark theme, to match its page.
    const host = await hostPage(`${base}/embed/${TENANT}?token=${encodeURIComponent(minted.token)}&theme=dark`);
    // The host's origin is allowed, kept with whatever else the settings hold, and put back.
    const current = await api(base, token, 'GET', '/admin/settings');
    try {
      await api(base, token, 'PUT', '/admin/settings', { ...current.stored, embedding: { allowedOrigins: [host.origin] } });
      await page.goto(host.origin);
      const frame = page.frameLocator('iframe[title="Embedded dashboard"]');
      await frame.getByRole('heading', { name: 'Customers', exact: true }).waitFor({ timeout: 15_000 });
      await frame.locator('[data-widget][data-state=done]').nth(1).waitFor({ timeout: 30_000 });
      assert((await frame.locator('[data-widget][data-state=error]').count()) === 0, 'a widget failed');
      assert((await frame.locator('[data-widget=top-customers] tbody tr').count()) > 0, 'the table has no rows');
      await frame.locator('[data-widget=by-country] .echart[data-painted=true] canvas').waitFor({ timeout: 15_000 });
      // The locked variable is shown, not changeable; no shell around the dashboard.
      const segment = frame.getByRole('textbox', { name: 'segment', exact: true });
      assert((await segment.inputValue()) === 'consumer' && !(await segment.isEditable()), 'the locked variable can be changed');
      assert((await frame.getByRole('navigation').count()) === 0, 'the embed page shows the shell');
      // The tenant's branding as on the login page: the dark theme's logo, colours, title.
      const logo = frame.getByTestId('brand-logo');
      await logo.waitFor();
      assert((await logo.getAttribute('src')) === BRANDING.darkLogoUrl && (await logo.getAttribute('alt')) === 'Acme Insights', 'the embed page shows not the dark logo named by the tenant');
      const look = await frame.locator('html').evaluate((el) => ({
        theme: el.dataset.theme,
        brand: getComputedStyle(el).getPropertyValue('--brand').trim(),
        font: getComputedStyle(document.body).fontFamily,
        title: document.title,
        saved: localStorage.getItem('nexbii.theme'),
      }));
      assert(look.theme === 'dark' && look.brand.startsWith('#') && look.font.startsWith('Georgia') && look.title === 'Acme Insights', `the embed page's look: ${JSON.stringify(look)}`);
      assert(look.saved !== 'dark', 'the host’s theme became the viewer’s choice');
      // The token leaves the frame's address once read.
      const embedded = page.frames().find((f) => f.url().startsWith(`${base}/embed/`));
      assert(embedded && !embedded.url().includes('token='), `the token stays in the address: ${embedded?.url()}`);
      await shot(page, '26-embedded-dashboard');
    } finally {
      host.close();
      await api(base, token, 'PUT', '/admin/settings', current.stored);
    }
  });
}

async function adminTests(ctx, base, token) {
  const hooks = await receiver();
  // An editor, for the pages admins alone see and for an approval to be asked of the admin.
  await api(base, token, 'POST', '/users', { username: 'erin', role: 'editor', password: 'Editor-pass-7391x' });

  await test(ctx, 'login page and shell carry the tenant branding, in both themes', async (page) => {
    await page.goto(`${base}/?tenant=${TENANT}`);
    await page.getByRole('heading', { name: 'Sign in to Acme Insights' }).waitFor();
    const logo = page.getByTestId('brand-logo');
    assert((await logo.getAttribute('src')) === BRANDING.logoUrl, 'the login page shows the light logo');
    assert((await cssVar(page, '--brand')) === '#1f6feb', `brand colour ${await cssVar(page, '--brand')}`);
    const font = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
    assert(font.startsWith('Georgia'), `font ${font}`);
    assert((await page.locator('link[rel=icon]').getAttribute('href')) === BRANDING.faviconUrl, 'favicon');
    assert((await page.title()) === 'Acme Insights', `title ${await page.title()}`);
    await shot(page, '10-login-branded');
    await page.getByRole('button', { name: 'Dark theme' }).click();
    await page.waitForFunction((src) => document.querySelector('[data-testid=brand-logo]')?.getAttribute('src') === src, BRANDING.darkLogoUrl);
    await shot(page, '11-login-branded-dark');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('brand').waitFor();
    assert((await page.getByTestId('brand-logo').getAttribute('src')) === BRANDING.darkLogoUrl, 'the shell shows the dark logo in the dark theme');
    await page.getByRole('button', { name: 'Light theme' }).click();
    await page.waitForFunction((src) => document.querySelector('[data-testid=brand-logo]')?.getAttribute('src') === src, BRANDING.logoUrl);
    assert((await page.getByTestId('brand').textContent()) === 'Acme Insights', 'brand name in the shell');
  });

  await test(ctx, 'login with a second factor: the code step after the password', async (page) => {
    // A user with TOTP set up (through the API, as an authenticator app would).
    await api(base, token, 'POST', '/users', { username: 'mia', role: 'editor', password: 'Factor-pass-2291k' });
    const mia = (await api(base, null, 'POST', '/auth/login', { tenant: TENANT, username: 'mia', password: 'Factor-pass-2291k' })).token;
    const { secret } = await api(base, mia, 'POST', '/auth/mfa/enroll');
    const used = totp(secret);
    await api(base, mia, 'POST', '/auth/mfa/confirm', { code: used });
    await page.goto(`${base}/`);
    await page.getByLabel('Tenant').fill(TENANT);
    await page.getByLabel('Username').fill('mia');
    await page.getByLabel('Password').fill('Factor-pass-2291k');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Verify it is you' }).waitFor();
    await shot(page, '10b-login-mfa');
    // A code is good once: wait for the next one when the confirmation used this one.
    await waitFor('a fresh code', async () => totp(secret) !== used, 35_000);
    await page.getByLabel('Verification code').fill(totp(secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByTestId('brand').waitFor();
    assert((await page.locator('.who').textContent()).includes('mia'), 'signed in as mia');
  });

  await test(ctx, 'admin pages are hidden from non-admins', async (page) => {
    await login(page, base, 'erin', 'Editor-pass-7391x');
    await page.getByRole('link', { name: 'SQL editor' }).waitFor();
    assert((await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).count()) === 0, 'an editor sees the Admin link');
    await page.goto(`${base}/admin/users`);
    await page.getByRole('alert').filter({ hasText: 'for the tenant’s admins' }).waitFor();
    assert((await page.locator('table').count()) === 0, 'the users table is shown to an editor');
  });

  await test(ctx, 'users: create (field error in place), change role, disable', async (page) => {
    await login(page, base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Users' }).click();
    await page.getByRole('rowheader', { name: /^admin/ }).waitFor();
    await page.getByLabel('Username').fill('ursula');
    await page.getByLabel('Initial password').fill('short');
    await page.getByRole('button', { name: 'Create user' }).click();
    // The tenant's minimum (12) comes from the server, shown at the field.
    await page.locator('#user-err-password').filter({ hasText: '12' }).waitFor();
    assert((await page.getByLabel('Initial password').getAttribute('aria-invalid')) === 'true', 'password marked invalid');
    await page.getByLabel('Initial password').fill('Viewer-pass-5520q');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByText('Created ursula (viewer).').waitFor();
    await page.getByLabel('Role of ursula').selectOption('editor');
    await waitFor('role change', async () => (await api(base, token, 'GET', '/users')).find((u) => u.username === 'ursula')?.role === 'editor');
    await page.getByRole('button', { name: 'Disable ursula' }).click();
    await page.getByRole('button', { name: 'Enable ursula' }).waitFor();
    const u = (await api(base, token, 'GET', '/users')).find((x) => x.username === 'ursula');
    assert(u.disabled && u.role === 'editor', `ursula: ${JSON.stringify(u)}`);
    assert((await page.getByLabel('Role of admin').isDisabled()), 'an admin cannot demote themselves here');
    // Bulk: two users at once; the ones a change does not concern are left alone.
    await api(base, token, 'POST', '/users', { username: 'vic', role: 'editor', password: 'Second-pass-8841z' });
    await page.reload();
    await page.getByLabel('Select vic').check();
    await page.getByLabel('Select ursula').check();
    await page.getByLabel('Role for the selected users').selectOption('viewer');
    await page.getByRole('button', { name: 'Set role of selected' }).click();
    await page.getByText('2 of 2 users changed.').waitFor();
    await page.getByLabel('Select vic').check();
    await page.getByLabel('Select ursula').check();
    await page.getByRole('button', { name: 'Enable selected' }).click();
    await page.getByText('1 of 1 users changed.').waitFor();
    const after = await api(base, token, 'GET', '/users');
    const [vic, urs] = ['vic', 'ursula'].map((n) => after.find((x) => x.username === n));
    assert(vic.role === 'viewer' && urs.role === 'viewer' && !urs.disabled && !vic.disabled, `after bulk: ${JSON.stringify([vic, urs])}`);
    await noHorizontalOverflow(page);
    await shot(page, '12-admin-users');
    // A user's activity is the audit log filtered by them.
    await page.getByRole('link', { name: 'Activity of erin' }).click();
    await page.getByTestId('audit-entry').first().waitFor();
    const actors = await page.locator('[data-testid=audit-entry] td:nth-child(3)').allTextContents();
    assert(actors.length > 0 && actors.every((a) => a.startsWith('erin')), `activity of erin shows ${actors}`);
  }, { allow: [422] });

  await test(ctx, 'API keys: the secret shown once works, rotation replaces it, revocation ends it', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/apikeys`);
    await page.getByLabel('Key name').fill('e2e-key');
    await page.getByLabel('Scopes').fill('dashboards:read');
    await page.getByRole('button', { name: 'Create key' }).click();
    const first = await page.getByTestId('secret').inputValue();
    const use = async (secret) => (await fetch(`${base}/api/v1/dashboards`, { headers: { authorization: `Bearer ${secret}` } })).status;
    assert(first.startsWith('nxk_') && (await use(first)) === 200, `new key ${first.slice(0, 12)}… answered ${await use(first)}`);
    await page.getByRole('button', { name: 'Done, hide it' }).click();
    assert((await page.getByTestId('secret').count()) === 0, 'the secret is hidden');
    await page.getByRole('button', { name: 'Rotate e2e-key' }).click();
    await page.getByRole('region', { name: 'New secret of "e2e-key"' }).waitFor();
    const second = await page.getByTestId('secret').inputValue();
    assert(second !== first && (await use(second)) === 200 && (await use(first)) === 401, 'rotation replaced the secret');
    await page.getByRole('button', { name: 'Revoke e2e-key' }).click();
    await page.getByRole('button', { name: 'Confirm revoking e2e-key' }).click();
    await waitFor('the key to leave the list', async () => (await page.locator('tr[data-key="e2e-key"]').count()) === 0);
    assert((await use(second)) === 401, 'a revoked key still works');
    await page.getByLabel('Show revoked keys').check();
    await page.locator('tr[data-key="e2e-key"]', { hasText: 'revoked' }).waitFor();
    await noHorizontalOverflow(page);
    await shot(page, '13-admin-apikeys');
  });

  await test(ctx, 'sessions: an admin revokes another user’s session', async (page) => {
    const erin = (await api(base, null, 'POST', '/auth/login', { tenant: TENANT, username: 'erin', password: 'Editor-pass-7391x' })).token;
    // The session just made is erin's newest.
    const mine = (await api(base, erin, 'GET', '/auth/sessions')).sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((x) => x.id);
    await login(page, base);
    await page.goto(`${base}/admin/sessions`);
    const row = page.locator(`tr[data-session="${mine[0]}"]`);
    await row.waitFor();
    await row.getByRole('button', { name: 'Revoke session of erin' }).click();
    await row.getByRole('button', { name: 'Confirm revoking this session of erin' }).click();
    await waitFor('the session to leave the list', async () => (await row.count()) === 0);
    const res = await fetch(`${base}/api/v1/dashboards`, { headers: { authorization: `Bearer ${erin}` } });
    assert(res.status === 401, `a revoked session answered ${res.status}`);
    await noHorizontalOverflow(page);
    await shot(page, '12b-admin-sessions');
  });

  await test(ctx, 'feature flags: change one (roles, rollout), reset it; Tenant-declared ones are read-only', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/features`);
    const sharing = page.locator('tr[data-flag=sharing]');
    await sharing.getByText(/read-only here/).waitFor();
    assert((await sharing.getByRole('button', { name: /^Change/ }).count()) === 0, 'a Tenant-declared flag offers a change');
    const row = page.locator('tr[data-flag=exports]');
    await row.getByRole('button', { name: 'Change exports' }).click();
    const form = page.getByRole('form', { name: 'Change exports' });
    await form.getByLabel('Enabled').check();
    await form.getByLabel('admin').check();
    await form.getByLabel('Rollout (% of the others)').fill('150');
    await form.getByRole('button', { name: 'Save exports' }).click();
    await form.getByRole('alert').filter({ hasText: '0 to 100' }).waitFor();
    await form.getByLabel('Rollout (% of the others)').fill('50');
    await form.getByRole('button', { name: 'Save exports' }).click();
    await row.getByText('50 % of admin users').waitFor();
    const flag = (await api(base, token, 'GET', '/admin/features')).find((f) => f.name === 'exports');
    assert(flag.source === 'api' && flag.rolloutPercent === 50 && flag.roles.join() === 'admin', `exports: ${JSON.stringify(flag)}`);
    await noHorizontalOverflow(page);
    await shot(page, '13b-admin-features');
    await row.getByRole('button', { name: 'Reset exports' }).click();
    await row.getByRole('button', { name: 'Confirm resetting exports to its default' }).click();
    await row.getByText('default', { exact: true }).waitFor();
    assert((await api(base, token, 'GET', '/admin/features')).find((f) => f.name === 'exports').source === 'default', 'the reset did not reach the API');
  });

  await test(ctx, 'configuration history: versions of a dashboard, diff, rollback; the version in force has none', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/history`);
    await page.getByLabel('Kind').selectOption('dashboards');
    await page.getByLabel('Object name').fill('e2e-two-widgets');
    await page.getByRole('button', { name: 'Show history' }).click();
    const v2 = page.locator('tr[data-version="dashboards/e2e-two-widgets/2"]');
    await v2.waitFor();
    await v2.getByRole('button', { name: /^Diff/ }).click();
    const diff = page.getByTestId('version-diff');
    await diff.waitFor();
    assert((await diff.textContent()).includes('E2E two widgets, edited'), `diff: ${await diff.textContent()}`);
    const v1 = page.locator('tr[data-version="dashboards/e2e-two-widgets/1"]');
    await v1.getByRole('button', { name: 'Roll back to dashboards/e2e-two-widgets v1' }).click();
    await v1.getByRole('button', { name: 'Confirm rolling back to dashboards/e2e-two-widgets v1' }).click();
    await page.locator('tr[data-version="dashboards/e2e-two-widgets/3"]').waitFor();
    assert((await api(base, token, 'GET', '/dashboards/e2e-two-widgets')).spec.title === 'E2E two widgets', 'the rollback did not restore the title');
    await noHorizontalOverflow(page);
    await shot(page, '14b-admin-history');
    // A dashboard the manifests own has one version, in force: nothing to roll back to.
    await page.getByLabel('Object name').fill('sales-overview');
    await page.getByRole('button', { name: 'Show history' }).click();
    const prov = page.locator('tr[data-version^="dashboards/sales-overview/"]').first();
    await prov.getByText('in force').waitFor();
    assert((await prov.getByRole('button', { name: /^Roll back/ }).count()) === 0, 'the version in force offers a rollback');
  });

  await test(ctx, 'audit log: filters, paging, chain verification, export', async (page) => {
    // More than a page of entries (every change is audited).
    for (let i = 0; (await api(base, token, 'GET', '/audit?limit=60')).length < 60 && i < 60; i++) await api(base, token, 'POST', '/notifications/read-all');
    await login(page, base);
    await page.goto(`${base}/admin/audit`);
    await page.getByTestId('audit-entry').first().waitFor();
    const all = await api(base, token, 'GET', '/audit?limit=50');
    assert((await page.getByTestId('audit-entry').count()) === all.length, 'first page size');
    await page.getByLabel('Action').fill('users.create');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await waitFor('the filtered list', async () => {
      const actions = await page.locator('[data-testid=audit-entry] td:nth-child(4)').allTextContents();
      return actions.length > 0 && actions.every((a) => a === 'users.create');
    });
    const created = (await api(base, token, 'GET', '/audit?action=users.create')).length;
    assert((await page.getByTestId('audit-entry').count()) === created, `users.create entries: ${created}`);
    await page.getByLabel('Action').fill('');
    await page.getByLabel('Outcome').selectOption('denied');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await waitFor('denied entries', async () => {
      const outcomes = await page.locator('[data-testid=audit-entry] td:nth-child(6)').allTextContents();
      return outcomes.length > 0 && outcomes.every((o) => o.startsWith('denied'));
    });
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByTestId('audit-verify').filter({ hasText: 'Chain intact' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export' }).click()]);
    const file = await download.path();
    const csv = readFileSync(file, 'utf8');
    assert(download.suggestedFilename() === 'audit.csv' && csv.startsWith('seq,at,actor'), `export: ${download.suggestedFilename()} ${csv.slice(0, 40)}`);
    // Paging: with more than 50 entries, the next page continues where the first ended (the
    // export above is audited too: the list is read again first).
    await page.reload();
    await page.getByTestId('audit-entry').first().waitFor();
    {
      const lastSeq = Number(await page.locator('[data-testid=audit-entry] td:first-child').last().textContent());
      await page.getByRole('button', { name: 'Older entries' }).click();
      await page.getByText('Page 2').waitFor();
      await page.getByTestId('audit-entry').first().waitFor();
      const nextSeq = Number(await page.locator('[data-testid=audit-entry] td:first-child').first().textContent());
      assert(nextSeq < lastSeq, `page 2 starts at ${nextSeq}, page 1 ended at ${lastSeq}`);
      await page.getByRole('button', { name: 'Newer entries' }).click();
      await page.getByText('Page 1').waitFor();
    }
    await noHorizontalOverflow(page);
    await shot(page, '14-admin-audit');
  });

  await test(ctx, 'monitoring: health, figures and live charts', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/monitoring`);
    await page.getByTestId('health-status').filter({ hasText: 'ok' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=series-chart] .echart[data-painted=true] canvas').length === 4, null, { timeout: 15_000 });
    assert((await page.locator('[data-testid^=window-]').count()) === 8, 'request and query figures for 4 windows');
    const chart = page.getByTestId('series-chart').first();
    await page.getByLabel('Metric of chart 1').selectOption('host_cpu');
    await page.waitForSelector('[data-testid=series-chart][data-metric=host_cpu] .echart[data-painted=true] canvas');
    assert((await chart.textContent()).includes('%'), 'the host CPU chart states its value in %');
    await page.getByRole('rowheader', { name: 'sales sqlite' }).waitFor();
    await noHorizontalOverflow(page);
    await shot(page, '15-admin-monitoring');
    // The dark theme redraws the charts with readable brand colours.
    await page.getByRole('button', { name: 'Dark theme' }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=series-chart] .echart[data-painted=true] canvas').length === 4);
    assert((await cssVar(page, '--brand')) !== '', 'a brand colour in the dark theme');
    await shot(page, '15b-admin-monitoring-dark');
    await page.getByRole('button', { name: 'Light theme' }).click();
  });

  await test(ctx, 'performance: fingerprints sortable, slowest runs, suggestions', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/performance`);
    await page.getByTestId('fingerprint').first().waitFor();
    await page.getByRole('button', { name: /^Runs/ }).click();
    await page.locator('th[aria-sort=descending]', { hasText: 'Runs' }).waitFor();
    await page.waitForTimeout(300);
    const runs = (await page.locator('[data-testid=fingerprint] td:nth-child(3)').allTextContents()).map((t) => Number(t.replace(/,/g, '')));
    assert(runs.length > 1 && runs.every((r, i) => i === 0 || runs[i - 1] >= r), `runs not descending: ${runs}`);
    await page.getByRole('button', { name: /^Runs/ }).click();
    await page.locator('th[aria-sort=ascending]', { hasText: 'Runs' }).waitFor();
    await page.getByTestId('slow-run').first().waitFor();
    await page.getByTestId('suggestions-summary').waitFor();
    await page.getByTestId('dashboard-perf').filter({ hasText: 'sales-overview' }).waitFor();
    await page.getByTestId('cache-perf').filter({ hasText: 'hit rate' }).waitFor();
    assert((await page.getByTestId('endpoint-perf').count()) > 0, 'no endpoint figures');
    await noHorizontalOverflow(page);
    await shot(page, '16-admin-performance');
  });

  await test(ctx, 'backups: trigger, verify, restore dry run, delete', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/backups`);
    // The quick start's BackupSchedule.
    await page.locator('tr[data-schedule=nightly]', { hasText: 'last 7, 30 days at most' }).waitFor();
    await page.getByLabel('Note').fill('from the browser');
    await page.getByRole('button', { name: 'Back up now' }).click();
    const id = (await page.getByText(/^Backup \S+ started\.$/).textContent()).split(' ')[1];
    const row = page.locator(`tr[data-backup="${id}"]`);
    await row.getByText('Completed').waitFor({ timeout: 30_000 });
    await row.getByRole('button', { name: `Verify ${id}` }).click();
    await row.getByText(/^Verified: /).waitFor();
    await row.getByRole('button', { name: `Restore… ${id}` }).click();
    const report = page.getByTestId('restore-report');
    await report.getByText(/^A restore would/).waitFor();
    assert((await api(base, token, 'GET', '/users')).some((u) => u.username === 'ursula'), 'a dry run changed nothing');
    await shot(page, '17-admin-backups');
    await report.getByRole('button', { name: 'Close' }).click();
    await row.getByRole('button', { name: `Delete ${id}` }).click();
    await row.getByRole('button', { name: `Confirm deleting ${id}` }).click();
    await waitFor('the backup to go', async () => (await page.locator(`tr[data-backup="${id}"]`).count()) === 0);
    const left = await api(base, token, 'GET', '/admin/backups');
    assert(!left.some((b) => b.id === id), 'the API still lists the deleted backup');
    await noHorizontalOverflow(page);
  });

  await test(ctx, 'webhooks: create, deliveries, redeliver; notifications: badge, inbox, mark read', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/webhooks`);
    await page.getByLabel('Target URL').fill('not a url');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.locator('#hook-err-url').filter({ hasText: 'not a URL' }).waitFor();
    await page.getByLabel('Target URL').fill(hooks.url);
    await page.getByLabel('Events').fill('approval.*');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.getByRole('region', { name: 'Signing secret' }).waitFor();
    await page.locator(`tr[data-webhook="${hooks.url}"]`).waitFor();
    // An editor asks for a dashboard's publication: the admin approves it, so the webhook and the
    // admin's inbox hear of it.
    const erin = (await api(base, null, 'POST', '/auth/login', { tenant: TENANT, username: 'erin', password: 'Editor-pass-7391x' })).token;
    await api(base, erin, 'POST', '/dashboards', { name: 'e2e-published', spec: { title: 'E2E published', publication: 'published', widgets: [] } });
    await waitFor('the delivery', () => hooks.got.length >= 1);
    await page.getByRole('button', { name: `Deliveries of ${hooks.url}` }).click();
    const delivery = page.getByTestId('delivery').first();
    await waitFor('a delivered delivery', async () => {
      if ((await delivery.count()) && (await delivery.textContent()).includes('delivered')) return true;
      await page.getByRole('button', { name: 'Reload deliveries' }).click();
      return false;
    });
    assert((await delivery.textContent()).includes('approval.requested'), 'the delivery names its event');
    await delivery.getByRole('button', { name: /^Redeliver/ }).click();
    await page.getByText(/^Sent again as /).waitFor();
    await waitFor('the redelivery', () => hooks.got.length >= 2);
    assert(hooks.got[1].body === hooks.got[0].body, 'the redelivery carries the same payload');
    await noHorizontalOverflow(page);
    await shot(page, '18-admin-webhooks');

    const unread = (await api(base, token, 'GET', '/notifications?unread=true')).length;
    assert(unread >= 1, 'the admin has no unread notice');
    await page.goto(`${base}/dashboards`);
    await page.getByTestId('unread-badge').filter({ hasText: String(unread) }).waitFor();
    await page.getByRole('link', { name: `Notifications, ${unread} unread` }).click();
    const notice = page.getByTestId('notification').filter({ hasText: 'Approval requested by erin' });
    await notice.getByRole('button', { name: 'Mark "Approval requested by erin" read' }).click();
    if (unread > 1) {
      await page.getByTestId('unread-badge').filter({ hasText: String(unread - 1) }).waitFor();
      await page.getByRole('button', { name: 'Mark all read' }).click();
    }
    await waitFor('the badge to go', async () => (await page.getByTestId('unread-badge').count()) === 0);
    assert(await page.getByRole('button', { name: 'Mark all read' }).isDisabled(), 'nothing left to mark read');
    assert((await api(base, token, 'GET', '/notifications?unread=true')).length === 0, 'unread notices left');
    await shot(page, '19-notifications');
  });

  await test(ctx, 'catalog: search with facets finds a column; table page edits; dictionary download', async (page) => {
    await login(page, base);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog' }).click();
    await page.locator('a[href="/catalog/sales/customers"]').waitFor();
    await page.getByRole('searchbox', { name: 'Search the catalog' }).fill('email');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const hit = page.getByTestId('hit').filter({ hasText: 'sales.customers.email' });
    await hit.waitFor();
    assert((await hit.textContent()).includes('confidential'), 'the email column is marked confidential');
    await page.getByRole('button', { name: /^confidential/ }).click();
    await page.locator('button[aria-pressed=true]', { hasText: 'confidential' }).waitFor();
    assert(new URL(page.url()).searchParams.get('sensitivity') === 'confidential', `URL ${page.url()}`);
    const hits = await page.getByTestId('hit').allTextContents();
    assert(hits.length > 0 && hits.every((h) => h.includes('confidential')), 'the facet filters the hits');
    await shot(page, '20-catalog-search');
    await hit.getByRole('link').click();
    await page.getByRole('heading', { name: /^customers/ }).waitFor();
    const email = page.locator('tr[data-column=email]');
    assert((await email.textContent()).includes('values withheld'), 'sensitive values are withheld from the profile');
    await page.getByRole('button', { name: 'Edit About this table' }).click();
    await page.getByLabel('Description').fill('Customers of the sample shop');
    await page.getByLabel('Tags').fill('sample, crm');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('table-description').filter({ hasText: 'Customers of the sample shop' }).waitFor();
    await page.getByRole('button', { name: 'Edit Column country' }).click();
    await page.getByRole('form', { name: 'Edit Column country' }).getByLabel('Description').fill('ISO country code');
    await page.getByRole('form', { name: 'Edit Column country' }).getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('col-country-description').filter({ hasText: 'ISO country code' }).waitFor();
    // An admin classifies a column by hand.
    await page.getByLabel('Sensitivity of country').selectOption('internal');
    await page.getByLabel('Reason for country').fill('business data');
    await page.getByRole('button', { name: 'Set sensitivity of country' }).click();
    await page.locator('tr[data-column=country]', { hasText: 'set by admin: business data' }).waitFor();
    const t = await api(base, token, 'GET', '/catalog/datasources/sales/tables/customers');
    assert(t.columns.find((c) => c.name === 'country').override?.level === 'internal', 'the override is not stored');
    assert(t.curation.description === 'Customers of the sample shop' && t.curation.tags.join() === 'sample,crm', `table curation ${JSON.stringify(t.curation)}`);
    assert(t.columns.find((c) => c.name === 'country').curation.description === 'ISO country code', 'column description not saved');
    await noHorizontalOverflow(page);
    await shot(page, '21-catalog-table');
    await page.goto(`${base}/catalog`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download data dictionary' }).click()]);
    const csv = readFileSync(await download.path(), 'utf8');
    // One row per column (the CSV has no row for a table's own description).
    assert(download.suggestedFilename() === 'data-dictionary.csv' && /^sales,customers,country,.*ISO country code/m.test(csv), `dictionary: ${download.suggestedFilename()}\n${csv.slice(0, 400)}`);
  });

  await test(ctx, 'lineage: the graph shows a widget’s upstream column; impact of a column', async (page) => {
    await login(page, base);
    await page.goto(`${base}/lineage?node=${encodeURIComponent('widget:sales-overview/revenue-by-month')}&direction=upstream`);
    await page.waitForSelector('[data-testid=lineage-graph][data-painted=true] canvas', { timeout: 15_000 });
    const col = page.locator('tr[data-node="column:sales:orders.order_date"]');
    await col.waitFor();
    assert((await col.textContent()).includes('upstream'), 'orders.order_date is upstream of the widget');
    await noHorizontalOverflow(page);
    await shot(page, '22-lineage-widget');
    await col.getByRole('button', { name: /^Centre on/ }).click();
    await page.waitForFunction(() => new URL(location.href).searchParams.get('node') === 'column:sales:orders.order_date');
    await page.getByTestId('impacted').filter({ hasText: 'Revenue by month' }).waitFor();
    assert((await page.getByTestId('impacted').filter({ hasText: 'Revenue by month' }).textContent()).includes('high'), 'a shown value comes from order_date');
    await page.waitForSelector('[data-testid=lineage-graph][data-painted=true] canvas');
    await page.getByLabel('Start from').selectOption('table:sales:orders');
    await page.getByRole('combobox', { name: /^Column/ }).selectOption('status');
    await page.getByLabel('Direction').selectOption('downstream');
    await page.getByRole('button', { name: 'Show lineage' }).click();
    await page.waitForFunction(() => new URL(location.href).searchParams.get('node') === 'column:sales:orders.status');
    await page.locator('tr[data-node="dashboard:sales-overview"]').waitFor();
    await shot(page, '23-lineage-impact');
  });

  await test(ctx, 'approvals: a request appears in the approver’s inbox, is approved, then cancelled by its requester', async (page) => {
    const pending = (await api(base, token, 'GET', '/approvals?assigned=true')).find((a) => a.subject.dashboard === 'e2e-published');
    assert(pending, 'the publication request is not assigned to the admin');
    await login(page, base);
    // From the notice to the request.
    await page.goto(`${base}/notifications`);
    await page.getByTestId('notification').filter({ hasText: 'Approval requested by erin' }).getByRole('link', { name: 'Open' }).click();
    await page.locator(`[data-approval="${pending.id}"].focused`).waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Approvals' }).click();
    const card = page.locator(`[data-approval="${pending.id}"]`);
    await card.getByText('Publish dashboard e2e-published').waitFor();
    assert((await card.textContent()).includes('pending, level 1 of 2'), 'the inbox shows the level waiting');
    await shot(page, '24-approvals-inbox');
    await card.getByLabel(`Comment on ${pending.id}`).fill('looks good');
    await card.getByRole('button', { name: `Approve ${pending.id}` }).click();
    await waitFor('the decision', async () => (await api(base, token, 'GET', `/approvals/${pending.id}`)).currentLevel === 1);
    const decided = await api(base, token, 'GET', `/approvals/${pending.id}`);
    assert(decided.decisions[0].by === 'admin' && decided.decisions[0].comment === 'looks good', `decision ${JSON.stringify(decided.decisions)}`);
    await page.getByRole('tab', { name: 'All' }).click();
    await card.getByText('pending, level 2 of 2').waitFor();
    await card.getByText('approved by admin').waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await login(page, base, 'erin', 'Editor-pass-7391x');
    await page.goto(`${base}/approvals?box=mine`);
    await card.getByRole('button', { name: `Cancel request ${pending.id}` }).click();
    await card.getByText('cancelled').waitFor();
    assert((await api(base, token, 'GET', `/approvals/${pending.id}`)).status === 'cancelled', 'the request is not cancelled');
    await noHorizontalOverflow(page);
    await shot(page, '25-approvals-mine');
  });

  await test(ctx, 'performance: suggestions of two kinds (same widget query on two dashboards, unbounded result) as cards with their evidence', async (page) => {
    for (const [name, limit] of [['perf-one', 5], ['perf-two', 7]]) {
      await api(base, token, 'POST', '/dashboards', {
        name,
        spec: { title: name, widgets: [{ id: `w-${name}`, chart: 'table', query: { dataSource: 'sales', sql: `SELECT name FROM customers ORDER BY id LIMIT ${limit}` } }] },
      });
    }
    await api(base, token, 'POST', '/queries/run', { dataSource: 'sales', sql: 'SELECT id, order_id, quantity FROM order_items WHERE quantity > 0' });
    await login(page, base);
    await page.goto(`${base}/admin/performance`);
    const shared = page.locator('[data-testid=suggestion][data-kind=sharedWidgetQuery]');
    await shared.first().waitFor();
    const sharedText = await shared.first().textContent();
    assert(sharedText.includes('perf-one / w-perf-one') && sharedText.includes('perf-two / w-perf-two'), `the shared query card names both widgets: ${sharedText}`);
    const unbounded = page.locator('[data-testid=suggestion][data-kind=unboundedResult]').filter({ hasText: 'order_items' });
    await unbounded.waitFor();
    assert((await unbounded.getByText('Rows per run').count()) === 1, 'the unbounded card states its rows per run');
    await page.getByRole('article', { name: /^Shared widget query:/ }).first().waitFor();
    await noHorizontalOverflow(page);
    await shot(page, '26-admin-performance-suggestions');
    for (const name of ['perf-one', 'perf-two']) await api(base, token, 'DELETE', `/dashboards/${name}`);
  });

  // Insights: a planted steady rise (planned) and one planted outlier (units, product 9).
  const planted = 'SELECT id, name, 100 + id * 10 AS planned, CASE WHEN id = 9 THEN 5000 ELSE 100 END AS units FROM products ORDER BY id';
  const ninth = (await api(base, token, 'POST', '/queries/run', { dataSource: 'sales', sql: 'SELECT name FROM products WHERE id = 9' })).rows[0][0];
  const growth = await api(base, token, 'POST', '/queries', { name: 'Planted growth', dataSource: 'sales', sql: planted });
  await api(base, token, 'POST', '/users', { username: 'ivy', role: 'viewer', password: 'Viewer-pass-5521q' });

  await test(
    ctx,
    'insights: findings for a statement in the SQL editor, strongest first with their figures; errors in place',
    async (page) => {
      await login(page, base);
      await page.goto(`${base}/sql`);
      await page.waitForSelector('.sql-editor[data-ready=true]');
      await page.locator('.cm-content').click();
      await page.keyboard.press('ControlOrMeta+a');
      await page.keyboard.type(planted);
      await page.keyboard.press('Escape');
      await page.getByRole('button', { name: 'Insights', exact: true }).click();
      const panel = page.getByRole('region', { name: 'Insights', exact: true });
      const trend = panel.locator('[data-testid=finding][data-kind=trend]');
      await trend.first().waitFor({ timeout: 15_000 });
      const kinds = await panel.getByTestId('finding').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
      assert(kinds[0] === 'trend' && kinds.includes('outlier'), `findings in order: ${kinds.join(', ')}`);
      const t = await trend.first().textContent();
      assert(t.includes('planned is trending up') && t.includes('R²1') && t.includes('Slope10 per id'), `trend: ${t}`);
      const o = await panel.locator('[data-testid=finding][data-kind=outlier]').textContent();
      assert(o.includes(ninth) && o.includes('5,000'), `outlier names product 9 (${ninth}): ${o}`);
      assert((await panel.getByTestId('insights-coverage').textContent()).startsWith('23 rows analysed'), 'coverage line');
      await noHorizontalOverflow(page);
      await shot(page, '26-insights-sql');
      // A refused statement: the error stands in the panel.
      await page.locator('.cm-content').click();
      await page.keyboard.press('ControlOrMeta+a');
      await page.keyboard.type('DELETE FROM products');
      await page.keyboard.press('Escape');
      await page.getByRole('button', { name: 'Insights', exact: true }).click();
      await panel.getByRole('alert').filter({ hasText: /refused/ }).waitFor();
    },
    { allow: [400] },
  );

  await test(ctx, 'insights: a viewer looks into a saved query', async (page) => {
    await login(page, base, 'ivy', 'Viewer-pass-5521q');
    await page.goto(`${base}/sql`);
    await page.locator('[data-insights=on]').waitFor();
    await page.getByRole('button', { name: 'Insights', exact: true }).waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Insights of Planted growth' }).click();
    const panel = page.getByRole('region', { name: 'Insights of Planted growth' });
    await panel.locator('[data-testid=finding][data-kind=trend]').waitFor({ timeout: 15_000 });
    assert((await panel.locator('[data-kind=outlier]').textContent()).includes(ninth), 'the outlier is named');
    await shot(page, '27-insights-saved-viewer');
  });

  await test(ctx, 'insights: the actions are hidden while the feature is off', async (page) => {
    await api(base, token, 'PUT', '/admin/features/insights', { enabled: false });
    try {
      for (const [user, pw] of [['ivy', 'Viewer-pass-5521q'], ['admin', PASSWORD]]) {
        await login(page, base, user, pw);
        await page.goto(`${base}/sql`);
        await page.locator('[data-insights=off]').waitFor();
        await page.locator(`[data-query="${growth.name}"]`).waitFor();
        assert((await page.getByRole('button', { name: /^Insights/ }).count()) === 0, `${user} still sees an Insights action`);
        await page.getByRole('button', { name: 'Log out' }).click();
        await page.getByRole('button', { name: 'Sign in' }).waitFor();
      }
    } finally {
      await api(base, token, 'DELETE', '/admin/features/insights');
    }
  });
  hooks.close();
}

/** The token of the session the console in `page` holds. */
const consoleToken = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem('nexbii.session') ?? 'null')?.token ?? null);

async function actingAndConfigTests(ctx, base, token) {
  await api(base, token, 'POST', '/users', { username: 'val', role: 'viewer', password: 'Viewer-pass-6612v' });

  await test(
    ctx,
    'impersonation: an admin acts as a viewer from the Users page (banner on every page, Stop by keyboard), refusals say why',
    async (page) => {
      await login(page, base);
      await page.goto(`${base}/admin/users`);
      const row = page.locator('tr[data-user="val"]');
      await row.waitFor();
      // Not offered for oneself nor for admins (the API refuses both).
      assert((await page.locator('tr[data-user="admin"]').getByRole('button', { name: /^Act as/ }).count()) === 0, 'Act as offered for oneself');
      // With impersonation turned off for the tenant, the server's reason is shown in the row.
      const before = await api(base, token, 'GET', '/admin/settings');
      await api(base, token, 'PUT', '/admin/settings', { ...before.stored, impersonation: { enabled: false } });
      try {
        await row.getByRole('button', { name: 'Act as val' }).click();
        await row.getByRole('alert').filter({ hasText: 'impersonation is disabled for this tenant' }).waitFor();
      } finally {
        await api(base, token, 'PUT', '/admin/settings', before.stored);
      }
      // For 15 minutes rather than the tenant's maximum.
      await row.getByLabel(/^Act as val for/).selectOption('15');
      await row.getByRole('button', { name: 'Act as val' }).click();
      const banner = page.getByRole('region', { name: 'Impersonation' });
      await banner.filter({ hasText: /^Acting as val \(viewer\) — you are admin; this ends at / }).waitFor();
      await page.waitForURL(`${base}/dashboards`);
      assert((await page.locator('.who').textContent()).includes('val'), 'the shell is not val’s');
      assert((await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).count()) === 0, 'a viewer is offered the admin pages');
      const acting = await consoleToken(page);
      const me = await api(base, acting, 'GET', '/auth/me');
      assert(me.username === 'val' && me.impersonation?.impersonator === 'admin', `/auth/me: ${JSON.stringify(me)}`);
      const left = Date.parse(me.impersonation.expiresAt) - Date.now();
      assert(left > 13 * 60e3 && left <= 15 * 60e3 + 5e3, `asked for 15 minutes, the impersonation ends in ${left} ms`);
      // Still there on another page and after a reload.
      await page.getByRole('link', { name: 'SQL editor' }).click();
      await banner.waitFor();
      await page.reload();
      await banner.waitFor();
      await noHorizontalOverflow(page);
      await shot(page, '38-acting-as-viewer');
      // Stop, from the keyboard.
      await page.getByRole('button', { name: 'Stop acting as val' }).focus();
      await page.keyboard.press('Enter');
      await page.waitForURL(`${base}/admin/users`);
      await page.locator('tr[data-user="val"]').waitFor();
      assert((await banner.count()) === 0, 'the banner stays after Stop');
      assert((await page.locator('.who').textContent()).includes('admin'), 'not back to the admin');
      assert((await status(base, acting, 'GET', '/auth/me')) === 401, 'the impersonation session outlived Stop');
      assert((await consoleToken(page)) !== acting, 'the console kept the impersonation token');
      // An impersonation ended elsewhere (revoked by an admin) is noticed when the page reloads.
      await row.getByRole('button', { name: 'Act as val' }).click();
      await banner.waitFor();
      const again = await api(base, await consoleToken(page), 'GET', '/auth/me');
      await api(base, token, 'DELETE', `/admin/sessions/${again.impersonation.sessionId}`);
      await page.reload();
      await page.locator('.who').filter({ hasText: 'admin' }).waitFor();
      assert((await banner.count()) === 0, 'the banner stays after the impersonation was revoked');
    },
    // 403: impersonation turned off; 401: the revoked impersonation's token, after the reload.
    { allow: [401, 403] },
  );

  await test(ctx, 'export / import: download the YAML, load a file, dry run with a refused object, apply the others', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/monitoring`);
    await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Export / import' }).click();
    await page.getByRole('heading', { name: 'Export and import' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download the configuration (YAML)' }).click()]);
    const yaml = readFileSync(await download.path(), 'utf8');
    const docs = yaml.split(/^---\n/m);
    const dashboard = docs.find((d) => /^kind: Dashboard$/m.test(d) && /^  name: sales-overview$/m.test(d));
    assert(dashboard && docs.some((d) => /^kind: DataSource$/m.test(d)), `the export lacks the quick start's objects:\n${yaml.slice(0, 400)}`);
    await page.getByText(/^Downloaded acme-configuration\.yaml \(.+ bytes\)\.$/).waitFor();
    // A new saved query, and a change to a dashboard the manifests provision (refused).
    const query = `apiVersion: nexbii.io/v1alpha1
kind: SavedQuery
metadata:
  name: e2e-imported
spec:
  tenantRef:
    name: acme
  displayName: Imported from the console
  dataSource: sales
  sql: SELECT count(*) AS n FROM customers
`;
    const edited = dashboard.replace(/^  title: Sales overview$/m, '  title: Sales overview, edited');
    assert(edited !== dashboard, 'the dashboard title was not found in the export');
    const text = `${query}---\n${edited}`;
    await page.getByLabel('Load from a file').setInputFiles({ name: 'changes.yaml', mimeType: 'application/yaml', buffer: Buffer.from(text) });
    const area = page.getByLabel('Configuration (YAML or JSON)');
    await waitFor('the file in the text area', async () => (await area.inputValue()) === text);
    const apply = page.getByRole('button', { name: 'Apply' });
    assert(await apply.isDisabled(), 'Apply before a dry run');
    await page.getByRole('button', { name: 'Check (dry run)' }).click();
    const dry = page.getByTestId('dry-run-report');
    await dry.getByRole('status').filter({ hasText: '2 objects: 1 will be created, 1 refused.' }).waitFor();
    assert((await dry.locator('tr[data-object="SavedQuery/e2e-imported"]').getAttribute('data-action')) === 'created', 'the query is not to be created');
    const refused = dry.locator('tr[data-object="Dashboard/sales-overview"]');
    assert((await refused.getAttribute('data-action')) === 'error' && (await refused.textContent()).includes('provisioned from YAML'), `refused row: ${await refused.textContent()}`);
    assert((await api(base, token, 'GET', '/queries')).every((q) => q.id !== 'e2e-imported'), 'the dry run wrote the query');
    assert(await apply.isDisabled(), 'Apply with a refused object and no choice to leave it out');
    await noHorizontalOverflow(page);
    await shot(page, '39-admin-import-dry-run');
    await page.getByLabel('Apply the other objects when some are refused').check();
    await apply.click();
    const done = page.getByTestId('import-report');
    await done.getByRole('status').filter({ hasText: '2 objects: 1 created, 1 refused.' }).waitFor();
    const queries = await api(base, token, 'GET', '/queries');
    assert(queries.some((q) => q.id === 'e2e-imported' && q.name === 'Imported from the console'), 'the imported query is not listed');
    assert((await api(base, token, 'GET', '/dashboards/sales-overview')).spec.title === 'Sales overview', 'the provisioned dashboard was overwritten');
    // Unreadable YAML: the server's reason, naming the document.
    await area.fill('kind: [unclosed');
    await page.getByRole('button', { name: 'Check (dry run)' }).click();
    await page.getByRole('alert').filter({ hasText: 'document 0' }).waitFor();
    await shot(page, '40-admin-import-applied');
  }, { allow: [400] });
}

async function ssoTests(ctx, base) {
  await test(
    ctx,
    'branding: a logo the CSP refuses (another host) gives way to the tenant’s name, on the login and the embed page',
    async (page) => {
      await page.goto(`${base}/?tenant=${SSO_TENANT}`);
      await page.getByRole('heading', { name: 'Sign in to Globex Reports' }).waitFor();
      const name = page.getByTestId('brand-name');
      await name.filter({ hasText: 'Globex Reports' }).waitFor();
      assert((await page.getByTestId('brand-logo').count()) === 0, 'the refused logo is still shown');
      assert((await cssVar(page, '--brand')) === '#8250df', `brand colour ${await cssVar(page, '--brand')}`);
      await shot(page, '41-login-logo-refused');
      await page.goto(`${base}/embed/${SSO_TENANT}?theme=dark`);
      await page.getByRole('alert').filter({ hasText: 'needs an embed token' }).waitFor();
      await name.filter({ hasText: 'Globex Reports' }).waitFor();
      assert((await page.getByTestId('brand-logo').count()) === 0, 'the refused logo is still shown on the embed page');
      assert((await page.evaluate(() => document.documentElement.dataset.theme)) === 'dark', 'the host’s theme is not applied');
      assert((await page.title()) === 'Globex Reports', `title ${await page.title()}`);
    },
    { expectErrors: [/cdn\.globex\.example\/logo\.svg/] },
  );

  await test(ctx, 'single sign-on: the SSO button signs in at the OpenID provider; a just-in-time user with the mapped role lands in the console', async (page) => {
    const discovery = await fetch(`${OIDC_ISSUER}/.well-known/openid-configuration`).catch(() => null);
    assert(discovery?.ok, `no OpenID provider at ${OIDC_ISSUER}: start it with tests/env/oidc.sh start`);
    const user = `sso-${crypto.randomBytes(4).toString('hex')}`;
    const made = await fetch(`${OIDC_ISSUER}/test/users/${user}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'provider-pass-1', groups: ['staff', 'analysts'] }),
    });
    assert(made.status === 204, `the provider did not take the user: ${made.status}`);
    try {
      await ssoLogin(page, base, user);
    } finally {
      // The console remembers the tenant signed in to last, for the next login page: the tests
      // after this one sign in to the quick start's (and would load this one's refused logo).
      if (new URL(page.url()).origin !== base) await page.goto(`${base}/healthz`);
      await page.evaluate((t) => localStorage.setItem('nexbii.lastTenant', t), TENANT);
    }
  }, {
    expectErrors: [
      /cdn\.globex\.example\/logo\.svg/,
      // The test provider's pages have no favicon; Chromium asks for one while they are shown.
      new RegExp(`status of 404 .*\\[${OIDC_ISSUER.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/favicon\\.ico\\]$`),
    ],
  });
}

/** Signs in to the SSO tenant through its OpenID provider as `user`, from the login page. */
async function ssoLogin(page, base, user) {
  await page.goto(`${base}/?tenant=${SSO_TENANT}`);
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  // The provider's own login form.
  await page.waitForURL((u) => u.origin === new URL(OIDC_ISSUER).origin);
  await page.locator('input[name=login]').fill(user);
  await page.locator('input[name=password]').fill('provider-pass-1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Back in the console, signed in.
  await page.getByTestId('brand').filter({ hasText: 'Globex Reports' }).waitFor({ timeout: 30_000 });
  assert((await page.locator('.who').textContent()).replace(/\s+/g, ' ').includes(`${user} (editor)`), `signed in as ${await page.locator('.who').textContent()}`);
  assert(!page.url().includes('grant='), `the grant stays in the address: ${page.url()}`);
  assert((await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).count()) === 0, 'an editor is offered the admin pages');
  const me = await api(base, await consoleToken(page), 'GET', '/auth/me');
  assert(me.username === user && me.role === 'editor', `/auth/me: ${JSON.stringify(me)}`);
  await shot(page, '42-sso-signed-in');
}

/** A request's status alone (for answers that are expected to fail). */
async function status(base, token, method, p, body) {
  const res = await fetch(`${base}/api/v1${p}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.status;
}

const sidOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid;

async function accountTests(ctx, base, token) {
  await test(
    ctx,
    'settings: edit a value; a field error at its field; a conflict; Tenant-declared fields read-only',
    async (page) => {
      await login(page, base);
      await page.goto(`${base}/admin/settings`);
      const declared = page.locator('[data-setting="notifications.retentionDays"]');
      await declared.getByText('declared by Tenant/acme: read-only here').waitFor();
      assert(await declared.locator('input').isDisabled(), 'a Tenant-declared field can be edited');
      assert((await declared.locator('input').inputValue()) === '60', 'the declared value is shown');
      await page.getByLabel('Lockout minutes').fill('30');
      await page.getByRole('button', { name: 'Save settings' }).click();
      await page.getByRole('status').filter({ hasText: /^Saved \(revision \d+\)\.$/ }).waitFor();
      const after = await api(base, token, 'GET', '/admin/settings');
      assert(after.settings.lockout.lockoutMinutes === 30 && after.sources['lockout.lockoutMinutes'] === 'api', `lockout ${JSON.stringify(after.settings.lockout)}`);
      assert(after.settings.notifications.retentionDays === 60, 'the declared value is unchanged');
      await page.locator('[data-setting="lockout.lockoutMinutes"]').getByText('set here').waitFor();
      // Out of range: the server's answer is shown at the field.
      await page.getByLabel('Idle timeout minutes').fill('2');
      await page.getByRole('button', { name: 'Save settings' }).click();
      await page.locator('[data-setting="sessions.idleTimeoutMinutes"] .error').filter({ hasText: 'must be 5 to 1440' }).waitFor();
      assert((await page.getByLabel('Idle timeout minutes').getAttribute('aria-invalid')) === 'true', 'the field is marked invalid');
      await noHorizontalOverflow(page);
      await shot(page, '26-admin-settings');
      // Someone else changes the settings meanwhile: saving says so instead of overwriting.
      await api(base, token, 'PUT', '/admin/settings', { ...after.stored, impersonation: { maxMinutes: 25 } });
      await page.getByLabel('Idle timeout minutes').fill('45');
      await page.getByRole('button', { name: 'Save settings' }).click();
      await page.getByRole('alert').filter({ hasText: 'Reload to see the current settings' }).waitFor();
      assert((await api(base, token, 'GET', '/admin/settings')).settings.sessions.idleTimeoutMinutes !== 45, 'a stale form overwrote the settings');
      await page.getByRole('button', { name: 'Reload' }).click();
      await page.waitForFunction(() => document.querySelector('[data-path="impersonation.maxMinutes"]')?.value === '25');
    },
    { allow: [409, 422] },
  );

  await test(ctx, 'alerts: a crossed threshold fires with its figure, then clears; history', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/alerts`);
    // Other alerts may fire on a loaded machine: only the disk alert is looked at.
    await page.getByRole('heading', { name: 'Firing now' }).waitFor();
    await page.getByLabel('Disk free percent').waitFor();
    assert((await page.locator('tr[data-alert=diskFree]').count()) === 0, 'the disk alert fires before its threshold changed');
    // Less than 100% of a disk is always free: the alert fires at the next check.
    await page.getByLabel('Disk free percent').fill('100');
    await page.getByRole('button', { name: 'Save settings' }).click();
    const firing = page.locator('tr[data-alert=diskFree]');
    await firing.waitFor({ timeout: 20_000 });
    const figure = await firing.getByTestId('alert-figure').textContent();
    assert(/^\d+(\.\d)?%$/.test(figure) && Number(figure.slice(0, -1)) < 100, `figure ${figure}`);
    await shot(page, '27-admin-alerts-firing');
    await page.getByLabel('Disk free percent').fill('0');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await waitFor('the disk alert to clear', async () => (await page.locator('tr[data-alert=diskFree]').count()) === 0, 20_000);
    await page.locator('[data-testid=alert-event][data-key=diskFree][data-transition=cleared]').waitFor();
    await page.locator('[data-testid=alert-event][data-key=diskFree][data-transition=fired]').waitFor();
    const rec = await api(base, token, 'GET', '/admin/alerts');
    assert(!rec.active.diskFree && rec.recent.some((e) => e.key === 'diskFree' && e.transition === 'cleared'), 'the API has the alert cleared');
    await noHorizontalOverflow(page);
    await shot(page, '28-admin-alerts');
  });

  await test(ctx, 'runtime configuration: flags with their source, versions; secrets redacted', async (page) => {
    await login(page, base);
    await page.goto(`${base}/admin/runtime`);
    await page.getByTestId('runtime-versions').filter({ hasText: 'build' }).waitFor();
    const listen = page.locator('tr[data-flag="--listen"]');
    assert((await listen.textContent()).includes('command line') && (await listen.textContent()).includes(new URL(base).host), `--listen row: ${await listen.textContent()}`);
    const secret = page.locator('tr[data-env=NEXBII_BOOTSTRAP_PASSWORD]');
    assert((await secret.textContent()).includes('redacted'), 'the bootstrap password is not marked redacted');
    assert(!(await page.content()).includes(PASSWORD), 'a secret is on the page');
    assert((await page.locator('tr[data-env=NEXBII_ALERT_INTERVAL_SECONDS]').textContent()).includes('1'), 'a plain variable is shown');
    await page.getByRole('checkbox', { name: /Only flags set/ }).check();
    assert((await page.locator('tr[data-flag]', { hasText: 'default' }).count()) === 0, 'the filter keeps defaults');
    await noHorizontalOverflow(page);
    await shot(page, '29-admin-runtime');
  });

  await test(
    ctx,
    'my account: password rules at the field, change; sessions; MFA on with a computed code and off; my data',
    async (page) => {
      const first = 'Account-pass-5521q';
      const second = 'Account-pass-9934z';
      await api(base, token, 'POST', '/users', { username: 'pat', role: 'viewer', password: first });
      const other = (await api(base, null, 'POST', '/auth/login', { tenant: TENANT, username: 'pat', password: first })).token;
      await login(page, base, 'pat', first);
      assert((await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Shares' }).count()) === 0, 'a viewer is offered share links');
      await page.getByRole('link', { name: /^My account: pat/ }).click();
      await page.getByRole('heading', { name: 'My account' }).waitFor();
      // A weak new password: every broken rule, listed at the field.
      await page.getByLabel('Current password').fill(first);
      await page.getByLabel('New password', { exact: true }).fill('short');
      await page.getByLabel('Repeat the new password').fill('short');
      await page.getByRole('button', { name: 'Change password' }).click();
      const rules = page.getByTestId('password-rules');
      await rules.locator('li', { hasText: 'at least 12 characters' }).waitFor();
      assert((await page.getByLabel('New password', { exact: true }).getAttribute('aria-describedby')) === 'pw-err-new', 'the rules describe the field');
      await page.getByLabel('New password', { exact: true }).fill(second);
      await page.getByLabel('Repeat the new password').fill(second);
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.getByText('Your password is changed.').waitFor();
      assert((await status(base, other, 'GET', '/auth/me')) === 401, 'the other session outlived the password change');
      // Another session, revoked from here.
      const extra = (await api(base, null, 'POST', '/auth/login', { tenant: TENANT, username: 'pat', password: second })).token;
      const sid = sidOf(extra);
      await page.reload();
      const row = page.locator(`tr[data-session="${sid}"]`);
      await row.waitFor();
      assert((await page.getByText('this session').count()) === 1, 'the current session is marked');
      await row.getByRole('button', { name: `Revoke session ${sid}` }).click();
      await row.getByRole('button', { name: `Confirm revoking session ${sid}` }).click();
      await waitFor('the session to go', async () => (await page.locator(`tr[data-session="${sid}"]`).count()) === 0);
      assert((await status(base, extra, 'GET', '/auth/me')) === 401, 'the revoked session still works');
      // A second factor: the QR code and key, a code computed as an app would, recovery codes.
      const mfa = page.getByTestId('mfa-card');
      await mfa.getByRole('button', { name: 'Set up an authenticator' }).click();
      const qr = mfa.getByRole('img', { name: /^QR code of the authenticator key/ });
      await qr.waitFor();
      assert(Number(await qr.getAttribute('data-modules')) >= 25 && ((await qr.locator('path').getAttribute('d')) ?? '').length > 100, 'the QR code is drawn');
      const secret = await mfa.getByTestId('totp-secret').textContent();
      await mfa.getByLabel('Verification code').fill(totp(secret));
      await mfa.getByRole('button', { name: 'Turn on' }).click();
      const codes = (await mfa.getByTestId('recovery-codes').textContent()).split('\n').map((c) => c.trim()).filter(Boolean);
      assert(codes.length >= 8, `recovery codes: ${codes}`);
      await shot(page, '30-my-account-mfa');
      await mfa.getByRole('button', { name: 'I have kept them' }).click();
      await mfa.getByTestId('mfa-state').filter({ hasText: /^On since .*; \d+ recovery codes left\./ }).waitFor();
      assert((await page.getByTestId('recovery-codes').count()) === 0, 'the recovery codes stay on screen');
      // Off again, with a recovery code (the TOTP code just used is good once).
      await mfa.getByLabel('Code to turn it off').fill(codes[0]);
      await mfa.getByRole('button', { name: 'Turn off' }).click();
      await mfa.getByTestId('mfa-state').filter({ hasText: /^Off/ }).waitFor();
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download my data' }).click()]);
      const data = JSON.parse(readFileSync(await download.path(), 'utf8'));
      assert(JSON.stringify(data).includes('"pat"'), 'the export is not about pat');
      await page.getByText(/^Downloaded .+ bytes\)\.$/).waitFor();
      await noHorizontalOverflow(page);
      await shot(page, '31-my-account');
    },
    { allow: [422] },
  );

  await test(ctx, 'sharing: a dashboard with a password and a locked variable, opened without login, listed, revoked, then dead', async (page) => {
    await login(page, base);
    await page.goto(`${base}/dashboards/customers`);
    await widgetsPainted(page);
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const form = page.getByRole('form', { name: /^Share the dashboard/ });
    await form.getByLabel('Expires after (hours)').fill('24');
    await form.getByLabel('Password (optional)').fill('link-pass-123');
    await form.getByLabel('Lock Segment').check();
    await form.getByLabel('Locked value of Segment').selectOption('consumer');
    await shot(page, '32-share-dashboard');
    await form.getByRole('button', { name: 'Create link' }).click();
    const url = await page.getByRole('region', { name: 'Share link' }).getByTestId('secret').inputValue();
    assert(url.startsWith(`${base}/shared/nxs_acme_`), `link ${url}`);
    const consumer = await api(base, token, 'GET', '/dashboards/customers/data?segment=consumer');
    const want = consumer.widgets.find((w) => w.id === 'top-customers').result.rows[0][0];
    const outsider = await freshBrowser();
    try {
      const p = outsider.page;
      await p.goto(url);
      await p.getByRole('heading', { name: 'This link is protected' }).waitFor();
      await p.getByLabel('Link password').fill('not-the-password');
      await p.getByRole('button', { name: 'Open' }).click();
      await p.getByText('That is not the link’s password.').waitFor();
      await p.getByLabel('Link password').fill('link-pass-123');
      await p.getByRole('button', { name: 'Open' }).click();
      await p.getByRole('heading', { name: 'Customers' }).first().waitFor();
      await p.waitForFunction((w) => document.querySelector('[data-widget=top-customers] tbody tr td')?.textContent === w, want, { timeout: 15_000 });
      await p.waitForFunction(() => [...document.querySelectorAll('[data-widget]')].every((el) => el.getAttribute('data-state') === 'done'), null, { timeout: 15_000 });
      await p.waitForSelector('[data-widget=by-country] .echart[data-painted=true] canvas', { timeout: 15_000 });
      const segment = p.getByLabel(/^segment/);
      assert((await segment.inputValue()) === 'consumer' && (await segment.isDisabled()), 'the locked variable can be changed');
      await p.waitForFunction(() => document.querySelector('[data-testid=brand]')?.textContent === 'Acme Insights', null, { timeout: 10_000 });
      assert((await p.getByRole('navigation', { name: 'Main' }).count()) === 0, 'the public page shows the shell');
      await noHorizontalOverflow(p);
      await shot(p, '33-shared-dashboard');
      // Listed among the admin's links, revoked: the link is dead.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Shares' }).click();
      const row = page.locator('tr[data-resource="dashboard/customers"]');
      await row.waitFor();
      assert((await row.textContent()).includes('locked: segment=consumer') && (await row.textContent()).includes('password'), `row ${await row.textContent()}`);
      await noHorizontalOverflow(page);
      await shot(page, '34-my-shares');
      await row.getByRole('button', { name: /^Revoke / }).click();
      await row.getByRole('button', { name: /^Confirm revoking/ }).click();
      await waitFor('the link to go', async () => (await page.locator('tr[data-resource="dashboard/customers"]').count()) === 0);
      await p.reload();
      await p.getByTestId('shared-error').filter({ hasText: 'does not exist, or it was revoked' }).waitFor();
    } finally {
      await outsider.close();
    }
  });

  await test(ctx, 'SQL editor: export the result as CSV and JSON lines; share the saved query', async (page) => {
    await login(page, base);
    await page.goto(`${base}/sql`);
    await page.waitForSelector('.sql-editor[data-ready=true]');
    const sql = 'SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY country';
    await page.locator('.cm-content').click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type(sql);
    await page.keyboard.press('Control+Enter');
    const want = await api(base, token, 'POST', '/queries/run', { dataSource: 'sales', sql });
    await page.getByTestId('result-meta').filter({ hasText: `${want.rowCount} rows` }).waitFor();
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    const lines = readFileSync(await csv.path(), 'utf8').trim().split(/\r?\n/);
    assert(lines[0] === 'country,n' && lines.length === want.rowCount + 1, `CSV ${csv.suggestedFilename()}: ${lines.slice(0, 3)}`);
    assert(lines[1].startsWith(`${want.rows[0][0]},`), `first row ${lines[1]}`);
    const [jsonl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON lines' }).click()]);
    const rows = readFileSync(await jsonl.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert(rows.length === want.rowCount && rows[0].country === want.rows[0][0], `JSON lines: ${JSON.stringify(rows.slice(0, 2))}`);
    await page.getByTestId('export-message').filter({ hasText: /^Downloaded / }).waitFor();
    // Saved, then shared: opened by someone without an account.
    await page.getByPlaceholder('Query name').fill('Countries, shared');
    await page.getByRole('button', { name: 'Save as query' }).click();
    await page.getByText(/^Saved as "Countries, shared"/).waitFor();
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    await page.getByRole('form', { name: /^Share the saved query/ }).getByRole('button', { name: 'Create link' }).click();
    const url = await page.getByRole('region', { name: 'Share link' }).getByTestId('secret').inputValue();
    await noHorizontalOverflow(page);
    await shot(page, '35-sql-export-share');
    const outsider = await freshBrowser();
    try {
      await outsider.page.goto(url);
      await outsider.page.getByRole('heading', { name: 'Countries, shared' }).waitFor();
      await outsider.page.getByTestId('shared-result-meta').filter({ hasText: `${want.rowCount} rows` }).waitFor({ timeout: 15_000 });
      assert((await outsider.page.locator('tbody tr').count()) === Math.min(want.rowCount, 50), 'the shared result rows');
      await shot(outsider.page, '36-shared-query');
    } finally {
      await outsider.close();
    }
    const mine = await api(base, token, 'GET', '/shares');
    assert(mine.some((s) => s.resource.startsWith('query/') && !s.hasPassword), 'the query link is not listed');
    // With the exports feature off for the caller, the editor offers no export.
    await api(base, token, 'PUT', '/admin/features/exports', { enabled: false, roles: [], users: [], rolloutPercent: 100 });
    try {
      await page.getByRole('button', { name: 'Log out' }).click();
      await login(page, base);
      await page.goto(`${base}/sql`);
      await page.waitForSelector('.sql-editor[data-ready=true]');
      await page.getByRole('button', { name: 'Save as query' }).waitFor();
      // The Shares link comes from the same answer of GET /features: once it is on screen, the
      // editor knows the flags too.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Shares' }).waitFor();
      assert((await page.getByRole('button', { name: 'Export CSV' }).count()) === 0, 'export offered with the feature off');
    } finally {
      await api(base, token, 'DELETE', '/admin/features/exports');
    }
  });

  await test(ctx, 'forced MFA: a user without a second factor enrols at login (QR, code, recovery codes), then is signed in', async (page) => {
    await api(base, token, 'POST', '/users', { username: 'quinn', role: 'editor', password: 'Forced-pass-4417m' });
    const before = await api(base, token, 'GET', '/admin/settings');
    await api(base, token, 'PUT', '/admin/settings', { ...before.stored, mfa: { required: 'all' } });
    try {
      await page.goto(`${base}/`);
      await page.getByLabel('Tenant').fill(TENANT);
      await page.getByLabel('Username').fill('quinn');
      await page.getByLabel('Password').fill('Forced-pass-4417m');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Verify it is you' }).waitFor();
      await page.getByRole('button', { name: 'Set up an authenticator' }).click();
      const qr = page.getByRole('img', { name: /^QR code of the authenticator key/ });
      await qr.waitFor();
      assert(((await qr.locator('path').getAttribute('d')) ?? '').length > 100, 'the QR code is drawn');
      await shot(page, '37-login-forced-mfa');
      const secret = await page.getByTestId('totp-secret').textContent();
      await page.getByLabel('Verification code').fill(totp(secret));
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('heading', { name: 'Recovery codes' }).waitFor();
      assert((await page.getByTestId('recovery-codes').textContent()).trim().split('\n').length >= 8, 'recovery codes shown');
      await page.getByRole('button', { name: 'I have kept them, continue' }).click();
      await page.getByTestId('brand').waitFor();
      assert((await page.locator('.who').textContent()).includes('quinn'), 'signed in as quinn');
      await page.getByRole('link', { name: /^My account: quinn/ }).click();
      await page.getByTestId('mfa-state').filter({ hasText: 'requires it for your role' }).waitFor();
      assert(await page.getByRole('button', { name: 'Turn off' }).isDisabled(), 'a required second factor can be turned off');
    } finally {
      await api(base, token, 'PUT', '/admin/settings', before.stored);
    }
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
