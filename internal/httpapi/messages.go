package httpapi

import (
	"net/http"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/security"
)

type sendRequest struct {
	To      string `json:"to"`
	VideoID string `json:"video_id"`
	Text    string `json:"text"`
}

// sendMessage sends a video to another account by direct message, subject to
// the recipient's dm_policy. It counts as a share, and the share event is no
// different from any other share's.
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request, p *principal) {
	var req sendRequest
	if !s.decode(w, r, &req) {
		return
	}
	if req.To == "" || req.VideoID == "" {
		writeCode(w, platform.EINVALID, "to and video_id are required")
		return
	}
	if err := platform.ValidateMessageText(req.Text); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	to, err := s.Store.AccountByHandle(ctx, platform.NormalizeHandle(req.To))
	if err != nil {
		s.writeError(w, r, platform.Errorf(platform.ENOTFOUND, "no account %q", req.To))
		return
	}
	if to.ID == p.account.ID {
		writeCode(w, platform.EINVALID, "you cannot send a message to yourself")
		return
	}
	v, err := s.Store.Video(ctx, req.VideoID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch to.DMPolicy {
	case platform.DMNobody:
		writeCode(w, platform.EFORBIDDEN, to.Handle+" does not accept direct messages")
		return
	case platform.DMFollowing:
		ok, err := s.Store.Follows(ctx, to.ID, p.account.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !ok {
			writeCode(w, platform.EFORBIDDEN, to.Handle+" accepts direct messages only from accounts they follow")
			return
		}
	}
	at := s.now().UTC()
	m := &platform.Message{
		ID: security.NewID(), SenderID: p.account.ID, RecipientID: to.ID,
		From: p.account.Handle, To: to.Handle, VideoID: v.ID, Video: v, Text: req.Text, CreatedAt: at,
	}
	if err := s.Store.SendMessage(ctx, m, s.privateEvent(event.Share, v, p.account, at)); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Relay.Wake()
	writeJSON(w, http.StatusCreated, m)
}

type messageList struct {
	Messages []platform.Message `json:"messages"`
	Next     string             `json:"next,omitempty"`
}

func (s *Server) inbox(w http.ResponseWriter, r *http.Request, p *principal) {
	s.listMessages(w, r, p, true)
}

func (s *Server) sent(w http.ResponseWriter, r *http.Request, p *principal) {
	s.listMessages(w, r, p, false)
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, p *principal, inbox bool) {
	pg, ok := s.page(w, r)
	if !ok {
		return
	}
	list := s.Store.Sent
	if inbox {
		list = s.Store.Inbox
	}
	ms, err := list(r.Context(), p.account.ID, pg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := messageList{Messages: ms}
	if len(ms) == pg.Limit {
		out.Next = cursorOf(ms[len(ms)-1].CreatedAt, ms[len(ms)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, p *principal) {
	m, err := s.Store.Message(r.Context(), r.PathValue("id"), p.account.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// openMessage is the recipient opening a received video: it counts a view
// with source "shared", like a share link does.
func (s *Server) openMessage(w http.ResponseWriter, r *http.Request, p *principal) {
	ctx := r.Context()
	m, err := s.Store.Message(ctx, r.PathValue("id"), p.account.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if m.RecipientID != p.account.ID {
		writeCode(w, platform.EFORBIDDEN, "only the recipient opens a message")
		return
	}
	if m.Video == nil {
		writeCode(w, platform.ENOTFOUND, "the video no longer exists")
		return
	}
	at := s.now().UTC()
	ev, err := s.viewEvent(m.Video, p.account, platform.SourceShared, 0, false, at)
	if err == nil {
		err = s.Store.OpenMessage(ctx, m.ID, p.account.ID, at, ev)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Relay.Wake()
	if m.OpenedAt == nil {
		m.OpenedAt = &at
	}
	writeJSON(w, http.StatusOK, m)
}
