package redis

import "github.com/redis/rueidis"

// publishScript appends one event to the log: the only writer of the
// head, the streams and the channel, so Redis's one-at-a-time execution
// of scripts orders them all. Each stream entry keeps, in field p, the
// position of the topic's event before it: the floor of a topic (the
// position of the newest event it dropped) is the p of its first entry,
// or its last position once it retains none, so trimming by MAXLEN keeps
// it without another command.
//
// KEYS: 1 meta hash (epoch, head), 2 topic hash (seq, floor), 3 topic
// stream, 4 idempotency key (unused without one), 5 the set of topic names.
// ARGV: 1 topic, 2 type, 3 data, 4 time (Unix ns), 5 history size, 6
// idempotency window (ms), 7 an epoch to use if the log has none, 8
// channel, 9 idempotency key or "".
//
// It returns {epoch, "position sequence time", duplicate (0 or 1)}.
var publishScript = rueidis.NewLuaScript(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
	epoch = ARGV[7]
	redis.call('HSET', KEYS[1], 'epoch', epoch, 'head', 0)
end
if ARGV[9] ~= '' then
	local seen = redis.call('GET', KEYS[4])
	if seen then
		return {epoch, seen, 1}
	end
end
local pos = redis.call('HINCRBY', KEYS[1], 'head', 1)
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local prev = redis.call('HGET', KEYS[2], 'last') or '0'
redis.call('HSET', KEYS[2], 'last', pos)
if seq == 1 then
	redis.call('SADD', KEYS[5], ARGV[1])
end
local limit = tonumber(ARGV[5])
if limit > 0 then
	redis.call('XADD', KEYS[3], 'MAXLEN', limit, pos .. '-0', 'y', ARGV[2], 'd', ARGV[3], 's', seq, 't', ARGV[4], 'p', prev)
end
local receipt = pos .. ' ' .. seq .. ' ' .. ARGV[4]
if ARGV[9] ~= '' then
	redis.call('SET', KEYS[4], receipt, 'PX', ARGV[6])
end
redis.call('PUBLISH', ARGV[8], epoch .. '\n' .. receipt .. '\n' .. ARGV[1] .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
return {epoch, receipt, 0}
`)

// trimAgeScript drops the events of one topic stream older than a time
// (the floor follows, from the first entry left).
//
// KEYS: 1 topic stream. ARGV: 1 cutoff (Unix ns).
// It returns the number of events dropped.
var trimAgeScript = rueidis.NewLuaScript(`
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
	redis.call('XTRIM', KEYS[1], 'MINID', (pos + 1) .. '-0')
	if last ~= first[#first][1] then break end
end
return dropped
`)
