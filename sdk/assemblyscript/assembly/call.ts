// Call and its host functions: logging, progress, output chunks, HTTP, the
// KV namespace and the capability. AssemblyScript has no exceptions, so a
// refusal comes back as a value: a HostError (null when the call
// succeeded), or a Result holding either the data or the HostError.

import * as abi from "./abi";
import { Parser, Value, Kind, Writer } from "./json";

/**
 * HostError is a host function's refusal or failure: the negative code it
 * returned (DENIED, NOT_FOUND, INVALID, QUOTA, UPSTREAM, TOO_LARGE or
 * STORAGE) and the message the host staged with it. A refusal does not end
 * the call; the tool decides what to do.
 */
export class HostError {
  constructor(
    /** code is the negative error code. */
    readonly code: i32,
    /** message is the host's explanation, for people; it may be empty. */
    readonly message: string
  ) {}

  /** name is the code's name as sdk/ABI.md spells it: "denied", "not_found", … */
  get name(): string {
    const name = abi.errorName(this.code);
    return name == "unknown" ? "error " + this.code.toString() : name;
  }

  /** toString returns the name and the message, as in "denied: kv write is not granted". */
  toString(): string {
    return this.message.length == 0 ? this.name : this.name + ": " + this.message;
  }
}

/**
 * Result is what a host function that returns data gives back: ok and
 * value, or the error. Reading value of a failed Result aborts, so test ok
 * (or error) first:
 *
 *     const r = call.kvGet("count");
 *     const err = r.error;
 *     if (err !== null && err.code != NOT_FOUND) return call.fail(err);
 *     const count = r.ok ? r.value : "0";
 */
export class Result<T> {
  constructor(
    private readonly data: T | null,
    /** error is the refusal or failure, or null when the call succeeded. */
    readonly error: HostError | null
  ) {}

  /** ok reports whether the call succeeded. */
  get ok(): bool {
    return this.error === null;
  }

  /** value is the data; it aborts when the call failed. */
  get value(): T {
    const err = this.error;
    if (err !== null) abort("capstream: the value of a failed host call: " + err.toString());
    return this.data!;
  }
}

/** Level is the severity of a log line. */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/**
 * Call is one invocation of a tool, handed to its run function. Its methods
 * are the host functions a tool acts through; each is a host call: it
 * counts against the capability's limits (hostCalls, events, and for log
 * and progress messages and output chunks, outputBytes) and emits one
 * host.* event, whether it succeeds or is refused. When a limit is reached
 * the host function does not return: the call ends with the limit's
 * failure code.
 */
export class Call {
  private reason: string | null = null;

  /** log emits host.log with the level and message. A message over 64 KiB is refused with TOO_LARGE. */
  log(level: Level, message: string): HostError | null {
    const m = utf8(message);
    return check(abi.log(<i32>level, changetype<usize>(m), <usize>m.byteLength));
  }

  /**
   * progress emits host.progress. progress must increase from one call to
   * the next (INVALID otherwise); total <= 0 means the total is unknown; an
   * empty message sends none.
   */
  progress(progress: f64, total: f64 = 0, message: string = ""): HostError | null {
    const m = utf8(message);
    return check(abi.progress(progress, total, changetype<usize>(m), <usize>m.byteLength));
  }

  /** output emits host.output: a chunk of partial output for clients to show while the tool runs; not part of the result. */
  output(chunk: string): HostError | null {
    const c = utf8(chunk);
    return check(abi.output(changetype<usize>(c), <usize>c.byteLength));
  }

  /**
   * http performs req through the host and returns the response, whatever
   * its status. A URL or method the capability does not allow is DENIED; a
   * request that failed (connect, timeout, a response over the size cap)
   * is UPSTREAM.
   */
  http(req: HTTPRequest): Result<HTTPResponse> {
    const w = new Writer();
    req.toJSON().write(w);
    const r = fetch(abi.http(w.ptr, <usize>w.length));
    const err = r.error;
    if (err !== null) return new Result<HTTPResponse>(null, err);
    return new Result<HTTPResponse>(HTTPResponse.decode(r.value), null);
  }

