package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// The demo's creators and their shared password, which `crowd demo` prints.
const (
	// Business is the handle of the demo's business account.
	Business = "mia"
	// Personal is the handle of the demo's personal account.
	Personal = "leo"
	// Password logs in mia, leo and the demo's friendly viewers.
	Password = "crowd-demo"
)

// Config shapes the demo world. The zero value of a field means its default
// (DefaultConfig), so Config{Seed: 7} is a full-size world of seed 7.
type Config struct {
	// Seed decides everything random: the same seed makes the same world.
	Seed uint64
	// Creators is how many accounts publish videos; mia and leo are the
	// first two, so at least 2.
	Creators int
	// Viewers is how many accounts watch, like, save and share.
	Viewers int
	// Videos is how many videos the creators published.
	Videos int
	// Days is how far back the history goes.
	Days int
	// Events is roughly how many engagement events are streamed to
	// POST /v1/events. 450,000 keeps `crowd demo` around a minute on two
	// cores while giving every video a believable history.
	Events int
	// Batch is how many events one POST /v1/events carries: the size the
	// product documents for bulk ingestion.
	Batch int
	// Workers is how many batches are in flight at once. Two keep the
	// server busy without starving its aggregation of CPU.
	Workers int
	// Now is where the history ends; zero means time.Now().
	Now time.Time
	// Progress, when set, is told how far the fill has got; it is called
	// from one goroutine at a time.
	Progress func(Progress)
}

// Progress is a report of how far Fill has got.
type Progress struct {
	Stage string // "accounts", "videos", "events", "sessions"
	Done  int    // events sent so far (stage "events")
	Total int    // events to send (stage "events")
}

// DefaultConfig is the full demo world.
func DefaultConfig() Config {
	return Config{Seed: 1, Creators: 60, Viewers: 5000, Videos: 500, Days: 90, Events: 450_000, Batch: 10_000, Workers: 2}
}

// withDefaults fills zero fields from DefaultConfig and checks the rest.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	if c.Creators == 0 {
		c.Creators = d.Creators
	}
	if c.Viewers == 0 {
		c.Viewers = d.Viewers
	}
	if c.Videos == 0 {
		c.Videos = d.Videos
	}
	if c.Days == 0 {
		c.Days = d.Days
	}
	if c.Events == 0 {
		c.Events = d.Events
	}
	if c.Batch == 0 {
		c.Batch = d.Batch
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	c.Now = c.Now.UTC().Truncate(time.Second)
	switch {
	case c.Creators < 2:
		return c, fmt.Errorf("demo config: creators %d: need at least 2 (mia and leo)", c.Creators)
	case c.Viewers < len(friendNames):
		return c, fmt.Errorf("demo config: viewers %d: need at least %d", c.Viewers, len(friendNames))
	case c.Videos < 12:
		return c, fmt.Errorf("demo config: videos %d: need at least 12 (mia and leo get several each)", c.Videos)
	case c.Days < 7 || c.Days > 365:
		return c, fmt.Errorf("demo config: days %d: must be from 7 to 365", c.Days)
	case c.Events < 1000:
		return c, fmt.Errorf("demo config: events %d: need at least 1000", c.Events)
	case c.Batch < 1 || c.Workers < 1:
		return c, fmt.Errorf("demo config: batch %d and workers %d must be positive", c.Batch, c.Workers)
	}
	return c, nil
}

// Summary says what Fill created. For a given seed and size it is always
// the same.
type Summary struct {
	Creators int `json:"creators"`
	Viewers  int `json:"viewers"`
	Videos   int `json:"videos"`
	// Days is how far back the history goes.
	Days int `json:"days"`
	// Events is how many events were streamed to POST /v1/events.
	Events   int `json:"events"`
	Views    int `json:"views"`
	Likes    int `json:"likes"`
	Unlikes  int `json:"unlikes"`
	Comments int `json:"comments"`
	Saves    int `json:"saves"`
	Unsaves  int `json:"unsaves"`
	Shares   int `json:"shares"`
	// Cascades is how many shares set off a burst of shared views.
	Cascades int `json:"cascades"`
	// Sessions counts what logged-in accounts did through the API.
	Logins      int `json:"logins"`
	Follows     int `json:"follows"`
	APILikes    int `json:"api_likes"`
	APIComments int `json:"api_comments"`
	Messages    int `json:"messages"`
}

