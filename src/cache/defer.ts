/**
 * Runs `task` once the current synchronous code and its pending promise jobs
 * are done: the "end of this tick" that coalescing and simulated delivery need.
 * The promise settles as the task's result does.
 * A promise job, not `queueMicrotask`: sinon's default fake timers fake
 * queueMicrotask and hold its callbacks until the test ticks the clock.
 */
export function afterThisTick<T>(task: () => T | PromiseLike<T>): Promise<T> {
  return Promise.resolve().then(task);
}
