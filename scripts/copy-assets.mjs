// Copies what tsc does not emit (SQL migrations) next to the compiled code.
import { chmodSync, cpSync } from 'node:fs';

cpSync('src/store/migrations', 'dist/store/migrations', { recursive: true });
chmodSync('dist/cli/main.js', 0o755);
