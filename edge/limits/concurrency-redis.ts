import type { SharedRedis } from "../store/redis.ts";
import type { AcquireInput, ConcurrencyLimiter, Lease } from "./concurrency.ts";
import { ConcurrencyRefusedError, LimiterUnavailableError, storeCall } from "./errors.ts";
import { sleep } from "../../shared/sleep.ts";

/**
 * Slots shared by every gateway process: per model, a sorted set of holders scored by lease
 * expiry and a sorted set of waiters scored by registration expiry, both cleaned of expired
 * members on every attempt. A crashed process stops renewing, so its slots and queue places
 * free themselves. Members are "<uuid>|<key id>" so the script can count per key without a
 * second structure to keep in step. Time is Redis's own (TIME), so process clocks may disagree.
 * Which waiting key goes next is the round robin described in fairness.ts.
 */
const ACQUIRE = `
local holders, waiters, served = KEYS[1], KEYS[2], KEYS[3]
local cap, key = tonumber(ARGV[1]), ARGV[2]
local lease, waiter = ARGV[3] .. '|' .. key, ARGV[4] .. '|' .. key
local leaseMs, waiterTtl, maxQueue = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
redis.call('ZREMRANGEBYSCORE', waiters, '-inf', now)

local function keyOf(member) return string.match(member, '^[^|]*|(.*)$') end
local function expireWithLast(set)
  local last = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', set, tonumber(last[2]) + 1000) end
end

local held, holding = {}, redis.call('ZRANGE', holders, 0, -1)
for _, m in ipairs(holding) do local k = keyOf(m); held[k] = (held[k] or 0) + 1 end
local waiting, queued, mine = {}, redis.call('ZRANGE', waiters, 0, -1), 0
for _, m in ipairs(queued) do
  local k = keyOf(m)
  waiting[k] = true
  if k == key then mine = mine + 1 end
end

local free = cap - #holding
if free > 0 then
  local function lastServed(k) return tonumber(redis.call('HGET', served, k) or '0') end
  local myHeld, myServed, ahead = held[key] or 0, lastServed(key), 0
  for k in pairs(waiting) do
    if k ~= key then
      local h, s = held[k] or 0, lastServed(k)
      if h < myHeld or (h == myHeld and (s < myServed or (s == myServed and k < key))) then ahead = ahead + 1 end
    end
  end
  if free > ahead then
    redis.call('ZADD', holders, now + leaseMs, lease)
    expireWithLast(holders)
    redis.call('ZREM', waiters, waiter)
    redis.call('HSET', served, key, now)
    -- A key neither holding nor waiting needs no turn order; forgetting it bounds the hash.
    if redis.call('HLEN', served) > 64 then
      for _, k in ipairs(redis.call('HKEYS', served)) do
        if k ~= key and not held[k] and not waiting[k] then redis.call('HDEL', served, k) end
      end
    end
    redis.call('PEXPIRE', served, 600000)
    return 1
  end
end

-- The queue bound is per key, so a key that floods the queue cannot lock others out of it.
if redis.call('ZSCORE', waiters, waiter) == false and mine >= maxQueue then return -1 end
redis.call('ZADD', waiters, now + waiterTtl, waiter)
expireWithLast(waiters)
return 0
`;

// Renews only a lease still present: one already cleaned away may have been handed on.
const RENEW = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then return 0 end
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]) + 1000)
return 1
`;

interface Options {
  leaseMs: number;
  prefix: string;
  pollMs: number;
  timeoutMs: number;
}

export function createRedisConcurrencyLimiter(redis: SharedRedis, o: Options): ConcurrencyLimiter {
  const acquireScript = redis.createScript<number>(ACQUIRE);
  const renewScript = redis.createScript<number>(RENEW);
  // A waiter's place outlives a slow poll, and goes soon after its process dies.
  const waiterTtlMs = o.timeoutMs + 4 * o.pollMs + 1_000;
  const keysFor = (model: string) => {
    const base = `${o.prefix}:{${model}}`; // hash tag: one slot for the script's keys on a cluster
    return { holders: `${base}:holders`, waiters: `${base}:waiters`, served: `${base}:served` };
  };

  const forget = (set: string, member: string) =>
    storeCall("remove", o.timeoutMs, () => redis.zrem(set, member)).then(
      () => {},
      () => {},
    );

  const hold = (holders: string, member: string): Lease => {
    const renew = () => storeCall("renew lease", o.timeoutMs, () => renewScript.exec([holders], [member, String(o.leaseMs)]));
    // Renewing three times per lease survives one or two failed renewals before the slot goes.
    const timer = setInterval(() => {
      renew().then(
        (kept) => {
          if (kept !== 1) clearInterval(timer); // lost (expired and cleaned): nothing left to renew
        },
        () => {},
      );
    }, Math.max(1, Math.floor(o.leaseMs / 3)));
    (timer as { unref?: () => void }).unref?.();
    let released = false;
    return {
      async release() {
        if (released) return;
        released = true;
        clearInterval(timer);
        await forget(holders, member);
      },
    };
  };

  return {
    async acquire(input: AcquireInput): Promise<Lease> {
      const keys = keysFor(input.model);
      const leaseId = crypto.randomUUID();
      const waiterId = crypto.randomUUID();
      const started = Date.now();
      const waits = input.maxWaitMs > 0;
      const args = [String(input.cap), input.keyId, leaseId, waiterId, String(o.leaseMs), String(waiterTtlMs), String(waits ? input.maxQueue : 0)];
      const refused = (reason: "queue_full" | "timeout") => new ConcurrencyRefusedError(input.model, input.cap, Date.now() - started, reason);
      try {
        for (;;) {
          input.signal?.throwIfAborted();
          const status = await storeCall("acquire slot", o.timeoutMs, () => acquireScript.exec([keys.holders, keys.waiters, keys.served], args));
          if (status === 1) return hold(keys.holders, `${leaseId}|${input.keyId}`);
          if (status === -1) throw refused(waits ? "queue_full" : "timeout");
          const left = input.maxWaitMs - (Date.now() - started);
          if (left <= 0) throw refused("timeout");
          await sleep(Math.min(left, o.pollMs * (0.5 + Math.random())), input.signal);
        }
      } catch (error) {
        // Give up the queue place, and the slot in case the script ran but its answer was lost;
        // both expire on their own otherwise. A failing store is not waited on a second time.
        const leaving = Promise.all([
          forget(keys.waiters, `${waiterId}|${input.keyId}`),
          error instanceof ConcurrencyRefusedError ? undefined : forget(keys.holders, `${leaseId}|${input.keyId}`),
        ]);
        if (!(error instanceof LimiterUnavailableError)) await leaving;
        throw error;
      }
    },
  };
}
