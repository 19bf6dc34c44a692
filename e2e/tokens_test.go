package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// crowdCLI runs the crowd binary with args and returns its output.
func crowdCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("crowd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestServiceTokens: service tokens are listed with creation and last-use
// times and revoked, through the CLI (server stopped) and the API (server
// running); ids are shown, secrets never are.
func TestServiceTokens(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	tokA := ServiceToken(t, data, "--name", "first")
	list := crowdCLI(t, "token", "list", "--data", data)
	if !strings.Contains(list, "first") || !strings.Contains(list, "never") || strings.Contains(list, tokA) {
		t.Fatalf("token list before use:\n%s", list)
	}

	p := Start(t, data)
	svcA := p.Client().WithToken(tokA)
	toks, err := svcA.ServiceTokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].Name != "first" || !toks[0].Current || toks[0].CreatedAt.IsZero() || toks[0].LastUsedAt.IsZero() || toks[0].Token != "" {
		t.Fatalf("list: %+v, %v", toks, err)
	}
	idA := toks[0].ID
	if strings.Contains(tokA, idA) {
		t.Fatalf("the id %q is part of the secret", idA)
	}
	b, err := svcA.CreateServiceToken(ctx, "rotated")
	if err != nil || !strings.HasPrefix(b.Token, "crv_") || b.ID == "" || b.Name != "rotated" {
		t.Fatalf("create: %+v, %v", b, err)
	}
	svcB := p.Client().WithToken(b.Token)
	toks, err = svcB.ServiceTokens(ctx)
	if err != nil || len(toks) != 2 || toks[0].ID != idA || toks[0].Current || toks[1].ID != b.ID || !toks[1].Current || toks[1].Token != "" {
		t.Fatalf("list with two: %+v, %v", toks, err)
	}
	// Rotation: the new token revokes the old one, which stops working.
	if err := svcB.RevokeServiceToken(ctx, idA); err != nil {
		t.Fatal(err)
	}
	if _, err := svcA.ServiceTokens(ctx); client.StatusOf(err) != 401 {
		t.Fatalf("revoked token still works: %v", err)
	}
	if err := svcB.RevokeServiceToken(ctx, idA); client.StatusOf(err) != 404 {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := svcB.CreateServiceToken(ctx, "bad\x00name"); client.StatusOf(err) != 422 {
		t.Fatalf("name with a control character: %v", err)
	}
	p.Stop(t)

	list = crowdCLI(t, "token", "list", "--data", data)
	if strings.Contains(list, idA) || !strings.Contains(list, b.ID) || !strings.Contains(list, "rotated") || strings.Contains(list, b.Token) {
		t.Fatalf("token list after rotation:\n%s", list)
	}
	if out := crowdCLI(t, "token", "revoke", b.ID, "--data", data); !strings.Contains(out, "revoked "+b.ID) {
		t.Fatalf("revoke: %s", out)
	}
	if out, err := exec.Command(binary, "token", "revoke", b.ID, "--data", data).CombinedOutput(); err == nil || !strings.Contains(string(out), "not found") {
		t.Fatalf("revoking an unknown id: %v\n%s", err, out)
	}
	p = Start(t, data)
	if _, err := p.Client().WithToken(b.Token).ServiceTokens(ctx); client.StatusOf(err) != 401 {
		t.Fatalf("token revoked by the CLI still works: %v", err)
	}
}
