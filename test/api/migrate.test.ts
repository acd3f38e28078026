// The migration runner sends each file whole: PL/pgSQL bodies and semicolons inside strings
// survive, on PGlite and PostgreSQL alike, and a failing file leaves nothing behind.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate, type Migration } from '../../src/store/migrate.js';
import type { Db } from '../../src/store/db.js';
import { testDb } from '../helpers/db.js';

let db: Db;
beforeAll(async () => {
  db = await testDb();
});
afterAll(async () => {
  await db?.close();
});

const PLPGSQL = `
-- A function whose body has semicolons at line ends, which a splitter on ";\\n" cuts apart.
CREATE TABLE zz_notes (id int PRIMARY KEY, body text NOT NULL);
CREATE FUNCTION zz_shout() RETURNS trigger AS $$
BEGIN
  NEW.body := upper(NEW.body);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER zz_notes_shout BEFORE INSERT ON zz_notes FOR EACH ROW EXECUTE FUNCTION zz_shout();
INSERT INTO zz_notes VALUES (1, 'semi;
colon;');
`;

it('runs a migration file whole, PL/pgSQL included', async () => {
  const m: Migration = { version: 9001, name: 'plpgsql', sql: PLPGSQL };
  expect(await migrate(db, [m])).toEqual([9001]);
  expect(await db.query('SELECT body FROM zz_notes')).toEqual([{ body: 'SEMI;\nCOLON;' }]);
  expect(await migrate(db, [m])).toEqual([]);
});

it('rolls a failing file back whole', async () => {
  const bad: Migration = {
    version: 9002,
    name: 'half',
    sql: 'CREATE TABLE zz_half (id int);\nSELECT no_such_function();\n',
  };
  await expect(migrate(db, [bad])).rejects.toThrow(/no_such_function/);
  expect(await db.query(`SELECT to_regclass('zz_half') AS t`)).toEqual([{ t: null }]);
  expect(await db.query('SELECT 1 FROM schema_migrations WHERE version = 9002')).toEqual([]);
});
