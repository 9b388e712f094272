//! The Lua scripts the store runs in Redis: each is one atomic step of the protocol
//! (`store` says which keys they take). Times come from Redis's `TIME`.

pub const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl * 3)
redis.call('HSET', KEYS[2], 'incarnation', ARGV[2], 'state', ARGV[3], 'heartbeat', now, 'owned', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ttl * 3)
for i = 3, 4 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[7]) end
end
local out = {now, redis.call('GET', KEYS[4]) or '0'}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HMGET', ARGV[6] .. ':member:' .. id, 'state', 'heartbeat', 'owned')
  table.insert(out, id)
  table.insert(out, h[1] or 'active')
  table.insert(out, h[2] or '0')
  table.insert(out, h[3] or '0')
end
return out
";

pub const PERMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not exp) or tonumber(exp) < now or redis.call('HGET', KEYS[3], 'incarnation') ~= ARGV[2] then
  return {-2}
end
local h = redis.call('HMGET', KEYS[1], 'last', 'owner', 'fence')
if now - tonumber(h[1] or '0') < tonumber(ARGV[3]) then return {-1} end
local me = ARGV[1] .. '#' .. ARGV[2]
local fence = tonumber(h[3] or '0')
if h[2] ~= me then
  fence = fence + 1
  redis.call('HSET', KEYS[1], 'last', now, 'owner', me, 'fence', fence)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {1, fence, redis.call('HGET', KEYS[1], 'rates') or '', h[2] or ''}
end
redis.call('HSET', KEYS[1], 'last', now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {0, fence}
";

pub const SAVE_STATES: &str = r"
local out = {}
for i, k in ipairs(KEYS) do
  local h = redis.call('HMGET', k, 'owner', 'fence')
  if h[1] == ARGV[1] and h[2] == ARGV[1 + 2 * i] then
    redis.call('HSET', k, 'rates', ARGV[2 + 2 * i])
    redis.call('PEXPIRE', k, ARGV[2])
    table.insert(out, 1)
  else
    table.insert(out, 0)
  end
end
return out
";

pub const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Run-time target changes, atomically with the new version: KEYS hash, version;
/// ARGV keep-ms, then (name, json-or-empty) pairs (empty: delete). Returns the version, then
/// per change whether the name existed before. A version that is not a number (an older
/// collector's token) counts as 0.
pub const SET_TARGETS: &str = r"
local v = (tonumber(redis.call('GET', KEYS[2])) or 0) + 1
local out = {v}
for i = 2, #ARGV, 2 do
  local existed = redis.call('HEXISTS', KEYS[1], ARGV[i])
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  out[#out + 1] = existed
end
redis.call('SET', KEYS[2], v)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return out
";
