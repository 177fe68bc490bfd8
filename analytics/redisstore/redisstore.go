// Package redisstore keeps the risk engine's State in Redis, shared by every node: a
// device learnt on one node is known on all, a failed login counts everywhere, and
// impossible travel is seen between events that two nodes scored.
//
// Cost on the hot path: Load is one pipelined round trip (up to six commands). The
// writes (Observe, and the standing-risk escalations) are one script each and belong
// behind the Engine's write-behind queue (analytics.Config.WriteBehind), so a request
// waits for the read only. Nothing is cached in the process: a local copy of the
// baseline would save that round trip only by letting nodes disagree about the last
// place and the failure counts, which are the point of sharing.
//
// Keys, under the deployment's prefix:
//
//	risk:sub:{subject}   hash: seen, last place (lat lon acc country city at), standing (st st_at st_code st_msg)
//	risk:dev:{subject}   sorted set: device id -> last seen (ms), at most MaxKnown
//	risk:net:{subject}   sorted set: network -> last seen (ms), at most MaxKnown
//	risk:sess:<session>  string: the session's first-seen values, set once
//	risk:fu:<user>       sorted set: recent failed logins of the user (ms)
//	risk:fip:<address>   sorted set: recent failed logins from the address (ms)
//
// The subject's keys share a hash tag, so its script runs on one slot of a Redis
// Cluster. Every key expires by itself.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weft-fabric/weft/analytics"
)

// Options configures the store. Zero fields take their defaults.
type Options struct {
	// Prefix is put before every key (the deployment's redis_prefix).
	Prefix string
	// MaxKnown is how many devices, and networks, a subject keeps (default 32).
	MaxKnown int
	// MaxFailures is how many recent failures a counter keeps (default 256).
	MaxFailures int
	// TTL forgets a subject's baseline unused this long (default 90 days).
	TTL time.Duration
	// SessionTTL forgets a session's baseline this long after it was first seen
	// (default 30 days).
	SessionTTL time.Duration
	// FailureTTL is the longest failure window a counter serves (default 24h).
	FailureTTL time.Duration
	// ReadTimeout bounds Load, which a request waits for (default 50ms): a slow
	// Redis costs a request this much at most, and the request is scored without it.
	ReadTimeout time.Duration
	// WriteTimeout bounds the writes (default 500ms).
	WriteTimeout time.Duration
}

// Store implements analytics.State on Redis.
type Store struct {
	rdb  redis.UniversalClient
	o    Options
	p    string
	seq  atomic.Uint64
	node string // distinguishes this process's failure members from another's
}

var _ analytics.State = (*Store)(nil)

// New makes a store over rdb.
func New(rdb redis.UniversalClient, o Options) *Store {
	if o.MaxKnown <= 0 {
		o.MaxKnown = 32
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 256
	}
	if o.TTL <= 0 {
		o.TTL = 90 * 24 * time.Hour
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 30 * 24 * time.Hour
	}
	if o.FailureTTL <= 0 {
		o.FailureTTL = 24 * time.Hour
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 50 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 500 * time.Millisecond
	}
	return &Store{rdb: rdb, o: o, p: o.Prefix + "risk:", node: strconv.FormatInt(time.Now().UnixNano(), 36)}
}

func (s *Store) subKey(subject string) string  { return s.p + "sub:{" + subject + "}" }
func (s *Store) devKey(subject string) string  { return s.p + "dev:{" + subject + "}" }
func (s *Store) netKey(subject string) string  { return s.p + "net:{" + subject + "}" }
func (s *Store) sessKey(session string) string { return s.p + "sess:" + session }
func (s *Store) userKey(user string) string    { return s.p + "fu:" + user }
func (s *Store) ipKey(ip string) string        { return s.p + "fip:" + ip }

func ms(t time.Time) int64 { return t.UnixMilli() }

var subFields = []string{"seen", "lat", "lon", "acc", "country", "city", "at", "st", "st_at", "st_code", "st_msg"}

