// capstream demo page: pick a user, list the tools they may call, run one,
// and watch its events live — over EventSource with a stream ticket, or over
// a fetch reader. Plain DOM, no framework, no build step.
'use strict';

const EVENT_TYPES = ['call.started', 'host.log', 'host.progress', 'host.output', 'host.http', 'host.kv',
  'host.capability', 'call.completed', 'call.failed', 'call.cancelled', 'stream.error'];

const $ = (sel) => document.querySelector(sel);
function h(tag, { dataset, ...props } = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  if (dataset) Object.assign(node.dataset, dataset);
  for (const c of children.flat()) if (c != null && c !== false) node.append(c);
  return node;
}
const fmtBytes = (n) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);
const fmtMs = (n) => (n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(2)} s`);

// ---- users and the API -----------------------------------------------------

const users = JSON.parse($('#users').textContent);
if (users.length === 0) {
  users.push({ name: 'you', role: '', token: '' });
  $('#token-hint').textContent = 'Paste a bearer token; the API checks it on every request.';
}
let user = users[0];
let tools = []; // the tools `user` may call
let others = []; // tools only other users may call: shown greyed
let current = null; // the call on screen

// api sends a request with the token in the Authorization header: POST and
// DELETE take it from there only (no cookies: no CSRF).
function api(token, method, path, body, extra = {}) {
  const headers = { Authorization: `Bearer ${token}`, ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function errorOf(res) {
  try {
    return (await res.json()).error || { code: `http_${res.status}`, message: res.statusText };
  } catch {
    return { code: `http_${res.status}`, message: res.statusText };
  }
}

// listTools returns the tools a token may call, or an error {code, message}.
async function listTools(token) {
  if (!token) return { code: 'no_token', message: 'enter a bearer token' };
  try {
    const res = await api(token, 'GET', '/v1/tools');
    return res.ok ? (await res.json()).tools : await errorOf(res);
  } catch (err) {
    return { code: 'network', message: err.message };
  }
}

// ---- user picker and tool list --------------------------------------------

function renderUsers() {
  $('#users-picker').replaceChildren(...users.map((u) => h('button', {
    type: 'button', className: 'user' + (u === user ? ' selected' : ''), role: 'radio',
    ariaChecked: String(u === user), dataset: { user: u.name },
    onclick: () => { user = u; renderUsers(); loadTools(); },
  }, h('span', { className: 'avatar', textContent: u.name[0].toUpperCase() }),
  h('span', {}, h('b', { textContent: u.name }), h('small', { textContent: u.role || 'custom token' })))));
  $('#token').value = user.token;
  $('#token-owner').textContent = user.name;
}

$('#token').addEventListener('change', (e) => { user.token = e.target.value.trim(); loadTools(); });

let loading = 0; // the latest loadTools wins

// loadTools lists the user's tools, and greyed below them the tools only the
// page's other users may call (the API lists permitted tools only).
async function loadTools() {
  const gen = ++loading;
  const lists = await Promise.all(users.map((u) => listTools(u.token)));
  if (gen !== loading) return;
  const mine = lists[users.indexOf(user)];
  tools = Array.isArray(mine) ? mine : [];
  $('#tools-error').hidden = Array.isArray(mine);
  $('#tools-error').textContent = Array.isArray(mine) ? '' : `${mine.code}: ${mine.message}`;
  const names = new Set(tools.map((t) => t.name));
  others = [];
  for (const list of lists.filter(Array.isArray)) {
    for (const t of list) if (!names.has(t.name)) { names.add(t.name); others.push(t); }
  }
  $('#tools-count').textContent = `${tools.length} permitted`;
  $('#tool-names').replaceChildren(...[...names].map((n) => h('option', { value: n })));
  const item = (t, permitted) => h('li', {
    className: 'tool' + (permitted ? '' : ' denied'), dataset: { tool: t.name },
    title: permitted ? t.description : `${user.name} may not call ${t.name}; try it to see the refusal`,
    onclick: () => selectTool(t, permitted),
  }, h('b', { textContent: t.name }), h('span', { textContent: permitted ? t.title : 'not permitted' }));
  $('#tools').replaceChildren(...tools.map((t) => item(t, true)), ...others.map((t) => item(t, false)));
  const keep = [...tools, ...others].find((t) => t.name === $('#tool-panel').dataset.tool);
  if (keep || tools[0]) selectTool(keep || tools[0], tools.includes(keep || tools[0]));
}

// ---- a form from the tool's input schema -----------------------------------

function selectTool(tool, permitted) {
  for (const li of document.querySelectorAll('#tools li')) li.classList.toggle('selected', li.dataset.tool === tool.name);
  const panel = $('#tool-panel');
  panel.hidden = false;
  panel.dataset.tool = tool.name;
  $('#tool-title').textContent = tool.title ? `${tool.title} (${tool.name})` : tool.name;
  $('#tool-desc').textContent = tool.description || '';
  $('#tool-denied').hidden = permitted;
  $('#tool-denied').textContent = `${user.name} may not call ${tool.name}: the server will refuse the call with 403.`;
  const schema = tool.inputSchema || {};
  const required = new Set(schema.required || []);
  const props = Object.entries(schema.properties || {});
  $('#fields').replaceChildren(...(props.length ? props.map(([name, p]) => field(name, p, required.has(name)))
    : [h('p', { className: 'muted', textContent: 'This tool takes no input.' })]));
  $('#tool-form').onsubmit = (e) => {
    e.preventDefault();
    if (!e.target.reportValidity()) return;
    let input;
    try { input = readForm(props); } catch { return; }
    runCall(tool.name, input);
  };
}

function field(name, p, required) {
  const common = { name, id: `in-${name}`, required };
  let input;
  if (p.enum) {
    input = h('select', common, required ? null : h('option', { value: '', textContent: '—' }),
      p.enum.map((v) => h('option', { value: JSON.stringify(v), textContent: String(v) })));
  } else if (p.type === 'boolean') {
    input = h('input', { ...common, type: 'checkbox', required: false, checked: p.default === true });
  } else if (p.type === 'integer' || p.type === 'number') {
    input = h('input', { ...common, type: 'number', step: p.type === 'integer' ? '1' : 'any' });
    if (p.minimum !== undefined) input.min = p.minimum;
    if (p.maximum !== undefined) input.max = p.maximum;
    if (p.default !== undefined) input.value = p.default;
  } else if (p.type === 'string') {
    input = h('input', { ...common, type: p.format === 'uri' ? 'url' : 'text', value: p.default ?? '' });
    if (p.minLength) input.minLength = p.minLength;
    if (p.maxLength) input.maxLength = p.maxLength;
  } else { // objects, arrays, anything else: JSON
    input = h('textarea', { ...common, rows: 2, spellcheck: false, placeholder: p.type === 'array' ? '[]' : '{}' });
    input.dataset.json = '1';
    input.oninput = () => input.setCustomValidity('');
  }
  const range = p.minimum !== undefined || p.maximum !== undefined ? `${p.minimum ?? ''}–${p.maximum ?? ''}` : '';
  return h('label', { className: 'field' + (p.type === 'boolean' ? ' check' : '') },
    h('span', { className: 'label' }, name, required ? h('span', { className: 'req', title: 'required', textContent: ' *' }) : null,
      h('small', { className: 'muted', textContent: [p.type, range].filter(Boolean).join(' · ') })),
    input, p.description ? h('small', { className: 'hint', textContent: p.description }) : null);
}

function readForm(props) {
  const input = {};
  for (const [name, p] of props) {
    const el = document.getElementById(`in-${name}`);
    if (p.type === 'boolean' && !p.enum) input[name] = el.checked;
    else if (el.value === '') continue;
    else if (p.enum) input[name] = JSON.parse(el.value);
    else if (p.type === 'integer' || p.type === 'number') input[name] = Number(el.value);
    else if (el.dataset.json) input[name] = parseJSON(el);
    else input[name] = el.value;
  }
  return input;
}

// parseJSON parses a JSON field, or marks it invalid and throws.
function parseJSON(el) {
  try {
    return JSON.parse(el.value);
  } catch (err) {
    el.setCustomValidity(`not JSON: ${err.message}`);
    el.reportValidity();
    throw err;
  }
}

$('#any-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = e.target;
  let input;
  try { input = parseJSON(f.input); } catch { return; }
  runCall(f.tool.value.trim(), input);
});
$('#any-form').input.oninput = (e) => e.target.setCustomValidity('');

// ---- one call ----------------------------------------------------------------

// Call is the state of the call on screen: which events arrived (by seq, so
// a resumed stream shows no event twice and a lost one shows as a gap).
class Call {
  constructor(tool, mode) {
    Object.assign(this, { tool, mode, token: user.token, id: '', seen: new Set(), dups: 0, conns: 0, done: false });
    this.started = performance.now();
    this.source = null; // EventSource, in EventSource mode
    this.abort = null; // AbortController, in fetch mode
    this.ticket = null; // {value, expiresAt}
  }
  // resumeAfter is the last seq before the first missing one.
  resumeAfter() { let n = 0; while (this.seen.has(n + 1)) n++; return n; }
  gaps() { const max = Math.max(0, ...this.seen); return max - this.seen.size; }
  close() { this.source?.close(); this.abort?.abort(); }
}

function runCall(tool, input) {
  current?.close();
  const c = current = new Call(tool, $('#use-fetch').checked ? 'fetch reader' : 'EventSource + ticket');
  resetView(c);
  setStatus(c, 'starting');
  (c.mode === 'fetch reader' ? streamWithFetch(c, input) : streamWithEventSource(c, input))
    .catch((err) => { if (!c.done && err.name !== 'AbortError') refuse(c, 0, { code: 'network', message: err.message }); });
}

async function streamWithEventSource(c, input) {
  const res = await api(c.token, 'POST', `/v1/tools/${encodeURIComponent(c.tool)}/calls?detach=1`, input);
  if (!res.ok) return refuse(c, res.status, await errorOf(res));
  const { callId, events, ticket, ticketExpiresAt } = await res.json();
  Object.assign(c, { id: callId, events, ticket: { value: ticket, expiresAt: Date.parse(ticketExpiresAt) } });
  renderStats(c);
  subscribe(c, 0);
}

// subscribe opens an EventSource on the call's events after seq `after`.
function subscribe(c, after) {
  const url = `${c.events}?ticket=${encodeURIComponent(c.ticket.value)}${after ? `&last_event_id=${after}` : ''}`;
  const es = c.source = new EventSource(url);
  c.conns++;
  setConn(c, 'connecting');
  const onEvent = (m) => {
    if (es !== c.source) return es.close(); // a stream we already left
    accept(c, JSON.parse(m.data));
    if (c.done) es.close();
  };
  for (const type of EVENT_TYPES) es.addEventListener(type, onEvent);
  es.onmessage = onEvent;
  es.onopen = () => setConn(c, 'live');
  // The browser retries on its own (with Last-Event-ID); once it gives up
  // (the ticket expired, or 204 after the end) the Reconnect button resumes.
  es.onerror = () => setConn(c, es.readyState === EventSource.CLOSED ? 'closed' : 'retrying');
  renderStats(c);
}

async function reconnect(c) {
  c.source?.close();
  if (Date.now() > c.ticket.expiresAt - 5000) {
    const res = await api(c.token, 'POST', '/v1/tickets', { callId: c.id });
    if (!res.ok) return note(c, `could not mint a ticket: ${(await errorOf(res)).code}`);
    const t = await res.json();
    c.ticket = { value: t.ticket, expiresAt: Date.parse(t.expiresAt) };
    note(c, 'minted a fresh ticket');
  }
  note(c, `reconnected: resuming after event ${c.resumeAfter()}`);
  subscribe(c, c.resumeAfter());
}

async function streamWithFetch(c, input) {
  c.abort = new AbortController();
  const res = await fetch(`/v1/tools/${encodeURIComponent(c.tool)}/calls`, {
    method: 'POST', signal: c.abort.signal, body: JSON.stringify(input),
    headers: { Authorization: `Bearer ${c.token}`, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
  });
  if (!res.ok) return refuse(c, res.status, await errorOf(res));
  c.id = (res.headers.get('Location') || '').split('/').pop();
  c.conns++;
  renderStats(c);
  setConn(c, 'live');
  for await (const frame of sseFrames(res.body)) {
    if (frame.data) accept(c, JSON.parse(frame.data));
    if (c.done) break;
  }
  c.abort = null;
  setConn(c, 'closed');
}

// sseFrames yields the frames of a text/event-stream body: {event, id, data}.
async function* sseFrames(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = { event: 'message', id: '', data: [] };
      for (const line of buf.slice(0, end).split('\n')) {
        if (line.startsWith(':')) continue; // a comment: ": ok", ": ping"
        const i = line.indexOf(':');
        const [k, v] = i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 1).replace(/^ /, '')];
        if (k === 'data') frame.data.push(v); else if (k === 'event' || k === 'id') frame[k] = v;
      }
      buf = buf.slice(end + 2);
      yield { ...frame, data: frame.data.join('\n') };
    }
  }
}

async function cancel(c) {
  c.cancelling = true;
  renderStats(c);
  const res = await api(c.token, 'DELETE', `/v1/calls/${encodeURIComponent(c.id)}`);
  if (!res.ok) return note(c, `cancel: ${(await errorOf(res)).code}`, 'bad');
  // The call has ended; its stream brings the terminal event. A stream the
  // browser gave up on resumes to fetch it.
  if (!c.done && c.source?.readyState === EventSource.CLOSED) reconnect(c);
}

$('#cancel').onclick = () => current && cancel(current);
$('#reconnect').onclick = () => current && reconnect(current);

// ---- showing events ----------------------------------------------------------

// accept shows one event, unless it was seen already.
function accept(c, ev) {
  if (c !== current) return;
  if (ev.type === 'stream.error') return note(c, `stream.error ${ev.data.code}: ${ev.data.message}`, 'bad');
  if (c.seen.has(ev.seq)) { c.dups++; return renderStats(c); }
  c.seen.add(ev.seq);
  c.id ||= ev.call;
  if (c.seen.size === 1) $('#stat-first').textContent = fmtMs(performance.now() - c.started);
  if (!c.t0 || ev.type === 'call.started') c.t0 = Date.parse(ev.time);
  const d = ev.data || {};
  let text = '';
  switch (ev.type) {
    case 'call.started':
      setStatus(c, 'running');
      text = `${d.tool} as ${d.subject} · timeout ${fmtMs(d.limits?.timeoutMs ?? 0)} · ${(d.digest || '').slice(0, 19)}…`;
      break;
    case 'host.progress':
      progress(d);
      text = `${d.progress}${d.total ? ` / ${d.total}` : ''}${d.message ? ` — ${d.message}` : ''}`;
      break;
    case 'host.output':
      $('#output').append(h('span', { className: 'chunk', textContent: d.chunk }));
      text = JSON.stringify(d.chunk);
      break;
    case 'host.log': text = `[${d.level}] ${d.message}`; break;
    case 'host.http':
    case 'host.kv':
      text = hostCall(ev.type, d);
      break;
    case 'call.completed':
    case 'call.failed':
    case 'call.cancelled':
      finish(c, ev.type.slice(5), d);
      text = ev.type === 'call.completed' ? `output ${JSON.stringify(d.output)}`
        : ev.type === 'call.failed' ? `${d.error?.code}: ${d.error?.message}` : `reason ${d.reason}`;
      break;
    default: text = JSON.stringify(d);
  }
  const kind = d.denied ? 'bad' : d.error || ev.type === 'call.failed' ? 'warn' : '';
  const at = Math.max(0, Date.parse(ev.time) - c.t0);
  $('#events').append(h('li', { className: `ev ${kind}`, dataset: { seq: ev.seq, type: ev.type, ...(ev.type === 'host.progress' ? { progress: d.progress } : {}) } },
    h('span', { className: 'seq', textContent: `#${ev.seq}` }), h('span', { className: `type t-${ev.type.split('.')[0]}`, textContent: ev.type }),
    h('span', { className: 'text', textContent: d.denied ? `refused (${d.denied.grant}): ${d.denied.reason} — ${text}` : text }),
    h('span', { className: 'at', textContent: `+${at} ms` })));
  renderStats(c);
}

