// Browser tests of the lro dashboard, in headless Chromium through
// playwright-core. The Go test that builds and starts the server runs this
// script with node; it can also be run by hand against any `lro serve`:
//
//   LRO_UI_URL=http://127.0.0.1:8080/ui/  base URL of the server or of /ui/ (required)
//   LRO_UI_TOKEN=...                      a bearer token, when the server has auth on
//   LRO_UI_OPERATION=operations/...       a running demo.sleep operation of 20 s or more
//                                         (started here through the API if not given)
//   LRO_UI_ARTIFACTS=/tmp/ui-shots        where screenshots go (default: ./artifacts)
//   LRO_UI_SHOTS_PREFIX=token-            a prefix for the screenshots' file names
//   CHROMIUM=/usr/bin/chromium            the browser
//
// It opens the list and filters it, follows the operation's progress live,
// cancels it through the page's confirmation, opens its kind's charts, and
// looks at the list on a phone-sized screen, with a screenshot of each page.
// Any failure exits non-zero with what was expected and what was seen.

import {after, before, afterEach, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdirSync} from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const TIMEOUT = 20000;

function env(name, fallback) {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
}

const rawURL = env('LRO_UI_URL');
if (!rawURL) {
  console.error('ui.test.mjs: LRO_UI_URL is not set (e.g. http://127.0.0.1:8080/ui/)');
  process.exit(2);
}
const base = new URL(rawURL);
const uiURL = new URL(/\/ui\/?$/.test(base.pathname) ? base.pathname.replace(/\/?$/, '/') : 'ui/', base);
const rootURL = new URL('../', uiURL);
const TOKEN = env('LRO_UI_TOKEN', '');
const ARTIFACTS = path.resolve(env('LRO_UI_ARTIFACTS', 'artifacts'));
const PREFIX = env('LRO_UI_SHOTS_PREFIX', '');
mkdirSync(ARTIFACTS, {recursive: true});

let browser;
let context;
let page;
let operation = env('LRO_UI_OPERATION', '');
const problems = []; // CSP violations and uncaught page errors
const failures = new Set(); // names of the steps that failed

/** api calls the server's HTTP API directly, with the token if any. */
async function api(p, init = {}) {
  const headers = {Accept: 'application/json', ...(init.headers || {})};
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const res = await fetch(new URL(p, rootURL), {...init, headers});
  const text = await res.text();
  assert.ok(res.ok, `${init.method || 'GET'} ${p}: HTTP ${res.status}: ${text}`);
  return text ? JSON.parse(text) : {};
}

/** apiStatus is the HTTP status that GET p answers with. */
async function apiStatus(p) {
  const headers = TOKEN ? {Authorization: `Bearer ${TOKEN}`} : {};
  const res = await fetch(new URL(p, rootURL), {headers});
  await res.arrayBuffer();
  return res.status;
}

async function shot(name, fullPage = true) {
  const file = path.join(ARTIFACTS, `${PREFIX}${name}.png`);
  await page.screenshot({path: file, fullPage});
  console.log(`# screenshot ${file}`);
}

/** hashFilter is the filter that the list page keeps in the URL's hash. */
function hashFilter() {
  return page.evaluate(() => new URLSearchParams(location.hash.split('?')[1] || '').get('filter'));
}

/**
 * step runs one test on the shared page. It is skipped if the sign-in
 * failed, or a step it names in needs failed: the others still run, so that
 * one failure does not hide the rest.
 */
function step(name, fn, needs = []) {
  test(name, async (t) => {
    const failedNeed = [SIGN_IN, ...needs].find((n) => n !== name && failures.has(n));
    if (failedNeed) {
      t.skip(`needs "${failedNeed}", which failed`);
      return;
    }
    try {
      await fn(t);
    } catch (e) {
      failures.add(name);
      await page.screenshot({path: path.join(ARTIFACTS, `${PREFIX}failed-${name.replace(/\W+/g, '-')}.png`), fullPage: true})
        .catch(() => {});
      throw e;
    }
  });
}

const SIGN_IN = 'a token server prompts for the token, and the list loads with it';
const FOLLOW = 'the operation page follows progress live, without a reload';

