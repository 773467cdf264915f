package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/julienschmidt/httprouter"
	"go.uber.org/zap"

	"github.com/capstream/capstream/host"
	"github.com/capstream/capstream/internal/capability"
	"github.com/capstream/capstream/stream"
)

// errTokenExpired ends one viewer's subscription; the call goes on.
var errTokenExpired = errors.New("httpapi: viewer token expired")

// createCall is POST /v1/tools/{name}/calls: SSE, JSON or detached.
func (s *Server) createCall(w http.ResponseWriter, r *http.Request, ps httprouter.Params, v viewer) {
	name := ps.ByName("name")
	tool, ok := s.cfg.Engine.Tool(name)
	if !ok {
		writeError(w, errToolNotFound(name))
		return
	}
	grants := v.Policy.Grants(v.Roles)
	if !grants.Permits(name) {
		s.audit.Info("call refused", zap.String("subject", v.Subject), zap.String("tool", name), zap.String("reason", "tool_not_permitted"))
		writeError(w, errToolNotPermitted(name))
		return
	}
	// Read the whole body first: then the connection's context reports a
	// client that goes away while the call streams.
	input, apiErr := s.readInput(w, r)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	if err := tool.ValidateInput(input); err != nil {
		writeError(w, errInvalidInput(err.Error()))
		return
	}
	detach := r.URL.Query().Get("detach") == "1" || r.URL.Query().Get("detach") == "true"
	streaming := !detach && acceptsEventStream(r)
	if streaming {
		// A POST that streams holds a subscription like any other: its
		// place is taken before the call starts, so that a refusal costs
		// no call.
		if apiErr := s.openStream(v.Subject, true); apiErr != nil {
			writeError(w, apiErr)
			return
		}
		defer s.closeStream(v.Subject)
	}
	c, apiErr := s.start(v, tool, grants, input)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	w.Header().Set("Location", "/v1/calls/"+c.id)

	switch {
	case detach:
		// Answered once call.started is in the store, so that any replica
		// finds the call by the id it is given.
		c.log.Subscribe(0).Next(r.Context())
		ticket, exp := s.tickets.Mint(c.id, v.Subject, v.Expires, time.Now())
		writeJSON(w, http.StatusAccepted, map[string]any{
			"callId": c.id, "events": "/v1/calls/" + c.id + "/events", "ticket": ticket, "ticketExpiresAt": exp,
		})
	case streaming:
		// The direct stream is the call's own response: closing it cancels
		// the call, and it is not cut when the token expires. The engine's
		// first act is to emit call.started: waiting for it lets the start
		// of the stream and that event leave in one write.
		c.log.Subscribe(0).Next(r.Context())
		s.serveStream(w, r, c.log.Subscribe(0), time.Time{})
		if _, done := c.log.Terminal(); !done {
			c.cancel(host.CancelClientGone)
		}
	default:
		select {
		case <-c.log.Done():
			term, _ := c.log.Terminal()
			writeJSON(w, http.StatusOK, term)
		case <-r.Context().Done():
			c.cancel(host.CancelClientGone)
		}
	}
}

// readInput reads a call's input: a JSON object, at most MaxBodyBytes. No
// body and no Content-Type is the empty object.
func (s *Server) readInput(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body, apiErr := readJSON(w, r, s.cfg.MaxBodyBytes)
	switch {
	case apiErr != nil:
		return nil, apiErr
	case len(body) == 0 && r.Header.Get("Content-Type") == "":
		return []byte("{}"), nil
	case len(body) == 0:
		return nil, errInvalidJSON("the body is empty; send a JSON object")
	case body[0] != '{':
		return nil, errInvalidInput("the input must be a JSON object")
	}
	return body, nil
}

