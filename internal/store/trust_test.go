package store_test

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
)

// TestStore_ReadReceipts: the sender sees a message's opened_at only when
// the recipient had read receipts on when opening it and still has them on;
// the recipient always sees its own.
func TestStore_ReadReceipts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		leo := MustAccount(t, s, "leo")
		ana := MustAccount(t, s, "ana")
		v := MustVideo(t, s, "v1", leo)
		on, off := true, false
		send := func(id string) {
			m := &platform.Message{ID: id, SenderID: leo.ID, RecipientID: ana.ID, VideoID: v.ID, CreatedAt: t0}
			if err := s.SendMessage(ctx, m, ev("send-"+id, event.Share, v.ID)); err != nil {
				t.Fatal(err)
			}
		}
		open := func(id string) {
			if err := s.OpenMessage(ctx, id, ana.ID, t0.Add(time.Hour), ev("open-"+id, event.View, v.ID)); err != nil {
				t.Fatal(err)
			}
		}
		receipts := func(b *bool) {
			if a, err := s.UpdateAccount(ctx, ana.ID, store.AccountPatch{ReadReceipts: b}); err != nil || a.ReadReceipts != *b {
				t.Fatalf("set read receipts %v: %+v, %v", *b, a, err)
			}
		}
		opened := func(id, viewer string) bool {
			t.Helper()
			m, err := s.Message(ctx, id, viewer)
			if err != nil {
				t.Fatal(err)
			}
			list, err := s.Sent(ctx, leo.ID, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if viewer == leo.ID {
				for _, l := range list {
					if l.ID == id && (l.OpenedAt != nil) != (m.OpenedAt != nil) {
						t.Fatalf("sent list and message disagree on %s", id)
					}
				}
			}
			return m.OpenedAt != nil
		}
		if a, err := s.Account(ctx, ana.ID); err != nil || a.ReadReceipts {
			t.Fatalf("read receipts must be off by default: %+v, %v", a, err)
		}

		// Off: the sender's view is the same before and after.
		send("m1")
		before, _ := s.Message(ctx, "m1", leo.ID)
		open("m1")
		after, _ := s.Message(ctx, "m1", leo.ID)
		if !reflect.DeepEqual(before, after) || after.OpenedAt != nil {
			t.Fatalf("with receipts off the sender saw a change: %+v then %+v", before, after)
		}
		if !opened("m1", ana.ID) {
			t.Fatal("the recipient does not see her own opened state")
		}
		// Turning receipts on later does not disclose an open made while off.
		receipts(&on)
		if opened("m1", leo.ID) {
			t.Fatal("turning receipts on disclosed an earlier open")
		}
		// On: the sender sees it, until the recipient turns receipts off.
		send("m2")
		if opened("m2", leo.ID) {
			t.Fatal("unopened message shows opened")
		}
		open("m2")
		if !opened("m2", leo.ID) {
			t.Fatal("with receipts on the sender does not see the open")
		}
		receipts(&off)
		if opened("m2", leo.ID) || !opened("m2", ana.ID) {
			t.Fatal("turning receipts off must hide opens from the sender only")
		}
	})
}

