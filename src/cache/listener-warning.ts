/** What the cache does with a listener that throws when the user gave no `onListenerError`: one process warning, then counting. */

export function warnOnce(cacheName: string): (error: unknown, eventType: string) => void {
  let warned = false;
  return (error, eventType) => {
    if (warned) return;
    warned = true;
    const reason = error instanceof Error ? error.name : typeof error;
    process.emitWarning(`a listener threw (${reason}) on a "${eventType}" event; later ones are counted in stats().listenerErrors`, {
      type: 'CoherentCacheWarning',
      detail: `cache "${cacheName}"`,
    });
  };
}