// account is an account of the world.
type account struct {
	id, handle, name     string
	birth, gender, cntry string
	business             bool
	password             bool
	niche                int
}

// video is a video of the world.
type video struct {
	id       string
	owner    int   // index into creators
	collabs  []int // indexes into creators
	title    string
	caption  string
	tags     []string
	sound    string
	age      time.Duration // how long before Now it was published
	duration int64         // length in ms
	finish   float64       // probability a view watches to the end
	rank     int           // popularity rank, 0 the most popular
	viral    bool          // its shares set off large cascades
}

// World is a generated demo world: its accounts, videos and the engagement
// between them, ready to be sent.
type World struct {
	cfg      Config
	creators []account
	viewers  []account
	videos   []video
	// friends are indexes into viewers of the accounts with a password.
	friends []int
	// hot is mia's video that is going viral this week.
	hot int
	// videoCum and viewerCum are cumulative popularity weights.
	videoCum  []float64
	viewerCum []float64
	viewerIdx []int
}

// NewWorld generates the accounts and videos of cfg's world.
func NewWorld(cfg Config) (*World, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &World{cfg: cfg}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6372_6f77_6464_656d)) // "crowddem"
	w.makeCreators(r)
	w.makeViewers(r)
	w.makeVideos(r)
	return w, nil
}

