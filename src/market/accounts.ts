// Accounts: customers (created by the operator, each with an API key shown once), funding from
// outside the ledger, credit limits (the spec's "work on credit"), and key authentication.

import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { secondsOf, type Clock } from '../domain/clock.js';
import { MarketError, validationError } from '../domain/errors.js';
import { SYSTEM_ACCOUNTS, transfer } from '../domain/ledger.js';
import { CPC, describeAmountProblem, formatAmount, parseAmount, type Asset } from '../domain/money.js';
import type { AccountCreated, AccountView, CreateAccountBody } from '../domain/schemas/accounts.js';
import type { Db, Queryable } from '../store/db.js';
import { isValidAddress } from '../domain/identity.js';
import { providerAccounts } from '../store/settlement.js';
import {
  accountBalances,
  accountByKeyHash,
  accountWithBalance,
  insertAccount,
  setCreditLimit,
} from '../store/accounts.js';
import { appendJournals, lockBalances } from '../store/ledger.js';
import { escrowHeldBy } from '../store/tasks.js';
import type { MarketEventBus } from './events.js';
import type { Principal } from './tasks.js';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function newApiKey(prefix = 'tm'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Keys change rarely and are checked on every request: remember recent look-ups briefly. */
const KEY_CACHE_MS = 30_000;

export class AccountService {
  private readonly operatorKeyHash: Buffer;
  private readonly keyCache = new Map<string, { accountId: string; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: MarketEventBus,
    operatorKey: string,
  ) {
    this.operatorKeyHash = Buffer.from(hashApiKey(operatorKey), 'hex');
  }

  async authenticate(key: string): Promise<Principal | undefined> {
    const hash = hashApiKey(key);
    if (timingSafeEqual(Buffer.from(hash, 'hex'), this.operatorKeyHash)) return { kind: 'operator' };
    const now = this.clock.nowMs();
    const cached = this.keyCache.get(hash);
    if (cached && cached.until > now) return { kind: 'customer', accountId: cached.accountId };
    const account = await accountByKeyHash(this.db, hash);
    if (!account) return undefined;
    if (this.keyCache.size > 100_000) this.keyCache.clear();
    this.keyCache.set(hash, { accountId: account.account_id, until: now + KEY_CACHE_MS });
    return { kind: 'customer', accountId: account.account_id };
  }

  async create(body: CreateAccountBody): Promise<AccountCreated> {
    const credit =
      body.credit_limit === undefined ? 0n : amountField('/credit_limit', body.credit_limit, true);
    const accountId = randomUUID();
    const apiKey = newApiKey();
    const createdAtMs = this.clock.nowMs();
    await this.db.transaction((tx) =>
      insertAccount(
        tx,
        { accountId, name: body.name, kind: 'customer', apiKeyHash: hashApiKey(apiKey), createdAtMs },
        credit,
      ),
    );
    return { account_id: accountId, name: body.name, api_key: apiKey, created_at: secondsOf(createdAtMs) };
  }

  async view(accountId: string): Promise<AccountView> {
    const rows = await accountBalances(this.db, accountId);
    const first = rows[0];
    if (!first || first.kind !== 'customer')
      throw new MarketError('not_found', `account ${accountId} not found`, { account_id: accountId });
    const held = await escrowHeldBy(this.db, accountId);
    const balances = rows.map((row) => {
      const balance = BigInt(row.amount);
      const credit = BigInt(row.credit_limit);
      const available = balance + credit;
      return {
        asset: row.asset,
        balance: formatAmount(balance),
        escrow: formatAmount(held.get(row.asset) ?? 0n),
        credit_limit: formatAmount(credit),
        available: formatAmount(available > 0n ? available : 0n),
      };
    });
    // The top-level fields are the consumer token's (CPC), as before IT existed.
    const cpc = balances.find((b) => b.asset === CPC) ?? (balances[0] as (typeof balances)[number]);
    return {
      account_id: first.account_id,
      name: first.name,
      ...cpc,
      balances,
      created_at: secondsOf(first.created_at_ms),
    };
  }

  /** Credits a customer with money from outside the ledger (a manual market-wallet deposit). */
  async fund(accountId: string, amountText: string, asset: Asset = CPC): Promise<AccountView> {
    const amount = amountField('/amount', amountText, false);
    await this.db.transaction(async (tx) => {
      const locked = await lockBalances(tx, [accountId], asset);
      const row = await accountWithBalance(tx, accountId, asset);
      if (!locked.has(accountId) || row?.kind !== 'customer')
        throw new MarketError('not_found', `account ${accountId} not found`, { account_id: accountId });
      await this.deposit(tx, accountId, amount, asset);
    });
    this.events.emit('account.funded', { accountId, amount, asset });
    return this.view(accountId);
  }

  /**
   * A deposit into a provider's account, found (or opened) by its chain address: what it posts
   * SLA bonds from. Its earnings accrue to the same account.
   */
  async fundProvider(
    address: string,
    amountText: string,
  ): Promise<{ address: string; account_id: string; balance: string }> {
    if (!isValidAddress(address))
      throw validationError([{ path: '/address', message: 'must be a cpc1… chain address' }]);
    const amount = amountField('/amount', amountText, false);
    const accountId = await this.db.transaction(async (tx) => {
      const id = (await providerAccounts(tx, [address], CPC, this.clock.nowMs())).get(address) as string;
      await lockBalances(tx, [id], CPC);
      await this.deposit(tx, id, amount);
      return id;
    });
    this.events.emit('account.funded', { accountId, amount });
    const row = await accountWithBalance(this.db, accountId, CPC);
    return { address, account_id: accountId, balance: formatAmount(BigInt(row?.amount ?? '0')) };
  }

  private async deposit(tx: Queryable, accountId: string, amount: bigint, asset: Asset = CPC): Promise<void> {
    await appendJournals(
      tx,
      [
        {
          journalId: randomUUID(),
          kind: 'fund',
          ref: accountId,
          postings: transfer(SYSTEM_ACCOUNTS.external, accountId, asset, amount),
        },
      ],
      this.clock.nowMs(),
    );
  }

  /** Sets how far below zero a customer may go; never below what it already owes. */
  async setCredit(accountId: string, limitText: string, asset: Asset = CPC): Promise<AccountView> {
    const limit = amountField('/credit_limit', limitText, true);
    await this.db.transaction(async (tx) => {
      const locked = (await lockBalances(tx, [accountId], asset)).get(accountId);
      if (!locked || !(await setCreditLimit(tx, accountId, asset, limit)))
        throw new MarketError('not_found', `account ${accountId} not found`, { account_id: accountId });
      const balance = BigInt(locked.amount);
      if (balance + limit < 0n)
        throw new MarketError(
          'conflict',
          `the account owes ${formatAmount(-balance)}; the credit limit cannot be lower`,
          {
            balance: formatAmount(balance),
          },
        );
    });
    return this.view(accountId);
  }
}

function amountField(path: string, text: string, zeroAllowed: boolean): bigint {
  const parsed = parseAmount(text);
  if (!parsed.ok) throw validationError([{ path, message: describeAmountProblem(parsed.problem) }]);
  if (!zeroAllowed && parsed.value === 0n)
    throw validationError([{ path, message: 'must be greater than zero' }]);
  return parsed.value;
}
