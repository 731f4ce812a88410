"""The Lua scripts of the shared queue; the data model is described in ``ops.py``.

Each script reads the queue's ``state`` hash once (HMGET), works on a Lua
table, and writes it back once (HSET): a script call costs a handful of
Redis commands whatever the number of requests it handles, which is what
keeps the queue near three commands per request.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CANCEL",
    "CONFIGURE",
    "DEFAULT_MAX_PER_HOST",
    "EXCHANGE",
    "GIVE_BACK",
    "PUSH",
    "RENEW",
    "SET_PRIORITY",
]

DEFAULT_MAX_PER_HOST: Final = 8

# Helpers shared by every script. ARGV[1] is the key prefix P of the queue.
# A job value is "<rank>\n<host>\n<tries>\n<reply>\n<payload>".
_COMMON = """
local P = ARGV[1]
local S, J, Q, L = P..'state', P..'job', P..'q', P..'leases'
local SHIFT = 8796093022208
local st, dirty, warn = {}, {}, {}
local function load(fields)
  local need, seen = {}, {}
  for _, f in ipairs(fields) do
    if st[f] == nil and not seen[f] then need[#need + 1] = f; seen[f] = true end
  end
  if #need == 0 then return end
  local v = redis.call('HMGET', S, unpack(need))
  for i, f in ipairs(need) do st[f] = v[i] or false end
end
local function num(f)
  if st[f] == nil then load({f}) end
  local n = tonumber(st[f] or '0')
  if n == nil then warn[#warn + 1] = f; return 0 end
  return n
end
local function put(f, n) st[f] = string.format('%.0f', n); dirty[f] = true end
local function add(f, d) if d ~= 0 then put(f, num(f) + d) end end
local function maxper()
  local raw = st['max']
  if not raw then return $DEFAULT end
  local n = tonumber(raw)
  if n == nil or n < 1 or n ~= math.floor(n) then
    warn[#warn + 1] = 'max'; st['max'] = false; dirty['max'] = true
    return $DEFAULT
  end
  return n
end
local function save()
  local set, del = {}, {}
  for f, _ in pairs(dirty) do
    local v = st[f]
    local kind = string.sub(f, 1, 2)
    if v == false or (v == '0' and (kind == 'i:' or kind == 'p:')) then
      del[#del + 1] = f
    else
      set[#set + 1] = f; set[#set + 1] = v
    end
  end
  if #set > 0 then redis.call('HSET', S, unpack(set)) end
  if #del > 0 then redis.call('HDEL', S, unpack(del)) end
end
local function parse(v)
  local a = string.find(v, '\\n', 1, true); if not a then return nil end
  local b = string.find(v, '\\n', a + 1, true); if not b then return nil end
  local c = string.find(v, '\\n', b + 1, true); if not c then return nil end
  local d = string.find(v, '\\n', c + 1, true); if not d then return nil end
  local rank = tonumber(string.sub(v, 1, a - 1))
  local host = string.sub(v, a + 1, b - 1)
  if rank == nil or host == '' then return nil end
  return {rank = string.sub(v, 1, a - 1), host = host,
          tries = tonumber(string.sub(v, b + 1, c - 1)) or 0,
          reply = string.sub(v, c + 1, d - 1), at = d}
end
local function header(h, rank, tries)
  return rank..'\\n'..h.host..'\\n'..tries..'\\n'..h.reply..'\\n'
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function many(cmd, key, args, step)
  for i = 1, #args, step do
    redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end
local function wake(n)
  local idle = num('idle')
  n = math.min(n, idle)
  if n <= 0 then return end
  local tokens = {}
  for i = 1, n do tokens[i] = '1' end
  redis.call('RPUSH', P..'wake', unpack(tokens))
  put('idle', idle - n)
end
local function unpark(host, max)
  local parked = num('p:'..host)
  if parked <= 0 then return 0 end
  local n = math.min(parked, max - num('i:'..host))
  if n <= 0 then return 0 end
  local top = redis.call('ZPOPMIN', P..'park:'..host, n)
  local back = {}
  for i = 1, #top, 2 do back[#back + 1] = top[i + 1]; back[#back + 1] = top[i] end
  if #back > 0 then many('ZADD', Q, back, 4000) end
  put('p:'..host, #back == 0 and 0 or parked - #back / 2)
  return #back / 2
end
""".replace("$DEFAULT", str(DEFAULT_MAX_PER_HOST))

# ARGV: P, epoch candidate, reply ('' for none), then (host, priority, payload) triples.
# Returns {epoch, first id, warnings}; the ids are consecutive.
PUSH: Final = (
    _COMMON
    + """
load({'epoch', 'seq', 'idle', 'submitted'})
if not st['epoch'] then st['epoch'] = ARGV[2]; dirty['epoch'] = true end
local seq = tonumber(st['seq'] or '0')
if seq == nil then warn[#warn + 1] = 'seq'; seq = now_ms() end
local first = seq + 1
local jobs, ranks = {}, {}
for i = 4, #ARGV, 3 do
  seq = seq + 1
  local rank = string.format('%.0f', (1000 - tonumber(ARGV[i + 1])) * SHIFT + seq)
  jobs[#jobs + 1] = seq
  jobs[#jobs + 1] = rank..'\\n'..ARGV[i]..'\\n0\\n'..ARGV[3]..'\\n'..ARGV[i + 2]
  ranks[#ranks + 1] = rank
  ranks[#ranks + 1] = seq
end
local n = #ranks / 2
if n > 0 then
  many('HSET', J, jobs, 4000)
  many('ZADD', Q, ranks, 4000)
  put('seq', seq)
  add('submitted', n)
  wake(n)
end
save()
return {st['epoch'], first, warn}
"""
)

# The worker's one call: record finished requests, sweep expired leases,
# lease up to ``want`` requests.
# ARGV: P, token, lease ms, want, was idle (0|1), will block (0|1), epoch
# candidate, outcome ttl, host hint count H, H host hints, then
# (id, counter, outcome) triples.
# Returns {epoch, recorded flags, popped {id, payload, rank, attempt, host, reply}...,
#          dropped ids, warnings, woken}.
EXCHANGE: Final = (
    _COMMON
    + """
local token, lease_ms, want = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl = tonumber(ARGV[8])
local nhint = tonumber(ARGV[9])
local fields = {'epoch', 'max', 'sweep', 'idle', 'completed', 'failed', 'duplicates'}
for i = 10, 9 + nhint do
  fields[#fields + 1] = 'i:'..ARGV[i]; fields[#fields + 1] = 'p:'..ARGV[i]
end
load(fields)
if not st['epoch'] then st['epoch'] = ARGV[7]; dirty['epoch'] = true end
if ARGV[5] == '1' and num('idle') > 0 then add('idle', -1) end
local max = maxper()
local now = now_ms()
local touched, woke = {}, 0
-- 1. outcomes
local fid, fcounter, fout, members = {}, {}, {}, {}
for i = 10 + nhint, #ARGV, 3 do
  fid[#fid + 1] = ARGV[i]; fcounter[#fcounter + 1] = ARGV[i + 1]; fout[#fout + 1] = ARGV[i + 2]
  members[#members + 1] = ARGV[i]..'@'..token
end
local recorded = {}
if #fid > 0 then
  local held = redis.call('ZMSCORE', L, unpack(members))
  local vals = redis.call('HMGET', J, unpack(fid))
  local release, ended, replies = {}, {}, {}
  for i, id in ipairs(fid) do
    local h = vals[i] and parse(vals[i])
    if held[i] then release[#release + 1] = members[i] end
    if vals[i] then
      ended[#ended + 1] = id
      recorded[i] = 1
      add(fcounter[i] == 'failed' and 'failed' or 'completed', 1)
      if h and h.reply ~= '' then
        local r = replies[h.reply]
        if not r then r = {}; replies[h.reply] = r end
        r[#r + 1] = fout[i]
      end
    else
      recorded[i] = 0
      add('duplicates', 1)
    end
    if held[i] and h then
      load({'i:'..h.host, 'p:'..h.host})
      add('i:'..h.host, -1); touched[h.host] = true
    end
  end
  if #release > 0 then redis.call('ZREM', L, unpack(release)) end
  if #ended > 0 then redis.call('HDEL', J, unpack(ended)) end
  for reply, outs in pairs(replies) do
    local key = P..'reply:'..reply
    if redis.call('RPUSH', key, unpack(outs)) == #outs then redis.call('EXPIRE', key, ttl) end
  end
end
-- 2. expired leases (their workers are presumed dead): back to their place
if now >= num('sweep') then
  put('sweep', now + 250)
  local expired = redis.call('ZRANGEBYSCORE', L, '-inf', now, 'LIMIT', 0, 100)
  if #expired > 0 then
    redis.call('ZREM', L, unpack(expired))
    local ids = {}
    for i, m in ipairs(expired) do ids[i] = string.match(m, '^([^@]*)') end
    local vals = redis.call('HMGET', J, unpack(ids))
    local back, rewrite = {}, {}
    for i, id in ipairs(ids) do
      local h = vals[i] and parse(vals[i])
      if h then
        load({'i:'..h.host, 'p:'..h.host})
        add('i:'..h.host, -1); touched[h.host] = true
        back[#back + 1] = h.rank; back[#back + 1] = id
        rewrite[#rewrite + 1] = id
        rewrite[#rewrite + 1] = header(h, h.rank, h.tries + 1)..string.sub(vals[i], h.at + 1)
      end
    end
    add('expired', #expired)
    if #back > 0 then
      many('ZADD', Q, back, 4000); many('HSET', J, rewrite, 4000)
      woke = woke + #back / 2
    end
  end
end
for host, _ in pairs(touched) do woke = woke + unpark(host, max) end
-- 3. lease up to `want` requests, best first, parking those of saturated hosts
local popped, dropped, leases, parked = {}, {}, {}, {}
for guard = 1, 8 do
  local need = want - #popped
  if need <= 0 then break end
  local top = redis.call('ZPOPMIN', Q, need)
  if #top == 0 then break end
  local ids = {}
  for i = 1, #top, 2 do ids[#ids + 1] = top[i] end
  local vals = redis.call('HMGET', J, unpack(ids))
  local parsed, hosts = {}, {}
  for i = 1, #ids do
    local h = vals[i] and parse(vals[i])
    parsed[i] = h
    if h then hosts[#hosts + 1] = 'i:'..h.host; hosts[#hosts + 1] = 'p:'..h.host end
  end
  load(hosts)
  local bad = {}
  for i, id in ipairs(ids) do
    local h = parsed[i]
    if h then
      local f = 'i:'..h.host
      if num(f) < max then
        add(f, 1)
        leases[#leases + 1] = now + lease_ms; leases[#leases + 1] = id..'@'..token
        popped[#popped + 1] = {
          id, string.sub(vals[i], h.at + 1), h.rank, h.tries + 1, h.host, h.reply}
      else
        local list = parked[h.host]
        if not list then list = {}; parked[h.host] = list end
        list[#list + 1] = top[2 * i]; list[#list + 1] = id
        add('p:'..h.host, 1)
      end
    elseif vals[i] then
      bad[#bad + 1] = id; dropped[#dropped + 1] = id
    end
  end
  if #bad > 0 then redis.call('HDEL', J, unpack(bad)); add('failed', #bad) end
  if #top < need * 2 then break end
end
for host, list in pairs(parked) do many('ZADD', P..'park:'..host, list, 4000) end
if #leases > 0 then many('ZADD', L, leases, 4000) end
if #popped == 0 and want > 0 and ARGV[6] == '1' then add('idle', 1) end
if woke > 0 and #popped >= want then wake(woke) end
save()
return {st['epoch'], recorded, popped, dropped, warn}
"""
)

# ARGV: P, token, lease ms, ids. Returns the ids this worker no longer holds.
RENEW: Final = (
    _COMMON
    + """
local members, lost, keep = {}, {}, {}
for i = 4, #ARGV do members[#members + 1] = ARGV[i]..'@'..ARGV[2] end
local held = redis.call('ZMSCORE', L, unpack(members))
local until_ms = now_ms() + tonumber(ARGV[3])
for i, m in ipairs(members) do
  if held[i] then
    keep[#keep + 1] = until_ms; keep[#keep + 1] = m
  else
    lost[#lost + 1] = ARGV[i + 3]
  end
end
if #keep > 0 then many('ZADD', L, keep, 4000) end
return lost
"""
)

# ARGV: P, token, ids. Returns how many went back to their place in the queue.
GIVE_BACK: Final = (
    _COMMON
    + """
local members = {}
for i = 3, #ARGV do members[#members + 1] = ARGV[i]..'@'..ARGV[2] end
local held = redis.call('ZMSCORE', L, unpack(members))
local mine, ids = {}, {}
for i, m in ipairs(members) do
  if held[i] then mine[#mine + 1] = m; ids[#ids + 1] = ARGV[i + 2] end
end
if #ids == 0 then return 0 end
redis.call('ZREM', L, unpack(mine))
load({'max', 'idle', 'returned'})
local max = maxper()
local vals = redis.call('HMGET', J, unpack(ids))
local back, touched = {}, {}
for i, id in ipairs(ids) do
  local h = vals[i] and parse(vals[i])
  if h then
    load({'i:'..h.host, 'p:'..h.host})
    add('i:'..h.host, -1); touched[h.host] = true
    back[#back + 1] = h.rank; back[#back + 1] = id
  end
end
local woke = #back / 2
if #back > 0 then many('ZADD', Q, back, 4000) end
for host, _ in pairs(touched) do woke = woke + unpark(host, max) end
add('returned', #back / 2)
wake(woke)
save()
return #back / 2
"""
)

# ARGV: P, ids. Returns 1 per id taken out of the queue, 0 if not waiting.
CANCEL: Final = (
    _COMMON
    + """
local out = {}
load({'cancelled'})
local vals = redis.call('HMGET', J, unpack(ARGV, 2))
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = vals[i - 1] and parse(vals[i - 1])
  local taken = 0
  if h then
    if redis.call('ZREM', Q, id) == 1 then
      taken = 1
    elseif redis.call('ZREM', P..'park:'..h.host, id) == 1 then
      load({'p:'..h.host}); add('p:'..h.host, -1); taken = 1
    end
  end
  if taken == 1 then redis.call('HDEL', J, id); add('cancelled', 1) end
  out[#out + 1] = taken
end
save()
return out
"""
)

# ARGV: P, id, priority. Returns 1 if the request was waiting (and moved).
SET_PRIORITY: Final = (
    _COMMON
    + """
local id = ARGV[2]
local v = redis.call('HGET', J, id)
local h = v and parse(v)
if not h then return 0 end
local key = Q
local old = redis.call('ZSCORE', Q, id)
if not old then
  key = P..'park:'..h.host
  old = redis.call('ZSCORE', key, id)
end
if not old then return 0 end
local rank = string.format('%.0f', (1000 - tonumber(ARGV[3])) * SHIFT + tonumber(old) % SHIFT)
redis.call('ZADD', key, rank, id)
redis.call('HSET', J, id, header(h, rank, h.tries)..string.sub(v, h.at + 1))
return 1
"""
)

# ARGV: P, max_per_host. A higher limit brings parked requests back at once.
CONFIGURE: Final = (
    _COMMON
    + """
local all = redis.call('HGETALL', S)
for i = 1, #all, 2 do st[all[i]] = all[i + 1] end
local old = st['max']
put('max', tonumber(ARGV[2]))
if old == ARGV[2] then return 0 end
local woke = 0
for f, _ in pairs(st) do
  if string.sub(f, 1, 2) == 'p:' then woke = woke + unpark(string.sub(f, 3), tonumber(ARGV[2])) end
end
wake(woke)
save()
return 1
"""
)
