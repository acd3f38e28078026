// The challenge types: the four of spec/task-market.md plus transcode and gpuhash of
// spec/compute-market.md. A module of its own, free of the schema library, so that the CLI's
// client commands can list them without loading TypeBox (about 200 modules at every start).

export const CHALLENGE_TYPES = [
  'inference',
  'training',
  'rendering',
  'synthetic',
  'transcode',
  'gpuhash',
] as const;
export type ChallengeType = (typeof CHALLENGE_TYPES)[number];

/**
 * Inline input (base64) is capped well below the body limit; bigger inputs go through blobs.
 * Here rather than beside the payload schemas so that the CLI can choose inline or blob without
 * loading TypeBox.
 */
export const MAX_INLINE_INPUT_BASE64 = 700_000;
