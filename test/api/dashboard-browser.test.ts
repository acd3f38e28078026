// The dashboard in a real browser: headless Chromium (Debian's `chromium` package, driven by
// playwright-core) opens GET /dashboard on a real market with a real worker connected, and the
// test reads what a person would see: lanes, the provider, the price board, tasks, and the page
// following the market live (a task created and completed elsewhere shows up without a reload).
// The page is opened with its fallback poll an hour apart (`?poll=3600`), so whatever it shows
// after its first read came through the event stream (GET /dashboard/events).
//
// Skipped when no Chromium binary is found (CI installs npm packages only): set CHROMIUM_PATH, or
// install it with `apt-get install -y chromium`.

import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { EXAMPLE_PAYLOADS, OPERATOR_KEY, startTestMarket, type TestMarket } from '../helpers/market.js';
import { ScriptedWorker } from '../helpers/ws-worker.js';

const CANDIDATES =
  process.env.CHROMIUM_PATH !== undefined
    ? [process.env.CHROMIUM_PATH]
    : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
const executablePath = CANDIDATES.find((p) => p !== '' && existsSync(p));

/** Generous: the machine running the suite is slow and shared; nothing here is a timing claim. */
const WAIT_MS = 60_000;

const synthetic = {
  challenge_type: 'synthetic' as const,
  payload: EXAMPLE_PAYLOADS.synthetic,
  reward: '0.5',
};