function hostCall(type, d) {
  const what = type === 'host.http'
    ? `${d.method} ${d.url}${d.denied || d.error ? '' : ` → ${d.status} · ${fmtMs(d.durationMs)} · ${fmtBytes(d.bytes)}`}`
    : `${d.op} ${d.key}${d.hit !== undefined ? (d.hit ? ' · hit' : ' · miss') : ''}${d.bytes !== undefined ? ` · ${fmtBytes(d.bytes)}` : ''}${d.count !== undefined ? ` · ${d.count} keys` : ''}`;
  const why = d.denied ? `refused: ${d.denied.reason}` : d.error ? `error ${d.error.code}: ${d.error.message}` : '';
  const list = $('#hostcalls');
  list.querySelector('.empty')?.remove();
  list.append(h('li', { className: d.denied ? 'bad' : d.error ? 'warn' : '' },
    h('span', { className: 'kind', textContent: type.slice(5) }), h('span', { className: 'mono', textContent: what }),
    why ? h('span', { className: 'why', textContent: why }) : null));
  return what;
}

function progress(d) {
  const pct = d.total ? Math.min(100, (100 * d.progress) / d.total) : null;
  $('#progress').classList.toggle('indeterminate', pct === null);
  $('#progress-bar').style.width = pct === null ? '100%' : `${pct}%`;
  $('#progress').setAttribute('aria-valuenow', pct ?? 0);
  $('#progress-label').textContent = `${d.progress}${d.total ? ` of ${d.total}` : ''}${d.message ? ` — ${d.message}` : ''}`;
}

