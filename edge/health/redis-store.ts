import type { SharedRedis } from "../store/redis.ts";
import type { HealthParams, HealthSample, StoredHealth } from "./state.ts";
import type { HealthStore } from "./store.ts";

/**
 * `applySample` from state.ts in Lua, so that gateways in several processes update one model's
 * hash atomically in one round trip (a read-modify-write from TypeScript would lose samples
 * under concurrency). Keep the two in step; the shared tests run both.
 */
const RECORD = `
local key = KEYS[1]
local ok = ARGV[1] == '1'
local latency = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local alpha = tonumber(ARGV[4])
local threshold = tonumber(ARGV[5])
local open_ms = tonumber(ARGV[6])
local open_below = tonumber(ARGV[7])
local min_samples = tonumber(ARGV[8])
local half_life = tonumber(ARGV[9])
local ttl_ms = tonumber(ARGV[10])
local h = redis.call('HMGET', key, 'ema', 'ema_at', 'lat', 'n', 'cf', 'open', 'opened_at')
local ema = tonumber(h[1]) or 1
local ema_at = tonumber(h[2]) or now
local lat = tonumber(h[3])
local n = (tonumber(h[4]) or 0) + 1
local cf = tonumber(h[5]) or 0
local open = h[6] == '1'
local opened_at = tonumber(h[7]) or 0
local aged = 1 - (1 - ema) * 0.5 ^ (math.max(0, now - ema_at) / half_life)
local x = 0
if ok then x = 1 end
ema = alpha * x + (1 - alpha) * aged
if ok then
  cf = 0
  if lat == nil then lat = latency else lat = alpha * latency + (1 - alpha) * lat end
else
  cf = cf + 1
end
if open and now >= opened_at + open_ms then
  redis.call('HDEL', key, 'probe_at')
  if ok then
    open = false
    opened_at = 0
    ema = 1
  else
    opened_at = now
  end
elseif (not open) and (not ok) and (cf >= threshold or (n >= min_samples and ema < open_below)) then
  open = true
  opened_at = now
end
local open_flag = '0'
if open then open_flag = '1' end
redis.call('HSET', key, 'ema', tostring(ema), 'ema_at', tostring(now), 'n', tostring(n), 'cf', tostring(cf), 'open', open_flag, 'opened_at', tostring(opened_at))
if lat ~= nil then redis.call('HSET', key, 'lat', tostring(lat)) end
redis.call('PEXPIRE', key, ttl_ms)
return 1
`;

/** Reads every model in one round trip and, when asked, claims half-open probe leases (`admit`). */
const READ = `
local now = tonumber(ARGV[1])
local open_ms = tonumber(ARGV[2])
local lease_ms = tonumber(ARGV[3])
local claim = ARGV[4] == '1'
local out = {}
for i, key in ipairs(KEYS) do
  local h = redis.call('HMGET', key, 'ema', 'ema_at', 'lat', 'n', 'cf', 'open', 'opened_at', 'probe_at')
  local admitted = '1'
  if h[6] == '1' then
    local opened_at = tonumber(h[7]) or 0
    local probe_at = tonumber(h[8])
    if now < opened_at + open_ms then
      admitted = '0'
    elseif probe_at ~= nil and now < probe_at + lease_ms then
      admitted = '0'
    elseif claim then
      redis.call('HSET', key, 'probe_at', tostring(now))
    end
  end
  local row = {}
  for j = 1, 8 do row[j] = h[j] or '' end
  row[9] = admitted
  out[i] = row
end
return out
`;

export class RedisHealthStore implements HealthStore {
  private readonly recordScript;
  private readonly readScript;

  constructor(
    redis: SharedRedis,
    private readonly params: HealthParams,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    // EVALSHA first, EVAL when Redis does not know the script yet: the script text travels once.
    this.recordScript = redis.createScript<number>(RECORD);
    this.readScript = redis.createScript<unknown[][]>(READ);
  }

  async record(model: string, sample: HealthSample, now: number): Promise<void> {
    const p = this.params;
    await this.recordScript.exec([this.key(model)], [
      sample.ok ? "1" : "0", String(sample.latencyMs), String(now), String(p.alpha), String(p.failureThreshold),
      String(p.openMs), String(p.openBelow), String(p.minSamples), String(p.recoveryHalfLifeMs), String(this.ttlMs),
    ]);
  }

  async read(models: string[], now: number, claim: boolean): Promise<Array<{ state: StoredHealth; admitted: boolean }>> {
    if (models.length === 0) return [];
    const rows = await this.readScript.exec(models.map((m) => this.key(m)), [String(now), String(this.params.openMs), String(this.params.probeLeaseMs), claim ? "1" : "0"]);
    return rows.map((row) => ({ state: parseRow(row, now), admitted: field(row[8]) === 1 }));
  }

  private key(model: string): string {
    return `${this.prefix}:${model}`;
  }
}

// @upstash/redis may already have turned numeric strings into numbers; '' marks a missing field.
function field(value: unknown): number | undefined {
  if (value === "" || value === null || value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function parseRow(row: unknown[], now: number): StoredHealth {
  const [ema, emaAt, lat, n, cf, open, openedAt, probeAt] = row.map(field);
  const state: StoredHealth = {
    ema: ema ?? 1,
    emaAt: emaAt ?? now,
    samples: n ?? 0,
    consecutiveFailures: cf ?? 0,
    open: open === 1,
    openedAt: openedAt ?? 0,
  };
  if (lat !== undefined) state.latencyMs = lat;
  if (probeAt !== undefined) state.probeAt = probeAt;
  return state;
}
