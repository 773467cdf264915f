package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// MaxTicketTTL is the longest a stream ticket lives (docs/design.md §4).
const MaxTicketTTL = 60 * time.Second

const (
	ticketVersion  = 2
	ticketHeader   = 1 + 8 + 8 + sha256.Size // version, expiry and viewer expiry (Unix ms), MAC
	maxTicketChars = 4096
)

var ticketEncoding = base64.RawURLEncoding.Strict()

// Tickets mints and checks stream tickets: opaque strings, safe in a URL,
// that let an EventSource (which cannot send headers) read the GET endpoints
// of one call on behalf of one subject, for at most MaxTicketTTL.
//
// A ticket is stateless: an HMAC-SHA256, under a server key, of the call ID,
// the subject, the expiry and the expiry of the credential it was minted
// with (the viewer's token), which bounds a stream opened with it. It can therefore not be revoked, and it is good
// any number of times until it expires, because an EventSource reconnects
// with the same URL; that is why it lives so briefly. Whoever holds it may
// read that call's events, and nothing else. Tickets is safe for concurrent
// use.
type Tickets struct {
	key []byte
	ttl time.Duration
}

// NewTickets returns Tickets with the given key, which should be at least 32
// random bytes; nil draws a random key, so tickets are good only within this
// process. Replicas behind one load balancer must share a key. ttl is how
// long a ticket lives; zero or more than MaxTicketTTL means MaxTicketTTL.
func NewTickets(key []byte, ttl time.Duration) *Tickets {
	if key == nil {
		key = GenerateSecret()
	}
	if ttl <= 0 || ttl > MaxTicketTTL {
		ttl = MaxTicketTTL
	}
	// A key of its own, so that a key shared with something else (a JWT
	// secret, say) never yields a MAC valid there.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("capstream stream ticket key v1"))
	return &Tickets{key: m.Sum(nil), ttl: ttl}
}

// TTL returns how long the tickets minted by t live.
func (t *Tickets) TTL() time.Duration { return t.ttl }

// Mint returns a ticket for reading call callID on behalf of subject, whose
// own credential expires at viewerExpires, and when the ticket expires: now
// plus the TTL, or viewerExpires if that is sooner, truncated to the
// millisecond. A stream opened with the ticket lasts until viewerExpires.
func (t *Tickets) Mint(callID, subject string, viewerExpires, now time.Time) (ticket string, expiresAt time.Time) {
	exp := now.Add(t.ttl)
	if !viewerExpires.IsZero() && viewerExpires.Before(exp) {
		exp = viewerExpires
	}
	e, v := exp.UnixMilli(), viewerExpires.UnixMilli()
	if viewerExpires.IsZero() {
		v = 0
	}
	b := make([]byte, ticketHeader, ticketHeader+len(subject))
	b[0] = ticketVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(e))
	binary.BigEndian.PutUint64(b[9:17], uint64(v))
	copy(b[17:], t.mac(nil, callID, subject, e, v))
	b = append(b, subject...)
	return ticketEncoding.EncodeToString(b), time.UnixMilli(e).UTC()
}

// Check verifies that ticket was minted by t for call callID and has not
// expired at now. It returns the ticket's subject and the expiry of the
// viewer's credential (zero if it had none), which bounds a stream opened
// with the ticket. Every refusal (malformed, another key, another call,
// tampered, expired) wraps ErrUnauthenticated.
func (t *Tickets) Check(ticket, callID string, now time.Time) (subject string, viewerExpires time.Time, err error) {
	if len(ticket) > maxTicketChars {
		return "", time.Time{}, fmt.Errorf("%w: ticket too long", ErrUnauthenticated)
	}
	// The decoder skips line breaks; a ticket has exactly one spelling.
	if strings.ContainsAny(ticket, "\r\n") {
		return "", time.Time{}, fmt.Errorf("%w: %w", ErrUnauthenticated, errTicketMalformed)
	}
	b, err := ticketEncoding.DecodeString(ticket)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: decoding ticket: %w", ErrUnauthenticated, err)
	}
	if len(b) < ticketHeader || b[0] != ticketVersion {
		return "", time.Time{}, fmt.Errorf("%w: %w", ErrUnauthenticated, errTicketMalformed)
	}
	exp := int64(binary.BigEndian.Uint64(b[1:9]))
	viewer := int64(binary.BigEndian.Uint64(b[9:17]))
	subject = string(b[ticketHeader:])
	if !hmac.Equal(t.mac(nil, callID, subject, exp, viewer), b[17:ticketHeader]) {
		return "", time.Time{}, fmt.Errorf("%w: %w", ErrUnauthenticated, errTicketForged)
	}
	expiresAt := time.UnixMilli(exp).UTC()
	if !now.Before(expiresAt) {
		return "", time.Time{}, fmt.Errorf("%w: ticket expired at %s", ErrUnauthenticated, expiresAt.Format(time.RFC3339Nano))
	}
	if viewer != 0 {
		viewerExpires = time.UnixMilli(viewer).UTC()
	}
	return subject, viewerExpires, nil
}

var (
	errTicketMalformed = errors.New("malformed ticket")
	errTicketForged    = errors.New("ticket not minted for this call with this key")
)

// mac appends to dst the MAC of the fields of a ticket, each length-prefixed
// so that no two field lists share an encoding.
func (t *Tickets) mac(dst []byte, callID, subject string, exp, viewer int64) []byte {
	m := hmac.New(sha256.New, t.key)
	writeField(m, callID)
	writeField(m, subject)
	var e [16]byte
	binary.BigEndian.PutUint64(e[:8], uint64(exp))
	binary.BigEndian.PutUint64(e[8:], uint64(viewer))
	m.Write(e[:])
	return m.Sum(dst)
}

func writeField(h hash.Hash, s string) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}
