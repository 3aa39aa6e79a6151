/**
 * Payloads this instance published whose echo has not come back. Redis sends
 * every message to its publisher too; recognising an exact copy of what we
 * sent is one Map lookup instead of a decode, on the process that is busiest
 * while its peers handle the message. A copy spelled differently is still
 * decoded, and then skipped by its origin.
 */

/** How many published payloads may wait for their echo; past it the oldest is forgotten. */
export const MAX_AWAITED_ECHOES = 256;
/**
 * Longest payload remembered (UTF-16 units), so a transport that never echoes
 * (node:cluster IPC) holds at most 256 KiB here. The single-key messages that
 * dominate fit; a big batch is decoded once for all its keys, which is cheap per key.
 */
export const MAX_AWAITED_ECHO_LENGTH = 1024;

export class AwaitedEchoes {
  /** Payload → copies in flight. */
  private readonly awaited = new Map<string, number>();

  expect(payloads: readonly string[]): void {
    const awaited = this.awaited;
    for (const payload of payloads) {
      if (payload.length > MAX_AWAITED_ECHO_LENGTH) continue;
      awaited.set(payload, (awaited.get(payload) ?? 0) + 1);
      if (awaited.size > MAX_AWAITED_ECHOES) awaited.delete(awaited.keys().next().value as string);
    }
  }

  /** Takes `payload` off the awaited echoes; true when it was one. */
  take(payload: string): boolean {
    const copies = this.awaited.get(payload);
    if (copies === undefined) return false;
    if (copies > 1) this.awaited.set(payload, copies - 1);
    else this.awaited.delete(payload);
    return true;
  }

  /** Forgets payloads that were never sent. */
  forget(payloads: readonly string[]): void {
    for (const payload of payloads) this.take(payload);
  }
}
