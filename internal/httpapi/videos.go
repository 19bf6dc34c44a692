package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
	"github.com/crowd-dev/crowd/internal/store"
)

type createVideoRequest struct {
	Title         string   `json:"title"`
	Caption       string   `json:"caption"`
	Hashtags      []string `json:"hashtags"`
	Sound         string   `json:"sound"`
	Collaborators []string `json:"collaborators"`
}

func (s *Server) createVideo(w http.ResponseWriter, r *http.Request, p *principal) {
	var req createVideoRequest
	if !s.decode(w, r, &req) {
		return
	}
	tags, err := platform.ValidateVideo(req.Title, req.Caption, req.Sound, req.Hashtags)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Collaborators) > platform.MaxCollaborators {
		writeCode(w, platform.EINVALID, "at most "+strconv.Itoa(platform.MaxCollaborators)+" collaborators")
		return
	}
	v := &platform.Video{
		ID: security.NewID(), OwnerID: p.account.ID, Owner: p.account.Handle,
		Title: strings.TrimSpace(req.Title), Caption: req.Caption, Hashtags: tags, Sound: req.Sound,
		CreatedAt:  s.now().UTC(),
		Creators:   []string{p.account.Handle},
		CreatorIDs: []string{p.account.ID},
	}
	for _, h := range req.Collaborators {
		h = platform.NormalizeHandle(h)
		c, err := s.Store.AccountByHandle(r.Context(), h)
		if err != nil {
			if platform.ErrorCode(err) == platform.ENOTFOUND {
				writeCode(w, platform.EINVALID, "collaborator "+strconv.Quote(h)+" does not exist")
				return
			}
			s.writeError(w, r, err)
			return
		}
		if v.IsCreator(c.ID) || slices.Contains(v.InvitedIDs, c.ID) {
			continue
		}
		// Listing is an invitation: the co-creator accepts it, or not.
		v.InvitedIDs = append(v.InvitedIDs, c.ID)
		v.Invited = append(v.Invited, c.Handle)
	}
	if err := s.Store.CreateVideo(r.Context(), v); err != nil {
		s.writeError(w, r, err)
		return
	}
	v.Counts = &platform.Counts{}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) getVideo(w http.ResponseWriter, r *http.Request, _ *principal) {
	s.writeVideo(w, r, r.PathValue("id"))
}

// writeVideo answers the public video id with its counters.
func (s *Server) writeVideo(w http.ResponseWriter, r *http.Request, id string) {
	v, err := s.Store.Video(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	vs := []platform.Video{*v}
	if err := s.withCounts(r, vs); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, vs[0])
}

// videoList is a page of videos; Next continues it.
type videoList struct {
	Videos []platform.Video `json:"videos"`
	Next   string           `json:"next,omitempty"`
}

func (s *Server) feed(w http.ResponseWriter, r *http.Request, _ *principal) {
	pg, ok := s.page(w, r)
	if !ok {
		return
	}
	vs, err := s.Store.RecentVideos(r.Context(), pg)
	s.writeVideos(w, r, vs, pg, err)
}

func (s *Server) accountVideos(w http.ResponseWriter, r *http.Request, _ *principal) {
	pg, ok := s.page(w, r)
	if !ok {
		return
	}
	a, err := s.Store.AccountByHandle(r.Context(), platform.NormalizeHandle(r.PathValue("handle")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	vs, err := s.Store.AccountVideos(r.Context(), a.ID, pg)
	s.writeVideos(w, r, vs, pg, err)
}

func (s *Server) saved(w http.ResponseWriter, r *http.Request, p *principal) {
	pg, ok := s.page(w, r)
	if !ok {
		return
	}
	vs, next, err := s.Store.Saved(r.Context(), p.account.ID, pg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if vs == nil {
		vs = []platform.Video{}
	}
	if err := s.withCounts(r, vs); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, videoList{Videos: vs, Next: next})
}

func (s *Server) writeVideos(w http.ResponseWriter, r *http.Request, vs []platform.Video, pg store.Page, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if vs == nil {
		vs = []platform.Video{}
	}
	if err := s.withCounts(r, vs); err != nil {
		s.writeError(w, r, err)
		return
	}
	out := videoList{Videos: vs}
	if len(vs) == pg.Limit {
		last := vs[len(vs)-1]
		out.Next = store.Cursor(last.CreatedAt, last.ID)
	}
	writeJSON(w, http.StatusOK, out)
}

// withCounts fills the public counters from the disclosure layer.
func (s *Server) withCounts(r *http.Request, vs []platform.Video) error {
	if len(vs) == 0 {
		return nil
	}
	ids := make([]string, len(vs))
	for i := range vs {
		ids[i] = vs[i].ID
	}
	counts, err := s.Counter.VideoCounts(r.Context(), ids)
	if err != nil {
		return err
	}
	for i := range vs {
		c := counts[vs[i].ID]
		vs[i].Counts = &c
	}
	return nil
}

// page reads ?limit= (1–100, default 50) and ?before= (a cursor).
func (s *Server) page(w http.ResponseWriter, r *http.Request) (store.Page, bool) {
	q := r.URL.Query()
	pg := store.Page{Limit: 50, Before: q.Get("before")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			writeCode(w, platform.EINVALID, "limit must be a whole number from 1 to 100")
			return pg, false
		}
		pg.Limit = n
	}
	if !store.ValidCursor(pg.Before) {
		writeCode(w, platform.EINVALID, "before must be a cursor from a previous page's next")
		return pg, false
	}
	return pg, true
}
