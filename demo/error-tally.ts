/**
 * Failed requests, counted by reason: the verdict names the commonest reasons
 * rather than a bare count, and a reason reads the same whichever config or
 * port it hit ("worker 2: no answer within 5 s", "worker 1: HTTP 500
 * LoadTimeoutError", "worker 3: ECONNRESET").
 */
import { errorMessage } from './error-message.ts';

export interface ErrorReason {
  readonly reason: string;
  readonly count: number;
}

/** An HTTP answer that was not a success: its status and its body's `error`. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`HTTP ${status} ${errorField(body)}`);
  }
}

export class ErrorTally {
  private readonly counts = new Map<string, number>();

  add(worker: number, what: 'read' | 'write', error: unknown): void {
    const reason = `${what}s on worker ${worker}: ${reasonOf(error)}`;
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }

  /** Every reason, commonest first. */
  reasons(): ErrorReason[] {
    return [...this.counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
  }
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  // Ids, ports and numbers of ms vary from one request to the next; the reason does not.
  return errorMessage(error)
    .replace(/\b(GET|PUT) \/config\/\S+ on :\d+: /, '')
    .replace(/\bsvc-\d+\b/g, '<id>')
    .slice(0, 120);
}

/** The `error` of a JSON error body, else the start of the body. */
function errorField(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // Not JSON.
  }
  return body.slice(0, 60);
}
