// Every `taskmarket` client command is a process start, so what src/cli/main.ts loads before
// it parses its arguments is paid by each one. Its static imports (dynamic import() aside) must
// not reach the node's libraries: TypeBox alone is about 250 modules and a third of a second
// per command on a loaded machine.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Packages reached from `entry` through static imports (type-only imports excluded). */
function staticPackages(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'/gm)) {
      const spec = m[1] as string;
      if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!spec.startsWith('node:'))
        packages.add(
          spec
            .split('/')
            .slice(0, spec.startsWith('@') ? 2 : 1)
            .join('/'),
        );
    }
  };
  visit(entry);
  return packages;
}

it('loads none of the node’s libraries before a client command runs', () => {
  const packages = staticPackages(join(SRC, 'cli/main.ts'));
  expect(packages).toContain('commander');
  for (const heavy of ['@sinclair/typebox', 'fastify', 'ajv', '@electric-sql/pglite', 'pg', 'pino'])
    expect(packages, heavy).not.toContain(heavy);
});
