/**
 * `sizeOf` at the edge of the core: the shell measures each value about to be
 * stored (a function is no command data) and the command carries the size, so
 * `decide` stays pure and the `stored` event lets a replay rebuild the sizes.
 */
import type { Command } from '../core/commands.ts';
import { measuredSize, type SizeOf } from './bound-options.ts';
import { errorType } from './errors.ts';

/**
 * The command with its value's size. A `set` whose value cannot be measured
 * throws to its caller; a load's becomes the load's error (never cached).
 */
export function withSize<V>(command: Command<V>, sizeOf: SizeOf<unknown>, cacheName: string): Command<V> {
  if (command.type === 'set') return { ...command, size: measuredSize(cacheName, sizeOf(command.value, command.key)) };
  if (command.type !== 'load.settled' || command.outcome !== 'ok') return command;
  try {
    return { ...command, size: measuredSize(cacheName, sizeOf(command.value, command.key)) };
  } catch (error) {
    const { at, key, loadId } = command;
    return { type: 'load.settled', at, key, loadId, outcome: 'error', error, errorName: errorType(error) };
  }
}
