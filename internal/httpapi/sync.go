package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crowd-dev/crowd/internal/ingest"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
	"github.com/crowd-dev/crowd/internal/store"
)

// The limits of every bulk (NDJSON) body: POST /v1/events,
// /v1/sync/accounts and /v1/sync/videos share them, and a body over any of
// them is refused whole, 413, before anything is applied (checkBulkLines).
// docs/OPERATIONS.md ("Bulk limits") and openapi.json document them.
const (
	// MaxBulkBytes bounds one NDJSON body: 413 too_large.
	MaxBulkBytes = 64 << 20
	// MaxBulkLines bounds the lines of one body, blank ones included:
	// line MaxBulkLines+1 is 413 too_many_lines with its number.
	MaxBulkLines = ingest.DefaultMaxLines
	// MaxBulkLineBytes bounds one line, not counting its line end ("\n" or
	// "\r\n") nor a leading byte order mark: a longer one is 413
	// line_too_long with its number.
	MaxBulkLineBytes = ingest.DefaultMaxLineBytes
	// syncChunk is how many lines one sync transaction applies.
	syncChunk = 5000
)

// Rejection is an NDJSON line that was not applied.
type Rejection struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type syncResponse struct {
	Upserted int         `json:"upserted"`
	Rejected []Rejection `json:"rejected"`
}

// readBulk reads a whole NDJSON body (refusing oversized ones with 413,
// slow ones with 408), takes a bulk slot and calls fn for each non-blank
// line with its number, counted from 1 over all lines, blank ones
// included. When ok, the caller holds the slot and the body's memory
// until it calls release.
func (s *Server) readBulk(w http.ResponseWriter, r *http.Request, fn func(n int, line []byte)) (release func(), ok bool) {
	if !bulkContentType(w, r) {
		return nil, false
	}
	body, done, ok := s.bulkBody(w, r, "split it into smaller batches")
	if !ok {
		return nil, false
	}
	free, ok := s.admit(w, r)
	if !ok {
		done()
		return nil, false
	}
	rel := func() { free(); done() }
	defer func() {
		if !ok {
			rel()
		}
	}()
	// Invalid UTF-8 anywhere refuses the whole body, before anything is
	// applied, as POST /v1/events does: JSON decoding would otherwise turn
	// it silently into U+FFFD.
	if !utf8.Valid(body) {
		n := invalidUTF8Line(body)
		writeLineCode(w, codeMalformed, fmt.Sprintf("line %d is not valid UTF-8; nothing was applied", n), n)
		return nil, false
	}
	if _, within := checkBulkLines(w, body); !within {
		return nil, false
	}
	n := 0
	for rest := body; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		n++
		if n == 1 {
			line = bytes.TrimPrefix(line, bom)
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		fn(n, line)
	}
	return rel, true
}

// bom is UTF-8's byte order mark, allowed at the start of a bulk body.
var bom = []byte("\xef\xbb\xbf")

// checkBulkLines checks the line limits shared by every bulk body
// (MaxBulkLines, MaxBulkLineBytes) and answers 413 naming the first
// failing line when one is over. It returns the lines it counted and
// whether the body is within the limits.
func checkBulkLines(w http.ResponseWriter, body []byte) (lines int, ok bool) {
	n := 0
	for rest := body; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		n++
		if n > MaxBulkLines {
			writeLineCode(w, codeTooManyLines, fmt.Sprintf("the body has more than %d lines (line %d); nothing was applied: send smaller batches", MaxBulkLines, n), n)
			return n, false
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, bom)
		}
		if len(bytes.TrimSuffix(line, []byte("\r"))) > MaxBulkLineBytes {
			writeLineCode(w, codeLineTooLong, fmt.Sprintf("line %d is longer than %d bytes; nothing was applied", n, MaxBulkLineBytes), n)
			return n, false
		}
	}
	return n, true
}

// invalidUTF8Line returns the number of the first line of body holding
// invalid UTF-8, counted from 1.
func invalidUTF8Line(body []byte) int {
	n := 1
	for len(body) > 0 {
		line, rest, _ := bytes.Cut(body, []byte("\n"))
		if !utf8.Valid(line) {
			return n
		}
		body, n = rest, n+1
	}
	return n
}

// bulkContentType accepts NDJSON bodies (or none declared) and answers 415
// otherwise.
func bulkContentType(w http.ResponseWriter, r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" || strings.HasPrefix(ct, "application/x-ndjson") || strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "application/jsonl") {
		return true
	}
	writeCode(w, codeUnsupported, "Content-Type must be application/x-ndjson")
	return false
}

// syncAccountLine is one line of POST /v1/sync/accounts. A field that is
// absent or null leaves the stored value alone (a new account gets the
// default); a field given, even "", sets it ("" meaning the default, as at
// registration).
type syncAccountLine struct {
	ID          string  `json:"id"`
	Handle      *string `json:"handle"`
	DisplayName *string `json:"display_name"`
	BirthDate   *string `json:"birth_date"`
	Gender      *string `json:"gender"`
	Country     *string `json:"country"`
	Type        *string `json:"type"`
	// Password optionally lets the account log in to Crowd itself. It is
	// applied only to an account without a Crowd password: a sync never
	// replaces one.
	Password *string `json:"password"`
}