// Load implements analytics.State in one pipelined round trip.
func (s *Store) Load(ctx context.Context, q analytics.Query) (analytics.Snapshot, error) {
	var (
		snap             analytics.Snapshot
		sub              *redis.SliceCmd
		dev, net         *redis.FloatCmd
		sess             *redis.StringCmd
		userFail, ipFail *redis.IntCmd
	)
	ctx, cancel := context.WithTimeout(ctx, s.o.ReadTimeout)
	defer cancel()
	at := ms(q.At)
	from := strconv.FormatInt(at-q.FailureWindow.Milliseconds(), 10)
	to := strconv.FormatInt(at, 10)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if q.Subject != "" {
			sub = p.HMGet(ctx, s.subKey(q.Subject), subFields...)
			if q.DeviceID != "" {
				dev = p.ZScore(ctx, s.devKey(q.Subject), q.DeviceID)
			}
			if q.Network != "" {
				net = p.ZScore(ctx, s.netKey(q.Subject), q.Network)
			}
		}
		if q.SessionID != "" {
			sess = p.Get(ctx, s.sessKey(q.SessionID))
		}
		if q.User != "" {
			userFail = p.ZCount(ctx, s.userKey(q.User), "("+from, to)
		}
		if q.IP != "" {
			ipFail = p.ZCount(ctx, s.ipKey(q.IP), "("+from, to)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return analytics.Snapshot{}, fmt.Errorf("redis risk load: %w", err)
	}
	ttl := s.o.TTL.Milliseconds()
	if sub != nil {
		v := sub.Val()
		if seen, ok := num(v[0]); ok {
			snap.Subject.Seen, snap.Subject.SeenAt = true, time.UnixMilli(int64(seen)).UTC()
		}
		if placeAt, ok := num(v[6]); ok && at-int64(placeAt) < ttl {
			lat, _ := num(v[1])
			lon, _ := num(v[2])
			acc, _ := num(v[3])
			snap.Subject.Last = analytics.Place{Lat: lat, Lon: lon, AccuracyKM: uint16(acc), Country: str(v[4]), City: str(v[5]),
				At: time.UnixMilli(int64(placeAt)).UTC()}
			snap.Subject.HasLast = true
		}
		if st, ok := num(v[7]); ok {
			stAt, _ := num(v[8])
			snap.Standing = analytics.Standing{Score: st, At: time.UnixMilli(int64(stAt)).UTC(),
				Reason: analytics.Reason{Code: str(v[9]), Message: str(v[10])}}
		}
	}
	known := func(c *redis.FloatCmd) bool {
		if c == nil || c.Err() != nil {
			return false
		}
		return at-int64(c.Val()) < ttl
	}
	snap.Subject.DeviceKnown, snap.Subject.NetworkKnown = known(dev), known(net)
	if sess != nil && sess.Err() == nil {
		snap.Session = decodeSession(sess.Val())
	}
	if userFail != nil {
		snap.UserFailures = int(userFail.Val())
	}
	if ipFail != nil {
		snap.IPFailures = int(ipFail.Val())
	}
	return snap, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) (float64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// The session's first-seen values are one string, fields joined by a unit separator
// (removed from the values, which are ids and codes).
const sep = "\x1f"

func encodeSession(o analytics.Observation) string {
	clean := func(s string) string { return strings.ReplaceAll(s, sep, "") }
	return strconv.FormatInt(ms(o.At), 10) + sep + clean(o.Country) + sep + clean(o.Network) + sep + clean(o.DeviceID)
}

func decodeSession(v string) analytics.SessionView {
	f := strings.Split(v, sep)
	if len(f) != 4 {
		return analytics.SessionView{}
	}
	at, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return analytics.SessionView{}
	}
	return analytics.SessionView{Seen: true, At: time.UnixMilli(at).UTC(), Country: f[1], Network: f[2], DeviceID: f[3]}
}

// observe records a subject's request atomically: the place only if it is the latest,
// devices and networks with their last-seen time, trimmed to the most recent.
var observe = redis.NewScript(`
local at, ttl, maxk = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local seen = tonumber(redis.call("HGET", KEYS[1], "seen") or "-1")
if at > seen then
  redis.call("HSET", KEYS[1], "seen", ARGV[1])
end
if ARGV[4] == "1" then
  local pairs = {{KEYS[2], ARGV[5]}, {KEYS[3], ARGV[6]}}
  for _, kv in ipairs(pairs) do
    if kv[2] ~= "" then
      redis.call("ZADD", kv[1], "GT", at, kv[2])
      redis.call("ZREMRANGEBYRANK", kv[1], 0, -(maxk + 1))
      redis.call("PEXPIRE", kv[1], ttl)
    end
  end
end
if ARGV[7] == "1" then
  local last = tonumber(redis.call("HGET", KEYS[1], "at") or "-1")
  if at >= last then
    redis.call("HSET", KEYS[1], "lat", ARGV[8], "lon", ARGV[9], "acc", ARGV[10], "country", ARGV[11], "city", ARGV[12], "at", ARGV[1])
  end
end
redis.call("PEXPIRE", KEYS[1], ttl)
return 1
`)

