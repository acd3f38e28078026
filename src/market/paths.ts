// Where a node keeps its files in the data directory. Its own module so that the CLI finds the
// operator key without loading the market (a client command starts in a fraction of the time).

import { join } from 'node:path';

export function operatorKeyPath(dataDir: string): string {
  return join(dataDir, 'operator.key');
}