// syncAccounts upserts the platform's accounts with their own ids, changing
// only the fields each line gives and never a Crowd password.
func (s *Server) syncAccounts(w http.ResponseWriter, r *http.Request, _ *principal) {
	now := s.now().UTC()
	var parsed []syncAccountLine
	var lines []int
	resp := syncResponse{Rejected: []Rejection{}}
	release, ok := s.readBulk(w, r, func(n int, line []byte) {
		var l syncAccountLine
		if err := decodeJSON(line, &l); err != nil {
			resp.Rejected = append(resp.Rejected, Rejection{n, codeMalformed, err.Error()})
			return
		}
		if err := normalizeSyncAccount(&l, now); err != nil {
			resp.Rejected = append(resp.Rejected, Rejection{n, platform.ErrorCode(err), platform.ErrorMessage(err)})
			return
		}
		parsed = append(parsed, l)
		lines = append(lines, n)
	})
	if !ok {
		return
	}
	defer release()
	// Hash only the passwords that can be stored: those of accounts that
	// have none yet.
	var withPassword []string
	for _, l := range parsed {
		if l.Password != nil && *l.Password != "" {
			withPassword = append(withPassword, l.ID)
		}
	}
	hasPassword, err := s.Store.AccountsWithPassword(r.Context(), withPassword)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	accts := make([]store.AccountSync, 0, len(parsed))
	keep := make([]int, 0, len(lines))
	for i, l := range parsed {
		a := store.AccountSync{ID: l.ID, Handle: l.Handle, DisplayName: l.DisplayName, BirthDate: l.BirthDate,
			Gender: l.Gender, Country: l.Country, Type: l.Type, CreatedAt: now}
		if l.Password != nil && *l.Password != "" && !hasPassword[l.ID] {
			hash, err := security.HashPasswordWith(s.Passwords, *l.Password)
			if err != nil {
				resp.Rejected = append(resp.Rejected, Rejection{lines[i], platform.EINTERNAL, "could not hash the password"})
				continue
			}
			a.PasswordHash = hash
		}
		accts = append(accts, a)
		keep = append(keep, lines[i])
	}
	upserted := applySync(w, r, s, &resp, accts, keep, func(part []store.AccountSync) (map[int]error, error) {
		return s.Store.UpsertAccounts(r.Context(), part)
	}, func(a store.AccountSync) string { return a.ID })
	if upserted == nil {
		return
	}
	// The directory learns of the accounts from the store
	// (store.WatchAccounts).
	writeJSON(w, http.StatusOK, resp)
}

// normalizeSyncAccount normalizes and validates the fields a line gives,
// with the defaults of registration for "".
func normalizeSyncAccount(l *syncAccountLine, now time.Time) error {
	norm := func(v *string, f func(string) string) {
		if v != nil {
			*v = f(*v)
		}
	}
	norm(l.Handle, platform.NormalizeHandle)
	norm(l.DisplayName, strings.TrimSpace)
	norm(l.Country, strings.ToUpper)
	norm(l.Gender, func(g string) string { return orDefault(g, platform.GenderUndisclosed) })
	norm(l.Type, func(t string) string { return orDefault(t, platform.TypePersonal) })
	errs := []error{validateSyncID(l.ID)}
	check := func(v *string, f func(string) error) {
		if v != nil {
			errs = append(errs, f(*v))
		}
	}
	check(l.Handle, platform.ValidateHandle)
	check(l.DisplayName, func(d string) error {
		if d == "" {
			return nil // the handle, as at registration
		}
		return platform.ValidateDisplayName(d)
	})
	check(l.BirthDate, func(d string) error { return platform.ValidateBirthDate(d, now) })
	check(l.Gender, platform.ValidateGender)
	check(l.Country, platform.ValidateCountry)
	check(l.Type, platform.ValidateType)
	check(l.Password, func(p string) error {
		if p == "" {
			return nil
		}
		return platform.ValidatePassword(p)
	})
	return firstErr(errs...)
}

// applySync applies parsed lines in chunks of syncChunk (one transaction
// each) with upsert, recording rejections and the count in resp. It returns
// the ids upserted, or nil after answering an error.
func applySync[T any](w http.ResponseWriter, r *http.Request, s *Server, resp *syncResponse, items []T, lines []int,
	upsert func([]T) (map[int]error, error), idOf func(T) string) []string {
	ids := []string{}
	for i := 0; i < len(items); i += syncChunk {
		end := min(i+syncChunk, len(items))
		bad, err := upsert(items[i:end])
		if err != nil {
			s.writeError(w, r, err)
			return nil
		}
		for j := i; j < end; j++ {
			if e := bad[j-i]; e != nil {
				resp.Rejected = append(resp.Rejected, Rejection{lines[j], platform.ErrorCode(e), platform.ErrorMessage(e)})
			} else {
				resp.Upserted++
				ids = append(ids, idOf(items[j]))
			}
		}
	}
	sortRejections(resp.Rejected)
	return ids
}