// readJSON reads the body of a request, as every endpoint that takes one
// does: its Content-Type must be JSON (see checkContentType), its size at
// most limit, and its content valid JSON. An empty body (or one of white
// space) is returned as nil, for the endpoint to refuse or not.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	if apiErr := checkContentType(r); apiErr != nil {
		return nil, apiErr
	}
	// A body declared too large is refused before it is read: a client
	// that sent "Expect: 100-continue" then never sends it.
	if r.ContentLength > limit {
		return nil, errBodyTooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return nil, errBodyTooLarge(limit)
	case errors.As(err, &netErr) && netErr.Timeout():
		// The server's ReadTimeout passed before the body was all in.
		return nil, errRequestTimeout
	case err != nil:
		return nil, errInvalidJSON("reading the body: " + err.Error())
	}
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return nil, nil
	case !utf8.Valid(body):
		return nil, errInvalidJSON("the body is not valid UTF-8")
	case !json.Valid(body):
		return nil, errInvalidJSON("the body is not valid JSON")
	}
	return body, nil
}

// checkContentType accepts a request without a Content-Type, or with
// application/json or any type with the +json suffix; a charset, if given,
// must be UTF-8, the only encoding of JSON (RFC 8259). Anything else is
// 415 unsupported_media_type.
func checkContentType(r *http.Request) *apiError {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return errUnsupportedMediaType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errUnsupportedCharset(cs)
	}
	return nil
}

func acceptsEventStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		if mt == "text/event-stream" {
			return true
		}
	}
	return false
}

// runningCall is a call of this server's until its terminal event.
type runningCall struct {
	subject string
	cancel  context.CancelCauseFunc
}

// call is a running call, as the HTTP layer holds it.
type call struct {
	id     string
	log    *stream.Log
	cancel context.CancelCauseFunc
}

// place is a call's place under the concurrency caps, taken by admit. It
// is given back when the call's terminal event is emitted, just before the
// event goes into the log, so that a client that sees it and starts its
// next call at once finds the place free; or, failing a terminal event,
// when the call's goroutine ends. Shutdown still waits for the goroutine.
type place struct {
	s         *Server
	subject   string
	id        string
	clustered bool // admitted by the Cluster too
	once      sync.Once
}

// release gives the place back to the Cluster, then to the server's own
// count (the order Cluster's doc relies on).
func (p *place) release() {
	p.once.Do(func() {
		if p.clustered {
			p.s.cluster.Release(p.subject, p.id)
		}
		p.s.release(p.subject, p.id)
	})
}

// start admits a call, derives and signs its capability, registers its log
// and runs it on its own goroutine, which is handed the capability
// explicitly.
func (s *Server) start(v viewer, tool *host.Tool, grants capability.Grants, input []byte) (*call, *apiError) {
	id := "c_" + strings.ToLower(rand.Text())
	c, err := capability.Derive(v.Principal, grants, tool.Name, tool.Digest, tool.Needs, id, time.Now())
	if err != nil {
		return nil, errToolNotPermitted(tool.Name)
	}
	token, err := c.Sign(s.cfg.SigningKey)
	if err != nil {
		return nil, errInternal("signing the capability")
	}
	ctx, cancel := context.WithCancelCause(s.base)
	if apiErr := s.admit(v.Subject, id, cancel); apiErr != nil {
		cancel(nil)
		return nil, apiErr
	}
	p := &place{s: s, subject: v.Subject, id: id}
	if apiErr := s.admitCluster(ctx, v.Subject, id, tool.Name); apiErr != nil {
		p.release()
		s.wg.Done()
		cancel(nil)
		return nil, apiErr
	}
	p.clustered = true
	// The log's own bound is a safety net above the call's budgets, which
	// the engine enforces with proper failure codes.
	log := stream.NewLog(id, stream.LogConfig{
		MaxEvents: c.Limits.Events + 2,
		MaxBytes:  c.Limits.Output + int64(c.Limits.Events+2)*4096,
	})
	app, err := s.store.Create(ctx, stream.Meta{Call: id, Owner: v.Subject, Tool: tool.Name}, log)
	if err != nil {
		p.release()
		s.wg.Done()
		cancel(nil)
		s.log.Error("registering a call", zap.String("call", id), zap.Error(err))
		return nil, errStoreUnavailable
	}

	go func() {
		defer s.wg.Done()
		defer cancel(nil)
		defer p.release() // if the call had no terminal event
		res := s.cfg.Engine.Call(ctx, host.Invocation{
			Tool: tool, Capability: &c, Token: token, Input: input,
			Sink: &logSink{s: s, app: app, cap: &c, place: p, cancel: cancel},
		})
		s.finished(&c, res)
	}()
	return &call{id: id, log: log, cancel: cancel}, nil
}

