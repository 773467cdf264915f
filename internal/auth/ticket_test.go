package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTicketsRoundTrip(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	tk := NewTickets(nil, 0)
	viewer := now.Add(time.Hour).Truncate(time.Millisecond)
	ticket, exp := tk.Mint("call-1", "alice", viewer, now)
	if want := now.Add(MaxTicketTTL).Truncate(time.Millisecond); !exp.Equal(want) {
		t.Errorf("expiresAt = %v, want %v", exp, want)
	}
	// Good for every reconnection until it expires; a stream opened with it
	// lasts as long as the viewer's own credential.
	for _, at := range []time.Duration{0, time.Second, 30 * time.Second, MaxTicketTTL - time.Millisecond} {
		sub, gotViewer, err := tk.Check(ticket, "call-1", now.Add(at))
		if err != nil {
			t.Fatalf("Check at +%v: %v", at, err)
		}
		if sub != "alice" || !gotViewer.Equal(viewer) {
			t.Errorf("Check at +%v = %q, %v; want alice, %v", at, sub, gotViewer, viewer)
		}
	}
	if strings.ContainsAny(ticket, "+/=") || strings.Contains(ticket, "call-1") {
		t.Errorf("ticket %q is not URL-safe and opaque", ticket)
	}
}

func TestTicketsTTL(t *testing.T) {
	now := time.Now()
	tests := []struct {
		ttl, want time.Duration
	}{
		{0, MaxTicketTTL},
		{-time.Second, MaxTicketTTL},
		{10 * time.Second, 10 * time.Second},
		{MaxTicketTTL, MaxTicketTTL},
		{time.Hour, MaxTicketTTL},
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			tk := NewTickets(nil, tt.ttl)
			if tk.TTL() != tt.want {
				t.Errorf("TTL() = %v, want %v", tk.TTL(), tt.want)
			}
			ticket, exp := tk.Mint("c", "alice", now.Add(time.Hour), now)
			if exp.After(now.Add(tt.want)) || exp.Before(now.Add(tt.want-time.Millisecond)) {
				t.Errorf("expiresAt = %v, want %v after %v", exp, tt.want, now)
			}
			if _, _, err := tk.Check(ticket, "c", now.Add(tt.want)); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Check at +TTL = %v, want ErrUnauthenticated", err)
			}
		})
	}
}

func TestTicketsRefuse(t *testing.T) {
	now := time.Now()
	key := GenerateSecret()
	tk := NewTickets(key, 0)
	good, _ := tk.Mint("call-1", "alice", now.Add(time.Hour), now)
	other, _ := NewTickets(GenerateSecret(), 0).Mint("call-1", "alice", now.Add(time.Hour), now)
	sameKeyOtherTicketer, _ := NewTickets(key, 10*time.Second).Mint("call-1", "alice", now.Add(time.Hour), now)

	tests := []struct {
		name   string
		ticket string
		callID string
		at     time.Duration
	}{
		{"another call", good, "call-2", 0},
		{"empty call", good, "", 0},
		{"expired at +60s", good, "call-1", MaxTicketTTL},
		{"expired later", good, "call-1", time.Hour},
		{"another key", other, "call-1", 0},
		{"truncated", good[:len(good)-4], "call-1", 0},
		{"one character short", good[:len(good)-1], "call-1", 0},
		{"extended", good + "AAAA", "call-1", 0},
		{"empty", "", "call-1", 0},
		{"not base64url", "!!!!", "call-1", 0},
		{"padded", good + "=", "call-1", 0},
		{"standard base64", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/", "call-1", 0},
		{"huge", strings.Repeat("A", 1<<20), "call-1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, _, err := tk.Check(tt.ticket, tt.callID, now.Add(tt.at))
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Check = %q, %v; want ErrUnauthenticated", sub, err)
			}
		})
	}
	t.Run("same key, other TTL", func(t *testing.T) {
		if sub, _, err := tk.Check(sameKeyOtherTicketer, "call-1", now); err != nil || sub != "alice" {
			t.Errorf("Check = %q, %v; want alice: replicas sharing a key accept each other's tickets", sub, err)
		}
	})
}

// TestTicketsRefuseTampering changes every character of a ticket in turn.
func TestTicketsRefuseTampering(t *testing.T) {
	now := time.Now()
	tk := NewTickets(nil, 0)
	good, _ := tk.Mint("call-1", "alice", now.Add(time.Hour), now)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(good) {
		for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, good[i])+1)%64], alphabet[(strings.IndexByte(alphabet, good[i])+32)%64]} {
			bad := good[:i] + string(c) + good[i+1:]
			if sub, _, err := tk.Check(bad, "call-1", now); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("tampered at %d (%q): Check = %q, %v; want ErrUnauthenticated", i, bad, sub, err)
			}
		}
	}
}

// TestTicketsBindSubject shows that a ticket cannot be re-labelled for
// another subject, even one whose fields would concatenate alike.
func TestTicketsBindSubject(t *testing.T) {
	now := time.Now()
	tk := NewTickets(nil, 0)
	a, _ := tk.Mint("call-1", "alice", now.Add(time.Hour), now)
	b, _ := tk.Mint("call-1a", "lice", now.Add(time.Hour), now)
	if a == b {
		t.Fatal("tickets of different (call, subject) pairs are equal")
	}
	if sub, _, err := tk.Check(b, "call-1", now); err == nil {
		t.Fatalf("a ticket of (call-1a, lice) checked for call-1 as %q", sub)
	}
}

// TestTicketBoundByViewer: a ticket never outlives the credential it was
// minted with.
func TestTicketBoundByViewer(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tk := NewTickets(nil, 0)
	viewer := now.Add(10 * time.Second)
	ticket, exp := tk.Mint("c", "alice", viewer, now)
	if !exp.Equal(viewer) {
		t.Fatalf("ticket expires %v, want the viewer's expiry %v", exp, viewer)
	}
	if _, _, err := tk.Check(ticket, "c", viewer); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("ticket good after its viewer's credential expired: %v", err)
	}
}

func FuzzTicketsCheck(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	tk := NewTickets([]byte("0123456789abcdef0123456789abcdef"), 0)
	good, _ := tk.Mint("call-1", "alice", now.Add(time.Hour), now)
	f.Add(good, "call-1")
	f.Add(good[:10], "call-1")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, ticket, callID string) {
		sub, exp, err := tk.Check(ticket, callID, now)
		if err != nil {
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Check error %v does not wrap ErrUnauthenticated", err)
			}
			return
		}
		// Only a ticket this key minted passes, for its own call: good, or
		// the corpus's relabelled-subject seed, minted for (call-1a, lice).
		relabelled, _ := tk.Mint("call-1a", "lice", now.Add(time.Hour), now)
		mine := (ticket == good && callID == "call-1" && sub == "alice") ||
			(ticket == relabelled && callID == "call-1a" && sub == "lice")
		if !mine || !exp.Equal(now.Add(time.Hour)) {
			t.Fatalf("Check accepted %q for %q as %q", ticket, callID, sub)
		}
	})
}
