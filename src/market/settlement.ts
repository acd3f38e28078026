// Settlement of finished tasks, inside the same transaction that completes them, so a task is
// settled exactly once however often its results are replayed.
//
//   DryRun (default) ──arm──▶ Armed ──delay passes──▶ Real
//      ▲                        │                      │
//      └──────── disarm, or any settlement failure ────┘
//
// Every completed job gets a receipt {job_id, buyer, provider, quote_price, units}; its
// idempotency key is the primary key of the receipts table, so a replay inserts nothing and
// charges nothing. In Real mode the buyer pays quote_price × units out of the task's escrow, in
// the escrow's CT/IT mix (fee_pct_ct), each asset split 60/25/10/5 between burn, the provider,
// validators and treasury; the rest of the escrow goes back to the buyer, asset by asset. In DryRun receipts are recorded and nobody is charged: the whole
// escrow goes back to the buyer. A task whose receipts exceed its escrow is archived as a
// failure and the market falls back to DryRun, loudly.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { secondsOf, type Clock } from '../domain/clock.js';
import {
  byAsset,
  residualRefund,
  splitEscrow,
  splitIncrement,
  splitTransfer,
} from '../domain/escrow-split.js';
import { balanceDeltas, SYSTEM_ACCOUNTS, type Posting } from '../domain/ledger.js';
import { groupBy } from '../domain/group-by.js';
import { ASSETS, CPC, formatAmount } from '../domain/money.js';
import { encodeReceipt, makeReceipt, receiptAmount, type Receipt } from '../domain/receipts.js';
import {
  advance,
  applyCommand,
  DEFAULT_SPLIT,
  INITIAL_SETTLEMENT,
  modeAt,
  onFailure,
  splitAmount,
  type ModeTransition,
  type SettlementCommand,
  type SettlementMode,
  type SettlementState,
  type SplitShares,
} from '../domain/settlement.js';
import { MARKET_VERIFIER, verifierShares } from '../domain/verification.js';
import type { Db, Queryable } from '../store/db.js';
import type { PayoutRow } from '../store/payouts.js';
import { appendJournals, lockBalances } from '../store/ledger.js';
import {
  appliedCharges,
  archiveFailure,
  insertReceipts,
  type NewReceiptRow,
  jobsToSettle,
  loadSettlementState,
  providerAccounts,
  saveSettlementState,
  systemBalances,
  type SettleJob,
} from '../store/settlement.js';
import type { MarketEventBus } from './events.js';
import type { NewOutboxRow } from '../store/outbox.js';
import type { OutboxWriter, TaskResult } from './outbox.js';
import { checkStoredReceipts, type ReceiptCheckReport } from './receipt-check.js';

/** A task to settle and what its escrow held when its completion released it. */
export interface SettleTask {
  taskId: string;
  escrowHeld: bigint;
}

/** A settlement planned before its commit (planAlone): rows and amounts as the commit writes them. */
export interface SettlementPlan {
  journalId: string;
  /** Provider accounts to create, and the assets each gets a balance in (providerAccounts). */
  accounts: { address: string; account_id: string }[];
  accountAssets: string[];
  receipts: NewReceiptRow[];
  /** The charges' postings summed per account and asset; the refunds are the commit's. */
  postings: { account_id: string; asset: string; amount: string }[];
  /** Per task: its buyer and assets, and what was charged in all and in each asset. */
  tasks: {
    task_id: string;
    buyer: string;
    asset: string;
    it_asset: string;
    pct: number;
    charged_ct: string;
    charged_it: string;
    is_real: boolean;
    charge: string;
  }[];
  payouts: PayoutRow[];
  drafts: NewOutboxRow[];
  /** The settlement events, announced once the commit is in. */
  emit: () => void;
}

