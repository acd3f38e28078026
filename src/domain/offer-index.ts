// The offer index: a market's providers ranked once (lowest effective price first, ties in the
// seeded order) and grouped by capability descriptor, so a job looks only at providers that can
// run it. Providers with equal descriptors can run exactly the same jobs, so the capability rule
// runs once per group and job shape instead of once per provider and job. For each job shape
// (challenge type, model, requirements) the index keeps the capable providers in rank order, the
// candidates; a job walks them from the cheapest and stops at the first with room, which is the
// provider a scan of every provider would pick. The entries are shared between shapes, so a
// reservation made for one job is seen by every list. Walks stay short: entries without a free
// slot are dropped as walks pass them, blocks whose entries all have too few units are passed
// whole, and a walk stops where the job's budget can no longer cover an entry's key.
//
// Pure and synchronous. A scheduler may keep one index between ticks: reservations only shrink
// room, so what it learned stays true, and `release` (a commit refused a lease) starts the lists
// afresh. A change of price, reputation or parameters changes the ranking: build a new index.

import type { JobNeed, MatchCapability, NoMatchReason, Provider } from './scheduling/match-types.js';

/** A provider with its ranking key and the room left to it while plans reserve. */
export interface Ranked {
  readonly p: Provider;
  /** reputation_multiplier in ppm. */
  readonly ppm: number;
  /** Effective price, exactly (src/domain/pricing.ts); the accelerator premium scales all alike. */
  readonly key: bigint;
  /** tieRank, worked out only when a tie needs it (-1 until then). */
  tie: number;
  slots: number;
  units: number;
}

/**
 * Why a machine cannot run a job, or null: matcher.ts's capabilityProblem. Its first check is the
 * challenge type (`capability_mismatch`), so the index asks it only about machines that take the
 * job's type, as the matcher always indexed them.
 */
export type CapabilityRule = (cap: MatchCapability, need: JobNeed) => NoMatchReason | null;

/**
 * What all providers of a job shape would say, for the reason a job waits when none has room:
 * enough to fold every provider's reason without visiting them.
 */
export interface ShapeSummary {
  /** Some provider can run the shape. */
  capable: boolean;
  /** Some capable provider has a non-negative reputation. */
  reputable: boolean;
  /** Some capable, reputable provider posted no offer. */
  unpriced: boolean;
  /** The lowest price per unit of a capable, reputable provider with an offer. */
  minPrice: bigint | null;
  /** The distinct capability reasons of the providers that cannot run it. */
  mismatches: NoMatchReason[];
}

/**
 * The candidates of one job shape: capable providers with an offer and a non-negative reputation,
 * in rank order. The others can never take a job of the shape, so no walk passes them.
 */
export interface Candidates {
  /** Places in the index's rank order; a typed array, so the collector never walks it. */
  list: Int32Array;
  /** Entries before it have no free slot. */
  head: number;
  /**
   * Per block of BLOCK entries of the list, at least the units of its live entries (Infinity when
   * not known yet): units only shrink, so a walk skips a block whose bound is below the job's units.
   */
  blockMax: Float64Array;
  /** Bounds for every entry while the list lives (room only shrinks): a job outside them cannot fit. */
  minPrice: bigint | null;
  maxUnits: number;
  /**
   * The largest key-to-price ratio of an entry (rounded up), or null when some price is 0: a job
   * with budget b for u units can only fit an entry whose key is at most b × ratio / u, so a walk
   * in key order stops there.
   */
  maxRatio: bigint | null;
  /**
   * The largest budget with which a job of this shape and so many units found no room. Room only
   * shrinks, so a job of as many units with no more money finds none either.
   */
  failed: Map<number, bigint>;
  summary: ShapeSummary;
}

interface Group {
  readonly cap: MatchCapability;
  /** Positions in rank order of the members that may take work (an offer, reputation ≥ 0). */
  readonly members: number[];
  reputable: boolean;
  unpriced: boolean;
  /** Over reputable members with an offer: the bounds of Candidates, for the group. */
  minPrice: bigint | null;
  maxUnits: number;
  maxRatio: bigint | null;
}

