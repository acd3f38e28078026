// Runs PGlite's initdb once, at build time, and stores the result next to the compiled store code
// (dist/store/pglite-template.tar.gz, with the PGlite version in pglite-template.json). A node
// opening an empty data directory unpacks it instead of running initdb in its own process, which
// costs 700–900 MB of memory there (see src/store/pglite-data-dir.ts and docs/decisions.md).
import { Buffer } from 'node:buffer';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

const require = createRequire(import.meta.url);
let pkgDir = dirname(require.resolve('@electric-sql/pglite'));
while (!existsSync(join(pkgDir, 'package.json'))) pkgDir = dirname(pkgDir);
const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
const INFO = 'dist/store/pglite-template.json';

// Made already for this PGlite version: initdb takes a few seconds, so a rebuild skips it.
if (
  existsSync('dist/store/pglite-template.tar.gz') &&
  existsSync(INFO) &&
  JSON.parse(readFileSync(INFO, 'utf8')).pglite === version
)
  process.exit(0);

const pg = await PGlite.create();
const tarball = await pg.dumpDataDir('gzip');
await pg.close();

mkdirSync('dist/store', { recursive: true });
writeFileSync('dist/store/pglite-template.tar.gz', Buffer.from(await tarball.arrayBuffer()));
writeFileSync(INFO, JSON.stringify({ pglite: version }) + '\n');