// Summary returns the accounts and videos of w; Fill adds the rest.
func (w *World) Summary() Summary {
	return Summary{Creators: len(w.creators), Viewers: len(w.viewers), Videos: len(w.videos), Days: w.cfg.Days}
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// choose picks one of cs in proportion to their weights.
func choose(r *rand.Rand, cs []choice) string {
	total := 0.0
	for _, c := range cs {
		total += c.weight
	}
	f := r.Float64() * total
	for _, c := range cs {
		f -= c.weight
		if f < 0 {
			return c.name
		}
	}
	return cs[len(cs)-1].name
}

func nicheIndex(name string) int {
	for i, n := range niches {
		if n.name == name {
			return i
		}
	}
	return 0
}

func (w *World) makeCreators(r *rand.Rand) {
	for i := range w.cfg.Creators {
		a := account{id: fmt.Sprintf("acct-%04d", i+1)}
		if i < len(creatorSeeds) {
			s := creatorSeeds[i]
			a.handle, a.name, a.niche = s.handle, s.name, nicheIndex(s.niche)
		} else {
			a.niche = r.IntN(len(niches))
			a.handle = fmt.Sprintf("%s.creator%d", niches[a.niche].name, i+1)
			a.name = strings.ToUpper(niches[a.niche].name[:1]) + niches[a.niche].name[1:] + " creator " + strconv.Itoa(i+1)
		}
		w.fillDemographics(r, &a)
		// A fifth of the creators run business accounts; mia is one, leo
		// is not.
		a.business = i == 0 || (i > 1 && r.IntN(5) == 0)
		a.password = i < 2
		w.creators = append(w.creators, a)
	}
}

// fillDemographics gives a an age from 13 to 70, a gender and a country,
// with the skews of a real audience; a few leave some of it out.
func (w *World) fillDemographics(r *rand.Rand, a *account) {
	total := 0.0
	for _, b := range ageBands {
		total += b.weight
	}
	band, f := ageBands[len(ageBands)-1], r.Float64()*total
	for _, b := range ageBands {
		if f -= b.weight; f < 0 {
			band = b
			break
		}
	}
	age := band.from + r.IntN(band.to-band.from+1)
	// Born between age and age+1 years ago, at least a week clear of a
	// birthday so the age bucket cannot flip during the fill.
	a.birth = w.cfg.Now.AddDate(-age, 0, -(7 + r.IntN(350))).Format(time.DateOnly)
	a.gender = choose(r, genders)
	a.cntry = choose(r, countries)
	switch r.IntN(40) {
	case 0:
		a.birth = ""
	case 1:
		a.cntry = ""
	}
}

func (w *World) makeViewers(r *rand.Rand) {
	taken := map[string]bool{}
	for _, c := range w.creators {
		taken[c.handle] = true
	}
	for i := range w.cfg.Viewers {
		a := account{id: fmt.Sprintf("acct-%04d", w.cfg.Creators+i+1)}
		if i < len(friendNames) {
			a.handle, a.name, a.password = friendNames[i].handle, friendNames[i].name, true
			w.friends = append(w.friends, i)
		} else {
			first := pick(r, firstNames)
			last := lastInitials[r.IntN(len(lastInitials))]
			h := first + pick(r, handleWords)
			if strings.HasSuffix(h, ".") || strings.HasSuffix(h, "_") {
				h += string(last)
			}
			if r.IntN(2) == 0 || taken[h] {
				h += strconv.Itoa(r.IntN(100))
			}
			for taken[h] {
				h += strconv.Itoa(r.IntN(10))
			}
			a.handle = h
			a.name = strings.ToUpper(first[:1]) + first[1:] + " " + strings.ToUpper(string(last)) + "."
		}
		taken[a.handle] = true
		w.fillDemographics(r, &a)
		w.viewers = append(w.viewers, a)
	}
	// Heavy viewers watch far more than light ones: a Zipf-like weight over
	// a shuffled order, so activity is not tied to account ids.
	w.viewerIdx = r.Perm(len(w.viewers))
	w.viewerCum = cumulative(len(w.viewers), func(i int) float64 { return 1 / math.Pow(float64(i+10), 0.8) })
}

func cumulative(n int, weight func(int) float64) []float64 {
	out := make([]float64, n)
	sum := 0.0
	for i := range n {
		sum += weight(i)
		out[i] = sum
	}
	return out
}

func sample(r *rand.Rand, cum []float64) int {
	return min(sort.SearchFloat64s(cum, r.Float64()*cum[len(cum)-1]), len(cum)-1)
}

func (w *World) makeVideos(r *rand.Rand) {
	n := w.cfg.Videos
	days := time.Duration(w.cfg.Days) * 24 * time.Hour
	// Owners: mia publishes 8, leo 4, the rest share the remainder with a
	// skew (some creators post daily, most now and then).
	owners := make([]int, 0, n)
	for range 8 {
		owners = append(owners, 0)
	}
	for range 4 {
		owners = append(owners, 1)
	}
	if w.cfg.Creators > 2 {
		others := cumulative(w.cfg.Creators-2, func(i int) float64 { return 1 / float64(i+3) })
		for len(owners) < n {
			owners = append(owners, 2+sample(r, others))
		}
	}
	for len(owners) < n {
		owners = append(owners, len(owners)%2)
	}
	ranks := r.Perm(n)
	for i := range n {
		v := video{id: fmt.Sprintf("vid-%04d", i+1), owner: owners[i], rank: ranks[i]}
		nc := niches[w.creators[v.owner].niche]
		v.title = pick(r, nc.titles)
		if r.IntN(4) == 0 {
			v.title += " (part " + strconv.Itoa(2+r.IntN(3)) + ")"
		}
		v.caption = pick(r, nc.captions)
		for _, t := range r.Perm(len(nc.tags))[:2+r.IntN(3)] {
			v.tags = append(v.tags, nc.tags[t])
		}
		if r.IntN(3) == 0 {
			v.tags = append(v.tags, "fyp")
		}
		v.caption += " #" + strings.Join(v.tags, " #")
		if r.IntN(5) < 2 {
			v.sound = "original sound - " + w.creators[v.owner].handle
		} else {
			v.sound = pick(r, sounds)
		}
		v.age = time.Duration(r.Int64N(int64(days)))
		v.duration = int64(7_000 + r.IntN(53_000))
		v.finish = 0.2 + 0.4*r.Float64()
		// One video in ten is a collaboration.
		if w.cfg.Creators > 2 && r.IntN(10) == 0 {
			c := 2 + r.IntN(w.cfg.Creators-2)
			if c != v.owner {
				v.collabs = append(v.collabs, c)
			}
		}
		w.videos = append(w.videos, v)
	}
	w.shapeStars(r)
	w.videoCum = cumulative(n, func(i int) float64 { return 1 / math.Pow(float64(w.videos[i].rank+2), 1.05) })
}

// shapeStars arranges the story the demo tells: mia's newest video is
// going viral this week, a few other videos had their viral moment, mia has
// collaborations (one with leo), and leo's own videos are modest.
func (w *World) shapeStars(r *rand.Rand) {
	byRank := make([]int, len(w.videos))
	for i, v := range w.videos {
		byRank[v.rank] = i
	}
	swapRank := func(vi, rank int) {
		other := byRank[rank]
		w.videos[other].rank, w.videos[vi].rank = w.videos[vi].rank, rank
		byRank[w.videos[other].rank], byRank[rank] = other, vi
	}
	// mia's videos are 0–7, leo's 8–11.
	w.hot = 0
	hot := &w.videos[0]
	hot.title = "Our cardamom buns sold out in 20 minutes"
	hot.caption = "The recipe everyone asked for. #baking #bakery #fyp"
	hot.tags = []string{"baking", "bakery", "fyp"}
	hot.age = 4*24*time.Hour + 7*time.Hour
	hot.viral = true
	hot.finish = 0.55
	n := len(w.videos)
	swapRank(0, 1)
	swapRank(2, 6)            // mia's second-best
	swapRank(4, min(20, n-1)) // and a solid third
	swapRank(1, max(7, n/3))  // the collaboration with leo does fine
	for i := 8; i < 12; i++ { // leo's own videos are modest
		swapRank(i, n/2+(i-8)*n/10)
	}
	w.videos[1].collabs = []int{1} // mia × leo
	if w.cfg.Creators > 2 {
		w.videos[3].collabs = []int{2 + r.IntN(w.cfg.Creators-2)}
	}
	for i := 8; i < 12; i++ {
		w.videos[i].collabs = nil // leo's own
	}
	// Three more viral moments elsewhere, at different times.
	for _, rank := range []int{0, 3, 9} {
		vi := byRank[rank]
		if vi >= 12 {
			w.videos[vi].viral = true
		}
	}
	for i := range w.videos {
		v := &w.videos[i]
		v.collabs = slices.DeleteFunc(v.collabs, func(c int) bool { return c == v.owner })
	}
}

// syncAccounts returns the accounts as POST /v1/sync/accounts lines.
func (w *World) syncAccounts() []client.SyncAccount {
	out := make([]client.SyncAccount, 0, len(w.creators)+len(w.viewers))
	for _, list := range [][]account{w.creators, w.viewers} {
		for _, a := range list {
			s := client.SyncAccount{ID: a.id, Handle: a.handle, DisplayName: a.name, BirthDate: a.birth,
				Gender: a.gender, Country: a.cntry, Type: "personal"}
			if a.business {
				s.Type = "business"
			}
			if a.password {
				s.Password = Password
			}
			out = append(out, s)
		}
	}
	return out
}

// syncVideos returns the videos as POST /v1/sync/videos lines.
func (w *World) syncVideos() []client.SyncVideo {
	out := make([]client.SyncVideo, 0, len(w.videos))
	for _, v := range w.videos {
		s := client.SyncVideo{ID: v.id, Owner: w.creators[v.owner].id, Title: v.title, Caption: v.caption,
			Hashtags: v.tags, Sound: v.sound, CreatedAt: w.cfg.Now.Add(-v.age).Format(time.RFC3339)}
		for _, c := range v.collabs {
			s.Collaborators = append(s.Collaborators, w.creators[c].id)
		}
		// The demo platform asked its collaborators: they are co-creators
		// at once, not invitations.
		s.AcceptedCollaborators = s.Collaborators
		out = append(out, s)
	}
	return out
}