before(async () => {
  browser = await chromium.launch({
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    args: ['--headless', '--no-sandbox'],
  });
  context = await browser.newContext({viewport: {width: 1280, height: 900}});
  page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  if (!operation) {
    const op = await api('v1/operations:start', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({kind: 'demo.sleep', input: {duration: '60s'}}),
    });
    operation = op.name;
  }
});

after(async () => {
  await browser?.close();
});

afterEach(() => {
  const p = problems.splice(0);
  assert.deepEqual(p, [], 'the page must load with no CSP violation and no uncaught error');
});

step(SIGN_IN, async () => {
  await page.goto(new URL('#/', uiURL).href);
  const dialog = page.locator('#token-dialog');
  if (!TOKEN) {
    await page.locator('#ops-table, .list-status').first().waitFor();
    assert.equal(await dialog.isVisible(), false, 'no token prompt on a server without auth');
    return;
  }
  await dialog.waitFor({state: 'visible'});
  assert.equal(await page.locator('#token-input').getAttribute('type'), 'password', 'the token input is a password field');
  await page.locator('#token-input').fill(TOKEN);
  await page.locator('#token-dialog button[type=submit]').click();
  await dialog.waitFor({state: 'hidden'});
  await page.locator('#ops-table tbody tr').first().waitFor();
  const kept = await page.evaluate(() => Object.keys(sessionStorage).length);
  assert.ok(kept > 0, 'the token is kept in sessionStorage');
  await page.locator('#sign-out').waitFor({state: 'visible'});
});

step('the list filters by AIP-160 and keeps the filter in the URL', async () => {
  await page.goto(new URL('#/', uiURL).href);
  await page.locator('#ops-table tbody tr').first().waitFor();
  await shot('list');

  const filter = page.locator('#filter');
  await filter.fill(`name = "${operation}"`);
  await filter.press('Enter');
  await page.waitForFunction((name) => {
    const rows = document.querySelectorAll('#ops-table tbody tr');
    return rows.length === 1 && rows[0].dataset.name === name;
  }, operation);
  assert.equal(await hashFilter(), `name = "${operation}"`, 'the filter is in the URL hash');

  await filter.fill('done = false');
  await filter.press('Enter');
  await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1]).get('filter') === 'done = false');
  await page.locator(`#ops-table tbody tr[data-name="${operation}"]`).waitFor();
  const states = await page.locator('#ops-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.state));
  assert.ok(states.length > 0, 'some running operation is listed');
  assert.deepEqual([...new Set(states)], ['active'], `done = false lists only active operations, got ${states}`);

  // A reload keeps the filter.
  await page.reload();
  await page.locator(`#ops-table tbody tr[data-name="${operation}"]`).waitFor();
  assert.equal(await filter.inputValue(), 'done = false', 'the filter survives a reload');

  // A bad filter shows the server's message, naming the field.
  await filter.fill('nosuchfield = 1');
  await filter.press('Enter');
  await page.locator('.error-box').filter({hasText: 'nosuchfield'}).waitFor();
});

step('the counts link to the list with their filter, or are not shown on 403', async () => {
  const status = await apiStatus('ui/api/counts');
  await page.goto(new URL('#/', uiURL).href);
  await page.locator('#ops-table tbody tr').first().waitFor();
  if (status === 403) {
    assert.equal(await page.locator('.counts').count(), 0, 'no counts panel for a caller without reader on every parent');
    return;
  }
  assert.equal(status, 200, 'GET /ui/api/counts answers 200 or 403');
  const link = page.locator('.counts-table tr', {hasText: 'demo.sleep'}).locator('td[data-label="running"] a');
  await link.click();
  await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1] || '').get('filter') ===
    'kind = "demo.sleep" AND state = RUNNING');
  await page.locator(`#ops-table tbody tr[data-name="${operation}"]`).waitFor();
  assert.equal(await page.locator('#filter').inputValue(), 'kind = "demo.sleep" AND state = RUNNING');
});

