/**
 * The Lua scripts of the Redis counter store (`redis.ts`), each run atomically by Redis in one
 * round trip. The merge of counts taken during an outage lives with them in `outage-counts.ts`.
 */

// KEYS[1] tat key; ARGV: nowMs, windowMs, limit, burst ('' = limit), cost.
// Mirrors gcra.ts operation by operation (Lua numbers are IEEE doubles, like JS numbers).
export const GCRA_LUA = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local interval = tonumber(ARGV[2]) / limit
local capacity = limit
if ARGV[4] ~= '' then capacity = tonumber(ARGV[4]) end
if capacity < 1 then capacity = 1 end
local cost = tonumber(ARGV[5])
local tolerance = capacity * interval
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  local s = tonumber(stored)
  if s > now then tat = s end
end
local newTat = tat + cost * interval
local allowAt = newTat - tolerance
if allowAt > now then
  return {0, capacity, 0, math.ceil(tat - now), math.ceil(allowAt - now)}
end
redis.call('SET', KEYS[1], string.format('%.17g', newTat), 'PX', math.ceil(newTat - now) + 1000)
return {1, capacity, math.floor((now - allowAt) / interval + 1e-9), math.ceil(newTat - now), 0}
`;

// KEYS[1] counter key; ARGV: mode ('consume'|'add'), amount, limit, hard ('1'|'0'), resetAt, seed ('' = none).
// Returns {allowed, used} or {-1} when the counter does not exist and no seed was given.
export const QUOTA_LUA = `
local used = redis.call('GET', KEYS[1])
if not used then
  if ARGV[6] == '' then return {-1} end
  redis.call('SET', KEYS[1], ARGV[6])
  redis.call('PEXPIREAT', KEYS[1], ARGV[5])
  used = ARGV[6]
end
local amount = tonumber(ARGV[2])
if ARGV[1] == 'consume' and ARGV[4] == '1' and tonumber(used) + amount > tonumber(ARGV[3]) then
  return {0, used}
end
if amount ~= 0 then used = redis.call('INCRBYFLOAT', KEYS[1], ARGV[2]) end
return {1, used}
`;

// KEYS[1] counter key; ARGV: floor, resetAt. Raises the counter to at least floor (creates it if missing).
export const RAISE_LUA = `
local used = redis.call('GET', KEYS[1])
if (not used) or tonumber(used) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
`;
