// Where a node keeps its operator key: in its own module so that the CLI's client commands find
// it without loading the market (market.ts re-exports it).

import { join } from 'node:path';

export function operatorKeyPath(dataDir: string): string {
  return join(dataDir, 'operator.key');
}