function finish(c, status, d) {
  c.done = true;
  setStatus(c, status);
  setConn(c, 'closed after the terminal event');
  $('#stat-duration').textContent = d.durationMs !== undefined ? fmtMs(d.durationMs) : '–';
  const box = $('#result');
  box.hidden = false;
  box.className = `result ${status}`;
  if (status === 'completed') {
    box.replaceChildren(h('b', { textContent: 'Result' }), h('pre', { textContent: JSON.stringify(d.output, null, 2) }),
      h('small', { className: 'muted', textContent: `${d.usage?.hostCalls ?? 0} host calls · ${d.usage?.events ?? 0} events · ${fmtBytes(d.usage?.outputBytes ?? 0)} output` }));
  } else if (status === 'failed') {
    box.replaceChildren(h('b', { textContent: 'Failed ' }), h('code', { className: 'errcode', textContent: d.error?.code }), ` ${d.error?.message ?? ''}`);
  } else {
    box.replaceChildren(h('b', { textContent: 'Cancelled ' }), h('code', { className: 'errcode', textContent: d.reason }));
  }
  if (!$('#progress').classList.contains('indeterminate') && status === 'completed') $('#progress-bar').style.width = '100%';
}

// refuse shows an error answered before any stream began (403
// tool_not_permitted, 400 invalid_input, …); status 0 is a network error.
function refuse(c, status, err) {
  c.done = true;
  if (c !== current) return;
  setStatus(c, status === 403 ? 'refused' : 'error');
  const box = $('#result');
  box.hidden = false;
  box.className = 'result refused';
  box.replaceChildren(h('b', { textContent: status === 403 ? 'Refused ' : status ? `Error ${status} ` : 'Network error ' }),
    h('code', { className: 'errcode', textContent: err.code }), ` ${err.message}`);
  $('#call-id').textContent = 'no call';
  setConn(c, status ? `HTTP ${status}, no stream` : 'no connection');
}