  /** kvGet returns the value stored under key, as UTF-8 text; NOT_FOUND when there is none. */
  kvGet(key: string): Result<string> {
    const r = this.kvGetBytes(key);
    const err = r.error;
    if (err !== null) return new Result<string>(null, err);
    const b = r.value;
    return new Result<string>(String.UTF8.decodeUnsafe(b.dataStart, <usize>b.byteLength), null);
  }

  /** kvGetBytes returns the value stored under key; NOT_FOUND when there is none. */
  kvGetBytes(key: string): Result<Uint8Array> {
    const k = utf8(key);
    const r = fetch(abi.kv_get(changetype<usize>(k), <usize>k.byteLength));
    const err = r.error;
    if (err !== null) return new Result<Uint8Array>(null, err);
    return new Result<Uint8Array>(Uint8Array.wrap(r.value), null);
  }

  /**
   * kvSet stores value (as UTF-8) under key. Keys are 1 to 1024 bytes,
   * values at most 1 MiB. QUOTA when the namespace would exceed its quota,
   * STORAGE when the host's store failed: either way nothing was written.
   */
  kvSet(key: string, value: string): HostError | null {
    const k = utf8(key);
    const v = utf8(value);
    return check(abi.kv_set(changetype<usize>(k), <usize>k.byteLength, changetype<usize>(v), <usize>v.byteLength));
  }

  /** kvSetBytes is kvSet with a value of bytes. */
  kvSetBytes(key: string, value: Uint8Array): HostError | null {
    const k = utf8(key);
    return check(abi.kv_set(changetype<usize>(k), <usize>k.byteLength, value.dataStart, <usize>value.byteLength));
  }

  /** kvDelete deletes key; deleting an absent key is not an error. */
  kvDelete(key: string): HostError | null {
    const k = utf8(key);
    return check(abi.kv_delete(changetype<usize>(k), <usize>k.byteLength));
  }

  /** kvList returns the keys that start with prefix, sorted, at most 1000 of them; an empty prefix lists the whole namespace. */
  kvList(prefix: string = ""): Result<string[]> {
    const p = utf8(prefix);
    const r = fetch(abi.kv_list(changetype<usize>(p), <usize>p.byteLength));
    const err = r.error;
    if (err !== null) return new Result<string[]>(null, err);
    const list = decode(r.value, "kv list");
    if (list.kind != Kind.Array) abort("capstream: decoding the kv list: not an array");
    const items = list.items;
    const keys = new Array<string>(items.length);
    for (let i = 0; i < items.length; i++) keys[i] = items[i].asString();
    return new Result<string[]>(keys, null);
  }

  /**
   * capability returns the call's capability claims: sub (the principal),
   * roles, aud, exp, iat, jti (the call's id) and cap (http rules, kv
   * grants, limits), as sdk/ABI.md shows them.
   */
  capability(): Result<Value> {
    const r = fetch(abi.capability());
    const err = r.error;
    if (err !== null) return new Result<Value>(null, err);
    return new Result<Value>(decode(r.value, "capability claims"), null);
  }

  /**
   * fail makes the call fail with tool_error and reason as its message: a
   * string, or anything with a toString (a HostError gives "denied: …").
   * It returns a null value for run to return:
   *
   *     if (err !== null) return call.fail("adding the note: " + err.toString());
   */
  fail<T>(reason: T): Value {
    let message: string;
    if (isString<T>()) {
      const s = changetype<string | null>(reason);
      message = s === null ? "" : s;
    } else if (isNullable<T>()) {
      message = reason === null ? "" : reason.toString();
    } else {
      message = reason.toString();
    }
    this.reason = message;
    return Value.null();
  }

  /** failed reports whether fail was called. */
  get failed(): bool {
    return this.reason !== null;
  }

  /** failure is the message given to fail, or null. */
  get failure(): string | null {
    return this.reason;
  }
}

