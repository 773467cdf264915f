// testhost.mjs is an in-memory capstream host for testing a tool's .wasm
// file under Node, without the runtime: the JavaScript counterpart of the Go
// SDK's sdktest. It makes the calls the runtime makes, applies the same
// checks and the output, event and host-call limits, and returns the events
// the call would stream.
//
//     import { TestHost } from "capstream-as/testhost.mjs";
//     const tool = await new TestHost().load(readFileSync("hello.wasm"));
//     const { output, events, failure } = tool.call({ name: "Ada" });
//
// It does not validate inputs against the schema, match URLs against HTTP
// rules, fill in secrets, or measure memory or time; a test against the
// runtime covers those.

const MODULE = "capstream_v1";
const WASI = "wasi_snapshot_preview1";

const DENIED = -1, NOT_FOUND = -2, INVALID = -3, QUOTA = -4, UPSTREAM = -5, TOO_LARGE = -6;
const ERROR_NAMES = { [-1]: "denied", [-2]: "not_found", [-3]: "invalid", [-4]: "quota", [-5]: "upstream", [-6]: "too_large", [-7]: "storage" };
const LEVELS = ["debug", "info", "warn", "error"];

const MAX_LOG_MESSAGE = 64 << 10;
const MAX_TOOL_ERROR = 4 << 10;
const MAX_KEY = 1024;
const MAX_VALUE = 1 << 20;
const MAX_LISTED_KEYS = 1000;
const MAX_ERROR_STAGED = 1024;
const STDERR_KEPT = 4 << 10;

const FUNCTIONS = ["input", "read", "set_output", "set_error", "log", "progress", "output", "http",
  "kv_get", "kv_set", "kv_delete", "kv_list", "capability"];

const encoder = new TextEncoder();
const decoder = new TextDecoder(); // invalid UTF-8 becomes U+FFFD, as in the runtime's events

/** Deny is what a TestHost's http function throws to refuse a request (the tool sees DENIED). */
export class Deny extends Error {
  constructor(reason) {
    super(reason);
    this.name = "Deny";
  }
}

/** deny returns a Deny with the reason, for an http function to throw. */
export function deny(reason) {
  return new Deny(reason);
}

/**
 * defaultClaims returns the claims a call of a tool gets from a permissive
 * policy: subject "tester", the tool's needs granted as declared (KV with a
 * 1 MiB quota), and the runtime's default limits (30 s, 64 MiB of memory,
 * 1 MiB of output, 1000 events, 500 host calls).
 */
export function defaultClaims(manifest) {
  const needs = manifest.needs || {};
  const digest = "sha256:" + "0".repeat(64);
  const claims = {
    iss: "capstream", sub: "tester", aud: [manifest.name, digest], exp: 1767225630, iat: 1767225600,
    jti: "testhost-call", roles: ["tester"], digest,
    cap: {
      http: (needs.http || []).map((n) => ({ url: n.url, methods: [...(n.methods || [])] })),
      limits: { timeoutMs: 30000, memoryBytes: 64 << 20, outputBytes: 1 << 20, events: 1000, hostCalls: 500 },
    },
  };
  if (needs.kv) claims.cap.kv = { namespace: manifest.name + "/tester", read: true, write: !!needs.kv.write, quota: 1 << 20 };
  return claims;
}

/** eventLine returns an event as "type {data}", the data's keys sorted: host.log {"level":"info","message":"hi"}. */
export function eventLine(e) {
  return e.type + " " + JSON.stringify(sorted(e.data));
}

function sorted(v) {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]));
  return v;
}

/**
 * TestHost holds what persists across calls: the KV namespace (kv, a Map
 * of key to Uint8Array: seed it before a call, inspect it after), the
 * claims every call gets (undefined: defaultClaims of the tool), and http,
 * a function that answers the tool's requests: given {method, url, headers,
 * body}, it returns {status, headers, body, url} or throws (deny(reason) to
 * refuse; anything else is an upstream failure).
 */
export class TestHost {
  constructor({ kv = new Map(), claims = undefined, http = undefined } = {}) {
    this.kv = kv;
    this.claims = claims;
    this.http = http;
  }