/** Length-prefixed, so no two different strings encode alike; '-' is absent, '~' is null. */
function str(s: string | null | undefined): string {
  return s === undefined ? '-' : s === null ? '~' : `${s.length}:${s}`;
}

function strs(list: readonly string[] | undefined): string {
  if (list === undefined) return '-';
  let k = `${list.length}[`;
  for (const s of list) k += str(s);
  return k;
}

/** Every field of a capability descriptor: equal keys, equal machines for any rule. */
export function capabilityKey(cap: MatchCapability): string {
  return (
    `${cap.cpu_cores}|${cap.memory_mb}|${str(cap.gpu_model)}|${cap.gpu_count}|${cap.gpu_memory_mb}|` +
    `${str(cap.accelerator)}|${cap.accelerator_memory_mb}|${strs(cap.frameworks)}|` +
    `${strs(cap.challenge_types)}|${strs(cap.models)}|${cap.fee_pct_ct ?? 100}|` +
    strs(Object.entries(cap.runners ?? {}).map(([t, r]) => `${t}=${r.id}`))
  );
}

/** Every field of a job that the capability rule reads: equal keys, equal verdicts. */
export function shapeKey(need: JobNeed): string {
  const k = `${need.feePctCt ?? 100}|${str(need.challengeType)}${str(need.model)}${str(need.runnerId)}`;
  const r = need.requirements;
  if (!r) return k;
  return (
    `${k}|${r.cpu_cores}|${str(r.gpu_model)}|${r.gpu_count}|${r.gpu_memory_mb}|${str(r.accelerator)}|` +
    `${r.accelerator_memory_mb}|${strs(r.frameworks)}`
  );
}

/** Entries per block of Candidates.blockMax. */
const BLOCK = 32;

function unknownBlocks(entries: number): Float64Array {
  return new Float64Array(Math.ceil(entries / BLOCK)).fill(Infinity);
}

/** The room part of the matcher's rule, for a candidate (capable, reputable, with an offer). */
function hasRoom(r: Ranked, need: JobNeed, units: bigint): boolean {
  return (
    r.slots >= 1 &&
    r.units >= need.units &&
    (r.p.pricePerUnit as bigint) * units <= need.budget &&
    !need.excluded?.includes(r.p.address)
  );
}

export class OfferIndex {
  private readonly groups: Group[] = [];
  /** Groups by the challenge types their machines take. */
  private readonly byType = new Map<string, number[]>();
  /** Per challenge type, the places of the entries that may take work, in rank order, and their groups. */
  private readonly typeOrder = new Map<string, { places: Int32Array; groups: Int32Array }>();
  private readonly groupOf: Int32Array;
  /** Places of entries that may take work: an offer and a non-negative reputation. */
  private readonly eligible: Uint8Array;
  private readonly shapes = new Map<string, Candidates>();
  private byAddress: Map<string, Ranked> | undefined;
  /** Free slots of providers with an offer: a plan stops when none is left. */
  private free = 0;