/** HTTPRequest is an outbound request, performed by the host. */
export class HTTPRequest {
  /** headers are sent as given, one value each. A value "{{secret:NAME}}" is filled in by the host for URLs whose rule lists NAME; the tool never sees the secret. */
  headers: Map<string, string> = new Map<string, string>();
  /** body is the request body, as text; empty sends none. */
  body: string = "";

  constructor(
    /** url is absolute, http or https; the host checks it, and every redirect, against the capability's http rules. */
    public url: string,
    /** method is the HTTP method. */
    public method: string = "GET"
  ) {}

  /** header sets a header and returns the request. */
  header(name: string, value: string): HTTPRequest {
    this.headers.set(name, value);
    return this;
  }

  /** toJSON returns the request as the http host function takes it. */
  toJSON(): Value {
    const o = Value.object().setString("method", this.method).setString("url", this.url);
    if (this.headers.size > 0) {
      const h = Value.object();
      const names = this.headers.keys();
      for (let i = 0; i < names.length; i++) h.setString(names[i], this.headers.get(names[i]));
      o.set("headers", h);
    }
    if (this.body.length > 0) o.setString("body", this.body);
    return o;
  }
}

/** HTTPResponse is the answer to an HTTPRequest. */
export class HTTPResponse {
  constructor(
    /** status is the HTTP status code. */
    readonly status: i32,
    /** headers has canonical names ("Content-Type") and the first value of each. */
    readonly headers: Map<string, string>,
    /** body is the response body as text; bytes that are not UTF-8 became U+FFFD. */
    readonly body: string,
    /** url is the final URL, after redirects. */
    readonly url: string
  ) {}

  /** header returns the header's value, or null when there is none. Names are canonical, as in "Content-Type". */
  header(name: string): string | null {
    return this.headers.has(name) ? this.headers.get(name) : null;
  }

  /** decode reads the JSON the http host function stages: {"status", "headers", "body", "url"}. */
  static decode(json: ArrayBuffer): HTTPResponse {
    const v = decode(json, "http response");
    if (v.kind != Kind.Object) abort("capstream: decoding the http response: not an object");
    const headers = new Map<string, string>();
    const h = v.get("headers");
    if (h !== null && h.kind == Kind.Object) {
      const names = h.keys;
      for (let i = 0; i < names.length; i++) headers.set(names[i], h.getString(names[i]));
    }
    return new HTTPResponse(<i32>v.getNumber("status"), headers, v.getString("body"), v.getString("url"));
  }
}

// The staged message of a failed host call is read into this static
// buffer, as it is at most MAX_ERROR_MESSAGE bytes.
const messageBuf = memory.data(abi.MAX_ERROR_MESSAGE);

/** hostError returns the HostError for a negative code, with the message the host staged. */
export function hostError(code: i32): HostError {
  let n = abi.read(messageBuf, <usize>abi.MAX_ERROR_MESSAGE);
  if (n < 0) n = 0;
  return new HostError(code, String.UTF8.decodeUnsafe(messageBuf, <usize>n));
}

// check turns a host function's return code into its error, or null.
function check(rc: i32): HostError | null {
  return rc < 0 ? hostError(rc) : null;
}

/**
 * fetch reads the n bytes a host function staged; a negative n is its
 * error code, returned with the staged message.
 */
export function fetch(n: i32): Result<ArrayBuffer> {
  if (n < 0) return new Result<ArrayBuffer>(null, hostError(n));
  const buf = new ArrayBuffer(n);
  if (n > 0) {
    const got = abi.read(changetype<usize>(buf), <usize>n);
    if (got != n) abort("capstream: the host staged " + n.toString() + " bytes but read returned " + got.toString());
  }
  return new Result<ArrayBuffer>(buf, null);
}

// decode parses JSON the host staged; the host sends only valid JSON.
function decode(json: ArrayBuffer, what: string): Value {
  const p = new Parser(json);
  const v = p.parse();
  if (v === null) abort("capstream: decoding the " + what + ": " + p.error);
  return v!;
}

/** utf8 encodes s as UTF-8, an unpaired surrogate as U+FFFD. */
export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE);
}
