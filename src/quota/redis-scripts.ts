/**
 * The Lua scripts that make each store operation one atomic round trip on Redis (EVALSHA; the
 * client loads a script again after a Redis restart empties its script cache).
 */

/**
 * take: KEYS[i] is limit i's counter; ARGV[1] the time (ms), ARGV[2] the request's lease member,
 * then per limit three values: kind (r requests, t tokens, c concurrent), limit, and the
 * window's end (r) or the lease length (c). Checks every limit first; counts only when all pass.
 * Returns {failed index (0: none), used per limit...}.
 */
export const TAKE_SCRIPT = `
local now = tonumber(ARGV[1])
local member = ARGV[2]
local used = {}
local failed = 0
for i = 1, #KEYS do
  local kind = ARGV[3 * i]
  local limit = tonumber(ARGV[3 * i + 1])
  local u
  if kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    u = redis.call('ZCARD', KEYS[i])
  else
    u = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
  used[i] = u
  local over
  if kind == 't' then over = u >= limit else over = u + 1 > limit end
  if over and failed == 0 then failed = i end
end
if failed == 0 then
  for i = 1, #KEYS do
    local kind = ARGV[3 * i]
    local arg = tonumber(ARGV[3 * i + 2])
    if kind == 'r' then
      redis.call('INCR', KEYS[i])
      redis.call('PEXPIREAT', KEYS[i], arg)
      used[i] = used[i] + 1
    elseif kind == 'c' then
      redis.call('ZADD', KEYS[i], now + arg, member)
      redis.call('PEXPIRE', KEYS[i], arg)
      used[i] = used[i] + 1
    end
  end
end
table.insert(used, 1, failed)
return used
`;

/**
 * settle: ARGV[1] the lease member, ARGV[2] how many of the KEYS are token counters (first), then
 * per token counter its amount and its window's end; the remaining KEYS are concurrency counters
 * the member leaves.
 */
export const SETTLE_SCRIPT = `
local member = ARGV[1]
local n = tonumber(ARGV[2])
for i = 1, n do
  local amount = tonumber(ARGV[1 + 2 * i])
  if amount > 0 then
    redis.call('INCRBY', KEYS[i], amount)
    redis.call('PEXPIREAT', KEYS[i], tonumber(ARGV[2 + 2 * i]))
  end
end
for i = n + 1, #KEYS do
  redis.call('ZREM', KEYS[i], member)
end
return 0
`;