export class SettlementService {
  private state: SettlementState = INITIAL_SETTLEMENT;
  /** Provider accounts known to exist (committed), by address; and those the last settle found. */
  private readonly accountIds = new Map<string, string>();
  private readonly learned = new Map<string, string>();
  private outbox: OutboxWriter | undefined;
  /** What the start-up check of stored receipts found (undefined: it did not run). */
  receiptCheck: ReceiptCheckReport | undefined;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: MarketEventBus,
    private readonly logger: Logger,
    /** How each settled amount is divided (config split_*_bps; the spec's 60/25/10/5). */
    private readonly shares: SplitShares = DEFAULT_SPLIT,
  ) {}

  /**
   * From now on settlement also queues chain transactions in its transaction: a SUBMIT_RESULT
   * per completed task, and in Real mode each receipt's worker share for the payout flush.
   */
  attachOutbox(outbox: OutboxWriter): void {
    this.outbox = outbox;
  }

  /**
   * Reads the stored mode and, unless `checkReceipts` is false, checks the stored receipts
   * (receipt-check.ts): damaged ones are counted (`settle.receipt_corrupt`) and logged, and the
   * node starts all the same. A check that cannot run (the query fails) is logged and skipped.
   */
  async load(opts: { checkReceipts?: boolean; checkMax?: number } = {}): Promise<void> {
    const stored = (await loadSettlementState(this.db)) as SettlementState | undefined;
    if (stored) this.state = stored;
    if (opts.checkReceipts === false) return;
    try {
      const report = await checkStoredReceipts(this.db, { max: opts.checkMax ?? 0 });
      this.receiptCheck = report;
      const summary = {
        checked: report.checked,
        corrupt: report.corrupt,
        complete: report.complete,
        ms: report.ms,
      };
      if (report.corrupt === 0) {
        this.logger.info(summary, 'stored receipts checked');
        return;
      }
      this.events.emit('settle.receipt_corrupt', { count: report.corrupt });
      this.logger.warn(
        { ...summary, damaged: report.damaged },
        'damaged receipts in the store: counted in receipt_corrupt_total; the node starts anyway',
      );
    } catch (err) {
      this.logger.warn({ err }, 'stored receipts not checked: the scan failed');
    }
  }

  mode(): SettlementMode {
    return modeAt(this.state, this.clock.nowMs());
  }

  async command(cmd: SettlementCommand): Promise<SettlementMode> {
    const t = applyCommand(this.state, cmd, this.clock.nowMs());
    await saveSettlementState(this.db, t.state, this.clock.nowMs());
    this.record(t);
    return this.mode();
  }

  /** The mode and the system and provider balances: CPC's in `balances`, every asset's in `assets`. */
  async status(): Promise<Record<string, unknown>> {
    const assets: Record<string, Record<string, string>> = {};
    for (const asset of ASSETS) {
      const balances = await systemBalances(this.db, asset);
      assets[asset] = Object.fromEntries(
        Object.entries(balances).map(([k, v]) => [k, formatAmount(BigInt(v))]),
      );
    }
    return { mode: this.mode(), state: this.state, asset: CPC, balances: assets[CPC], assets };
  }

  /**
   * Settles tasks that just completed, in the caller's transaction: `escrowHeld` is what each
   * task's escrow held when the completing statement released it (0 for a task settled before,
   * so a replay moves nothing).
   */
  async settle(tx: Queryable, tasks: readonly SettleTask[]): Promise<void> {
    if (tasks.length === 0) return;
    const now = this.clock.nowMs();
    this.record(advance(this.state, now));
    const held = new Map(tasks.map((t) => [t.taskId, t.escrowHeld]));
    const jobs = await jobsToSettle(
      tx,
      tasks.map((t) => t.taskId),
    );
    const byTask = groupBy(jobs, (j) => j.task_id);
    // A completed task has completed jobs; released escrow without them could never be refunded.
    for (const t of tasks)
      if (t.escrowHeld > 0n && !byTask.has(t.taskId))
        throw new Error(`settlement: task ${t.taskId} released its escrow but has no completed jobs`);
    const accounts = await this.accountsOf(
      tx,
      [...jobs.map((j) => j.worker_address), ...jobs.flatMap((j) => j.verifiers ?? [])].filter(
        (a) => a !== MARKET_VERIFIER,
      ),
    );
    // First every task's receipts and whether it is charged (a failure turns later tasks of the
    // batch to DryRun, as it turns the market), then one insert for all of them, then the money.
    const plans = [];
    for (const [taskId, taskJobs] of byTask) {
      const first = taskJobs[0] as SettleJob;
      const escrow = held.get(taskId) ?? 0n;
      const receipts = taskJobs.map((j) => ({
        job: j,
        receipt: receiptOf(j, now),
      }));
      let real = this.mode() === 'Real';
      const charge = receipts.reduce((sum, r) => sum + receiptAmount(r.receipt), 0n);
      if (real && charge > escrow) {
        await archiveFailure(
          tx,
          taskId,
          'insufficient_escrow',
          { charge: charge.toString(), escrow: escrow.toString() },
          now,
        );
        this.record(
          onFailure(
            this.state,
            `task ${taskId}: receipts ${formatAmount(charge)} exceed escrow ${formatAmount(escrow)}`,
            now,
          ),
        );
        await saveSettlementState(tx, this.state, this.clock.nowMs());
        this.events.emit('settle.failed', { taskId, reason: 'insufficient_escrow' });
        real = false;
      }
      plans.push({ taskId, first, escrow, receipts, real });
    }
    // One journal for the whole batch: every receipt's postings summed per account and asset, so
    // a batch of tasks writes a few ledger rows per party, not six per task. Each receipt keeps
    // the journal's id: a task's charges trace from its receipts to the entries.
    const journalId = randomUUID();
    const rows = plans.flatMap(({ taskId, receipts, real }) =>
      receipts.map(({ job, receipt }) => receiptRow(job.job_id, taskId, receipt, real, journalId)),
    );
    const fresh = await insertReceipts(tx, rows, now).catch((err: unknown) => {
      // The caller's transaction rolls back with this error: the jobs stay uncompleted and the
      // worker is told to send its result again, so the failure is counted, never lost.
      this.events.emit('settle.receipt_persist_failed', { count: rows.length });
      this.logger.error({ err, receipts: rows.length, tasks: plans.length }, 'receipts not persisted');
      throw err;
    });
    const postings: Posting[] = [];
    const payouts: PayoutRow[] = [];
    for (const { taskId, first, escrow, receipts, real } of plans) {
      const pct = first.fee_pct_ct;
      const c = this.charges(taskId, first, receipts, real, fresh, accounts);
      postings.push(...c.postings);
      payouts.push(...c.payouts);
      c.emit();
      // What was not charged goes back per asset: the hold minus the charges (residualRefund).
      const refund = residualRefund(splitEscrow(escrow, pct), splitEscrow(c.charged, pct));
      postings.push(...splitTransfer(SYSTEM_ACCOUNTS.escrow, first.account_id, first, refund));
    }
    const summed = balanceDeltas(postings);
    if (summed.length > 0)
      await appendJournals(
        tx,
        [{ journalId, kind: 'settlement', ref: null, postings: summed }],
        this.clock.nowMs(),
      );
    // Drafts only: nonces and signatures come later, in the courier, off this transaction.
    if (this.outbox) {
      await this.outbox.queuePayouts(tx, payouts);
      // One SUBMIT_RESULT for the batch, of the tasks settled for the first time: a task's
      // receipts are inserted once, ever, in the transaction that queues its result, so a replay
      // (no fresh receipt) queues nothing, whatever batch the task first came in.
      const firstTime = new Set(rows.filter((r) => fresh.has(r.idempotency_key)).map((r) => r.task_id));
      await this.outbox.queueResults(
        tx,
        taskResults(byTask).filter((t) => firstTime.has(t.task_id)),
      );
    }
  }

  /**
   * The money of a task's receipts charged for the first time (those in `fresh`): the postings
   * (the refund aside), the worker and verifier shares for the payout flush, what was charged in
   * all, and the events to announce, in order.
   */
  private charges(
    taskId: string,
    first: SettleJob,
    receipts: readonly { job: SettleJob; receipt: Receipt }[],
    real: boolean,
    fresh: ReadonlySet<string>,
    accounts: ReadonlyMap<string, string>,
  ): { postings: Posting[]; payouts: PayoutRow[]; charged: bigint; emit: () => void } {
    const pct = first.fee_pct_ct;
    const postings: Posting[] = [];
    const payouts: PayoutRow[] = [];
    const events: (() => void)[] = [];
    let charged = 0n;
    for (const { job, receipt } of receipts) {
      if (!fresh.has(receipt.idempotency_key)) continue; // replayed: settled before
      events.push(() => this.events.emit('settle.receipt', { jobId: job.job_id, dryRun: !real }));
      if (!real) continue;
      const amount = receiptAmount(receipt);
      if (amount === 0n) continue;
      // Paid in the escrow's CT/IT mix; the running total is split, so IT is never overdrawn.
      const paid = splitIncrement(charged, amount, pct);
      charged += amount;
      const provider = accounts.get(job.worker_address) as string;
      for (const [asset, value] of byAsset(first, paid)) {
        if (value === 0n) continue;
        const parts = splitAmount(value, this.shares);
        // The validators' share pays the providers that verified the job (verifierShares);
        // what no provider verified stays with the validators.
        const toVerifiers = verifierShares(parts.validators, job.verifiers ?? []);
        let verifiersPaid = 0n;
        for (const v of toVerifiers.values()) verifiersPaid += v;
        postings.push(
          { accountId: SYSTEM_ACCOUNTS.escrow, asset, amount: -value },
          { accountId: SYSTEM_ACCOUNTS.burn, asset, amount: parts.burn },
          { accountId: provider, asset, amount: parts.worker },
          { accountId: SYSTEM_ACCOUNTS.validators, asset, amount: parts.validators - verifiersPaid },
          { accountId: SYSTEM_ACCOUNTS.treasury, asset, amount: parts.treasury },
        );
        for (const [verifier, amount] of toVerifiers) {
          if (amount === 0n) continue;
          postings.push({ accountId: accounts.get(verifier) as string, asset, amount });
          payouts.push({
            receipt_key: `${receipt.idempotency_key}/verifier/${verifier}`,
            task_id: taskId,
            address: verifier,
            asset,
            amount: amount.toString(),
          });
        }
        // The outbox keeps only the chain's coin (CPC) for TRANSFERs; an IT share stays on the
        // provider's account.
        if (parts.worker > 0n)
          payouts.push({
            receipt_key: receipt.idempotency_key,
            task_id: taskId,
            address: job.worker_address,
            asset,
            amount: parts.worker.toString(),
          });
      }
      events.push(() => this.events.emit('settle.applied', { jobId: job.job_id, amount }));
    }
    return { postings, payouts, charged, emit: () => events.forEach((e) => e()) };
  }

  /**
   * The settlement of tasks that each complete with their one job, planned before the commit that
   * writes it in one round trip (store/commit-results.ts): the same receipts, charges and payouts
   * as settle, every receipt assumed new (the commit declines the plan otherwise). What the
   * database alone knows, each escrow and so its refund, the commit computes from the charges
   * given per task. Undefined when a job pays a verifier (settle pays it).
   */
  planAlone(jobs: readonly SettleJob[]): SettlementPlan | undefined {
    // A provider paid for the first time gets its account in the commit, under an id chosen here
    // (the commit declines if the address has one already); known once the commit is in.
    const accounts = new Map<string, string>();
    const created = new Map<string, string>();
    for (const j of jobs) {
      if ((j.verifiers ?? []).some((v) => v !== MARKET_VERIFIER)) return undefined;
      let id = this.accountIds.get(j.worker_address) ?? created.get(j.worker_address);
      if (id === undefined) created.set(j.worker_address, (id = randomUUID()));
      accounts.set(j.worker_address, id);
    }
    const now = this.clock.nowMs();
    this.record(advance(this.state, now));
    const real = this.mode() === 'Real';
    const journalId = randomUUID();
    const plan: SettlementPlan = {
      journalId,
      accounts: [...created].map(([address, account_id]) => ({ address, account_id })),
      accountAssets: [...new Set([CPC, ...ASSETS])],
      receipts: [],
      postings: [],
      tasks: [],
      payouts: [],
      drafts: [],
      emit: () => {},
    };
    const postings: Posting[] = [];
    const emits: (() => void)[] = [];
    for (const job of jobs) {
      const receipt = receiptOf(job, now);
      const charge = receiptAmount(receipt);
      plan.receipts.push(receiptRow(job.job_id, job.task_id, receipt, real, journalId));
      const c = this.charges(
        job.task_id,
        job,
        [{ job, receipt }],
        real,
        new Set([receipt.idempotency_key]),
        accounts,
      );
      postings.push(...c.postings);
      plan.payouts.push(...c.payouts);
      emits.push(c.emit);
      const split = splitEscrow(c.charged, job.fee_pct_ct);
      plan.tasks.push({
        task_id: job.task_id,
        buyer: job.account_id,
        asset: job.asset,
        it_asset: job.it_asset,
        pct: job.fee_pct_ct,
        charged_ct: split.ct.toString(),
        charged_it: split.it.toString(),
        is_real: real,
        charge: charge.toString(),
      });
    }
    plan.postings = balanceDeltas(postings).map((p) => ({
      account_id: p.accountId,
      asset: p.asset,
      amount: p.amount.toString(),
    }));
    if (this.outbox) {
      plan.payouts = this.outbox.payoutRows(plan.payouts);
      // In task id order, as settle reads them (jobsToSettle), so the batch's draft is the same.
      const byTask = groupBy(
        [...jobs].sort((a, b) => (a.task_id < b.task_id ? -1 : a.task_id > b.task_id ? 1 : 0)),
        (j) => j.task_id,
      );
      plan.drafts = this.outbox.resultDrafts(taskResults(byTask));
    } else plan.payouts = [];
    plan.emit = () => emits.forEach((e) => e());
    return plan;
  }

  /**
   * Providers' account ids: known ones from memory (an account is never removed), the others made
   * or read in `tx`, and remembered only once the caller says its transaction committed
   * (`committed`), so a rolled-back account is never used. Settlement runs in the results' group
   * commit, one transaction at a time.
   */
  private async accountsOf(tx: Queryable, addresses: readonly string[]): Promise<Map<string, string>> {
    this.learned.clear();
    if (addresses.every((a) => this.accountIds.has(a)))
      return new Map(addresses.map((a) => [a, this.accountIds.get(a) as string]));
    const found = await providerAccounts(tx, addresses, CPC, this.clock.nowMs());
    for (const [address, id] of found) if (!this.accountIds.has(address)) this.learned.set(address, id);
    return found;
  }

  /** The transaction that last settled committed: the provider accounts it found are known now. */
  committed(): void {
    for (const [address, id] of this.learned) this.accountIds.set(address, id);
    this.learned.clear();
  }

  /** It rolled back: the accounts it found or made may not exist. */
  rolledBack(): void {
    this.learned.clear();
  }

  /** A planned settlement committed (planAlone): the accounts it created exist now. */
  committedPlan(plan: Pick<SettlementPlan, 'accounts' | 'drafts'>): void {
    for (const { address, account_id } of plan.accounts) this.accountIds.set(address, account_id);
    if (plan.drafts.length > 0) this.outbox?.drafted();
  }

  /**
   * Pays the providers that audited a settled job (a dispute, or a caught provider's unchecked
   * results): the validators' share of that job's charge, divided as at settlement
   * (verifierShares), in CPC from the validators' account and never more than it holds. Jobs
   * settled in DryRun charged nobody and pay nobody.
   */
  async payAuditors(
    tx: Queryable,
    audits: readonly { jobId: string; taskId: string; verifiers: readonly string[] }[],
  ): Promise<void> {
    const paidFor = audits.filter((a) => a.verifiers.some((v) => v !== MARKET_VERIFIER));
    if (paidFor.length === 0) return;
    const charges = await appliedCharges(
      tx,
      paidFor.map((a) => a.jobId),
    );
    const owed: { jobId: string; taskId: string; verifier: string; amount: bigint }[] = [];
    for (const a of paidFor) {
      const charge = charges.get(a.jobId);
      if (charge === undefined) continue;
      const validators = splitAmount(charge, this.shares).validators;
      for (const [verifier, amount] of verifierShares(validators, a.verifiers))
        if (amount > 0n) owed.push({ jobId: a.jobId, taskId: a.taskId, verifier, amount });
    }
    if (owed.length === 0) return;
    const held = (await lockBalances(tx, [SYSTEM_ACCOUNTS.validators], CPC)).get(SYSTEM_ACCOUNTS.validators);
    let left = BigInt(held?.amount ?? '0');
    const accounts = await providerAccounts(
      tx,
      owed.map((o) => o.verifier),
      CPC,
      this.clock.nowMs(),
    );
    const postings: Posting[] = [];
    const payouts: PayoutRow[] = [];
    for (const o of owed) {
      const amount = o.amount < left ? o.amount : left;
      if (amount <= 0n) break;
      left -= amount;
      postings.push(
        { accountId: SYSTEM_ACCOUNTS.validators, asset: CPC, amount: -amount },
        { accountId: accounts.get(o.verifier) as string, asset: CPC, amount },
      );
      payouts.push({
        receipt_key: `audit/${o.jobId}/${o.verifier}`,
        task_id: o.taskId,
        address: o.verifier,
        asset: CPC,
        amount: amount.toString(),
      });
    }
    const summed = balanceDeltas(postings);
    if (summed.length === 0) return;
    await appendJournals(
      tx,
      [{ journalId: randomUUID(), kind: 'audit_pay', ref: null, postings: summed }],
      this.clock.nowMs(),
    );
    if (this.outbox) await this.outbox.queuePayouts(tx, payouts);
  }

  private record(t: ModeTransition): void {
    this.state = t.state;
    if (!t.changed) return;
    this.events.emit('settle.mode_changed', { from: t.from, to: t.to });
    const log =
      t.to === 'DryRun' && t.from !== 'DryRun'
        ? this.logger.error.bind(this.logger)
        : this.logger.info.bind(this.logger);
    log({ from: t.from, to: t.to, state: t.state }, 'settlement mode changed');
  }
}

