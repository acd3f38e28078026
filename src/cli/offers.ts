// `taskmarket offers`: the providers' standing asks, cheapest first.

import type { Command } from 'commander';
import type { ClientOf } from './client-of.js';
import { formatOptions, parseInteger, printList, short, type FormatOpts } from './output.js';

export function registerOfferCommands(root: Command, clientOf: ClientOf): void {
  formatOptions(
    root
      .command('offers')
      .description('open offers of connected providers, cheapest first')
      .option('--limit <n>', 'page size', parseInteger('--limit'))
      .option('--offset <n>', 'page start', parseInteger('--offset')),
  ).action(async (opts: FormatOpts & { limit?: number; offset?: number }, cmd: Command) => {
    const res = await clientOf(cmd).listOffers({
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
    });
    printList(
      opts,
      res,
      res.offers,
      [
        { header: 'OFFER ID', get: (o) => short(o.offer_id) },
        { header: 'PROVIDER', get: (o) => o.provider },
        { header: 'UNITS', get: (o) => o.units, right: true },
        { header: 'PRICE/UNIT', get: (o) => o.price_per_unit, right: true },
        { header: 'CPC %', get: (o) => o.fee_pct_ct, right: true },
        { header: 'TYPES', get: (o) => o.capability.challenge_types.join(',') },
      ],
      `${res.offers.length} of ${res.total}`,
    );
  });
}
