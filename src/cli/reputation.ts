// `taskmarket reputation …`: the reputation gossip from the command line (spec "Reputation
// Gossip"). The node sends the round itself, so peer_key never leaves its configuration.

import type { Command } from 'commander';
import type { TaskMarketClient } from '../client/client.js';
import type { PeerResult } from '../market/reputation-gossip.js';
import { EXIT } from './exit-codes.js';

export function registerReputationCommands(
  root: Command,
  clientOf: (cmd: Command) => TaskMarketClient,
): void {
  const rpc = <T>(cmd: Command, method: string, params: Record<string, unknown> = {}) =>
    clientOf(cmd).request<T>('POST', '/rpc', { method, params });

  const reputation = root.command('reputation').description('provider reputation and gossip with peers');
  reputation
    .command('sync')
    .description(
      'send this node’s reputation snapshot to its peers now (operator); prints applied/ignored per peer',
    )
    .option('--peer <url...>', 'peer market base URLs (default: the node’s `peers` config)')
    .action(async (opts: { peer?: string[] }, cmd: Command) => {
      const res = await rpc<{ peers: Record<string, PeerResult> }>(cmd, 'reputation.sync', {
        ...(opts.peer ? { peers: opts.peer } : {}),
      });
      let failed = false;
      for (const [peer, r] of Object.entries(res.peers)) {
        if (r.ok) process.stdout.write(`${peer}: applied ${r.applied}, ignored ${r.ignored}\n`);
        else {
          failed = true;
          process.stdout.write(`${peer}: failed: ${r.error}\n`);
        }
      }
      if (failed) process.exitCode = EXIT.failure;
    });
  reputation
    .command('snapshot')
    .description('print every stored provider score as gossip entries, JSON (operator)')
    .action(async (_o, cmd: Command) => {
      process.stdout.write(JSON.stringify(await rpc(cmd, 'reputation.snapshot'), null, 2) + '\n');
    });
}
