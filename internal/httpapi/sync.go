package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
)

// Bulk bodies (events and sync) may be much larger than JSON requests.
const (
	// MaxBulkBytes bounds one NDJSON body; larger bodies are refused whole.
	MaxBulkBytes = 64 << 20
	// maxBulkLine bounds one NDJSON line.
	maxBulkLine = 64 << 10
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

// readBulk reads a whole NDJSON body (refusing oversized ones with 413) and
// calls fn for each non-blank line with its number, counted from 1 over all
// lines, blank ones included.
func (s *Server) readBulk(w http.ResponseWriter, r *http.Request, fn func(n int, line []byte)) bool {
	if !bulkContentType(w, r) {
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBulkBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeCode(w, codeTooLarge, fmt.Sprintf("body exceeds %d bytes; split it into smaller batches", MaxBulkBytes))
			return false
		}
		writeCode(w, codeMalformed, "could not read request body")
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), maxBulkLine)
	n := 0
	for sc.Scan() {
		n++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		fn(n, sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		writeCode(w, codeMalformed, fmt.Sprintf("line %d is longer than %d bytes", n+1, maxBulkLine))
		return false
	}
	return true
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

type syncAccountLine struct {
	ID          string `json:"id"`
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name"`
	BirthDate   string `json:"birth_date"`
	Gender      string `json:"gender"`
	Country     string `json:"country"`
	Type        string `json:"type"`
	// Password optionally lets the account log in to Crowd itself.
	Password string `json:"password"`
}

// syncAccounts upserts the platform's accounts with their own ids. Synced
// accounts have no Crowd password.
func (s *Server) syncAccounts(w http.ResponseWriter, r *http.Request, _ *principal) {
	now := s.now().UTC()
	var accts []platform.Account
	var lines []int
	resp := syncResponse{Rejected: []Rejection{}}
	ok := s.readBulk(w, r, func(n int, line []byte) {
		var l syncAccountLine
		if err := decodeJSON(line, &l); err != nil {
			resp.Rejected = append(resp.Rejected, Rejection{n, codeMalformed, err.Error()})
			return
		}
		a := platform.Account{ID: l.ID, Handle: platform.NormalizeHandle(l.Handle), DisplayName: strings.TrimSpace(l.DisplayName),
			BirthDate: l.BirthDate, Gender: orDefault(l.Gender, platform.GenderUndisclosed), Country: strings.ToUpper(l.Country),
			Type: orDefault(l.Type, platform.TypePersonal), DMPolicy: platform.DMEveryone, CreatedAt: now}
		if a.DisplayName == "" {
			a.DisplayName = a.Handle
		}
		if err := firstErr(validateSyncID(a.ID), platform.ValidateHandle(a.Handle), platform.ValidateDisplayName(a.DisplayName),
			platform.ValidateBirthDate(a.BirthDate, now), platform.ValidateGender(a.Gender), platform.ValidateCountry(a.Country),
			platform.ValidateType(a.Type)); err != nil {
			resp.Rejected = append(resp.Rejected, Rejection{n, platform.ErrorCode(err), platform.ErrorMessage(err)})
			return
		}
		if l.Password != "" {
			if err := platform.ValidatePassword(l.Password); err != nil {
				resp.Rejected = append(resp.Rejected, Rejection{n, platform.ErrorCode(err), platform.ErrorMessage(err)})
				return
			}
			hash, err := security.HashPasswordWith(s.Passwords, l.Password)
			if err != nil {
				resp.Rejected = append(resp.Rejected, Rejection{n, platform.EINTERNAL, "could not hash the password"})
				return
			}
			a.PasswordHash = hash
		}
		accts = append(accts, a)
		lines = append(lines, n)
	})
	if !ok {
		return
	}
	upserted := applySync(w, r, s, &resp, accts, lines, func(part []platform.Account) (map[int]error, error) {
		return s.Store.UpsertAccounts(r.Context(), part)
	}, func(a platform.Account) string { return a.ID })
	if upserted == nil {
		return
	}
	if s.Directory != nil {
		s.Directory.Forget(nil, upserted)
	}
	writeJSON(w, http.StatusOK, resp)
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
	ok := s.readBulk(w, r, func(n int, line []byte) {
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
	upserted := applySync(w, r, s, &resp, vids, lines, func(part []platform.Video) (map[int]error, error) {
		return s.Store.UpsertVideos(r.Context(), part)
	}, func(v platform.Video) string { return v.ID })
	if upserted == nil {
		return
	}
	if s.Directory != nil {
		s.Directory.Forget(upserted, nil)
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