  /** `order` is every provider, ranked; the index takes over the entries and their room. */
  constructor(
    readonly order: readonly Ranked[],
    private readonly rule: CapabilityRule,
  ) {
    this.groupOf = new Int32Array(order.length);
    this.eligible = new Uint8Array(order.length);
    const byKey = new Map<string, number>();
    for (let pos = 0; pos < order.length; pos++) {
      const r = order[pos]!;
      const key = capabilityKey(r.p.capability);
      let g = byKey.get(key);
      if (g === undefined) {
        g = this.groups.length;
        byKey.set(key, g);
        this.groups.push({
          cap: r.p.capability,
          members: [],
          reputable: false,
          unpriced: false,
          minPrice: null,
          maxUnits: -Infinity,
          maxRatio: 0n,
        });
        for (const type of new Set(r.p.capability.challenge_types)) {
          const list = this.byType.get(type);
          if (list) list.push(g);
          else this.byType.set(type, [g]);
        }
      }
      const group = this.groups[g]!;
      this.groupOf[pos] = g;
      const price = r.p.pricePerUnit;
      if ((r.p.reputation ?? 0) >= 0) {
        group.reputable = true;
        if (price === null) group.unpriced = true;
        else {
          group.members.push(pos);
          this.eligible[pos] = 1;
          if (group.minPrice === null || price < group.minPrice) group.minPrice = price;
          if (r.units > group.maxUnits) group.maxUnits = r.units;
          if (price === 0n) group.maxRatio = null;
          else if (group.maxRatio !== null) {
            const ratio = (r.key + price - 1n) / price;
            if (ratio > group.maxRatio) group.maxRatio = ratio;
          }
        }
      }
      if (price !== null) this.free += Math.max(0, r.slots);
    }
  }

  get freeSlots(): number {
    return this.free;
  }

  /** How many distinct capability descriptors the providers have. */
  get groupCount(): number {
    return this.groups.length;
  }

  /** How many job shapes have candidate lists now. */
  get shapeCount(): number {
    return this.shapes.size;
  }

  entry(address: string): Ranked | undefined {
    if (!this.byAddress) {
      this.byAddress = new Map();
      for (const r of this.order) if (!this.byAddress.has(r.p.address)) this.byAddress.set(r.p.address, r);
    }
    return this.byAddress.get(address);
  }

  /** The candidates for the job's shape, built on first use. */
  candidates(need: JobNeed): Candidates {
    const key = shapeKey(need);
    let c = this.shapes.get(key);
    if (!c) {
      c = this.build(need);
      this.shapes.set(key, c);
    }
    return c;
  }

  private build(need: JobNeed): Candidates {
    const summary: ShapeSummary = {
      capable: false,
      reputable: false,
      unpriced: false,
      minPrice: null,
      mismatches: [],
    };
    const fits = new Uint8Array(this.groups.length);
    const typed = this.byType.get(need.challengeType) ?? [];
    if (typed.length < this.groups.length) summary.mismatches.push('capability_mismatch');
    let members = 0;
    let maxUnits = -Infinity;
    let maxRatio: bigint | null = 0n;
    for (const g of typed) {
      const group = this.groups[g]!;
      const why = this.rule(group.cap, need);
      if (why !== null) {
        if (!summary.mismatches.includes(why)) summary.mismatches.push(why);
        continue;
      }
      fits[g] = 1;
      members += group.members.length;
      summary.capable = true;
      summary.reputable ||= group.reputable;
      summary.unpriced ||= group.unpriced;
      if (group.minPrice !== null && (summary.minPrice === null || group.minPrice < summary.minPrice))
        summary.minPrice = group.minPrice;
      if (group.maxUnits > maxUnits) maxUnits = group.maxUnits;
      if (group.maxRatio === null) maxRatio = null;
      else if (maxRatio !== null && group.maxRatio > maxRatio) maxRatio = group.maxRatio;
    }
    // A few capable groups: gather their members and sort; many: one pass over the type's entries.
    // Entries are not looked at: those already without a slot fall out on the first walk.
    let list: Int32Array;
    const all = this.ofType(need.challengeType);
    if (members * 8 < all.places.length) {
      list = new Int32Array(members);
      let n = 0;
      for (const g of typed) if (fits[g]) for (const pos of this.groups[g]!.members) list[n++] = pos;
      list.sort();
    } else {
      const { places, groups } = all;
      list = new Int32Array(members);
      let n = 0;
      for (let k = 0; k < places.length; k++) if (fits[groups[k]!]) list[n++] = places[k]!;
    }
    // The groups' bounds cover every entry (and more): room only shrinks, so they keep holding.
    const minPrice = summary.minPrice;
    return {
      list,
      head: 0,
      blockMax: unknownBlocks(list.length),
      minPrice,
      maxUnits,
      maxRatio,
      failed: new Map(),
      summary,
    };
  }