// TestStore_CoCreatorInvitations: an invited co-creator is nowhere among a
// video's creators until it accepts, and is gone again after leaving.
func TestStore_CoCreatorInvitations(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mia := MustAccount(t, s, "mia")
		zed := MustAccount(t, s, "zed")
		leo := MustAccount(t, s, "leo")
		v := &platform.Video{ID: "v1", OwnerID: mia.ID, Title: "t", CreatedAt: t0, CreatorIDs: []string{mia.ID}, InvitedIDs: []string{zed.ID}}
		if err := s.CreateVideo(ctx, v); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetLike(ctx, v.ID, leo.ID, t0, true, ev("l1", event.Like, v.ID)); err != nil {
			t.Fatal(err)
		}
		creators := func() string {
			t.Helper()
			got, err := s.Video(ctx, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			return strings.Join(got.Creators, ",")
		}
		zedSees := func() (videos, invitations, activity int) {
			t.Helper()
			vs, err := s.AccountVideos(ctx, zed.ID, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			inv, err := s.Invitations(ctx, zed.ID)
			if err != nil {
				t.Fatal(err)
			}
			act, err := s.Activity(ctx, zed.ID, 50)
			if err != nil {
				t.Fatal(err)
			}
			return len(vs), len(inv), len(act)
		}
		if c := creators(); c != "mia" {
			t.Fatalf("pending co-creator listed: %q", c)
		}
		if vs, inv, act := zedSees(); vs != 0 || inv != 1 || act != 0 {
			t.Fatalf("pending: videos %d invitations %d activity %d, want 0 1 0", vs, inv, act)
		}
		list, err := s.CoCreators(ctx, v.ID)
		if err != nil || len(list) != 1 || list[0].Handle != "zed" || list[0].Status != platform.CoCreatorPending {
			t.Fatalf("co-creators %+v, %v", list, err)
		}
		if _, err := s.AcceptCoCreation(ctx, v.ID, leo.ID, t0); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("accepting without an invitation: %v", err)
		}
		if changed, err := s.AcceptCoCreation(ctx, v.ID, zed.ID, t0.Add(time.Hour)); err != nil || !changed {
			t.Fatalf("accept: %v, %v", changed, err)
		}
		if changed, err := s.AcceptCoCreation(ctx, v.ID, zed.ID, t0.Add(2*time.Hour)); err != nil || changed {
			t.Fatalf("accept again: %v, %v", changed, err)
		}
		if c := creators(); c != "mia,zed" {
			t.Fatalf("accepted co-creator not listed: %q", c)
		}
		if vs, inv, act := zedSees(); vs != 1 || inv != 0 || act != 1 {
			t.Fatalf("accepted: videos %d invitations %d activity %d, want 1 0 1", vs, inv, act)
		}
		// A sync that lists zed without marking consent keeps the acceptance.
		sv := *v
		sv.CreatorIDs, sv.InvitedIDs = []string{mia.ID}, []string{zed.ID, leo.ID}
		if bad, err := s.UpsertVideos(ctx, []platform.Video{sv}); err != nil || len(bad) != 0 {
			t.Fatalf("sync: %v, %v", bad, err)
		}
		if c := creators(); c != "mia,zed" {
			t.Fatalf("after sync: %q, want zed still accepted and leo pending", c)
		}
		if inv, err := s.Invitations(ctx, leo.ID); err != nil || len(inv) != 1 {
			t.Fatalf("leo's invitations after sync: %+v, %v", inv, err)
		}
		// Leaving, and the owner removing: neither listed again.
		if was, err := s.RemoveCoCreator(ctx, v.ID, zed.ID); err != nil || !was {
			t.Fatalf("leave: %v, %v", was, err)
		}
		if was, err := s.RemoveCoCreator(ctx, v.ID, leo.ID); err != nil || was {
			t.Fatalf("withdraw invitation: %v, %v", was, err)
		}
		if _, err := s.RemoveCoCreator(ctx, v.ID, zed.ID); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("leave twice: %v", err)
		}
		if _, err := s.RemoveCoCreator(ctx, v.ID, mia.ID); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("the owner was removed: %v", err)
		}
		if c := creators(); c != "mia" {
			t.Fatalf("after leaving: %q", c)
		}
		if vs, inv, act := zedSees(); vs != 0 || inv != 0 || act != 0 {
			t.Fatalf("after leaving: videos %d invitations %d activity %d, want 0 0 0", vs, inv, act)
		}
		// Invitations are bounded, invited ones included.
		for i := range platform.MaxCollaborators {
			a := MustAccount(t, s, "c"+string(rune('a'+i)))
			if _, err := s.InviteCoCreator(ctx, v.ID, a.ID, platform.MaxCollaborators, t0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.InviteCoCreator(ctx, v.ID, zed.ID, platform.MaxCollaborators, t0); platform.ErrorCode(err) != platform.EINVALID {
			t.Fatalf("invitation past the limit: %v", err)
		}
	})
}

// TestStore_CoCreatorChangesSerialize: concurrent invitations never pass the
// limit, whatever the dialect's isolation.
func TestStore_CoCreatorChangesSerialize(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mia := MustAccount(t, s, "mia")
		v := MustVideo(t, s, "v1", mia)
		var ids []string
		for i := range 2 * platform.MaxCollaborators {
			ids = append(ids, MustAccount(t, s, fmt.Sprintf("c%02d", i)).ID)
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.InviteCoCreator(ctx, v.ID, id, platform.MaxCollaborators, t0); err != nil && platform.ErrorCode(err) != platform.EINVALID {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		list, err := s.CoCreators(ctx, v.ID)
		if err != nil || len(list) != platform.MaxCollaborators {
			t.Fatalf("%d co-creators after concurrent invitations (want %d): %v", len(list), platform.MaxCollaborators, err)
		}
	})
}
