// Blobs: content-addressed upload and download, kept as files under the blob directory, and
// transcode tasks that take their input by hash (sent inline in the job message).

import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { blake3Hex } from '../../src/domain/hash.js';
import { MIB } from '../../src/domain/work.js';
import { tidyBlobs } from '../../src/market/blobs.js';
import { getBlob, putBlob } from '../../src/store/providers.js';
import type { JobMsg } from '../../src/domain/schemas/worker.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';
import { until } from '../helpers/until.js';
import { ScriptedWorker } from '../helpers/ws-worker.js';

let tm: TestMarket;
let blobDir: string;
beforeAll(async () => {
  tm = await startTestMarket({ config: { blob_max_bytes: 4 * MIB } });
  blobDir = tm.market.db.blobFiles.dir;
});

const mode = (path: string) => statSync(path).mode & 0o777;
const tempFiles = () => readdirSync(join(blobDir, 'tmp'));

afterAll(async () => {
  await tm?.close();
});

async function upload(key: string, body: Uint8Array, type = 'application/octet-stream') {
  const res = await fetch(`${tm.url}/blobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': type },
    body,
  });
  return {
    status: res.status,
    body: (await res.json()) as { hash?: string; size?: number; error?: { code: string } },
  };
}

it('stores bytes under their BLAKE3 hash and gives them back', async () => {
  const { apiKey } = await tm.customer('10.0');
  const data = Buffer.from(Array.from({ length: 3 * MIB + 5 }, (_, i) => (i * 31) & 0xff));
  const up = await upload(apiKey, data);
  expect(up).toEqual({ status: 201, body: { hash: blake3Hex(data), size: data.byteLength } });
  expect(await upload(apiKey, data)).toEqual(up);
  const down = await fetch(`${tm.url}/blobs/${up.body.hash}`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  expect(down.status).toBe(200);
  expect(Buffer.from(await down.arrayBuffer()).equals(data)).toBe(true);
  const missing = await fetch(`${tm.url}/blobs/${'0'.repeat(64)}`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  expect(missing.status).toBe(404);
  expect((await fetch(`${tm.url}/blobs/${up.body.hash}`)).status).toBe(401);
});

it('refuses blobs over the limit (413) and other media types (415)', async () => {
  const { apiKey } = await tm.customer('10.0');
  expect((await upload(apiKey, new Uint8Array(4 * MIB + 1))).status).toBe(413);
  expect((await upload(apiKey, new Uint8Array(10), 'image/png')).status).toBe(415);
});

it('plans a transcode task from its blob: one 1 MiB slice per started MiB', async () => {
  const { apiKey, client } = await tm.customer('10.0');
  const data = new Uint8Array(2 * MIB + 1);
  const { body } = await upload(apiKey, data);
  const task = await client.createTask({
    challenge_type: 'transcode',
    payload: { input_blob: body.hash as string },
    reward: '1.0',
  });
  const view = await client.getTask(task.task_id);
  expect(view.units).toBe(3);
  expect(view.progress).toEqual({ jobs_done: 0, jobs_total: 1 });
  const jobs = await client.request<{ jobs: { slices: number; units: number }[] }>(
    'GET',
    `/tasks/${task.task_id}/jobs`,
  );
  expect(jobs.jobs).toMatchObject([{ slices: 3, units: 3 }]);

  const unknown = client.createTask({
    challenge_type: 'transcode',
    payload: { input_blob: 'a'.repeat(64) },
    reward: '1.0',
  });
  await expect(unknown).rejects.toMatchObject({ code: 'validation_error', status: 400 });
  expect(await client.me()).toMatchObject({ escrow: '1.0' });
});

it('splits rendering into jobs of frames_per_job frames', async () => {
  const { client } = await tm.customer('10.0');
  const task = await client.createTask({
    challenge_type: 'rendering',
    payload: { scene_file: 'https://example.com/s.blend', resolution: '640x480', frames: 25 },
    reward: '1.0',
  });
  const jobs = await client.request<{ jobs: { index: number; slices: number }[] }>(
    'GET',
    `/tasks/${task.task_id}/jobs`,
  );
  expect(jobs.jobs.map((j) => j.slices)).toEqual([10, 10, 5]);
  expect((await client.getTask(task.task_id)).units).toBe(25);
});

it('keeps the bytes in a 0600 file named by the hash, and only the metadata in the database', async () => {
  const { apiKey, accountId } = await tm.customer('10.0');
  const data = Buffer.from('on disk, not in bytea');
  const { body } = await upload(apiKey, data);
  const hash = body.hash as string;
  const file = join(blobDir, hash.slice(0, 2), hash);
  expect(readdirSync(join(blobDir, hash.slice(0, 2)))).toEqual([hash]);
  expect([mode(blobDir), mode(join(blobDir, hash.slice(0, 2))), mode(file)]).toEqual([0o700, 0o700, 0o600]);
  const rows = await tm.market.db.query(
    'SELECT size, data, on_disk, owner_account FROM blobs WHERE hash = $1',
    [hash],
  );
  expect(rows).toEqual([{ size: data.byteLength, data: null, on_disk: true, owner_account: accountId }]);
  expect(tempFiles()).toEqual([]);
});

it('leaves no file behind for a refused or cut-off upload', async () => {
  const { apiKey } = await tm.customer('10.0');
  // No Content-Length: refused only once the stream passes the limit, part of it written.
  const chunks = async function* () {
    for (let i = 0; i < 5; i++) yield new Uint8Array(MIB);
  };
  const res = await fetch(`${tm.url}/blobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/octet-stream' },
    body: ReadableStream.from(chunks()),
    duplex: 'half',
  } as RequestInit).catch((err: unknown) => err);
  if (res instanceof Response) expect(res.status).toBe(413);
  // The refusal closes the connection; the temporary file goes whichever way the client saw it.
  while (tempFiles().length > 0) await new Promise((r) => setTimeout(r, 20));
  expect(tempFiles()).toEqual([]);
});

