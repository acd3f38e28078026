// Shapes the client answers with that are not request or task shapes.

import type { Static } from '@sinclair/typebox';
import type { ResultEvent } from '../domain/schemas/task-events.js';

export type { OfferList, OfferView } from '../domain/schemas/offers.js';
export type { ProviderView } from '../domain/schemas/providers.js';

/** An uploaded blob: its BLAKE3 hash (what a task's `input_blob` names) and size. */
export interface BlobRef {
  hash: string;
  size: number;
}

/** An ended task and its jobs, with their outputs (what `waitForTask` and the `result` event carry). */
export type TaskOutcome = Static<typeof ResultEvent>;