  /** load compiles a tool's module, checks its imports and exports as the runtime does, and reads its manifest. */
  async load(wasm) {
    const module = await WebAssembly.compile(wasm);
    for (const imp of WebAssembly.Module.imports(module)) {
      const ok = (imp.module === MODULE && FUNCTIONS.includes(imp.name) && imp.kind === "function") ||
        (imp.module === WASI && imp.kind === "function");
      if (!ok) throw new Error(`unsupported import ${imp.module}.${imp.name} (${imp.kind})`);
    }
    const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
    for (const [name, kind] of [["memory", "memory"], ["capstream_run", "function"], ["capstream_manifest", "function"]]) {
      if (exports.get(name) !== kind) throw new Error(`the module does not export ${kind} ${name}`);
    }
    const tool = new TestTool(this, module);
    const c = new CallState(this, null, null, true);
    const res = c.run(module, "capstream_manifest");
    if (res.failure) throw new Error(`the manifest export failed: ${res.failure.code}: ${res.failure.message}`);
    const m = res.output;
    if (!m || typeof m !== "object" || Array.isArray(m)) throw new Error("the manifest is not a JSON object");
    if (typeof m.name !== "string" || !/^[a-z][a-z0-9_-]{0,63}$/.test(m.name)) throw new Error(`the manifest's name ${JSON.stringify(m.name)} is not ^[a-z][a-z0-9_-]{0,63}$`);
    if (!m.inputSchema || m.inputSchema.type !== "object") throw new Error("the manifest's inputSchema is not of type object");
    tool.manifest = m;
    return tool;
  }
}

/** TestTool is a loaded tool: its manifest, and call. */
class TestTool {
  constructor(host, module) {
    this.host = host;
    this.module = module;
    this.manifest = null;
  }

  /**
   * call runs one call in a fresh instance with input (an object, or JSON
   * text) and returns {output, events, failure, stderr}: output is the
   * result decoded (undefined if the call failed), events the host.*
   * events as {type, data}, failure null or {code, message}.
   */
  call(input) {
    const text = typeof input === "string" ? input : JSON.stringify(input);
    const claims = this.host.claims || defaultClaims(this.manifest);
    return new CallState(this.host, claims, encoder.encode(text), false).run(this.module, "capstream_run");
  }
}

// EndCall is thrown through the guest to end a call at a limit, as the
// runtime's host functions do not return then.
class EndCall extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// ProcExit is thrown through the guest by WASI proc_exit.
class ProcExit extends Error {
  constructor(code) {
    super(`the guest exited with code ${code}`);
    this.exitCode = code;
  }
}

// CallState is the host side of one call.
class CallState {
  constructor(host, claims, input, manifest) {
    this.host = host;
    this.claims = claims;
    this.input = input;
    this.manifest = manifest; // acting functions are denied
    this.staged = new Uint8Array(0);
    this.output = null;
    this.errMsg = null;
    this.events = [];
    this.calls = 0;
    this.sent = 0;
    this.progress = null;
    this.stderr = "";
    this.memory = null;
  }

  run(module, exportName) {
    const instance = new WebAssembly.Instance(module, { [MODULE]: this.hostFunctions(), [WASI]: this.wasi() });
    this.memory = instance.exports.memory;
    let rc;
    try {
      if (typeof instance.exports._initialize === "function") instance.exports._initialize();
      rc = instance.exports[exportName]();
    } catch (err) {
      if (!(err instanceof ProcExit && err.exitCode === 0)) return this.result(this.failureOf(err));
      rc = 0; // proc_exit(0): the guest finished
    }
    if (rc !== 0) return this.result({ code: "tool_error", message: this.errMsg !== null ? this.errMsg : `the tool returned ${rc}` });
    return this.result(null);
  }

  result(failure) {
    let output;
    if (!failure) output = this.output === null ? null : JSON.parse(decoder.decode(this.output));
    return { output, events: this.events, failure, stderr: this.stderr };
  }

  failureOf(err) {
    if (err instanceof EndCall) return { code: err.code, message: err.message };
    if (err instanceof WebAssembly.RuntimeError || err instanceof RangeError || err instanceof ProcExit) {
      const stderr = this.stderr.trim();
      return { code: "trap", message: stderr ? stderr + "\n" + err.message : err.message };
    }
    throw err; // a bug of the test or of this host
  }

