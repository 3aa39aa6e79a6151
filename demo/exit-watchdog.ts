/**
 * Both demo processes (the primary and each worker) close everything they
 * opened and then expect to exit by themselves. This is the check that they
 * did: if the process is still alive `afterMs` later, `report` hears what holds
 * it. The timer itself is unref'd, so it never keeps the process alive.
 */
export function watchExit(afterMs: number, report: (heldBy: string) => void): void {
  setTimeout(() => report(process.getActiveResourcesInfo().join(', ')), afterMs).unref();
}