// admit takes a place for call id of subject under the caps and records
// its cancel function, in one step: the global cap counts the calls
// recorded, so a place taken must be recorded before the lock is let go,
// or calls admitted at the same moment would all see room for themselves.
// It also counts the call's goroutine in s.wg, which its caller must mark
// done.
func (s *Server) admit(subject, id string, cancel context.CancelCauseFunc) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.shutting:
		return errShuttingDown
	case s.fenced:
		return errFenced
	case len(s.running) >= s.cfg.MaxCalls:
		s.metrics.rejected.WithLabelValues("global").Inc()
		return errTooManyCalls("the server is running as many calls as it may; retry shortly")
	case s.perSubject[subject] >= s.cfg.MaxCallsPerPrincipal:
		s.metrics.rejected.WithLabelValues("principal").Inc()
		return errTooManyCalls("you have " + strconv.Itoa(s.perSubject[subject]) + " calls running, the most allowed; retry when one ends")
	}
	s.perSubject[subject]++
	s.running[id] = runningCall{subject: subject, cancel: cancel}
	s.wg.Add(1)
	s.metrics.callsInFlight.Inc()
	return nil
}

// admitCluster counts a call against the per-principal cap of the whole
// cluster (the local count, checked first, is this replica's share).
func (s *Server) admitCluster(ctx context.Context, subject, id, tool string) *apiError {
	ok, running, err := s.cluster.Admit(ctx, subject, id, tool, s.cfg.MaxCallsPerPrincipal)
	switch {
	case err != nil:
		s.log.Warn("admitting a call in the cluster", zap.String("call", id), zap.Error(err))
		if s.cluster.Ready() != nil {
			return errFenced
		}
		return errStoreUnavailable
	case !ok:
		s.metrics.rejected.WithLabelValues("principal").Inc()
		return errTooManyCalls("you have " + strconv.Itoa(running) + " calls running, the most allowed; retry when one ends")
	}
	return nil
}

// release gives back the place taken by admit; call it once, through
// place.release.
func (s *Server) release(subject, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perSubject[subject]--; s.perSubject[subject] <= 0 {
		delete(s.perSubject, subject)
	}
	delete(s.running, id)
	s.metrics.callsInFlight.Dec()
}

// openStream takes a place for an event stream of subject under
// MaxStreamsPerPrincipal; closeStream gives it back. The stream of a new
// call is refused as shutting_down during a drain, before any cap: it
// would be refused anyway, and that is the answer that says when to retry.
// Subscriptions to running calls are still served then.
func (s *Server) openStream(subject string, newCall bool) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if newCall && s.shutting {
		return errShuttingDown
	}
	if n := s.streams[subject]; n >= s.cfg.MaxStreamsPerPrincipal {
		s.metrics.streamsRejected.Inc()
		return errTooManyStreams(n)
	}
	s.streams[subject]++
	s.metrics.streamsOpen.Inc()
	return nil
}

func (s *Server) closeStream(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[subject]--; s.streams[subject] <= 0 {
		delete(s.streams, subject)
	}
	s.metrics.streamsOpen.Dec()
}

// finished records a call's outcome in metrics and the audit log.
func (s *Server) finished(c *capability.Capability, res host.Result) {
	outcome := strings.TrimPrefix(res.Event.Type, "call.")
	s.metrics.calls.WithLabelValues(c.Tool, outcome).Inc()
	s.metrics.duration.WithLabelValues(c.Tool).Observe(res.Duration.Seconds())
	fields := []zap.Field{
		zap.String("call", c.ID), zap.String("subject", c.Subject), zap.String("tool", c.Tool),
		zap.String("digest", c.Digest), zap.String("capability", c.ID), zap.String("outcome", outcome),
		zap.Duration("duration", res.Duration), zap.Int("hostCalls", res.Usage.HostCalls),
	}
	switch {
	case res.Failure != nil:
		fields = append(fields, zap.String("code", res.Failure.Code), zap.String("message", res.Failure.Message))
	case res.Reason != "":
		fields = append(fields, zap.String("reason", res.Reason))
	}
	s.audit.Info("call", fields...)
}