describe.skipIf(!executablePath)('the dashboard in headless Chromium', () => {
  let tm: TestMarket;
  let browser: Browser;
  let page: Page;
  let worker: ScriptedWorker;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    tm = await startTestMarket();
    worker = new ScriptedWorker(tm.url);
    await worker.join({ slots: 2, units: 300, price: '0.003' });
    browser = await chromium.launch({
      executablePath,
      headless: true,
      // The suite may run as root in a container: no sandbox, and /tmp instead of a small /dev/shm.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      // A failed load is recorded with its address below; everything else (CSP reports) here.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource'))
        pageErrors.push(msg.text());
    });
    page.on('response', (res) => {
      if (res.status() >= 400) pageErrors.push(`${res.status()} ${new URL(res.url()).pathname}`);
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    worker?.close();
    await worker?.closed;
    await tm?.close();
  });

  /** Waits until the condition holds (the page redraws every poll). */
  async function until(what: string, holds: () => Promise<boolean>, shows = async () => ''): Promise<void> {
    const deadline = performance.now() + WAIT_MS;
    while (!(await holds())) {
      if (performance.now() > deadline)
        throw new Error(`the page never showed ${what}; it shows: ${await shows()}`);
      await page.waitForTimeout(100);
    }
  }

  /** Waits until the section's text satisfies the check, and returns that text. */
  async function sectionShows(id: string, check: (text: string) => boolean, what: string): Promise<string> {
    const text = async () => (await page.locator(`#${id}`).textContent()) ?? '';
    await until(what, async () => check(await text()), text);
    return text();
  }

  async function useKey(key: string): Promise<void> {
    await page.fill('#api-key', key);
    await page.click('#key-use');
  }

  it(
    'shows anyone the lanes, the provider capacity, the price board and the settlement mode',
    async () => {
      const alice = await tm.customer('5.0', 'alice');
      const first = await alice.client.createTask(synthetic);
      const job = await worker.next<JobMsg>('job');
      expect(job.task_id).toBe(first.task_id);

      await page.goto(`${tm.url}/dashboard?poll=3600`);
      expect(await page.title()).toBe('Task Market · dashboard');
      // The lanes: the worker runs the one job, nothing waits, the market is loose.
      const lanes = await sectionShows('lanes', (t) => t.includes('industrial'), 'the lanes');
      expect(lanes).toContain('consumer');
      expect(await page.locator('#admission-mode').textContent()).toBe('loose');
      const industrial = page.locator('#lanes tbody tr', { hasText: 'industrial' });
      expect(await industrial.locator('td').allTextContents()).toEqual(['industrial', '0', '1', 'flowing']);
      await sectionShows('providers', (t) => t.includes('300 units/s'), 'the claimed capacity');
      // Verification is off in test markets: an offer counts as advertised.
      expect(await page.locator('#providers').textContent()).toMatch(/capacity verified\s*300 units\/s/);
      // The price board: the lease priced the industrial lane at the worker's price.
      const board = await sectionShows('price-board', (t) => t.includes('0.003'), 'the leased price');
      expect(board).toContain('consumer');
      expect(await page.locator('#settlement').textContent()).toContain('DryRun');
      expect(await page.locator('#viewer').textContent()).toBe('public view');
      // Nothing private without a key.
      expect(await page.locator('#tasks').textContent()).toContain('Enter an API key');
      expect(await page.locator('#offers').textContent()).toContain('Enter an API key');
      expect(await page.locator('body').textContent()).not.toContain(first.task_id);
      worker.send(worker.result(job));
      await worker.next('result_accepted');
    },
    WAIT_MS * 3,
  );

  it(
    'shows a customer its own tasks with its key and follows them live',
    async () => {
      const bob = await tm.customer('5.0', 'bob');
      const other = await tm.customer('5.0', 'carol');
      const before = await bob.client.createTask(synthetic);
      const beforeJob = await worker.next<JobMsg>('job');
      worker.send(worker.result(beforeJob));
      await worker.next('result_accepted');

      await useKey(bob.apiKey);
      await sectionShows('tasks', (t) => t.includes(before.task_id), 'the customer’s task');
      expect(await page.locator('#viewer').textContent()).toBe('customer view');
      await sectionShows('offers', (t) => t.includes('0.003'), 'the worker’s offer');

      // Created through the API while the page is open: it shows up, pending or running, unreloaded.
      const navigations: string[] = [];
      page.on('framenavigated', (f) => navigations.push(f.url()));
      await until(
        'the event stream open',
        async () => (await page.evaluate('document.body.dataset.stream')) === 'open',
      );
      const hintsBefore = Number(await page.evaluate('document.body.dataset.hints ?? "0"'));
      const live = await bob.client.createTask(synthetic);
      const theirs = await other.client.createTask(synthetic);
      // No poll is due for an hour: the task shows because the stream said the market changed.
      await sectionShows('tasks', (t) => t.includes(live.task_id), 'the new task');
      expect(Number(await page.evaluate('document.body.dataset.hints'))).toBeGreaterThan(hintsBefore);
      const row = page.locator('#tasks tbody tr', { hasText: live.task_id });
      // Two jobs may be queued at the worker's two slots; finish the one of bob's new task.
      let job = await worker.next<JobMsg>('job');
      const jobs = [job];
      while (job.task_id !== live.task_id) {
        job = await worker.next<JobMsg>('job');
        jobs.push(job);
      }
      for (const j of jobs) {
        worker.send(worker.result(j));
        await worker.next('result_accepted');
      }
      const status = async () => (await row.locator('td').nth(2).textContent()) ?? '';
      await until('the task completed', async () => (await status()) === 'completed', status);
      expect(await page.locator('#live').textContent()).toMatch(/^live · updated/);
      expect(navigations).toEqual([]);
      // Only bob's tasks: carol's is not on bob's page.
      expect(await page.locator('#tasks').textContent()).not.toContain(theirs.task_id);
    },
    WAIT_MS * 4,
  );

  it(
    'shows the operator the providers with their reputation, and forgets a refused key',
    async () => {
      await useKey(OPERATOR_KEY);
      await sectionShows('providers', (t) => t.includes('effective'), 'the providers table');
      expect(await page.locator('#viewer').textContent()).toBe('operator view');
      const row = page.locator('#providers tbody tr');
      expect(await row.count()).toBe(1);
      expect(await row.locator('code').getAttribute('title')).toBe(worker.key.address);
      // Three results accepted so far: the reputation the page shows is the market's, above 0.
      const reputation = tm.market.dispatcher.reputationOf(worker.key.address);
      expect(reputation).toBeGreaterThan(0);
      expect(await row.locator('td').allTextContents()).toEqual([
        expect.any(String),
        String(reputation),
        expect.stringMatching(/^[0-2]\/2$/),
        '0.003',
        expect.stringMatching(/^0\.00[0-9]+$/),
        '300',
        '300',
        '4 CPU cores · gpuhash, transcode, synthetic',
      ]);
      // The key survives a reload in this tab (sessionStorage).
      await page.reload();
      await sectionShows('providers', (t) => t.includes('effective'), 'the providers after a reload');

      await useKey('tm_not-a-real-key-at-all');
      await page.locator('#error').getByText('The key was refused').waitFor({ timeout: WAIT_MS });
      await sectionShows('tasks', (t) => t.includes('Enter an API key'), 'the public view again');
      expect(await page.locator('#viewer').textContent()).toBe('public view');
      expect(await page.evaluate('sessionStorage.getItem("taskmarket.apiKey")')).toBeNull();
      // No script error, no content security policy violation, no failed request but the refused key.
      expect(pageErrors).toEqual(['401 /dashboard/state']);
    },
    WAIT_MS * 3,
  );
});
