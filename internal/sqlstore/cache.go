package sqlstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mfad/mfad"
)

// SessionCache keeps the answers of SessionUser, the read of every
// authenticated request, in memory. It is exact for the writes of its own
// process: every write of the Store forgets, after it committed, the
// entries it may have changed (a session by its hash, a user's sessions, an
// account's, or all), and a read that raced with such a write is not kept
// (the generation check of put). Writes of other processes on the same
// database are the store's to notice (SQLite: PRAGMA data_version) and
// answer with ForgetAll.
//
// Only a store whose writes all pass through one process may use it
// unaided. PostgreSQL, which several instances share, uses a leased cache
// (NewLeasedSessionCache): it answers only while its store holds the
// database's lock that keeps every other process from writing, and renews
// the lease as it proves, round trip after round trip, that it still holds
// it (see the postgres package).
type SessionCache struct {
	mu        sync.RWMutex
	gen       uint64 // bumped by every forget
	byHash    map[string]*cachedSession
	byUser    map[string]map[string]struct{}
	byAccount map[string]map[string]struct{}
	max       int

	leased bool         // answers only until `until`
	until  atomic.Int64 // monotonic nanoseconds (mono); 0: revoked
}

// epoch anchors mono: time.Since reads the monotonic clock, which a change
// of the wall clock does not move.
var epoch = time.Now()

func mono() int64 { return int64(time.Since(epoch)) }

type cachedSession struct {
	se mfad.Session
	u  mfad.User
	a  mfad.Account
}

// CacheSessions is how many sessions the stores' caches keep at most (about
// 1 KB each).
const CacheSessions = 20000

// NewSessionCache returns a cache of at most max sessions; past it, new
// reads are not kept until entries are forgotten.
func NewSessionCache(max int) *SessionCache {
	return &SessionCache{byHash: map[string]*cachedSession{}, byUser: map[string]map[string]struct{}{},
		byAccount: map[string]map[string]struct{}{}, max: max}
}

// NewLeasedSessionCache returns a cache of at most max sessions that
// answers nothing until Grant, and only for as long as each Grant says.
func NewLeasedSessionCache(max int) *SessionCache {
	c := NewSessionCache(max)
	c.leased = true
	return c
}

// valid reports whether the cache may answer: always, unless it is leased
// and the lease has run out or was revoked.
func (c *SessionCache) valid() bool {
	return !c.leased || mono() < c.until.Load()
}

// Grant lets a leased cache answer for d from now. A cache whose lease was
// revoked starts empty (Revoke empties it).
func (c *SessionCache) Grant(d time.Duration) {
	c.until.Store(mono() + int64(d))
}

// Revoke stops a leased cache from answering, and empties it: what it held
// may be changed by others from now on.
func (c *SessionCache) Revoke() {
	if c == nil {
		return
	}
	c.until.Store(0)
	c.ForgetAll()
}

// get returns copies of the cached answer for hash.
func (c *SessionCache) get(hash []byte) (*mfad.Session, *mfad.User, *mfad.Account, bool) {
	if !c.valid() {
		return nil, nil, nil, false
	}
	c.mu.RLock()
	e, ok := c.byHash[string(hash)]
	c.mu.RUnlock()
	if !ok {
		return nil, nil, nil, false
	}
	se, u, a := e.se, e.u, e.a
	return &se, &u, &a, true
}

// generation is the generation to hand to put after a read.
func (c *SessionCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put keeps a read made at generation gen, unless something was forgotten
// since (the read may predate that write) or the cache is full.
func (c *SessionCache) put(gen uint64, se *mfad.Session, u *mfad.User, a *mfad.Account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || len(c.byHash) >= c.max || !c.valid() {
		return
	}
	h := string(se.Hash)
	c.byHash[h] = &cachedSession{se: *se, u: *u, a: *a}
	add := func(m map[string]map[string]struct{}, k string) {
		if m[k] == nil {
			m[k] = map[string]struct{}{}
		}
		m[k][h] = struct{}{}
	}
	add(c.byUser, u.ID)
	add(c.byAccount, a.ID)
}

// drop removes one entry; the caller holds mu.
func (c *SessionCache) drop(h string) {
	e, ok := c.byHash[h]
	if !ok {
		return
	}
	delete(c.byHash, h)
	if s := c.byUser[e.u.ID]; s != nil {
		delete(s, h)
		if len(s) == 0 {
			delete(c.byUser, e.u.ID)
		}
	}
	if s := c.byAccount[e.a.ID]; s != nil {
		delete(s, h)
		if len(s) == 0 {
			delete(c.byAccount, e.a.ID)
		}
	}
}

// ForgetSession forgets the session of hash.
func (c *SessionCache) ForgetSession(hash []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.drop(string(hash))
}

// ForgetUsers forgets every session of the users ids.
func (c *SessionCache) ForgetUsers(ids ...string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		for h := range c.byUser[id] {
			c.drop(h)
		}
	}
}

// ForgetAccount forgets every session of the account's users.
func (c *SessionCache) ForgetAccount(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for h := range c.byAccount[id] {
		c.drop(h)
	}
}

// ForgetAll empties the cache.
func (c *SessionCache) ForgetAll() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.byHash = map[string]*cachedSession{}
	c.byUser = map[string]map[string]struct{}{}
	c.byAccount = map[string]map[string]struct{}{}
}

// Len is how many sessions are kept.
func (c *SessionCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byHash)
}
