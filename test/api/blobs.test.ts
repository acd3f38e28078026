// Blobs: content-addressed upload and download, and transcode tasks that take their input by hash.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { blake3Hex } from '../../src/domain/hash.js';
import { MIB } from '../../src/domain/work.js';
import { startTestMarket, type TestMarket } from '../helpers/market.js';

let tm: TestMarket;
beforeAll(async () => {
  tm = await startTestMarket({ config: { blob_max_bytes: 4 * MIB } });
});
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