  // bytes returns the guest memory at ptr, n bytes, checked as the runtime checks it.
  bytes(fn, ptr, n) {
    ptr >>>= 0;
    n >>>= 0;
    const size = this.memory.buffer.byteLength;
    if (ptr + n > size) throw new EndCall("abi_violation", `${fn}: pointer ${ptr} and length ${n} lie outside the memory of ${size} bytes`);
    return new Uint8Array(this.memory.buffer, ptr, n);
  }

  text(fn, ptr, n) {
    return decoder.decode(this.bytes(fn, ptr, n));
  }

  stage(b) {
    this.staged = b;
    return b.length;
  }

  refuse(code, msg) {
    let b = encoder.encode(msg);
    if (b.length > MAX_ERROR_STAGED) b = b.slice(0, MAX_ERROR_STAGED);
    this.staged = b;
    return code;
  }

  // act starts a host call; it reports whether the call goes on.
  act() {
    if (this.manifest) {
      this.refuse(DENIED, "host calls are not allowed while the manifest is read");
      return false;
    }
    this.calls++;
    const lim = this.claims.cap.limits;
    if (lim.hostCalls > 0 && this.calls > lim.hostCalls) throw new EndCall("host_call_limit", `more than ${lim.hostCalls} host calls`);
    if (lim.events > 0 && this.events.length >= lim.events) throw new EndCall("output_limit", `more than ${lim.events} events`);
    return true;
  }

  emit(type, data) {
    this.events.push({ type, data });
  }

  fail(type, data, code, msg) {
    if (code === DENIED) data.denied = { grant: type.replace("host.", ""), reason: msg };
    else data.error = { code: ERROR_NAMES[code], message: msg };
    this.emit(type, data);
    return this.refuse(code, msg);
  }

  send(n, result) {
    this.sent += n;
    const lim = this.claims.cap.limits.outputBytes;
    if (lim > 0 && this.sent + result > lim) throw new EndCall("output_limit", `output is over ${lim} bytes`);
  }

  kvCheck(op, key, keyBytes, write) {
    const data = { op, key };
    const g = this.claims.cap.kv;
    if (!g) return [null, this.fail("host.kv", data, DENIED, "the capability grants no key-value storage")];
    if (write && !g.write) return [null, this.fail("host.kv", data, DENIED, "the capability grants read-only key-value storage")];
    if (keyBytes.length === 0 && op !== "list") return [null, this.fail("host.kv", data, INVALID, "the key is empty")];
    if (keyBytes.length > MAX_KEY) {
      data.key = "";
      return [null, this.fail("host.kv", data, TOO_LARGE, `a key is at most ${MAX_KEY} bytes`)];
    }
    return [data, 0];
  }

