/**
 * A channel's log kept in Redis, beside its pub/sub: a Lua script numbers each
 * entry, appends it to a Stream bounded by count and age, and publishes it
 * framed with its position, in one atomic step, so the order of positions is
 * the order in which every subscriber hears them. A heartbeat (a mark) is not
 * logged: it is published framed with the log's head, so a subscriber that
 * applied less knows at once that it missed something.
 *
 * Keys: a hash (`epoch`, `seq`) and the Stream, named after the channel with
 * its hash tag, so on a Redis Cluster both live in the channel's slot. A new
 * epoch starts whenever the hash is missing (a server that lost its data): a
 * cache that saw another epoch cannot trust the log to cover its gap.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { newEpoch, type ResolvedRetention } from './channel-log.ts';
import type { DeliveredPosition, LogRead, PublishKind } from './transport.ts';

/** Both scripts start here: the log's epoch, a new one (ARGV[4], the caller's) when the server has none. */
const EPOCH = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[4]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
`;

const PUBLISH = `${EPOCH}if ARGV[3] == 'm' then
  local head = redis.call('HGET', KEYS[1], 'seq')
  for i = 7, #ARGV do redis.call(ARGV[2], ARGV[1], '~' .. epoch .. ':' .. head .. ':' .. ARGV[i]) end
  return 0
end
local seq = 0
for i = 7, #ARGV do
  seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 's', seq, 'p', ARGV[i])
  redis.call(ARGV[2], ARGV[1], '#' .. epoch .. ':' .. seq .. ':' .. ARGV[i])
end
-- By age once every 64 entries: TIME and XTRIM cost more than the rest of the script.
if math.floor(seq / 64) > math.floor((seq - (#ARGV - 6)) / 64) then
  local now = redis.call('TIME')
  local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[6])
  if cutoff > 0 then redis.call('XTRIM', KEYS[2], 'MINID', cutoff) end
end
return seq
`;

const READ = `${EPOCH}local head = tonumber(redis.call('HGET', KEYS[1], 'seq'))
if head == nil or ARGV[1] ~= epoch then return {epoch, head or 0, 0} end
local n = head - tonumber(ARGV[2])
if n == 0 then return {epoch, head, 1} end
if n < 0 or n > tonumber(ARGV[3]) then return {epoch, head, 0} end
local rows = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', n)
if #rows < n then return {epoch, head, 0} end
local out = {epoch, head, 1}
local expected = tonumber(ARGV[2])
for i = #rows, 1, -1 do
  local f = rows[i][2]
  expected = expected + 1
  -- Only what the publish script wrote, one position after another: anything else and the log cannot vouch for the gap.
  if f[1] ~= 's' or f[3] ~= 'p' or f[4] == nil or tonumber(f[2]) ~= expected then return {epoch, head, 0} end
  out[#out + 1] = f[2]
  out[#out + 1] = f[4]
end
return out
`;

/** A Lua script run by its digest, loaded on the first NOSCRIPT (a restarted or failed-over server forgets scripts). */
class Script {
  private readonly sha: string;
  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis | Cluster, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

const publishScript = new Script(PUBLISH);
const readScript = new Script(READ);

/** The log's keys for `channel`: the channel's own hash tag when it has one, else the whole channel as the tag. */
export function logKeys(channel: string): [state: string, stream: string] {
  const open = channel.indexOf('{');
  const close = open === -1 ? -1 : channel.indexOf('}', open + 1);
  const base = close > open + 1 ? channel : `{${channel}}`;
  return [`${base}:log-state`, `${base}:log`];
}

export class RedisLog {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly sharded: boolean,
    private readonly retention: ResolvedRetention,
  ) {}

  /** Publishes `payloads` as entries of the log (or as marks of its head), each framed with its position. */
  publish(channel: string, payloads: readonly string[], kind: PublishKind): Promise<unknown> {
    const { maxEntries, maxAge } = this.retention;
    return publishScript.run(this.client, logKeys(channel), [channel, this.sharded ? 'SPUBLISH' : 'PUBLISH', kind === 'mark' ? 'm' : 'e', newEpoch(), maxEntries, maxAge, ...payloads]);
  }

  async read(channel: string, after: { readonly epoch: string; readonly seq: number } | undefined): Promise<LogRead> {
    const reply = (await readScript.run(this.client, logKeys(channel), [after?.epoch ?? '', after?.seq ?? 0, this.retention.maxEntries, newEpoch()])) as (string | number)[];
    const [epoch, head, covered] = reply as [string, number, number];
    const entries: { seq: number; payload: string }[] = [];
    for (let i = 3; i < reply.length; i += 2) entries.push({ seq: Number(reply[i]), payload: String(reply[i + 1]) });
    return { epoch: String(epoch), head: Number(head), covered: covered === 1, entries };
  }
}

/**
 * A payload as a logged channel delivers it: `#epoch:seq:payload` for an
 * entry, `~epoch:seq:payload` for a mark. Anything else is not framed (a
 * publisher without the log, another client): undefined.
 */
export function parseFrame(framed: string): { payload: string; position: DeliveredPosition } | undefined {
  const first = framed.charCodeAt(0);
  // '#' and '~': a v1 payload is JSON and starts with '{'.
  if (first !== 35 && first !== 126) return undefined;
  const epochEnd = framed.indexOf(':', 1);
  const seqEnd = epochEnd === -1 ? -1 : framed.indexOf(':', epochEnd + 1);
  if (seqEnd === -1 || seqEnd === epochEnd + 1) return undefined;
  const seq = Number(framed.slice(epochEnd + 1, seqEnd));
  if (!Number.isSafeInteger(seq) || seq < 0 || epochEnd === 1) return undefined;
  return { payload: framed.slice(seqEnd + 1), position: { epoch: framed.slice(1, epochEnd), seq, entry: first === 35 } };
}
