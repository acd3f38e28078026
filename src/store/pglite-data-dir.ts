// Prepares the folder PGlite keeps its database in: created 0700, its files 0600, and on first use
// filled from a template made at build time instead of by running initdb in this process.
//
// PGlite's own initdb starts a second PostgreSQL instance in memory, runs initdb.wasm against it,
// copies the result into the real folder as a tarball and keeps a full copy of the second heap for
// its restarts: 700–900 MB resident at the first start, most of it never given back (measured in
// docs/decisions.md). The template is that same initdb output, made once by
// scripts/pglite-template.mjs during `npm run build` and unpacked here from disk as a stream
// (a few MB). Without a template (running from src/, or PGlite upgraded since the build) the node
// falls back to PGlite's initdb.

import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extract } from 'tar';

const TEMPLATE = fileURLToPath(new URL('./pglite-template.tar.gz', import.meta.url));
const TEMPLATE_INFO = fileURLToPath(new URL('./pglite-template.json', import.meta.url));

/** The version of PGlite installed next to this code: a template made by another one is not used. */
export function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('@electric-sql/pglite');
  let dir = dirname(main);
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The template tarball to unpack into an empty folder, or undefined when there is none usable. */
export function usableTemplate(): string | undefined {
  if (!existsSync(TEMPLATE) || !existsSync(TEMPLATE_INFO)) return undefined;
  const info = JSON.parse(readFileSync(TEMPLATE_INFO, 'utf8')) as { pglite?: string };
  return info.pglite === pgliteVersion() ? TEMPLATE : undefined;
}

/**
 * Makes dir ready for PGlite: created 0700 if missing; if it holds no database yet and a template
 * is usable, the template is unpacked into a sibling folder and renamed into place, so a crash
 * half-way leaves no half-made database behind. Returns whether the template was used.
 */
export async function preparePgliteDir(dir: string): Promise<boolean> {
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  if (existsSync(join(dir, 'PG_VERSION'))) return false;
  const template = usableTemplate();
  if (!template) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return false;
  }
  const staging = `${dir}.init-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o700 });
  try {
    // PGlite's tarball names its entries from the root ("/PG_VERSION"); tar strips the "/" and
    // says so (TAR_ENTRY_INFO). Anything else it has to say means a damaged template.
    const problems: string[] = [];
    // Synchronously: nothing else runs while a node starts, and node-tar's sync mode takes about
    // 40% less CPU than its streams for the template's ~1,100 files.
    extract({
      file: template,
      cwd: staging,
      umask: 0o077,
      sync: true,
      onwarn: (code, message) => {
        if (code !== 'TAR_ENTRY_INFO') problems.push(`${code}: ${String(message)}`);
      },
    });
    if (problems.length > 0 || !existsSync(join(staging, 'PG_VERSION')))
      throw new Error(
        `the PGlite template ${template} did not unpack: ${problems.join('; ') || 'no PG_VERSION'}`,
      );
    secureTree(staging);
    // An empty folder left by an earlier start (or made by the operator) is replaced.
    if (existsSync(dir)) {
      if (readdirSync(dir).length > 0)
        throw new Error(`${dir} is not empty and holds no database (no PG_VERSION)`);
      rmSync(dir, { recursive: true });
    }
    renameSync(staging, dir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return true;
}

/**
 * Takes group and other permissions off every file and folder under dir (0700 folders, 0600
 * files). PGlite's initdb writes its files 0666 whatever the umask (Emscripten's FS chmods what it
 * creates to the mode asked for, and its tarball loader asks for 0666), so data folders made before
 * this change, or by the fallback, are put right here at every open: a walk over about a thousand
 * files, 58 ms with every file chmodded on the loaded development machine.
 */
export function secureTree(dir: string): void {
  const fix = (path: string) => {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      if ((st.mode & 0o077) !== 0) chmodSync(path, st.mode & 0o700);
      for (const name of readdirSync(path)) fix(join(path, name));
    } else if ((st.mode & 0o077) !== 0) {
      chmodSync(path, st.mode & 0o700);
    }
  };
  fix(dir);
}
