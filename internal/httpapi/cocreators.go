package httpapi

import (
	"net/http"

	"github.com/crowd-dev/crowd/internal/platform"
)

// Co-creators by consent. Listing an account as a co-creator (at creation,
// by PUT /v1/videos/{id}/cocreators/{handle}, or by sync) invites it; it
// becomes one of the video's creators, with their analytics rights, only
// when it accepts (PUT /v1/me/cocreations/{id}). Either side ends it: the
// owner removes the co-creator, the co-creator leaves (or declines). While
// pending, the invitee reads nothing of the video's analytics: the same 403
// as any other account, because the video itself is public.

// creatorsChanged tells aggregation that the creators of videos changed: it
// credits account numbers to a video's creators.
func (s *Server) creatorsChanged(videoIDs ...string) {
	if s.Aggregation != nil && len(videoIDs) > 0 {
		s.Aggregation.ForgetCreators(videoIDs)
	}
}

type invitationList struct {
	Invitations []platform.Invitation `json:"invitations"`
}

// invitations lists the caller's pending co-creator invitations.
func (s *Server) invitations(w http.ResponseWriter, r *http.Request, p *principal) {
	list, err := s.Store.Invitations(r.Context(), p.account.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, invitationList{Invitations: list})
}

// acceptCoCreation accepts the caller's invitation to the video in the path.
// Accepting twice is fine; without an invitation it is 404.
func (s *Server) acceptCoCreation(w http.ResponseWriter, r *http.Request, p *principal) {
	v, ok := s.video(w, r)
	if !ok {
		return
	}
	if v.OwnerID == p.account.ID {
		writeCode(w, platform.EINVALID, "you own this video")
		return
	}
	changed, err := s.Store.AcceptCoCreation(r.Context(), v.ID, p.account.ID, s.now().UTC())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if changed {
		s.creatorsChanged(v.ID)
	}
	s.writeVideo(w, r, v.ID)
}

// leaveCoCreation ends the caller's co-creation of the video in the path:
// declining a pending invitation or leaving an accepted one.
func (s *Server) leaveCoCreation(w http.ResponseWriter, r *http.Request, p *principal) {
	v, ok := s.video(w, r)
	if !ok {
		return
	}
	if v.OwnerID == p.account.ID {
		writeCode(w, platform.EINVALID, "the owner cannot leave their own video")
		return
	}
	s.removeCoCreatorOf(w, r, v, p.account.ID)
}

func (s *Server) removeCoCreatorOf(w http.ResponseWriter, r *http.Request, v *platform.Video, accountID string) {
	wasAccepted, err := s.Store.RemoveCoCreator(r.Context(), v.ID, accountID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if wasAccepted {
		s.creatorsChanged(v.ID)
	}
	w.WriteHeader(http.StatusNoContent)
}

// ownedVideo loads the video in the path and checks the caller owns it.
func (s *Server) ownedVideo(w http.ResponseWriter, r *http.Request, p *principal) (*platform.Video, bool) {
	v, ok := s.video(w, r)
	if !ok {
		return nil, false
	}
	if v.OwnerID != p.account.ID {
		writeCode(w, platform.EFORBIDDEN, "only the video's owner manages its co-creators")
		return nil, false
	}
	return v, true
}

// coCreatorAccount resolves the {handle} of the path to an account other
// than the owner's.
func (s *Server) coCreatorAccount(w http.ResponseWriter, r *http.Request, v *platform.Video) (*platform.Account, bool) {
	h := platform.NormalizeHandle(r.PathValue("handle"))
	a, err := s.Store.AccountByHandle(r.Context(), h)
	if err != nil {
		if platform.ErrorCode(err) == platform.ENOTFOUND {
			err = platform.Errorf(platform.ENOTFOUND, "no account %q", h)
		}
		s.writeError(w, r, err)
		return nil, false
	}
	if a.ID == v.OwnerID {
		writeCode(w, platform.EINVALID, "the owner is not a co-creator")
		return nil, false
	}
	return a, true
}

type coCreatorList struct {
	CoCreators []platform.CoCreator `json:"cocreators"`
}

// videoCoCreators lists a video's co-creators, accepted and pending, for its
// owner.
func (s *Server) videoCoCreators(w http.ResponseWriter, r *http.Request, p *principal) {
	v, ok := s.ownedVideo(w, r, p)
	if !ok {
		return
	}
	list, err := s.Store.CoCreators(r.Context(), v.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, coCreatorList{CoCreators: list})
}

// inviteCoCreator invites an account to be a co-creator of the owner's
// video. Inviting again changes nothing.
func (s *Server) inviteCoCreator(w http.ResponseWriter, r *http.Request, p *principal) {
	v, ok := s.ownedVideo(w, r, p)
	if !ok {
		return
	}
	a, ok := s.coCreatorAccount(w, r, v)
	if !ok {
		return
	}
	c, err := s.Store.InviteCoCreator(r.Context(), v.ID, a.ID, platform.MaxCollaborators, s.now().UTC())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c.Handle = a.Handle
	writeJSON(w, http.StatusOK, c)
}

// removeCoCreator is the owner removing a co-creator, or withdrawing an
// invitation.
func (s *Server) removeCoCreator(w http.ResponseWriter, r *http.Request, p *principal) {
	v, ok := s.ownedVideo(w, r, p)
	if !ok {
		return
	}
	a, ok := s.coCreatorAccount(w, r, v)
	if !ok {
		return
	}
	s.removeCoCreatorOf(w, r, v, a.ID)
}
