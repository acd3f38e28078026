// How client commands print: JSON for scripts (stdout not a terminal, or --json), a table or a
// short line for people at a terminal (or --table). Errors are one line on stderr, with what to
// do about them.

import type { Command } from 'commander';

export class UsageError extends Error {}

export function parseInteger(name: string) {
  return (value: string): number => {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(value))
      throw new UsageError(`${name} must be a non-negative integer, got "${value}"`);
    return Number(value);
  };
}

export interface FormatOpts {
  json?: boolean;
  table?: boolean;
}

/** Adds --json and --table to a command that prints a list or a record. */
export function formatOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print JSON (the default when stdout is not a terminal)')
    .option('--table', 'print a table (the default on a terminal)');
}

/** Whether this command should print for a person rather than a script. */
export function forPeople(opts: FormatOpts): boolean {
  if (opts.json) return false;
  if (opts.table) return true;
  return process.stdout.isTTY === true;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export interface Column<T> {
  header: string;
  get: (row: T) => string | number | null | undefined;
  /** Numbers read best right-aligned. */
  right?: boolean;
}

/** A plain-text table: a header, then one line per row, columns padded to their widest cell. */
export function formatTable<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const cells = rows.map((r) => columns.map((c) => String(c.get(r) ?? '-')));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((row) => (row[i] ?? '').length)),
  );
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (columns[i]?.right ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** A list: a table for people (with `footer` under it), the whole answer as JSON for scripts. */
export function printList<T>(
  opts: FormatOpts,
  whole: unknown,
  rows: readonly T[],
  columns: readonly Column<T>[],
  footer?: string,
): void {
  if (!forPeople(opts)) return printJson(whole);
  if (rows.length === 0) process.stdout.write('(none)\n');
  else process.stdout.write(formatTable(columns, rows));
  if (footer) process.stdout.write(`${footer}\n`);
}

/** Cuts a long id to its start, for tables; --json shows it whole. */
export function short(id: string | null | undefined, n = 8): string {
  if (!id) return '-';
  return id.length > n + 1 ? `${id.slice(0, n)}…` : id;
}