// Observe implements analytics.State in one round trip (two when Redis has lost the
// script, after a restart).
func (s *Store) Observe(ctx context.Context, o analytics.Observation) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.WriteTimeout)
	defer cancel()
	err := s.observe(ctx, o)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = observe.Load(ctx, s.rdb).Err(); err == nil {
			err = s.observe(ctx, o)
		}
	}
	if err != nil {
		return fmt.Errorf("redis risk observe: %w", err)
	}
	return nil
}

func (s *Store) observe(ctx context.Context, o analytics.Observation) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if o.Subject != "" {
			learn, located := "0", "0"
			if o.Learn {
				learn = "1"
			}
			if o.Located {
				located = "1"
			}
			at := o.At
			if o.Located {
				at = o.Place.At
			}
			observe.EvalSha(ctx, p, []string{s.subKey(o.Subject), s.devKey(o.Subject), s.netKey(o.Subject)},
				ms(at), s.o.TTL.Milliseconds(), s.o.MaxKnown, learn, o.DeviceID, o.Network, located,
				strconv.FormatFloat(o.Place.Lat, 'f', -1, 64), strconv.FormatFloat(o.Place.Lon, 'f', -1, 64),
				o.Place.AccuracyKM, o.Place.Country, o.Place.City)
		}
		if o.SessionID != "" {
			p.SetNX(ctx, s.sessKey(o.SessionID), encodeSession(o), s.o.SessionTTL)
		}
		return nil
	})
	return err
}

// AddFailure implements analytics.State.
func (s *Store) AddFailure(ctx context.Context, user, ip string, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.WriteTimeout)
	defer cancel()
	member := strconv.FormatInt(ms(at), 10) + ":" + s.node + ":" + strconv.FormatUint(s.seq.Add(1), 36)
	oldest := strconv.FormatInt(ms(at)-s.o.FailureTTL.Milliseconds(), 10)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, key := range []string{ifSet(user, s.userKey), ifSet(ip, s.ipKey)} {
			if key == "" {
				continue
			}
			p.ZAdd(ctx, key, redis.Z{Score: float64(ms(at)), Member: member})
			p.ZRemRangeByScore(ctx, key, "-inf", "("+oldest)
			p.ZRemRangeByRank(ctx, key, 0, int64(-(s.o.MaxFailures + 1)))
			p.PExpire(ctx, key, s.o.FailureTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis risk add failure: %w", err)
	}
	return nil
}

func ifSet(id string, key func(string) string) string {
	if id == "" {
		return ""
	}
	return key(id)
}

// raise decays the standing risk to now, adds the amount, caps it at 100 and keeps
// the reason, atomically, so raises from several nodes add up.
var raise = redis.NewScript(`
local at, amount, hl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cur = tonumber(redis.call("HGET", KEYS[1], "st") or "0")
local since = tonumber(redis.call("HGET", KEYS[1], "st_at") or ARGV[1])
if at > since and hl > 0 then
  cur = cur * math.pow(2, -(at - since) / hl)
end
local v = math.min(cur + amount, 100)
redis.call("HSET", KEYS[1], "st", string.format("%.6f", v), "st_at", ARGV[1], "st_code", ARGV[4], "st_msg", ARGV[5])
redis.call("PEXPIRE", KEYS[1], ARGV[6])
return 1
`)

// RaiseStanding implements analytics.State.
func (s *Store) RaiseStanding(ctx context.Context, subject string, amount float64, reason analytics.Reason, halfLife time.Duration, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.WriteTimeout)
	defer cancel()
	err := raise.Run(ctx, s.rdb, []string{s.subKey(subject)}, ms(at), strconv.FormatFloat(amount, 'f', -1, 64),
		halfLife.Milliseconds(), reason.Code, reason.Message, s.o.TTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redis risk raise: %w", err)
	}
	return nil
}