  private ofType(type: string): { places: Int32Array; groups: Int32Array } {
    let t = this.typeOrder.get(type);
    if (!t) {
      const takes = new Uint8Array(this.groups.length);
      let n = 0;
      for (const g of this.byType.get(type) ?? []) {
        takes[g] = 1;
        n += this.groups[g]!.members.length;
      }
      const places = new Int32Array(n);
      const groups = new Int32Array(n);
      let k = 0;
      for (let pos = 0; pos < this.order.length; pos++) {
        const g = this.groupOf[pos]!;
        if (takes[g] && this.eligible[pos]) {
          places[k] = pos;
          groups[k++] = g;
        }
      }
      t = { places, groups };
      this.typeOrder.set(type, t);
    }
    return t;
  }

  /**
   * The cheapest candidate with room for the job, or undefined. The walk ends where the job's
   * budget can no longer cover an entry's key. Entries without a free slot that it passed are
   * dropped on the way back, so no walk passes the same exhausted entry twice.
   */
  firstFit(c: Candidates, need: JobNeed): Ranked | undefined {
    const units = BigInt(need.units);
    if (c.minPrice === null || c.minPrice * units > need.budget || need.units > c.maxUnits) return undefined;
    const limit = c.maxRatio === null || units < 1n ? null : (need.budget * c.maxRatio) / units;
    const { list, blockMax } = c;
    const order = this.order;
    let exhausted = 0;
    let found: Ranked | undefined;
    let most = -Infinity; // the most units of a live entry in this block, from its start or the head
    let i = c.head;
    while (i < list.length) {
      if (i % BLOCK === 0) {
        // A block whose entries all have too few units is passed whole, unless the budget ends there.
        while (i < list.length && blockMax[i / BLOCK]! < need.units) {
          if (limit !== null && order[list[i]!]!.key > limit) break;
          i += BLOCK;
        }
        if (i >= list.length) break;
        most = -Infinity;
      }
      const r = order[list[i]!]!;
      if (r.slots < 1) exhausted++;
      else {
        if (r.units > most) most = r.units;
        if (limit !== null && r.key > limit) break;
        if (hasRoom(r, need, units)) {
          found = r;
          break;
        }
      }
      i++;
      if (i % BLOCK === 0) blockMax[i / BLOCK - 1] = most;
    }
    if (i > list.length) i = list.length;
    // Drop the exhausted entries the walk passed, once they are a fair share of the stretch: the
    // live ones move up against where the walk stopped, in order, and their blocks are relearned.
    if (exhausted > 0 && exhausted * 8 >= i - c.head) {
      let w = i;
      for (let k = i - 1; k >= c.head; k--) {
        const pos = list[k]!;
        if (order[pos]!.slots >= 1) list[--w] = pos;
      }
      blockMax.fill(Infinity, Math.floor(w / BLOCK), Math.ceil(i / BLOCK));
      c.head = w;
      if (c.head > 4096 && c.head * 2 > list.length) {
        c.list = list.slice(c.head);
        c.blockMax = unknownBlocks(c.list.length);
        c.head = 0;
      }
    } else while (c.head < i && order[list[c.head]!]!.slots < 1) c.head++;
    return found;
  }

  /** Takes one slot and the job's units from the provider. */
  reserve(r: Ranked, units: number): void {
    if (r.p.pricePerUnit !== null && r.slots >= 1) this.free--;
    r.slots -= 1;
    r.units -= units;
  }

  /**
   * Gives back what `reserve` took (the commit refused the lease). Room grew, so what the lists
   * learned may no longer hold: they are rebuilt on next use.
   */
  release(r: Ranked, units: number): void {
    const before = Math.max(0, r.slots);
    r.slots += 1;
    r.units += units;
    if (r.p.pricePerUnit !== null) this.free += Math.max(0, r.slots) - before;
    this.shapes.clear();
  }
}
