package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

const (
	// jwksRefreshInterval is how often a JWKS that was fetched is fetched again.
	jwksRefreshInterval = time.Hour
	// jwksUnknownKIDInterval is the least time between two fetches caused by
	// tokens naming an unknown key ID: enough to pick up a rotated key at
	// once, too little to let anyone make us hammer the identity provider.
	jwksUnknownKIDInterval = 30 * time.Second
	// jwksRetryMin and jwksRetryMax bound the backoff of the fetches retried
	// while no key was ever fetched.
	jwksRetryMin = 250 * time.Millisecond
	jwksRetryMax = 30 * time.Second
)

// errNoUsableKeys is the fetch error of a JWKS without a key we can use.
var errNoUsableKeys = errors.New("the JWKS has no usable signing key")

// jwksSource verifies tokens with the keys of a JWKS. jwkset keeps the keys
// in memory and refreshes them hourly; keyfunc finds a token's key by kid and
// checks it against the JWK's "alg" and "use". A token without a kid is
// checked against every usable key that fits its algorithm, the JWK's "alg"
// included, whether or not the JWK has a kid. On top of them it retries the
// first fetch until it succeeds (for readiness) and refetches, rate limited
// without blocking, when a token names an unknown kid.
type jwksSource struct {
	url     string
	client  *http.Client
	ownsCl  bool // client was made here: close its idle connections on close
	timeout time.Duration
	store   jwkset.Storage
	kf      keyfunc.Keyfunc

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the retry goroutine

	refreshMu sync.Mutex    // serializes unknown-kid refetches
	limiter   *rate.Limiter // of unknown-kid refetches

	errMu   sync.Mutex
	lastErr error // of the last fetch that failed
}

func newJWKSSource(ctx context.Context, rawURL string, client *http.Client) (*jwksSource, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &ConfigError{Field: "JWKSURL", Err: fmt.Errorf("parsing: %w", err)}
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &ConfigError{Field: "JWKSURL", Err: errors.New("must be an absolute http or https URL")}
	}
	s := &jwksSource{
		url:     rawURL,
		client:  client,
		timeout: defaultHTTPTimeout,
		store:   jwkset.NewMemoryStorage(),
		limiter: rate.NewLimiter(rate.Every(jwksUnknownKIDInterval), 1),
	}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		s.client = &http.Client{Timeout: defaultHTTPTimeout, Transport: tr}
		s.ownsCl = true
	} else if s.client.Timeout > 0 {
		s.timeout = s.client.Timeout
	}
	s.ctx, s.cancel = context.WithCancel(ctx)

	// The first fetch, then the hourly refresh goroutine, which ends with ctx.
	_, err = jwkset.NewStorageFromHTTP(rawURL, jwkset.HTTPClientStorageOptions{
		Client:                    s.client,
		Ctx:                       s.ctx,
		HTTPTimeout:               s.timeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       func(_ context.Context, err error) { s.setErr(err) },
		RefreshInterval:           jwksRefreshInterval,
		Storage:                   s.store,
	})
	if err != nil {
		s.cancel()
		return nil, &ConfigError{Field: "JWKSURL", Err: err}
	}
	s.kf, err = keyfunc.New(keyfunc.Options{
		Ctx:          s.ctx,
		Storage:      s.store,
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
	})
	if err != nil {
		s.cancel()
		return nil, &ConfigError{Field: "JWKSURL", Err: err}
	}
	if !s.hasKeys() {
		s.wg.Add(1)
		go s.retry()
	}
	return s, nil
}

func (s *jwksSource) algs() []string { return asymmetricAlgs }