// logSink appends a call's events to its log, counts host calls, and audits
// refusals. It runs on the call's goroutine.
type logSink struct {
	s      *Server
	app    stream.Appender
	cap    *capability.Capability
	place  *place
	cancel context.CancelCauseFunc
}

func (k *logSink) Emit(e host.Event) {
	if stream.IsTerminal(e.Type) {
		k.place.release()
	}
	ev, err := k.app.Append(e.Type, e.Time, e.Data)
	if errors.Is(err, stream.ErrAbandoned) || errors.Is(err, stream.ErrFenced) {
		// The call's log can no longer be written from here (another
		// replica ended it, or the store stayed unreachable): stop the
		// call; whoever can write ends its log.
		k.cancel(host.CancelLeaseLost)
	}
	if err != nil {
		k.s.log.Warn("dropping event", zap.String("call", k.cap.ID), zap.String("subject", k.cap.Subject), zap.String("type", e.Type), zap.Error(err))
	} else if k.s.appended != nil {
		k.s.appended(ev)
	}
	if e.Decision == "" {
		return
	}
	fn := strings.TrimPrefix(e.Type, "host.")
	k.s.metrics.hostCalls.WithLabelValues(fn, string(e.Decision)).Inc()
	if e.Decision == host.Denied {
		k.s.audit.Info("host call refused", zap.String("call", k.cap.ID), zap.String("subject", k.cap.Subject),
			zap.String("tool", k.cap.Tool), zap.String("function", fn), zap.ByteString("event", e.Data))
	}
}

// owned opens a call the viewer owns; anyone else is told it does not
// exist.
func (s *Server) owned(ctx context.Context, id string, v viewer) (stream.Source, *apiError) {
	src, err := s.store.Open(ctx, id)
	switch {
	case errors.Is(err, stream.ErrNotFound):
		return nil, errCallNotFound
	case err != nil:
		s.log.Warn("opening a call", zap.String("call", id), zap.Error(err))
		return nil, errStoreUnavailable
	case src.Meta().Owner != v.Subject:
		return nil, errCallNotFound
	}
	return src, nil
}

// getCall is GET /v1/calls/{id}: the call's status, and its terminal event
// once it has one.
func (s *Server) getCall(w http.ResponseWriter, r *http.Request, ps httprouter.Params, v viewer) {
	src, apiErr := s.owned(r.Context(), ps.ByName("id"), v)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	last, term := src.Status()
	writeJSON(w, http.StatusOK, status(src.Meta(), last, term))
}

type callStatus struct {
	CallID string        `json:"callId"`
	Tool   string        `json:"tool"`
	Status string        `json:"status"` // running, completed, failed, cancelled
	Events int           `json:"events"`
	Result *stream.Event `json:"result,omitempty"`
}

func status(m stream.Meta, last uint64, term *stream.Event) callStatus {
	st := callStatus{CallID: m.Call, Tool: m.Tool, Status: "running", Events: int(last)}
	if term != nil {
		st.Status = strings.TrimPrefix(term.Type, "call.")
		st.Result = term
	}
	return st
}

// deleteCall is DELETE /v1/calls/{id}: cancel; the call ends with
// call.cancelled (reason deleted) unless it had already ended.
func (s *Server) deleteCall(w http.ResponseWriter, r *http.Request, ps httprouter.Params, v viewer) {
	id := ps.ByName("id")
	src, apiErr := s.owned(r.Context(), id, v)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	last, term := src.Status()
	if term == nil {
		s.mu.Lock()
		rc, local := s.running[id]
		s.mu.Unlock()
		switch {
		case local:
			rc.cancel(host.CancelDeleted)
		default:
			if err := s.cluster.Cancel(r.Context(), id, v.Subject, string(host.CancelDeleted)); err != nil {
				s.log.Warn("cancelling a call on another replica", zap.String("call", id), zap.Error(err))
				writeError(w, errStoreUnavailable)
				return
			}
		}
		end, err := stream.WaitEnd(r.Context(), src)
		if err != nil {
			return // the client left
		}
		last, term = end.Seq, &end
	}
	writeJSON(w, http.StatusOK, status(src.Meta(), last, term))
}