step(FOLLOW, async () => {
  await page.goto(new URL(`#/?filter=${encodeURIComponent(`name = "${operation}"`)}`, uiURL).href);
  await page.locator(`#ops-table tbody tr[data-name="${operation}"] a`).first().click();
  await page.locator('#op-state').filter({hasText: 'RUNNING'}).waitFor();
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  await page.locator('#live').filter({hasText: /^live$/}).waitFor();
  const progress = page.locator('#op-progress-text');
  await progress.waitFor();
  const first = await progress.textContent();
  assert.match(first, /^\d+(\.\d+)?%$/, 'the progress shows a percentage');
  await page.waitForFunction((was) => {
    const el = document.getElementById('op-progress-text');
    return el && el.textContent !== was;
  }, first, {timeout: TIMEOUT});
  const second = await progress.textContent();
  assert.ok(parseFloat(second) > parseFloat(first), `progress moves forward: ${first} then ${second}`);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  await page.locator('.sec-metadata .json').waitFor();
  assert.equal(await page.locator('.facts a[href="#/kinds/demo.sleep"]').count(), 1, 'the kind links to its page');
  await shot('operation');
});

step('the operation page shows its attempts and its timeline', async () => {
  await page.locator('.sec-attempts table tbody tr').first().waitFor();
  const attempt = await page.locator('.sec-attempts tbody tr').last().textContent();
  assert.match(attempt, /running/, `the latest attempt is running: ${attempt}`);
  await page.locator('.sec-timeline .timeline li.ev-created').first().waitFor();
  await page.locator('.sec-timeline .timeline li.ev-claimed').first().waitFor();
  await shot('operation');
}, [FOLLOW]);

step('cancel through the confirmation ends the operation CANCELLED', async () => {
  await page.locator('#btn-cancel').click();
  const dialog = page.locator('#confirm-dialog');
  await dialog.waitFor({state: 'visible'});
  assert.match(await dialog.textContent(), new RegExp(operation.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
    'the confirmation names the operation');
  await page.locator('#confirm-ok').click();
  await dialog.waitFor({state: 'hidden'});
  await page.locator('#op-state').filter({hasText: 'CANCELLED'}).waitFor();
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the state changed without a reload');
  await page.locator('.sec-error .json').waitFor();
  await page.locator('#live').filter({hasText: 'done'}).waitFor();
  await shot('operation-cancelled');
}, [FOLLOW]);

step('the kind page draws its charts', async () => {
  await page.goto(new URL('#/kinds/demo.sleep', uiURL).href);
  await page.locator('svg.chart.throughput').waitFor();
  await page.locator('svg.chart.wait').waitFor();
  // Operations ended in the last hour: bars show them.
  await page.locator('svg.chart.throughput rect.bar').first().waitFor();
  const tip = await page.locator('svg.chart.throughput .bucket title').first().textContent();
  assert.match(tip, /succeeded \d+, failed \d+, cancelled \d+/, 'a bar has a tooltip with its counts');
  const labels = await page.locator('svg.chart .axis-label').allTextContents();
  assert.ok(labels.length >= 4, `both charts have axis labels, got ${labels}`);
  await shot('kind');
});

step('on a phone-sized screen the list does not scroll sideways', async () => {
  await page.setViewportSize({width: 375, height: 812});
  await page.goto(new URL('#/', uiURL).href);
  await page.locator('#ops-table tbody tr').first().waitFor();
  const {scroll, client} = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `no horizontal page scroll at 375 px: scrollWidth ${scroll} > ${client}`);
  const small = await page.locator('button:visible').evaluateAll((bs) =>
    bs.filter((b) => b.getBoundingClientRect().height < 40).map((b) => b.textContent.trim()));
  assert.deepEqual(small, [], 'buttons are at least 40 px tall on a phone');
  await shot('list-phone', false);
  await page.setViewportSize({width: 1280, height: 900});
});