it('stores job artifacts through putBlob as files too, and reads rows kept in the database', async () => {
  const { db } = tm.market;
  const artifact = Buffer.from('an artifact a worker sent');
  await putBlob(db, blake3Hex(artifact), artifact, null, 1);
  expect(existsSync(join(blobDir, blake3Hex(artifact).slice(0, 2), blake3Hex(artifact)))).toBe(true);
  expect(Buffer.from((await getBlob(db, blake3Hex(artifact))) ?? []).equals(artifact)).toBe(true);

  // A row from before migration 0040 (bytes in bytea) is served, then moved to disk at start.
  const old = Buffer.from('written before the blob directory');
  const oldHash = blake3Hex(old);
  await db.query(
    `INSERT INTO blobs (hash, size, data, owner_account, created_at_ms) VALUES ($1, $2, $3, NULL, 1)`,
    [oldHash, old.byteLength, old],
  );
  const { apiKey } = await tm.customer('1.0');
  const down = await fetch(`${tm.url}/blobs/${oldHash}`, { headers: { authorization: `Bearer ${apiKey}` } });
  expect(Buffer.from(await down.arrayBuffer()).equals(old)).toBe(true);
  await tidyBlobs(tm.market);
  expect(await db.query('SELECT data, on_disk FROM blobs WHERE hash = $1', [oldHash])).toEqual([
    { data: null, on_disk: true },
  ]);
  expect(Buffer.from((await getBlob(db, oldHash)) ?? []).equals(old)).toBe(true);
});

it('removes partial uploads at start and leaves the hash folders to the background sweep', async () => {
  const partial = join(blobDir, 'tmp', 'left-by-a-crash');
  writeFileSync(partial, 'half an upload');
  const stray = Buffer.from('renamed at start-up test, its row never committed');
  const strayPath = join(blobDir, blake3Hex(stray).slice(0, 2), blake3Hex(stray));
  // Young, so this node's own background sweep leaves it alone too; the start used to remove it.
  await tm.market.db.blobFiles.write(blake3Hex(stray), stray);
  await tidyBlobs(tm.market);
  expect([existsSync(partial), existsSync(strayPath)]).toEqual([false, true]);
  await rm(strayPath);
});

it('eventually removes, from its background loop, files no row names once an hour old', async () => {
  // A node whose loop sweeps a folder every 10 ms, on a blob directory of its own.
  const node = await startTestMarket({ config: { blob_sweep_interval_ms: 10 } });
  try {
    const files = node.market.db.blobFiles;
    const file = async (text: string, ageS: number) => {
      const bytes = Buffer.from(text);
      await files.write(blake3Hex(bytes), bytes);
      const path = files.pathOf(blake3Hex(bytes));
      const t = Date.now() / 1000 - ageS;
      utimesSync(path, t, t);
      return path;
    };
    // Crashes between the rename and the insert: two hours ago, and (maybe in flight) a minute ago.
    const orphan = await file('an orphan two hours old', 7200);
    const recent = await file('renamed a minute ago, its row maybe on its way', 60);
    // A file whose row was committed two hours ago.
    const kept = Buffer.from('a committed blob');
    await putBlob(node.market.db, blake3Hex(kept), kept, null, 1);
    const keptPath = files.pathOf(blake3Hex(kept));
    utimesSync(keptPath, 1, 1);
    await until('the orphan is removed', async () => (existsSync(orphan) ? undefined : true));
    // Every folder has been swept at least once more since: the others stay.
    const folders = (await files.shards()).length;
    for (let i = 0; i <= folders; i++) await node.market.orphanBlobs.tick();
    expect([existsSync(recent), existsSync(keptPath)]).toEqual([true, true]);
  } finally {
    await node.close();
  }
});

it('sends a blob input inline in the job message', async () => {
  const { apiKey, client } = await tm.customer('10.0');
  const data = Buffer.from(Array.from({ length: MIB + 7 }, (_, i) => (i * 7) & 0xff));
  const { body } = await upload(apiKey, data);
  const worker = new ScriptedWorker(tm.url);
  try {
    await worker.join();
    const task = await client.createTask({
      challenge_type: 'gpuhash',
      payload: { input_blob: body.hash as string },
      reward: '1.0',
    });
    // Tasks of the earlier tests are queued too: take this task's job.
    const job = await worker.next<JobMsg>('job', (m) => m.task_id === task.task_id);
    expect(Buffer.from(job.input ?? '', 'base64').equals(data)).toBe(true);
  } finally {
    worker.close();
  }
});