type syncVideoLine struct {
	ID            string   `json:"id"`
	Owner         string   `json:"owner"`
	Collaborators []string `json:"collaborators"`
	// AcceptedCollaborators are the collaborators who consented on the
	// platform; the others are invited and pending until they accept
	// through Crowd.
	AcceptedCollaborators []string  `json:"accepted_collaborators"`
	Title                 string    `json:"title"`
	Caption               string    `json:"caption"`
	Hashtags              []string  `json:"hashtags"`
	Sound                 string    `json:"sound"`
	CreatedAt             time.Time `json:"created_at"`
}

// syncVideos upserts the platform's videos with their own ids; owner and
// collaborators are account ids. Collaborators are invitations, pending
// until they accept through Crowd, except those the line lists in
// accepted_collaborators: the platform collected their consent.
func (s *Server) syncVideos(w http.ResponseWriter, r *http.Request, _ *principal) {
	now := s.now().UTC()
	var vids []platform.Video
	var lines []int
	resp := syncResponse{Rejected: []Rejection{}}
	release, ok := s.readBulk(w, r, func(n int, line []byte) {
		var l syncVideoLine
		if err := decodeJSON(line, &l); err != nil {
			resp.Rejected = append(resp.Rejected, Rejection{n, codeMalformed, err.Error()})
			return
		}
		if l.Title == "" {
			l.Title = "Untitled"
		}
		tags, err := platform.ValidateVideo(l.Title, l.Caption, l.Sound, l.Hashtags)
		if err == nil {
			err = firstErr(validateSyncID(l.ID), validateSyncID(l.Owner))
		}
		if err == nil && len(l.Collaborators) > platform.MaxCollaborators {
			err = platform.Errorf(platform.EINVALID, "at most %d collaborators", platform.MaxCollaborators)
		}
		if err == nil {
			for _, c := range l.AcceptedCollaborators {
				if !slices.Contains(l.Collaborators, c) {
					err = platform.Errorf(platform.EINVALID, "accepted collaborator %q is not among collaborators", c)
					break
				}
			}
		}
		if err == nil && l.CreatedAt.After(now.Add(5*time.Minute)) {
			err = platform.Errorf(platform.EINVALID, "created_at is in the future")
		}
		if err != nil {
			resp.Rejected = append(resp.Rejected, Rejection{n, platform.ErrorCode(err), platform.ErrorMessage(err)})
			return
		}
		if l.CreatedAt.IsZero() {
			l.CreatedAt = now
		}
		v := platform.Video{ID: l.ID, OwnerID: l.Owner, Title: l.Title, Caption: l.Caption, Hashtags: tags, Sound: l.Sound,
			CreatedAt: l.CreatedAt.UTC(), CreatorIDs: []string{l.Owner}}
		for _, c := range l.Collaborators {
			switch {
			case v.IsCreator(c) || slices.Contains(v.InvitedIDs, c):
			case slices.Contains(l.AcceptedCollaborators, c):
				v.CreatorIDs = append(v.CreatorIDs, c)
			default:
				v.InvitedIDs = append(v.InvitedIDs, c)
			}
		}
		vids = append(vids, v)
		lines = append(lines, n)
	})
	if !ok {
		return
	}
	defer release()
	var gen uint64 // the directory's videos as the upserts began
	if s.Directory != nil {
		gen = s.Directory.VideoGeneration()
	}
	upserted := applySync(w, r, s, &resp, vids, lines, func(part []platform.Video) (map[int]error, error) {
		return s.Store.UpsertVideos(r.Context(), part)
	}, func(v platform.Video) string { return v.ID })
	if upserted == nil {
		return
	}
	if s.Directory != nil {
		// Cached as stored: the upsert set each video's owner.
		owners := make(map[string]string, len(vids))
		for _, v := range vids {
			owners[v.ID] = v.OwnerID
		}
		refs := make([]store.VideoRef, 0, len(upserted))
		for _, id := range upserted {
			refs = append(refs, store.VideoRef{ID: id, OwnerID: owners[id]})
		}
		s.Directory.PutVideos(gen, refs...)
	}
	s.creatorsChanged(upserted...)
	writeJSON(w, http.StatusOK, resp)
}

// validateSyncID checks a platform-chosen id: 1–128 printable ASCII
// characters without spaces or slashes, so it is safe in a URL path.
func validateSyncID(id string) error {
	if id == "" || len(id) > 128 {
		return platform.Errorf(platform.EINVALID, "id must be 1 to 128 characters")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '/' || c == '?' || c == '#' || c == '%' {
			return platform.Errorf(platform.EINVALID, "id %q may contain only printable ASCII without spaces, '/', '?', '#' or '%%'", id)
		}
	}
	return nil
}

func sortRejections(rs []Rejection) {
	slices.SortStableFunc(rs, func(a, b Rejection) int { return a.Line - b.Line })
}