function note(c, text, kind = 'note') {
  if (c !== current) return;
  $('#events').append(h('li', { className: `ev ${kind}` }, h('span', { className: 'text', textContent: text })));
}

function resetView(c) {
  $('#call-tool').textContent = c.tool;
  $('#call-id').textContent = 'starting…';
  $('#call-mode').textContent = c.mode;
  for (const id of ['#output', '#events']) $(id).replaceChildren();
  $('#hostcalls').replaceChildren(h('li', { className: 'empty', textContent: 'none yet' }));
  $('#result').hidden = true;
  $('#progress').classList.remove('indeterminate');
  $('#progress-bar').style.width = '0';
  $('#progress-label').innerHTML = '&nbsp;';
  $('#stat-first').textContent = $('#stat-duration').textContent = '–';
  renderStats(c);
}

function setStatus(c, status) {
  if (c !== current) return;
  $('#call').dataset.status = status;
  $('#call-status').textContent = status;
  renderStats(c);
}

function setConn(c, state) { if (c === current) $('#call-conn').textContent = state; }

function renderStats(c) {
  if (c !== current) return;
  $('#stat-events').textContent = c.seen.size;
  $('#stat-gaps').textContent = c.gaps();
  $('#stat-dups').textContent = c.dups;
  $('#stat-conns').textContent = c.conns;
  if (c.id) $('#call-id').textContent = c.id;
  const es = c.mode === 'EventSource + ticket';
  $('#cancel').disabled = c.done || !c.id || c.cancelling;
  $('#reconnect').disabled = c.done || !c.id || !es;
  $('#reconnect').title = es ? 'Close the stream and resume from the last event id'
    : 'The direct stream is the call itself: closing it cancels the call';
}

// ---- snippets ----------------------------------------------------------------

for (const b of document.querySelectorAll('button.copy')) {
  b.onclick = async () => {
    await navigator.clipboard.writeText($(`#${b.dataset.copy}`).textContent).catch(() => {});
    b.textContent = 'Copied';
    setTimeout(() => { b.textContent = 'Copy'; }, 1200);
  };
}

renderUsers();
loadTools();