step('cancel all matching runs over the filter, and an empty filter needs ALL typed', async () => {
  const op = await api('v1/operations:start', {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({kind: 'demo.sleep', input: {duration: '60s'}}),
  });
  await page.goto(new URL(`#/?filter=${encodeURIComponent(`name = "${op.name}"`)}`, uiURL).href);
  await page.locator(`#ops-table tbody tr[data-name="${op.name}"][data-state="active"]`).waitFor();
  await page.locator('#cancel-all').click();
  const dialog = page.locator('#confirm-dialog');
  await dialog.waitFor({state: 'visible'});
  assert.match(await dialog.textContent(), /name = "operations\//, 'the confirmation shows the filter');
  assert.equal(await page.locator('#confirm-input').isVisible(), false, 'a filter needs no typed word');
  await page.locator('#confirm-ok').click();
  await page.locator('.batch-status').filter({hasText: 'Finished: 1 cancelled, 0 failed'}).waitFor();
  // A running operation ends when its handler stops: wait for that, then
  // refresh the list, which does not follow its rows live.
  await api(`v1/${op.name}:wait`, {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({timeout: '20s'}),
  });
  await page.locator('#refresh').click();
  await page.locator(`#ops-table tbody tr[data-name="${op.name}"][data-state="cancelled"]`).waitFor();

  await page.goto(new URL('#/', uiURL).href);
  await page.locator('#ops-table tbody tr').first().waitFor();
  await page.locator('#delete-all').click();
  await dialog.waitFor({state: 'visible'});
  assert.match(await dialog.textContent(), /ALL operations/, 'an empty filter says ALL operations');
  assert.equal(await page.locator('#confirm-ok').isDisabled(), true, 'confirm waits for the word');
  await page.locator('#confirm-input').fill('ALL');
  assert.equal(await page.locator('#confirm-ok').isDisabled(), false, 'typing ALL enables confirm');
  await page.locator('#confirm-cancel').click();
  await dialog.waitFor({state: 'hidden'});
  assert.equal(await page.locator('.batch-status').textContent(), '', 'going back runs nothing');
});

step('paging goes forward by the next page token and back by the stack of tokens', async () => {
  await page.goto(new URL('#/?size=1', uiURL).href);
  const rows = page.locator('#ops-table tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 1, 'a page of size 1 has one row');
  const first = await rows.first().getAttribute('data-name');
  await page.locator('#next-page').click();
  await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1] || '').getAll('p').length === 1);
  const second = await page.waitForFunction((was) => {
    const r = document.querySelector('#ops-table tbody tr');
    return r && r.dataset.name !== was && r.dataset.name;
  }, first).then((v) => v.jsonValue());
  await page.reload();
  await page.locator(`#ops-table tbody tr[data-name="${second}"]`).waitFor();
  await page.locator('#prev-page').click();
  await page.locator(`#ops-table tbody tr[data-name="${first}"]`).waitFor();
  assert.equal(await page.locator('#prev-page').isDisabled(), true, 'no page before the first');
});

step('server strings are shown as text, never as HTML', async () => {
  const evil = '<img src=x onerror="window.__injected=1"><b id="injected">bold</b>';
  const op = await api('v1/operations:start', {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({kind: 'demo.sleep', input: {duration: '0.01s', fail_code: 9, fail_message: evil}}),
  });
  // It fails at once: wait for its end on the server, then look.
  const done = await api(`v1/${op.name}:wait`, {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({timeout: '20s'}),
  });
  assert.equal(done.done, true, 'the failing operation ended');
  await page.goto(new URL(`#/?filter=${encodeURIComponent(`name = "${op.name}"`)}`, uiURL).href);
  const row = page.locator(`#ops-table tbody tr[data-name="${op.name}"][data-state="failed"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /<img src=x onerror=/, 'the message is shown as text');
  await row.locator('a').first().click();
  await page.locator('#op-state').filter({hasText: 'FAILED'}).waitFor();
  await page.locator('.sec-error .err-msg').filter({hasText: '<b id="injected">'}).waitFor();
  assert.equal(await page.locator('#injected, main img').count(), 0, 'no element was made from the message');
  assert.equal(await page.evaluate(() => window.__injected), undefined, 'no handler from the message ran');
});

step('sign out forgets the token', async (t) => {
  if (!TOKEN) {
    t.skip('no token server');
    return;
  }
  await page.goto(new URL('#/', uiURL).href);
  await page.locator('#sign-out').click();
  await page.locator('#token-dialog').waitFor({state: 'visible'});
  const kept = await page.evaluate(() => Object.keys(sessionStorage).length);
  assert.equal(kept, 0, 'sign out clears sessionStorage');
});
