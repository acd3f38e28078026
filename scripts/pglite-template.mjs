// Runs PGlite's initdb and the migrations once, at build time, and stores the result next to the
// compiled store code (dist/store/pglite-template.tar.gz; pglite-template.json names the PGlite
// version and a fingerprint of the migrations in it). A node opening an empty data directory
// unpacks it instead of running initdb in its own process, which costs 700–900 MB of memory there,
// and finds every migration of its build already applied (they took 1–8 s at a first start on
// the loaded development machine). See src/store/pglite-data-dir.ts and docs/decisions.md.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { loadMigrations, migrate } from '../dist/store/migrate.js';
import { pgliteDb } from '../dist/store/pglite.js';

const require = createRequire(import.meta.url);
let pkgDir = dirname(require.resolve('@electric-sql/pglite'));
while (!existsSync(join(pkgDir, 'package.json'))) pkgDir = dirname(pkgDir);
const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
const INFO = 'dist/store/pglite-template.json';
const migrations = loadMigrations();
const fingerprint = createHash('sha256')
  .update(JSON.stringify(migrations.map((m) => [m.version, m.name, m.sql])))
  .digest('hex');

// Made already for this PGlite version and these migrations: a rebuild skips it.
if (existsSync('dist/store/pglite-template.tar.gz') && existsSync(INFO)) {
  const info = JSON.parse(readFileSync(INFO, 'utf8'));
  if (info.pglite === version && info.migrations === fingerprint) process.exit(0);
}

const pg = await PGlite.create();
// The migrations are deterministic (fixed system account ids, no clock): every node may share them.
await migrate(pgliteDb(pg), migrations);
const tarball = await pg.dumpDataDir('gzip');
await pg.close();

mkdirSync('dist/store', { recursive: true });
writeFileSync('dist/store/pglite-template.tar.gz', Buffer.from(await tarball.arrayBuffer()));
writeFileSync(INFO, JSON.stringify({ pglite: version, migrations: fingerprint }) + '\n');
