package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
)

// emit makes an event that changes no domain state (a view, an external
// share) durable: straight to the event log through the group commit, where
// concurrent requests share one fsync, or through the outbox when there is
// no log.
func (s *Server) emit(ctx context.Context, ev event.Event) error {
	if s.Committer != nil {
		if err := s.Committer.Commit(ctx, ev); err != nil {
			return err
		}
	} else {
		if err := s.Store.AppendEvents(ctx, ev); err != nil {
			return err
		}
		s.Relay.Wake()
	}
	s.metrics.accepted.WithLabelValues("single").Inc()
	return nil
}

// video loads the video named in the path, answering 404 itself.
func (s *Server) video(w http.ResponseWriter, r *http.Request) (*platform.Video, bool) {
	v, err := s.Store.Video(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return v, true
}

type viewRequest struct {
	Source    string `json:"source"`
	WatchMS   int64  `json:"watch_ms"`
	Completed bool   `json:"completed"`
}

// view records a view. Logged-out views count too, with no viewer at all.
func (s *Server) view(w http.ResponseWriter, r *http.Request, p *principal) {
	var req viewRequest
	if !s.decode(w, r, &req) {
		return
	}
	if !platform.ValidSource(req.Source) {
		writeCode(w, platform.EINVALID, "source must be one of "+strings.Join(platform.Sources, ", "))
		return
	}
	if req.WatchMS < 0 || req.WatchMS > platform.MaxWatchMS {
		writeCode(w, platform.EINVALID, "watch_ms must be from 0 to "+strconv.Itoa(platform.MaxWatchMS))
		return
	}
	v, ok := s.viewedVideo(w, r)
	if !ok {
		return
	}
	if !s.recordView(w, r, v, p.account, req.Source, req.WatchMS, req.Completed) {
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// viewedVideo resolves the video of a view from the directory cache when
// there is one: a view needs only the video's id, and this is the hottest
// single-event route.
func (s *Server) viewedVideo(w http.ResponseWriter, r *http.Request) (*platform.Video, bool) {
	if s.Directory == nil {
		return s.video(w, r)
	}
	id := r.PathValue("id")
	refs, err := s.Directory.Videos(r.Context(), []string{id})
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	ref, ok := refs[id]
	if !ok {
		writeCode(w, platform.ENOTFOUND, "video not found")
		return nil, false
	}
	return &platform.Video{ID: ref.ID, OwnerID: ref.OwnerID}, true
}

func (s *Server) recordView(w http.ResponseWriter, r *http.Request, v *platform.Video, a *platform.Account, source string, watchMS int64, completed bool) bool {
	ev, err := s.viewEvent(v, a, source, watchMS, completed, s.now().UTC())
	if err == nil {
		err = s.emit(r.Context(), ev)
	}
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

func (s *Server) like(w http.ResponseWriter, r *http.Request, p *principal) {
	s.setState(w, r, p, event.Like, "liked", true)
}

func (s *Server) unlike(w http.ResponseWriter, r *http.Request, p *principal) {
	s.setState(w, r, p, event.Unlike, "liked", false)
}

func (s *Server) save(w http.ResponseWriter, r *http.Request, p *principal) {
	s.setState(w, r, p, event.Save, "saved", true)
}

func (s *Server) unsave(w http.ResponseWriter, r *http.Request, p *principal) {
	s.setState(w, r, p, event.Unsave, "saved", false)
}

// setState likes, unlikes, saves or unsaves, idempotently.
func (s *Server) setState(w http.ResponseWriter, r *http.Request, p *principal, typ, field string, on bool) {
	v, ok := s.video(w, r)
	if !ok {
		return
	}
	at := s.now().UTC()
	var changed bool
	var err error
	if field == "liked" {
		changed, err = s.Store.SetLike(r.Context(), v.ID, p.account.ID, at, on, s.engagementEvent(typ, v.ID, p.account, at))
	} else {
		changed, err = s.Store.SetSave(r.Context(), v.ID, p.account.ID, at, on, s.privateEvent(typ, v, p.account, at))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if changed {
		s.Relay.Wake()
	}
	writeJSON(w, http.StatusOK, map[string]any{"video_id": v.ID, field: on})
}

type commentRequest struct {
	Text string `json:"text"`
}

func (s *Server) comment(w http.ResponseWriter, r *http.Request, p *principal) {
	var req commentRequest
	if !s.decode(w, r, &req) {
		return
	}
	if err := platform.ValidateCommentText(req.Text); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, ok := s.video(w, r)
	if !ok {
		return
	}
	at := s.now().UTC()
	c := &platform.Comment{ID: security.NewID(), VideoID: v.ID, AuthorID: p.account.ID, Author: p.account.Handle, Text: req.Text, CreatedAt: at}
	if err := s.Store.CreateComment(r.Context(), c, s.engagementEvent(event.Comment, v.ID, p.account, at)); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Relay.Wake()
	writeJSON(w, http.StatusCreated, c)
}

type commentList struct {
	Comments []platform.Comment `json:"comments"`
	Next     string             `json:"next,omitempty"`
}

func (s *Server) comments(w http.ResponseWriter, r *http.Request, _ *principal) {
	pg, ok := s.page(w, r)
	if !ok {
		return
	}
	v, ok := s.video(w, r)
	if !ok {
		return
	}
	cs, err := s.Store.Comments(r.Context(), v.ID, pg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := commentList{Comments: cs}
	if len(cs) == pg.Limit {
		out.Next = cursorOf(cs[len(cs)-1].CreatedAt, cs[len(cs)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteComment deletes the caller's own comment. Someone else's comment is
// 403: comments are public, so its existence is no secret.
func (s *Server) deleteComment(w http.ResponseWriter, r *http.Request, p *principal) {
	c, err := s.Store.Comment(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if c.AuthorID != p.account.ID {
		writeCode(w, platform.EFORBIDDEN, "you can delete only your own comments")
		return
	}
	if err := s.Store.DeleteComment(r.Context(), c.ID, s.engagementEvent(event.CommentDelete, c.VideoID, p.account, s.now().UTC())); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Relay.Wake()
	w.WriteHeader(http.StatusNoContent)
}

type shareRequest struct {
	Channel string `json:"channel"`
}

type shareResponse struct {
	VideoID string `json:"video_id"`
	URL     string `json:"url,omitempty"`
}

// share records a share to an external app or a copied link and returns the
// video's share URL. The URL is the same for every sharer: it names the
// video and nothing else. A "dm" share is sent with POST /v1/messages.
func (s *Server) share(w http.ResponseWriter, r *http.Request, p *principal) {
	var req shareRequest
	if !s.decode(w, r, &req) {
		return
	}
	if !platform.ValidChannel(req.Channel) {
		writeCode(w, platform.EINVALID, "channel must be one of "+strings.Join(platform.Channels, ", "))
		return
	}
	if req.Channel == platform.ChannelDM {
		writeCode(w, platform.EINVALID, "send a direct message with POST /v1/messages")
		return
	}
	v, ok := s.video(w, r)
	if !ok {
		return
	}
	if err := s.emit(r.Context(), s.privateEvent(event.Share, v, p.account, s.now().UTC())); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, shareResponse{VideoID: v.ID, URL: s.shareURL(r, v.ID)})
}

func (s *Server) shareURL(r *http.Request, videoID string) string {
	return s.baseURL(r) + "/s/" + videoID
}

// openShare is where a share URL leads: it shows the video and counts a view
// with source "shared".
func (s *Server) openShare(w http.ResponseWriter, r *http.Request, p *principal) {
	v, ok := s.video(w, r)
	if !ok {
		return
	}
	if !s.recordView(w, r, v, p.account, platform.SourceShared, 0, false) {
		return
	}
	vs := []platform.Video{*v}
	if err := s.withCounts(r, vs); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, vs[0])
}
