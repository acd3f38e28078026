// The published SDK as another project gets it: `npm pack` the package, unpack the tarball into a
// fresh project's node_modules (as `npm install` would put it), type-check a TypeScript file that
// imports `taskmarket/client`, and run it against a real node. The project has none of the node's
// dependencies: the client must need none at run time. Runs on the built dist/ (npm test builds).

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tar from 'tar';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestMarket, type TestMarket } from '../helpers/market.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'taskmarket-sdk-'));
const project = join(dir, 'project');
let tm: TestMarket;

beforeAll(async () => {
  tm = await startTestMarket();
});
afterAll(async () => {
  await tm?.close();
  rmSync(dir, { recursive: true, force: true });
});

const CONSUMER = `import { ApiError, TaskMarketClient, type TaskEvent, type TaskView } from 'taskmarket/client';

const client = new TaskMarketClient({ url: process.argv[2] as string, apiKey: process.argv[3] });
const health: { status: string } = await client.health();
const me = await client.me();
const created = await client.createTask({
  challenge_type: 'gpuhash',
  payload: { input: Buffer.from('sdk').toString('base64') },
  reward: '1.0',
  priority: 'high',
});
const task: TaskView = await client.getTask(created.task_id);
const first = await client.taskEvents(task.task_id).next();
const event = first.value as TaskEvent;
await client.cancelTask(task.task_id);
const outcome = await client.waitForTask(task.task_id, { timeoutMs: 60_000 });
let code = '';
try {
  await client.getTask('00000000-0000-4000-8000-000000000000');
} catch (err) {
  if (err instanceof ApiError) code = err.code;
}
console.log(JSON.stringify({ health: health.status, name: me.name, event: event.type, status: outcome.task.status, code }));
`;

it('packs, installs into another project, type-checks and runs `taskmarket/client`', async () => {
  expect(existsSync(join(ROOT, 'dist/client/client.d.ts')), 'run `npm run build` first').toBe(true);
  const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT });
  const tarball = join(dir, packed.stdout.trim().split('\n').pop() as string);

  const installed = join(project, 'node_modules', 'taskmarket');
  mkdirSync(installed, { recursive: true });
  await tar.x({ file: tarball, cwd: installed, strip: 1 });
  // Types for Node's globals (fetch, AbortSignal) come from the consumer's own @types/node.
  mkdirSync(join(project, 'node_modules', '@types'));
  symlinkSync(join(ROOT, 'node_modules/@types/node'), join(project, 'node_modules/@types/node'));
  symlinkSync(join(ROOT, 'node_modules/undici-types'), join(project, 'node_modules/undici-types'));
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', type: 'module', private: true }),
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        types: ['node'],
        outDir: 'out',
        skipLibCheck: false,
      },
      include: ['index.ts'],
    }),
  );
  writeFileSync(join(project, 'index.ts'), CONSUMER);

  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const compiled = await run(process.execPath, [tsc, '-p', project], { cwd: project }).catch(
    (err: { stdout?: string }) => {
      throw new Error(`the consumer does not type-check:\n${err.stdout ?? String(err)}`);
    },
  );
  expect(compiled.stdout).toBe('');
  // Only the client's own files are needed: no dependency of the node is installed.
  expect(readdirSync(join(project, 'node_modules')).sort()).toEqual(['@types', 'taskmarket', 'undici-types']);

  const { apiKey } = await tm.customer('10.0', 'sdk-user');
  const ran = await run(process.execPath, [join(project, 'out/index.js'), tm.url, apiKey], { cwd: project });
  expect(JSON.parse(ran.stdout)).toEqual({
    health: 'ok',
    name: 'sdk-user',
    event: 'status',
    status: 'cancelled',
    code: 'not_found',
  });
}, 180_000);
