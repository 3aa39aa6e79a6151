/** Commands of the coherence checks: acknowledged invalidations and the verification of sampled hits. */
import type { VerifyOutcome } from './coherence-events.ts';

/** Request `requestId`'s timeout passed. */
export interface AckTimeoutCommand {
  readonly type: 'ack.timeout';
  readonly at: number;
  readonly requestId: number;
}

/**
 * A sampled hit was re-loaded and judged (the comparison is the user's code,
 * so the shell runs it): a violation, or another outcome. `key` is already
 * redacted unless keys are allowed.
 */
export interface VerifyCommand {
  readonly type: 'verify';
  readonly at: number;
  readonly outcome: VerifyOutcome | 'violation';
  readonly key: string;
  readonly hitAt: number;
}

export type CoherenceCheckCommand = AckTimeoutCommand | VerifyCommand;