/** A receipt as stored: applied in Real mode, recorded only in DryRun; traced to its journal. */
function receiptRow(
  jobId: string,
  taskId: string,
  receipt: Receipt,
  real: boolean,
  journalId: string,
): NewReceiptRow {
  return {
    idempotency_key: receipt.idempotency_key,
    job_id: jobId,
    task_id: taskId,
    body: encodeReceipt(receipt),
    amount: receiptAmount(receipt).toString(),
    mode: real ? 'Real' : 'DryRun',
    applied: real,
    journal_id: journalId,
  };
}

/** The receipt for a job's result at its lease's quote, issued now (receipts carry seconds). */
function receiptOf(
  job: Pick<SettleJob, 'job_id' | 'account_id' | 'worker_address' | 'quote_price' | 'units'>,
  nowMs: number,
): Receipt {
  return makeReceipt({
    job_id: job.job_id,
    buyer: job.account_id,
    provider: job.worker_address,
    quote_price: BigInt(job.quote_price ?? '0'),
    units: job.units,
    issued_at: secondsOf(nowMs),
  });
}
/**
 * Each completed task settled as its batch's SUBMIT_RESULT carries it: its Merkle result, main
 * worker and job hashes, in task id order (the order the jobs were read in, and so the batch's).
 */
function taskResults(byTask: ReadonlyMap<string, readonly SettleJob[]>): TaskResult[] {
  const out: TaskResult[] = [];
  for (const [taskId, jobs] of byTask) {
    const t = jobs[0];
    if (t?.status !== 'completed' || t.task_result_hash === null || t.task_worker === null) continue;
    out.push({
      task_id: taskId,
      result_hash: t.task_result_hash,
      worker_address: t.task_worker,
      job_hashes: jobs.map((j) => j.result_hash),
    });
  }
  return out;
}