  hostFunctions() {
    const c = this;
    const kv = this.host.kv;
    return {
      input() {
        return c.stage(c.input || new Uint8Array(0));
      },
      read(ptr, n) {
        const dst = c.bytes("read", ptr, n);
        const count = Math.min(dst.length, c.staged.length);
        dst.set(c.staged.subarray(0, count));
        return count;
      },
      set_output(ptr, n) {
        const b = c.bytes("set_output", ptr, n).slice();
        try {
          JSON.parse(decoder.decode(b));
        } catch {
          return c.refuse(INVALID, "the output is not JSON");
        }
        if (!c.manifest) c.send(0, b.length);
        c.output = b;
        return 0;
      },
      set_error(ptr, n) {
        let b = c.bytes("set_error", ptr, n);
        if (b.length > MAX_TOOL_ERROR) b = b.subarray(0, MAX_TOOL_ERROR);
        c.errMsg = decoder.decode(b);
        return 0;
      },
      log(level, ptr, n) {
        const b = c.bytes("log", ptr, n);
        if (!c.act()) return DENIED;
        const data = { level: LEVELS[level] || `Level(${level})`, message: decoder.decode(b) };
        if (level < 0 || level > 3) {
          delete data.message;
          return c.fail("host.log", data, INVALID, `unknown log level ${level}`);
        }
        if (b.length > MAX_LOG_MESSAGE) {
          delete data.message;
          return c.fail("host.log", data, TOO_LARGE, `a log message is at most ${MAX_LOG_MESSAGE} bytes`);
        }
        c.send(b.length, c.output ? c.output.length : 0);
        c.emit("host.log", data);
        return 0;
      },
      progress(progress, total, ptr, n) {
        const b = c.bytes("progress", ptr, n);
        if (!c.act()) return DENIED;
        if (!Number.isFinite(progress) || !Number.isFinite(total)) return c.fail("host.progress", {}, INVALID, "progress and total must be finite numbers");
        if (c.progress !== null && progress <= c.progress) return c.fail("host.progress", {}, INVALID, `progress ${progress} does not increase from ${c.progress}`);
        if (b.length > MAX_LOG_MESSAGE) return c.fail("host.progress", {}, INVALID, `a progress message is at most ${MAX_LOG_MESSAGE} bytes`);
        c.send(b.length, c.output ? c.output.length : 0);
        c.progress = progress;
        const data = { progress };
        if (total > 0) data.total = total;
        if (b.length > 0) data.message = decoder.decode(b);
        c.emit("host.progress", data);
        return 0;
      },
      output(ptr, n) {
        const b = c.bytes("output", ptr, n);
        if (!c.act()) return DENIED;
        c.send(b.length, c.output ? c.output.length : 0);
        c.emit("host.output", { chunk: decoder.decode(b) });
        return 0;
      },
      http(ptr, n) {
        const b = c.bytes("http", ptr, n);
        if (!c.act()) return DENIED;
        let req;
        try {
          req = JSON.parse(decoder.decode(b));
        } catch (err) {
          return c.fail("host.http", {}, INVALID, "the request is not JSON: " + err.message);
        }
        req = { method: req.method || "GET", url: String(req.url || ""), headers: req.headers || {}, body: req.body || "" };
        const data = { method: req.method, url: redact(req.url), bytes: 0 };
        let u;
        try {
          u = new URL(req.url);
        } catch {}
        if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) return c.fail("host.http", data, INVALID, `${JSON.stringify(req.url)} is not an absolute http or https URL`);
        if (c.claims.cap.http.length === 0) return c.fail("host.http", data, DENIED, "no outbound HTTP is granted");
        if (!c.host.http) return c.fail("host.http", data, DENIED, "the TestHost has no http function");
        let resp;
        try {
          resp = c.host.http(req);
        } catch (err) {
          return c.fail("host.http", data, err instanceof Deny ? DENIED : UPSTREAM, err.message);
        }
        const body = String(resp.body || "");
        const staged = JSON.stringify({ status: resp.status || 200, headers: canonicalHeaders(resp.headers || {}), body, url: resp.url || req.url });
        data.status = resp.status || 200;
        data.bytes = encoder.encode(body).length;
        c.emit("host.http", data);
        return c.stage(encoder.encode(staged));
      },
      kv_get(kptr, klen) {
        const kb = c.bytes("kv_get", kptr, klen);
        if (!c.act()) return DENIED;
        const key = decoder.decode(kb);
        const [data, rc] = c.kvCheck("get", key, kb, false);
        if (rc < 0) return rc;
        const v = kv.get(key);
        data.hit = v !== undefined;
        if (v === undefined) {
          c.emit("host.kv", data);
          return c.refuse(NOT_FOUND, "no such key");
        }
        data.bytes = v.length;
        c.emit("host.kv", data);
        return c.stage(v.slice());
      },
      kv_set(kptr, klen, vptr, vlen) {
        const kb = c.bytes("kv_set", kptr, klen);
        const value = c.bytes("kv_set", vptr, vlen).slice();
        if (!c.act()) return DENIED;
        const key = decoder.decode(kb);
        const [data, rc] = c.kvCheck("set", key, kb, true);
        if (rc < 0) return rc;
        data.bytes = value.length;
        if (value.length > MAX_VALUE) return c.fail("host.kv", data, TOO_LARGE, `a value is at most ${MAX_VALUE} bytes`);
        const quota = c.claims.cap.kv.quota;
        if (quota > 0) {
          let used = kb.length + value.length;
          for (const [k, v] of kv) if (k !== key) used += encoder.encode(k).length + v.length;
          if (used > quota) return c.fail("host.kv", data, QUOTA, `the namespace would hold ${used} bytes, over its quota of ${quota}`);
        }
        kv.set(key, value);
        c.emit("host.kv", data);
        return 0;
      },
      kv_delete(kptr, klen) {
        const kb = c.bytes("kv_delete", kptr, klen);
        if (!c.act()) return DENIED;
        const key = decoder.decode(kb);
        const [data, rc] = c.kvCheck("delete", key, kb, true);
        if (rc < 0) return rc;
        data.hit = kv.delete(key);
        c.emit("host.kv", data);
        return 0;
      },
      kv_list(pptr, plen) {
        const pb = c.bytes("kv_list", pptr, plen);
        if (!c.act()) return DENIED;
        const prefix = decoder.decode(pb);
        const [data, rc] = c.kvCheck("list", prefix, pb, false);
        if (rc < 0) return rc;
        const keys = [...kv.keys()].filter((k) => k.startsWith(prefix)).sort(compareUTF8).slice(0, MAX_LISTED_KEYS);
        data.count = keys.length;
        c.emit("host.kv", data);
        return c.stage(encoder.encode(JSON.stringify(keys)));
      },
      capability() {
        if (!c.act()) return DENIED;
        const b = encoder.encode(JSON.stringify(c.claims));
        c.emit("host.capability", { bytes: b.length });
        return c.stage(b);
      },
    };
  }

  // wasi is WASI as the runtime gives it: no arguments, environment or
  // files; real clocks; fresh random bytes; stdout and stderr kept here.
  wasi() {
    const c = this;
    const ENOSYS = 52, EBADF = 8;
    const view = () => new DataView(c.memory.buffer);
    const known = {
      fd_write(fd, iovs, n, nwritten) {
        if (fd !== 1 && fd !== 2) return EBADF;
        let total = 0;
        for (let i = 0; i < n; i++) {
          const p = view().getUint32(iovs + i * 8, true);
          const len = view().getUint32(iovs + i * 8 + 4, true);
          const s = decoder.decode(new Uint8Array(c.memory.buffer, p, len));
          if (fd === 2) c.stderr = (c.stderr + s).slice(-STDERR_KEPT);
          total += len;
        }
        view().setUint32(nwritten, total, true);
        return 0;
      },
      random_get(ptr, n) {
        crypto.getRandomValues(new Uint8Array(c.memory.buffer, ptr, n));
        return 0;
      },
      clock_time_get(id, precision, out) {
        const ns = id === 0 ? BigInt(Date.now()) * 1000000n : process.hrtime.bigint();
        view().setBigUint64(out, ns, true);
        return 0;
      },
      args_sizes_get(argc, bufSize) {
        view().setUint32(argc, 0, true);
        view().setUint32(bufSize, 0, true);
        return 0;
      },
      environ_sizes_get(count, bufSize) {
        view().setUint32(count, 0, true);
        view().setUint32(bufSize, 0, true);
        return 0;
      },
      proc_exit(code) {
        throw new ProcExit(code);
      },
    };
    return new Proxy(known, { get: (t, name) => t[name] || (() => ENOSYS) });
  }
}

// canonicalHeaders gives header names in canonical form, as the runtime
// does ("content-type" becomes "Content-Type").
function canonicalHeaders(h) {
  const out = {};
  for (const k of Object.keys(h).sort()) {
    const ck = k.toLowerCase().replace(/(^|-)([a-z])/g, (_, d, ch) => d + ch.toUpperCase());
    if (!(ck in out)) out[ck] = String(h[k]);
  }
  return out;
}

// redact keeps a URL's scheme, host and path for its event.
function redact(raw) {
  try {
    const u = new URL(raw);
    return u.protocol + "//" + u.host + u.pathname;
  } catch {
    return "";
  }
}

// compareUTF8 orders strings by their UTF-8 bytes, as the runtime's store does.
function compareUTF8(a, b) {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