// key returns the key of the token's kid if it fits the token's algorithm,
// or, for a token without kid (or with an empty one), every usable key that
// fits: its type allows the algorithm, and its JWK names that algorithm or
// none.
func (s *jwksSource) key(tok *jwt.Token) (any, error) {
	alg := tok.Method.Alg()
	rawKID, ok := tok.Header["kid"]
	if !ok || rawKID == "" {
		var keys []jwt.VerificationKey
		for _, k := range s.usableKeys() {
			if k.fits(alg) {
				keys = append(keys, k.pub)
			}
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("no key fits algorithm %s", alg)
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	}
	kid, ok := rawKID.(string)
	if !ok {
		return nil, errors.New("kid is not a string")
	}

	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	key, err := s.kf.KeyfuncCtx(ctx)(tok)
	if errors.Is(err, jwkset.ErrKeyNotFound) && s.refetchFor(ctx, kid) {
		key, err = s.kf.KeyfuncCtx(ctx)(tok)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up key %q: %w", kid, err)
	}
	if !keyFitsAlg(key, alg) {
		return nil, fmt.Errorf("algorithm %s does not fit key %q of type %T", alg, kid, key)
	}
	return key, nil
}

// refetchFor fetches the JWKS again because a token names an unknown kid,
// unless another caller just did or the rate limit forbids it: callers never
// wait for the limiter, only for a fetch under way. It reports whether the
// keys may now include kid.
func (s *jwksSource) refetchFor(ctx context.Context, kid string) bool {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	if _, err := s.store.KeyRead(ctx, kid); err == nil {
		return true // fetched meanwhile
	}
	if !s.limiter.Allow() {
		return false
	}
	return s.fetch() == nil
}

// retry fetches the JWKS with backoff until some usable key is known.
func (s *jwksSource) retry() {
	defer s.wg.Done()
	wait := jwksRetryMin
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if s.hasKeys() || s.fetch() == nil { // fetch fails on a set without usable keys
			return
		}
		wait = min(2*wait, jwksRetryMax)
		t.Reset(wait)
	}
}

// fetch fetches the JWKS once and replaces the stored keys with it.
func (s *jwksSource) fetch() error {
	// Without a RefreshInterval, jwkset fetches once, into our store, and
	// starts nothing.
	_, err := jwkset.NewStorageFromHTTP(s.url, jwkset.HTTPClientStorageOptions{
		Client:      s.client,
		Ctx:         s.ctx,
		HTTPTimeout: s.timeout,
		Storage:     s.store,
	})
	if err == nil && !s.hasKeys() {
		err = errNoUsableKeys
	}
	s.setErr(err)
	return err
}

func (s *jwksSource) setErr(err error) {
	s.errMu.Lock()
	s.lastErr = err
	s.errMu.Unlock()
}

// jwksKey is a usable key of the JWKS.
type jwksKey struct {
	pub any
	alg string // the JWK's "alg"; "" when it names none
}

// fits reports whether the key may verify a signature made with alg: the
// key's type allows alg, and the JWK names alg or no algorithm at all.
func (k jwksKey) fits(alg string) bool {
	return (k.alg == "" || k.alg == alg) && keyFitsAlg(k.pub, alg)
}

// usableKeys returns the keys of the JWKS that may verify a signature: of a
// supported type, not meant for encryption, and not naming an algorithm
// their type cannot have (an RSA key that says "ES256" verifies nothing).
func (s *jwksSource) usableKeys() []jwksKey {
	jwks, err := s.store.KeyReadAll(s.ctx)
	if err != nil {
		return nil
	}
	var keys []jwksKey
	for _, j := range jwks {
		m := j.Marshal()
		if m.USE == jwkset.UseEnc {
			continue
		}
		k := jwksKey{pub: publicOf(j.Key()), alg: m.ALG.String()}
		if algs, err := algsFor(k.pub); err == nil && (k.alg == "" || slices.Contains(algs, k.alg)) {
			keys = append(keys, k)
		}
	}
	return keys
}

func (s *jwksSource) hasKeys() bool { return len(s.usableKeys()) > 0 }

func (s *jwksSource) ready() error {
	if s.hasKeys() {
		return nil
	}
	s.errMu.Lock()
	err := s.lastErr
	s.errMu.Unlock()
	if err == nil {
		err = errNoUsableKeys
	}
	return fmt.Errorf("%w: fetching JWKS: %w", ErrNotReady, err)
}

func (s *jwksSource) close() {
	s.cancel()
	s.wg.Wait()
	if s.ownsCl {
		s.client.CloseIdleConnections()
	}
}
