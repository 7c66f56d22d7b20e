package redisstore

import "github.com/redis/go-redis/v9"

// The server-side scripts. Each runs atomically, takes its time from the
// server's TIME (microseconds since the epoch, exact in a Lua double), and
// touches only KEYS[1], so it works on Redis Cluster. Numbers go back as
// strings where a Lua number would be cut to an integer.

// Breaker record fields (one hash per breaker key):
//
//	v   version of the snapshot (absent: none)
//	st  state, si since (µs), fl failures, sc successes, w written (µs)
//	fe  failure-count epoch, fn count, fs count start (µs)
//	pe  probe epoch, pn slots taken, px slots expire (µs)

// luaNow is the prologue of every script: now in microseconds, and ext,
// which extends the key's TTL to at least ms milliseconds.
const luaNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function ext(ms)
  local p = redis.call('PTTL', KEYS[1])
  if p >= 0 and p < ms then redis.call('PEXPIRE', KEYS[1], ms) end
end
local function f(x) return string.format('%.0f', x) end
`

// loadScript: the snapshot and its age, or {0}.
var loadScript = redis.NewScript(luaNow + `
local c = redis.call('HMGET', KEYS[1], 'v', 'st', 'si', 'fl', 'sc', 'w')
if not c[1] then return {0} end
return {1, c[1], c[2], c[3], c[4], c[5], f(now - tonumber(c[6]))}
`)

// swapScript: ARGV old, state, failures, successes, ttl (ms). Writes the
// snapshot if the version is still old, publishes the new version on the
// channel named like the key, and returns {1, the snapshot}; or {0} (none
// stored) or {0, the stored snapshot}.
var swapScript = redis.NewScript(luaNow + `
local c = redis.call('HMGET', KEYS[1], 'v', 'st', 'si', 'fl', 'sc', 'w')
local v = tonumber(c[1]) or 0
if v ~= tonumber(ARGV[1]) then
  if not c[1] then return {0} end
  return {0, c[1], c[2], c[3], c[4], c[5], f(now - tonumber(c[6]))}
end
local nv = f(v + 1)
local ns = f(now)
redis.call('HSET', KEYS[1], 'v', nv, 'st', ARGV[2], 'si', ns, 'fl', ARGV[3], 'sc', ARGV[4], 'w', ns)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', KEYS[1], nv)
return {1, nv, ARGV[2], ns, ARGV[3], ARGV[4], '0'}
`)

// addScript: ARGV epoch, n, window (µs), keep (ms). Returns the count.
var addScript = redis.NewScript(luaNow + `
local c = redis.call('HMGET', KEYS[1], 'fe', 'fn', 'fs')
local epoch = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local fe = tonumber(c[1])
if fe and epoch < fe then return 0 end
local fn
if (not fe) or epoch > fe or now >= tonumber(c[3]) + tonumber(ARGV[3]) then
  fn = n
  redis.call('HSET', KEYS[1], 'fe', ARGV[1], 'fn', f(fn), 'fs', f(now))
else
  fn = tonumber(c[2]) + n
  redis.call('HSET', KEYS[1], 'fn', f(fn))
end
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) else ext(tonumber(ARGV[4])) end
return fn
`)

// takeProbeScript: ARGV epoch, slots, ttl (µs), keep (ms). Returns 1 when
// a slot was taken.
var takeProbeScript = redis.NewScript(luaNow + `
local c = redis.call('HMGET', KEYS[1], 'pe', 'pn', 'px')
local epoch = tonumber(ARGV[1])
local pe = tonumber(c[1])
if pe and epoch < pe then return 0 end
local pn = tonumber(c[2]) or 0
if (not pe) or epoch > pe or now >= tonumber(c[3]) then pn = 0 end
if pn >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'pe', ARGV[1], 'pn', f(pn + 1), 'px', f(now + tonumber(ARGV[3])))
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) else ext(tonumber(ARGV[4])) end
return 1
`)

// releaseProbeScript: ARGV epoch.
var releaseProbeScript = redis.NewScript(`
local c = redis.call('HMGET', KEYS[1], 'pe', 'pn')
if c[1] == ARGV[1] and (tonumber(c[2]) or 0) > 0 then
  redis.call('HSET', KEYS[1], 'pn', string.format('%.0f', tonumber(c[2]) - 1))
end
return 0
`)

// takeScript: the token take of every limit at once. ARGV n, expire (ms),
// then burst, rate, window (ns) of each limit. The buckets are one string
// of packed doubles (tokens, last refill in µs) per limit. Returns
// {allowed, remaining, retry-after (ns)}.
var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local m = (#ARGV - 2) / 3
local tok, last = {}, {}
local raw = redis.call('GET', KEYS[1])
if raw then
  local pos = 1
  for j = 1, math.floor(#raw / 16) do
    tok[j], last[j], pos = struct.unpack('<d<d', raw, pos)
  end
end
local allowed = 1
local retry = 0
for j = 1, m do
  local burst = tonumber(ARGV[3*j])
  local rate = tonumber(ARGV[3*j+1])
  local win = tonumber(ARGV[3*j+2])
  local tk, ls = tok[j], last[j]
  if not tk then tk, ls = burst, now end
  if now > ls then
    tk = tk + (now - ls) * 1000 * rate / win
    ls = now
  end
  if tk > burst then tk = burst end
  tok[j], last[j] = tk, ls
  if tk + 1e-9 < n then
    allowed = 0
    local w = math.ceil(math.ceil((n - tk) * win / rate) / 1000) * 1000
    if w > retry then retry = w end
  end
end
local out = {}
for j = 1, m do
  if allowed == 1 then tok[j] = tok[j] - n end
  out[j] = struct.pack('<d<d', tok[j], last[j])
end
redis.call('SET', KEYS[1], table.concat(out), 'PX', ARGV[2])
return {allowed, string.format('%.17g', tok[1]), retry}
`)

// take1Script is takeScript for one limit, without the tables: ARGV n,
// expire (ms), burst, rate, window (ns).
var take1Script = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local n = tonumber(ARGV[1])
local burst, rate, win = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local raw = redis.call('GET', KEYS[1])
local tk, ls
if raw and #raw >= 16 then tk, ls = struct.unpack('<d<d', raw) else tk, ls = burst, now end
if now > ls then
  tk = tk + (now - ls) * 1000 * rate / win
  ls = now
end
if tk > burst then tk = burst end
local allowed, retry = 1, 0
if tk + 1e-9 < n then
  allowed = 0
  retry = math.ceil(math.ceil((n - tk) * win / rate) / 1000) * 1000
else
  tk = tk - n
end
redis.call('SET', KEYS[1], struct.pack('<d<d', tk, ls), 'PX', ARGV[2])
return {allowed, string.format('%.17g', tk), retry}
`)
