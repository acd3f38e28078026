// Copies what tsc does not emit (SQL migrations, the dashboard's static files) next to the compiled code.
import { chmodSync, cpSync } from 'node:fs';

cpSync('src/store/migrations', 'dist/store/migrations', { recursive: true });
cpSync('src/api/dashboard', 'dist/api/dashboard', { recursive: true });
chmodSync('dist/cli/main.js', 0o755);
