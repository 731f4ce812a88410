"""The Lua scripts of the shared queue; the data model is described in ``ops.py``.

Each script reads the queue's ``state`` hash once (HMGET), works on a Lua
table, and writes it back once (HSET): a script call costs a handful of
Redis commands whatever the number of requests it handles, which is what
keeps the queue near one command per request when a worker's call carries a
dozen.
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
    "SET_LIMIT",
    "SET_PRIORITY",
    "TAGGED",
]

DEFAULT_MAX_PER_HOST: Final = 8

# Helpers shared by every script. ARGV[1] is the key prefix P of the queue.
# A job value is "<rank>\n<priority>\n<host>\n<tries>\n<reply>\n<pace>\n<tag>\n<payload>"
# (rank: 1000 - priority, plus the waiting time in aging steps at entry for an aging
# producer; ties fall to the id, a zero-padded sequence, by member order);
# pace is "" or "<min delay ms>,<interval ms>,<burst>".
_COMMON = """
local P = ARGV[1]
local S, J, Q, L, D = P..'state', P..'job', P..'q', P..'leases', P..'delayed'
local function pad(x) return string.format('%015d', tonumber(x)) end
local st, dirty, warn = {}, {}, {}
local NOW = nil
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
local function drop(f) st[f] = false; dirty[f] = true end
local function add(f, d) if d ~= 0 then put(f, num(f) + d) end end
local function maxper()
  local raw = st['max']
  if not raw then return $DEFAULT end
  local n = tonumber(raw)
  if n == nil or n < 1 or n ~= math.floor(n) then
    warn[#warn + 1] = 'max'; drop('max')
    return $DEFAULT
  end
  return n
end
local function limit(host, max)  -- a host's own slot count (set_limit), else max_per_host
  if st['m:'..host] == nil then load({'m:'..host}) end
  local m = tonumber(st['m:'..host] or '')
  if m and m >= 1 then return m end
  return max
end
-- per-host pace ("<last start>,<tat>,<until>" ms) in its own hash, so `state` stays small
local pace, pace_dirty = {}, {}
local function pace_load(hosts)
  if #hosts == 0 then return end
  local v = redis.call('HMGET', P..'pace', unpack(hosts))
  for i, host in ipairs(hosts) do pace[host] = v[i] or '' end
end
local function pace_save()
  local set = {}
  for host, _ in pairs(pace_dirty) do set[#set + 1] = host; set[#set + 1] = pace[host] end
  if #set > 0 then redis.call('HSET', P..'pace', unpack(set)) end
end
local function save()
  local set, del = {}, {}
  for f, _ in pairs(dirty) do
    local v = st[f]
    local kind = string.sub(f, 1, 2)
    if v == false or (v == '0' and (kind == 'i:' or kind == 'p:' or kind == 'r:')) then
      del[#del + 1] = f
    else
      set[#set + 1] = f; set[#set + 1] = v
    end
  end
  if #set > 0 then redis.call('HSET', S, unpack(set)) end
  if #del > 0 then redis.call('HDEL', S, unpack(del)) end
end
local function parse(v)
  local at, parts = 0, {}
  for k = 1, 7 do
    local e = string.find(v, '\\n', at + 1, true)
    if not e then return nil end
    parts[k] = string.sub(v, at + 1, e - 1)
    at = e
  end
  local priority = tonumber(parts[2])
  if tonumber(parts[1]) == nil or priority == nil or parts[3] == '' then return nil end
  return {rank = parts[1], priority = priority, host = parts[3], tries = tonumber(parts[4]) or 0,
          reply = parts[5], pace = parts[6], tag = parts[7], at = at}
end
local function header(h, rank, tries, priority)
  return rank..'\\n'..(priority or h.priority)..'\\n'..h.host..'\\n'..tries..'\\n'..h.reply
    ..'\\n'..h.pace..'\\n'..h.tag..'\\n'
end
local function now_ms()
  if NOW == nil then
    local t = redis.call('TIME')
    NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return NOW
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
-- a taken job holds a slot of its host (and counts as running for its tag)
local function hold_slot(h, d)
  add('i:'..h.host, d)
  if h.tag ~= '' then add('r:'..h.tag, d) end
end
-- take a waiting job out (cancel): from the queue, its host's park or the delayed set
local function withdraw(id, h)
  if redis.call('ZREM', Q, id) == 1 or redis.call('ZREM', D, id) == 1 then return true end
  if redis.call('ZREM', P..'park:'..h.host, id) == 1 then add('p:'..h.host, -1); return true end
  return false
end
local function cancel_one(id, v)
  local h = v and parse(v)
  if not h or not withdraw(id, h) then return 0 end
  redis.call('HDEL', J, id)
  add('cancelled', 1)
  if h.tag ~= '' then
    redis.call('SREM', P..'tag:'..h.tag, id); add('t:'..h.tag..':cancelled', 1)
  end
  if h.reply ~= '' then  -- its producer may be another process: tell it
    local notice = '{"cancelled":true,"id":'..string.format('%d', tonumber(id))..'}'
    redis.call('RPUSH', P..'reply:'..h.reply, notice)
    redis.call('EXPIRE', P..'reply:'..h.reply, 86400)
  end
  return 1
end
local function reprioritise(id, v, priority)
  local h = v and parse(v)
  if not h then return 0 end
  local key, old = Q, redis.call('ZSCORE', Q, id)
  if not old then key = P..'park:'..h.host; old = redis.call('ZSCORE', key, id) end
  if not old and redis.call('ZSCORE', D, id) then key = nil; old = h.rank end
  if not old then return 0 end
  local rank = string.format('%.17g', tonumber(old) - (priority - h.priority))
  if key then redis.call('ZADD', key, rank, id) end
  redis.call('HSET', J, id, header(h, rank, h.tries, priority)..string.sub(v, h.at + 1))
  return 1
end
""".replace("$DEFAULT", str(DEFAULT_MAX_PER_HOST))

# ARGV: P, epoch candidate, reply ('' for none), then (host, priority, pace, tag,
# aging seconds per priority step or 0, payload).
# Returns {epoch, first id, warnings}; the ids are consecutive.
PUSH: Final = (
    _COMMON
    + """
load({'epoch', 'seq', 'idle', 'submitted', 't0'})
if not st['epoch'] then st['epoch'] = ARGV[2]; dirty['epoch'] = true end
if not tonumber(st['t0'] or '') then put('t0', now_ms()) end
local waited = (now_ms() - num('t0')) / 1000
local seq = tonumber(st['seq'] or '0')
if seq == nil then warn[#warn + 1] = 'seq'; seq = now_ms() end
local first = seq + 1
local jobs, ranks, tags = {}, {}, {}
for i = 4, #ARGV, 6 do
  seq = seq + 1
  local id = pad(seq)
  local priority = tonumber(ARGV[i + 1])
  local aging = tonumber(ARGV[i + 4]) or 0
  local score = 1000 - priority
  if aging > 0 then score = score + waited / aging end
  local rank = string.format('%.17g', score)
  local tag = ARGV[i + 3]
  jobs[#jobs + 1] = id
  jobs[#jobs + 1] = rank..'\\n'..priority..'\\n'..ARGV[i]..'\\n0\\n'..ARGV[3]..'\\n'
    ..ARGV[i + 2]..'\\n'..tag..'\\n'..ARGV[i + 5]
  ranks[#ranks + 1] = rank
  ranks[#ranks + 1] = id
  if tag ~= '' then
    local t = tags[tag]
    if not t then t = {}; tags[tag] = t end
    t[#t + 1] = id
  end
end
local n = #ranks / 2
if n > 0 then
  many('HSET', J, jobs, 4000)
  many('ZADD', Q, ranks, 4000)
  for tag, ids in pairs(tags) do
    many('SADD', P..'tag:'..tag, ids, 4000)
    add('t:'..tag..':submitted', #ids)
  end
  put('seq', seq)
  add('submitted', n)
  wake(n)
end
save()
return {st['epoch'], first, warn}
"""
)

# The worker's one call: record finished requests (or park them for a retry),
# move due retries and paced hosts back, sweep expired leases, lease up to
# ``want`` requests.
# ARGV: P, token, lease ms, want, was idle (0|1), will block (0|1), epoch
# candidate, outcome ttl, the worker's pace for jobs without one (or ''),
# ready (how many of the leases the worker can start at once: a paced
# request is leased only into those, since its pace counts from the lease),
# host hint count H, H host hints, then one argument per finished request,
# "<id> <counter> <retry delay ms> <outcome>"; counter is completed, failed or
# retry (one argument, not four: the client encodes each argument in Python).
# Returns {epoch, recorded flags, popped {id, payload, priority, attempt, host, reply},
#          dropped ids, warnings, ms until something delayed is due (-1: nothing),
#          aborts (a counter that changes when a producer aborts a running request)}.
EXCHANGE: Final = (
    _COMMON
    + """
local token, lease_ms, want = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl = tonumber(ARGV[8])
local ready = tonumber(ARGV[10]) or want
local nhint = tonumber(ARGV[11])
local default_pace = ARGV[9]
local fields = {'epoch', 'max', 'sweep', 'pcur', 'idle', 'due', 'paced', 'aborts', 'completed',
  'failed',
  'duplicates'}
for i = 12, 11 + nhint do
  fields[#fields + 1] = 'i:'..ARGV[i]; fields[#fields + 1] = 'p:'..ARGV[i]
  fields[#fields + 1] = 'm:'..ARGV[i]
end
load(fields)
if not st['epoch'] then st['epoch'] = ARGV[7]; dirty['epoch'] = true end
if ARGV[5] == '1' and num('idle') > 0 then add('idle', -1) end
local max = maxper()
local now = now_ms()
local touched, woke = {}, 0
-- 1. outcomes and retries
local fid, fcounter, fout, fdelay, members = {}, {}, {}, {}, {}
for i = 12 + nhint, #ARGV do
  local id, counter, delay, at = string.match(ARGV[i], '^(%d+) (%a+) (%d+) ()')
  fid[#fid + 1] = pad(id); fcounter[#fcounter + 1] = counter
  fout[#fout + 1] = string.sub(ARGV[i], at); fdelay[#fdelay + 1] = tonumber(delay) or 0
  members[#members + 1] = fid[#fid]..'@'..token
end
local recorded = {}
if #fid > 0 then
  local held = redis.call('ZMSCORE', L, unpack(members))
  local vals = redis.call('HMGET', J, unpack(fid))
  local release, ended, replies, later, rewrite, untag = {}, {}, {}, {}, {}, {}
  for i, id in ipairs(fid) do
    local h = vals[i] and parse(vals[i])
    if held[i] then release[#release + 1] = members[i] end
    if held[i] and h then hold_slot(h, -1); touched[h.host] = true end
    if fcounter[i] == 'retry' then
      recorded[i] = (held[i] and h) and 1 or 0
      if held[i] and h then
        later[#later + 1] = now + fdelay[i]; later[#later + 1] = id
        rewrite[#rewrite + 1] = id
        rewrite[#rewrite + 1] = header(h, h.rank, h.tries + 1)..string.sub(vals[i], h.at + 1)
      end
    elseif vals[i] then
      ended[#ended + 1] = id
      recorded[i] = 1
      local counter = fcounter[i] == 'failed' and 'failed' or 'completed'
      add(counter, 1)
      if h and h.tag ~= '' then
        local t = untag[h.tag]
        if not t then t = {}; untag[h.tag] = t end
        t[#t + 1] = id
        add('t:'..h.tag..':'..counter, 1)
      end
      if h and h.reply ~= '' then
        local r = replies[h.reply]
        if not r then r = {}; replies[h.reply] = r end
        r[#r + 1] = fout[i]
      end
    else
      recorded[i] = 0
      add('duplicates', 1)
    end
  end
  if #release > 0 then redis.call('ZREM', L, unpack(release)) end
  if #ended > 0 then redis.call('HDEL', J, unpack(ended)) end
  for tag, ids in pairs(untag) do redis.call('SREM', P..'tag:'..tag, unpack(ids)) end
  if #later > 0 then
    many('ZADD', D, later, 4000); many('HSET', J, rewrite, 4000)
    for i = 1, #later, 2 do
      if not st['due'] or later[i] < num('due') then put('due', later[i]) end
    end
  end
  for reply, outs in pairs(replies) do
    local key = P..'reply:'..reply
    if redis.call('RPUSH', key, unpack(outs)) == #outs then redis.call('EXPIRE', key, ttl) end
  end
end
-- 2. retries due: back to their place in the queue
if st['due'] and now >= num('due') then
  local due = redis.call('ZRANGEBYSCORE', D, '-inf', now, 'LIMIT', 0, 200)
  if #due > 0 then
    redis.call('ZREM', D, unpack(due))
    local vals = redis.call('HMGET', J, unpack(due))
    local back = {}
    for i, id in ipairs(due) do
      local h = vals[i] and parse(vals[i])
      if h then back[#back + 1] = h.rank; back[#back + 1] = id end
    end
    if #back > 0 then many('ZADD', Q, back, 4000); woke = woke + #back / 2 end
  end
  local nxt = redis.call('ZRANGE', D, 0, 0, 'WITHSCORES')
  if nxt[2] then put('due', tonumber(nxt[2])) else drop('due') end
end
-- 3. paced hosts whose next start is due: their parked requests come back
if st['paced'] and now >= num('paced') then
  local hosts = redis.call('ZRANGEBYSCORE', P..'paced', '-inf', now, 'LIMIT', 0, 200)
  if #hosts > 0 then
    redis.call('ZREM', P..'paced', unpack(hosts))
    for _, host in ipairs(hosts) do touched[host] = true end
  end
  local nxt = redis.call('ZRANGE', P..'paced', 0, 0, 'WITHSCORES')
  if nxt[2] then put('paced', tonumber(nxt[2])) else drop('paced') end
end
-- 4. expired leases (their workers are presumed dead): back to their place
if now >= num('sweep') then
  put('sweep', now + 250)
  -- a few pace entries a sweep: those that no longer hold anything back go
  local scan = redis.call('HSCAN', P..'pace', st['pcur'] or '0', 'COUNT', 64)
  st['pcur'] = scan[1]; dirty['pcur'] = true
  local stale = {}
  for i = 1, #scan[2], 2 do
    local untl = tonumber(string.match(scan[2][i + 1], ',([%d.]+)$') or '')
    if untl and untl < now and not pace_dirty[scan[2][i]] then stale[#stale + 1] = scan[2][i] end
  end
  if #stale > 0 then redis.call('HDEL', P..'pace', unpack(stale)) end
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
        hold_slot(h, -1); touched[h.host] = true
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
for host, _ in pairs(touched) do woke = woke + unpark(host, limit(host, max)) end
-- 5. lease up to `want` requests, best first, parking those of saturated or paced hosts
local popped, dropped, leases, parked, pace_due, keep = {}, {}, {}, {}, {}, {}
for guard = 1, 8 do
  local need = want - #popped
  if need <= 0 then break end
  local top = redis.call('ZPOPMIN', Q, need)
  if #top == 0 then break end
  local ids = {}
  for i = 1, #top, 2 do ids[#ids + 1] = top[i] end
  local vals = redis.call('HMGET', J, unpack(ids))
  local parsed, hosts, paced_hosts = {}, {}, {}
  for i = 1, #ids do
    local h = vals[i] and parse(vals[i])
    parsed[i] = h
    if h then
      hosts[#hosts + 1] = 'i:'..h.host; hosts[#hosts + 1] = 'p:'..h.host
      hosts[#hosts + 1] = 'm:'..h.host
      if h.pace == '' then h.pace_now = default_pace else h.pace_now = h.pace end
      if h.pace_now ~= '' and pace[h.host] == nil then paced_hosts[#paced_hosts + 1] = h.host end
    end
  end
  load(hosts)
  pace_load(paced_hosts)
  local bad = {}
  for i, id in ipairs(ids) do
    local h = parsed[i]
    if h then
      local go = num('i:'..h.host) < limit(h.host, max)
      if go and h.pace_now ~= '' then
        local gap, interval, burst = string.match(h.pace_now, '^([%d.]+),([%d.]+),(%d+)$')
        gap, interval, burst = tonumber(gap) or 0, tonumber(interval) or 0, tonumber(burst) or 1
        local last, tat = string.match(pace[h.host] or '', '^([%d.]+),([%d.]+)')
        last, tat = tonumber(last) or -1e15, tonumber(tat) or 0
        local at = math.max(last + gap, tat - (burst - 1) * interval)
        if now < at then
          go = false
          if not pace_due[h.host] or at < pace_due[h.host] then pace_due[h.host] = at end
        elseif #popped >= ready then
          -- its pace allows it, but no thread here would start it at once (the pace
          -- counts from the lease): it stays queued for a worker that has one
          go = nil
          keep[#keep + 1] = top[2 * i]; keep[#keep + 1] = id
        else
          local nxt = math.max(tat, now) + interval
          pace[h.host] = string.format('%.0f,%.0f,%.0f', now, nxt, math.max(now + gap, nxt))
          pace_dirty[h.host] = true
        end
      end
      if go then
        hold_slot(h, 1)
        leases[#leases + 1] = now + lease_ms; leases[#leases + 1] = id..'@'..token
        popped[#popped + 1] = {
          id, string.sub(vals[i], h.at + 1), h.priority, h.tries + 1, h.host, h.reply}
      elseif go == false then
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
if #keep > 0 then many('ZADD', Q, keep, 4000) end
for host, at in pairs(pace_due) do
  redis.call('ZADD', P..'paced', at, host)
  if not st['paced'] or at < num('paced') then put('paced', at) end
end
if #leases > 0 then many('ZADD', L, leases, 4000) end
if #popped == 0 and want > 0 and ARGV[6] == '1' then add('idle', 1) end
if woke > 0 and #popped >= want then wake(woke) end
local next_due = -1
for _, f in ipairs({'due', 'paced'}) do
  if st[f] then
    local wait = math.max(0, num(f) - now)
    if next_due < 0 or wait < next_due then next_due = wait end
  end
end
pace_save()
save()
return {st['epoch'], recorded, popped, dropped, warn, next_due, st['aborts'] or '0'}
"""
)

# ARGV: P, token, lease ms, ids. Returns the ids this worker no longer holds.
RENEW: Final = (
    _COMMON
    + """
local members, lost, keep = {}, {}, {}
for i = 4, #ARGV do members[#members + 1] = pad(ARGV[i])..'@'..ARGV[2] end
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
for i = 3, #ARGV do members[#members + 1] = pad(ARGV[i])..'@'..ARGV[2] end
local held = redis.call('ZMSCORE', L, unpack(members))
local mine, ids = {}, {}
for i, m in ipairs(members) do
  if held[i] then mine[#mine + 1] = m; ids[#ids + 1] = pad(ARGV[i + 2]) end
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
    hold_slot(h, -1); touched[h.host] = true
    back[#back + 1] = h.rank; back[#back + 1] = id
  end
end
local woke = #back / 2
if #back > 0 then many('ZADD', Q, back, 4000) end
for host, _ in pairs(touched) do woke = woke + unpark(host, limit(host, max)) end
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
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = pad(ARGV[i]) end
local vals = redis.call('HMGET', J, unpack(ids))
for i, id in ipairs(ids) do out[#out + 1] = cancel_one(id, vals[i]) end
save()
return out
"""
)

# ARGV: P, then request ids. Returns those the queue holds no entry for: ended
# (their outcome went on the producer's list when the entry was removed), or lost
# (dropped as unreadable, deleted by something other than netstack).
MISSING: Final = (
    _COMMON
    + """
local out = {}
for i = 2, #ARGV do
  if redis.call('HEXISTS', J, pad(ARGV[i])) == 0 then out[#out + 1] = ARGV[i] end
end
return out
"""
)

# ARGV: P, id, priority. Returns 1 if the request was waiting (and moved).
SET_PRIORITY: Final = (
    _COMMON
    + """
local id = pad(ARGV[2])
return reprioritise(id, redis.call('HGET', J, id), tonumber(ARGV[3]))
"""
)

# ARGV: P, tag, what (cancel|priority|stats), priority. Cancel or re-rank every
# waiting request of the tag (returns their ids), or its counters:
# {submitted, live, running, completed, failed, cancelled}.
TAGGED: Final = (
    _COMMON
    + """
local tag, what = ARGV[2], ARGV[3]
local key = P..'tag:'..tag
if what == 'stats' then
  local names = {'submitted', 'completed', 'failed', 'cancelled'}
  local f = {}
  for i, n in ipairs(names) do f[i] = 't:'..tag..':'..n end
  f[#f + 1] = 'r:'..tag
  load(f)
  return {num(f[1]), redis.call('SCARD', key), num(f[5]), num(f[2]), num(f[3]), num(f[4])}
end
local ids = redis.call('SMEMBERS', key)
local changed = {}
for i = 1, #ids, 1000 do
  local chunk = {unpack(ids, i, math.min(i + 999, #ids))}
  local vals = redis.call('HMGET', J, unpack(chunk))
  for j, id in ipairs(chunk) do
    local n
    if what == 'cancel' then
      n = cancel_one(id, vals[j])
    else
      n = reprioritise(id, vals[j], tonumber(ARGV[4]))
    end
    if n == 1 then changed[#changed + 1] = id end
    if not vals[j] then redis.call('SREM', key, id) end
  end
end
save()
return changed
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
local woke, hosts = 0, {}
for f, _ in pairs(st) do
  if string.sub(f, 1, 2) == 'p:' then hosts[#hosts + 1] = string.sub(f, 3) end
end
for _, host in ipairs(hosts) do woke = woke + unpark(host, limit(host, tonumber(ARGV[2]))) end
wake(woke)
save()
return 1
"""
)

# ARGV: P, host, slots ('' for max_per_host again). Parked requests of the host come back.
SET_LIMIT: Final = (
    _COMMON
    + """
local host = ARGV[2]
load({'max', 'idle', 'i:'..host, 'p:'..host, 'm:'..host})
if ARGV[3] == '' then drop('m:'..host) else put('m:'..host, tonumber(ARGV[3])) end
wake(unpark(host, limit(host, maxper())))
save()
return 1
"""
)
