// The published client's plain types are the static types of the schemas the server validates
// and documents with: each pair must be assignable both ways, or this file does not compile
// (`npm run lint` type-checks it). The runtime part only keeps vitest from calling it empty.

import { expect, it } from 'vitest';
import type * as api from '../../src/client/api-types.js';
import type * as accounts from '../../src/domain/schemas/accounts.js';
import type { Capability, Requirements } from '../../src/domain/schemas/capability.js';
import type { ErrorBody } from '../../src/domain/schemas/common.js';
import type * as offers from '../../src/domain/schemas/offers.js';
import type * as providers from '../../src/domain/schemas/providers.js';
import type * as events from '../../src/domain/schemas/task-events.js';
import type * as tasks from '../../src/domain/schemas/tasks.js';
import type { Static } from '@sinclair/typebox';

/** Assignable both ways, and the same fields all the way down (an optional one on one side only is a difference). */
type Same<A, B> = Mutual<A, B> extends true ? Mutual<Fields<A>, Fields<B>> : false;
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Every field, optional or not, as a required one: its own fields, or `leaf`. */
type Fields<T> = T extends (infer U)[]
  ? Fields<U>
  : T extends object
    ? { [K in keyof T]-?: Fields<NonNullable<T[K]>> }
    : 'leaf';

const same = {
  createTaskBody: true satisfies Same<api.CreateTaskBody, tasks.CreateTaskBody>,
  createTaskResponse: true satisfies Same<api.CreateTaskResponse, tasks.CreateTaskResponse>,
  createTasksResponse: true satisfies Same<api.CreateTasksResponse, tasks.CreateTasksResponse>,
  taskView: true satisfies Same<api.TaskView, tasks.TaskView>,
  jobView: true satisfies Same<api.JobView, tasks.JobView>,
  taskJobs: true satisfies Same<api.TaskJobsResponse, tasks.TaskJobsResponse>,
  listTasks: true satisfies Same<api.ListTasksResponse, tasks.ListTasksResponse>,
  cancelTask: true satisfies Same<api.CancelTaskResponse, tasks.CancelTaskResponse>,
  disputeBody: true satisfies Same<api.DisputeBody, tasks.DisputeBody>,
  disputes: true satisfies Same<api.DisputeList, tasks.DisputeList>,
  taskOutcome: true satisfies Same<api.TaskOutcome, Static<typeof events.ResultEvent>>,
  taskEvent: true satisfies Same<api.TaskEvent, events.TaskEvent>,
  error: true satisfies Same<api.ErrorBody, ErrorBody>,
  capability: true satisfies Same<api.Capability, Capability>,
  requirements: true satisfies Same<api.Requirements, Requirements>,
  offer: true satisfies Same<api.OfferView, offers.OfferView>,
  offers: true satisfies Same<api.OfferList, offers.OfferList>,
  provider: true satisfies Same<api.ProviderView, providers.ProviderView>,
  accountView: true satisfies Same<api.AccountView, accounts.AccountView>,
  accountCreated: true satisfies Same<api.AccountCreated, accounts.AccountCreated>,
  createAccount: true satisfies Same<api.CreateAccountBody, accounts.CreateAccountBody>,
  ledger: true satisfies Same<api.LedgerReport, accounts.LedgerReport>,
};

it('the client types match the server schemas (checked by the compiler)', () => {
  expect(Object.values(same).every(Boolean)).toBe(true);
});