// callEvents is GET /v1/calls/{id}/events: the call's events from the start
// or after Last-Event-ID, live until the terminal event.
func (s *Server) callEvents(w http.ResponseWriter, r *http.Request, ps httprouter.Params, v viewer) {
	src, apiErr := s.owned(r.Context(), ps.ByName("id"), v)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	after, err := lastEventID(r)
	if err != nil {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: "invalid_last_event_id", Message: err.Error()})
		return
	}
	// An EventSource reconnects whenever a stream ends; one that already
	// saw the terminal event is told to stop with 204.
	if _, term := src.Status(); term != nil && after >= term.Seq {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if apiErr := s.openStream(v.Subject, false); apiErr != nil {
		writeError(w, apiErr)
		return
	}
	defer s.closeStream(v.Subject)
	sub, err := src.Follow(r.Context(), after)
	if err != nil {
		s.log.Warn("following a call", zap.String("call", src.Meta().Call), zap.Error(err))
		writeError(w, errStoreUnavailable)
		return
	}
	s.serveStream(w, r, sub, v.Expires)
}

// lastEventID reads where a subscriber resumes: the Last-Event-ID header,
// else ?last_event_id=, else the start.
func lastEventID(r *http.Request) (uint64, error) {
	raw := r.Header.Get("Last-Event-ID")
	if raw == "" {
		raw = r.URL.Query().Get("last_event_id")
	}
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return 0, errors.New("Last-Event-ID must be a non-negative integer")
	}
	return n, nil
}

// serveStream writes a call's events after seq `after` as SSE until the
// terminal event, the client leaving, or — when expires is set — the
// viewer's credential expiring, which ends this subscription only. Its
// caller holds a place from openStream.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, sub *stream.Subscription, expires time.Time) {
	sw, err := stream.NewWriter(w, s.cfg.Stream)
	if err != nil {
		s.log.Error("starting a stream", zap.Error(err))
		return
	}
	ctx := r.Context()
	if !expires.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, expires, errTokenExpired)
		defer cancel()
	}
	err = sw.Serve(ctx, sub)
	if errors.Is(err, stream.ErrAbandoned) {
		sw.Event(stream.ErrorEvent(sub.Call(), "resume", "this server can no longer follow the call; reconnect with Last-Event-ID to resume", time.Now()))
		return
	}
	if errors.Is(err, errTokenExpired) {
		sw.Event(stream.ErrorEvent(sub.Call(), "token_expired", "your token expired; authenticate again and resume with Last-Event-ID", time.Now()))
	}
}

// maxTicketBody bounds the body of POST /v1/tickets, which is one call id.
const maxTicketBody = 4096

// createTicket is POST /v1/tickets {callId}: a short-lived ticket for the
// GET endpoints of one call the viewer owns, for EventSource, which cannot
// send headers.
func (s *Server) createTicket(w http.ResponseWriter, r *http.Request, _ httprouter.Params, v viewer) {
	var req struct {
		CallID string `json:"callId"`
	}
	body, apiErr := readJSON(w, r, maxTicketBody)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	if json.Unmarshal(body, &req) != nil || req.CallID == "" {
		writeError(w, errInvalidJSON(`send {"callId": "<id>"}`))
		return
	}
	if _, apiErr := s.owned(r.Context(), req.CallID, v); apiErr != nil {
		writeError(w, apiErr)
		return
	}
	ticket, exp := s.tickets.Mint(req.CallID, v.Subject, v.Expires, time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"ticket": ticket, "expiresAt": exp})
}
