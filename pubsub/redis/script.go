package redis

import "github.com/redis/rueidis"

// publishScript appends a batch of events to the log and publishes them
// as one Pub/Sub message: the only writer of the head, the streams and
// the channel, so Redis's one-at-a-time execution of scripts orders them
// all. Each stream entry keeps, in field p, the position of the topic's
// event before it: the floor of a topic (the position of the newest event
// it dropped) is the p of its first entry, or its last position once it
// retains none, so trimming by MAXLEN keeps it without another command.
// A topic's sequence and last position are read once per batch and
// written once at its end, the head too: per event, Redis runs one XADD
// (and a GET and a SET for an idempotency key).
//
// A new topic's first entry has the log's collected position as p (the
// highest floor of the topics removed, see expireScript), as the memory
// broker gives a new topic.
//
// KEYS: 1 meta hash (epoch, head, collected), 2 the set of topic names, then three
// per event: topic hash (seq, last), topic stream, idempotency key (any
// key of the slot without one).
// ARGV: 1 time (Unix ns), 2 history size, 3 idempotency window (ms), 4
// an epoch to use if the log has none, 5 channel, then four per event:
// topic, type, data, idempotency key or "".
//
// It returns {epoch, then per event "position sequence time" and
// duplicate (0 or 1)}. The message is "epoch time\n" followed, per event
// stored, by "position sequence len(topic) len(type) len(data)\n" and the
// three strings (parseMessage).
var publishScript = rueidis.NewLuaScript(`
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'head', 'collected')
local epoch, head, collected = meta[1], tonumber(meta[2]) or 0, tonumber(meta[3]) or 0
if not epoch then
	epoch = ARGV[4]
	redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local now, limit, window = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local topics, reply, msg = {}, {epoch}, {epoch .. ' ' .. now .. '\n'}
local first = head
for i = 0, (#KEYS - 2) / 3 - 1 do
	local k, a = 3 + 3 * i, 6 + 4 * i
	local name, typ, data, idem = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
	local seen = idem ~= '' and redis.call('GET', KEYS[k + 2])
	if seen then
		reply[#reply + 1] = seen
		reply[#reply + 1] = 1
	else
		local t = topics[name]
		if not t then
			local v = redis.call('HMGET', KEYS[k], 'seq', 'last')
			t = {key = KEYS[k], seq = tonumber(v[1]) or 0, last = tonumber(v[2]) or collected}
			topics[name] = t
			if t.seq == 0 then
				redis.call('SADD', KEYS[2], name)
			end
		end
		head = head + 1
		t.seq = t.seq + 1
		local pos, seq = string.format('%d', head), string.format('%d', t.seq)
		if limit > 0 then
			redis.call('XADD', KEYS[k + 1], 'MAXLEN', limit, pos .. '-0',
				'y', typ, 'd', data, 's', seq, 't', now, 'p', string.format('%d', t.last))
		end
		t.last = head
		local receipt = pos .. ' ' .. seq .. ' ' .. now
		if idem ~= '' then
			redis.call('SET', KEYS[k + 2], receipt, 'PX', window)
		end
		reply[#reply + 1] = receipt
		reply[#reply + 1] = 0
		msg[#msg + 1] = pos .. ' ' .. seq .. ' ' .. #name .. ' ' .. #typ .. ' ' .. #data .. '\n' .. name .. typ .. data
	end
end
if head > first then
	for _, t in pairs(topics) do
		redis.call('HSET', t.key, 'seq', string.format('%d', t.seq), 'last', string.format('%d', t.last))
	end
	redis.call('HSET', KEYS[1], 'head', string.format('%d', head))
	redis.call('PUBLISH', ARGV[5], table.concat(msg))
end
return reply
`)

// expireScript drops the events of one topic older than a time (the
// floor follows, from the first entry left) and removes the topic once it
// retains nothing and no replica has said it has subscribers of it since
// another time: its keys and its name go, and the log's collected
// position keeps its floor, so that a cursor from before it still gets a
// gap notice when the topic comes back.
//
// KEYS: 1 topic stream, 2 topic hash (seq, last, live), 3 meta hash, 4
// the set of topic names. ARGV: 1 cutoff (Unix ns), 2 topic, 3 the time
// (Unix ns) before which a replica's word that it has subscribers is
// stale.
// It returns the number of events dropped.
var expireScript = rueidis.NewLuaScript(`
local dropped = 0
while true do
	local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 64)
	if #first == 0 then break end
	local last
	for _, e in ipairs(first) do
		local fields = e[2]
		local t
		for i = 1, #fields, 2 do
			if fields[i] == 't' then t = fields[i + 1] end
		end
		if tonumber(t) >= tonumber(ARGV[1]) then break end
		last = e[1]
		dropped = dropped + 1
	end
	if not last then break end
	local pos = tonumber(string.match(last, '^(%d+)'))
	redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d', pos + 1) .. '-0')
	if last ~= first[#first][1] then break end
end
if redis.call('XLEN', KEYS[1]) == 0 then
	local v = redis.call('HMGET', KEYS[2], 'last', 'live')
	if (tonumber(v[2]) or 0) < tonumber(ARGV[3]) then
		local floor = tonumber(v[1]) or 0
		if floor > (tonumber(redis.call('HGET', KEYS[3], 'collected')) or 0) then
			redis.call('HSET', KEYS[3], 'collected', string.format('%d', floor))
		end
		redis.call('DEL', KEYS[1], KEYS[2])
		redis.call('SREM', KEYS[4], ARGV[2])
	end
end
return dropped
`)

// restartEpochScript gives the log a new epoch if it still has the one a
// replica saw (several replicas that find the same loss agree on one new
// epoch); the head and the streams stay, so positions go on from it.
//
// KEYS: 1 meta hash. ARGV: 1 the epoch seen, 2 the new epoch.
// It returns the log's epoch.
var restartEpochScript = rueidis.NewLuaScript(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch == ARGV[1] then
	redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
	return ARGV[2]
end
return epoch
`)
