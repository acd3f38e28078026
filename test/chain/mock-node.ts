// The double of the CPC node's HTTP API lives in src/chain/node-double.ts (bench/settlement runs
// the courier against it too); tests import it from here.

export * from '../../src/chain/node-double.js';
