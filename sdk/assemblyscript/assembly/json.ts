// A small JSON value type, its parser and its writer, so that tools need
// no third-party package. Objects keep their members in order; a number
// parsed from text keeps its literal, so it is written back exactly.

/** MAX_DEPTH is how deeply arrays and objects may nest, in parsing and in writing. */
export const MAX_DEPTH: i32 = 256;

/** Kind is the type of a JSON value. */
export enum Kind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

/** kindName returns "null", "boolean", "number", "string", "array" or "object". */
export function kindName(kind: Kind): string {
  switch (kind) {
    case Kind.Null: return "null";
    case Kind.Bool: return "boolean";
    case Kind.Number: return "number";
    case Kind.String: return "string";
    case Kind.Array: return "array";
  }
  return "object";
}

// An object looks its members up by scanning up to INDEX_AFTER of them,
// and through a map once it has more.
const INDEX_AFTER = 8;

/**
 * Value is one JSON value: null, a boolean, a number, a string, an array
 * or an object. Make one with the static constructors (Value.string("x"),
 * Value.object().set("k", …)) or JSON.parse; read it with kind and the
 * accessors. The as… accessors abort when the value is of another kind;
 * the get… accessors of an object return a fallback instead.
 */
export class Value {
  /** kind is the value's type. */
  readonly kind: Kind;
  private b: bool = false;
  private n: f64 = 0;
  // A string's value; for a number parsed from text, its literal.
  private s: string = "";
  private elems: Value[] | null = null;
  private names: string[] | null = null;
  private members: Value[] | null = null;
  private index: Map<string, i32> | null = null;

  private constructor(kind: Kind) {
    this.kind = kind;
  }

  /** null returns a JSON null. */
  static null(): Value {
    return new Value(Kind.Null);
  }

  /** bool returns true or false. */
  static bool(b: bool): Value {
    const v = new Value(Kind.Bool);
    v.b = b;
    return v;
  }

  /** number returns a number. NaN and the infinities are written as null, as JSON has no such numbers. */
  static number(n: f64): Value {
    const v = new Value(Kind.Number);
    v.n = n;
    return v;
  }

  /** string returns a string. */
  static string(s: string): Value {
    const v = new Value(Kind.String);
    v.s = s;
    return v;
  }

  /** array returns an empty array; add elements with push. */
  static array(): Value {
    const v = new Value(Kind.Array);
    v.elems = [];
    return v;
  }

  /** object returns an empty object; add members with set. */
  static object(): Value {
    const v = new Value(Kind.Object);
    v.names = [];
    v.members = [];
    return v;
  }

  /** strings returns an array of strings. */
  static strings(list: string[]): Value {
    const v = Value.array();
    for (let i = 0; i < list.length; i++) v.push(Value.string(list[i]));
    return v;
  }

  /** numberLiteral is for Parser: a number with the literal it was read from, which it is written as. */
  static numberLiteral(literal: string, n: f64): Value {
    const v = new Value(Kind.Number);
    v.s = literal;
    v.n = n;
    return v;
  }

  get isNull(): bool {
    return this.kind == Kind.Null;
  }

  /** asBool returns a boolean's value. */
  asBool(): bool {
    this.want(Kind.Bool);
    return this.b;
  }

  /** asNumber returns a number's value (as the nearest f64). */
  asNumber(): f64 {
    this.want(Kind.Number);
    return this.n;
  }

  /** asString returns a string's value. */
  asString(): string {
    this.want(Kind.String);
    return this.s;
  }

  /** length is the number of an array's elements or of an object's members; 0 for other kinds. */
  get length(): i32 {
    if (this.kind == Kind.Array) return this.elems!.length;
    if (this.kind == Kind.Object) return this.names!.length;
    return 0;
  }

  /** items is an array's elements, in order: the value's own array, so changing it changes the value. */
  get items(): Value[] {
    this.want(Kind.Array);
    return this.elems!;
  }

  /** at returns an array's element i, or null past the end. */
  at(i: i32): Value | null {
    this.want(Kind.Array);
    const elems = this.elems!;
    return i >= 0 && i < elems.length ? elems[i] : null;
  }

  /** push appends an element to an array and returns the array. */
  push(v: Value): Value {
    this.want(Kind.Array);
    this.elems!.push(v);
    return this;
  }

  /** keys is an object's member names, in order (a copy). */
  get keys(): string[] {
    this.want(Kind.Object);
    return this.names!.slice(0);
  }

  /** has reports whether an object has a member named key. */
  has(key: string): bool {
    this.want(Kind.Object);
    return this.find(key) >= 0;
  }

  /** get returns an object's member named key, or null when there is none. */
  get(key: string): Value | null {
    this.want(Kind.Object);
    const i = this.find(key);
    return i < 0 ? null : this.members![i];
  }

  /** set sets an object's member: it replaces the value of an existing one, in its place, or appends one. It returns the object. */
  set(key: string, v: Value): Value {
    this.want(Kind.Object);
    const i = this.find(key);
    if (i >= 0) {
      this.members![i] = v;
      return this;
    }
    const names = this.names!;
    names.push(key);
    this.members!.push(v);
    const index = this.index;
    if (index !== null) {
      index.set(key, names.length - 1);
    } else if (names.length > INDEX_AFTER) {
      const m = new Map<string, i32>();
      for (let j = 0; j < names.length; j++) m.set(names[j], j);
      this.index = m;
    }
    return this;
  }

  /** setString is set(key, Value.string(s)). */
  setString(key: string, s: string): Value {
    return this.set(key, Value.string(s));
  }

  /** setNumber is set(key, Value.number(n)). */
  setNumber(key: string, n: f64): Value {
    return this.set(key, Value.number(n));
  }

  /** setBool is set(key, Value.bool(b)). */
  setBool(key: string, b: bool): Value {
    return this.set(key, Value.bool(b));
  }

  /** getString returns an object's string member named key, or fallback when it is absent or not a string. */
  getString(key: string, fallback: string = ""): string {
    const v = this.get(key);
    return v !== null && v.kind == Kind.String ? v.s : fallback;
  }

  /** getNumber returns an object's number member named key, or fallback when it is absent or not a number. */
  getNumber(key: string, fallback: f64 = 0): f64 {
    const v = this.get(key);
    return v !== null && v.kind == Kind.Number ? v.n : fallback;
  }

  /** getBool returns an object's boolean member named key, or fallback when it is absent or not a boolean. */
  getBool(key: string, fallback: bool = false): bool {
    const v = this.get(key);
    return v !== null && v.kind == Kind.Bool ? v.b : fallback;
  }

  /** toString returns the value as JSON text, without spaces. */
  toString(): string {
    const w = new Writer();
    this.write(w);
    return w.toString();
  }

  /** write appends the value's JSON text to w. */
  write(w: Writer, depth: i32 = 0): void {
    switch (this.kind) {
      case Kind.Null:
        w.ascii("null");
        break;
      case Kind.Bool:
        w.ascii(this.b ? "true" : "false");
        break;
      case Kind.Number:
        this.writeNumber(w);
        break;
      case Kind.String:
        w.string(this.s);
        break;
      case Kind.Array: {
        if (depth >= MAX_DEPTH) abort("capstream: JSON value nested deeper than " + MAX_DEPTH.toString() + " levels");
        const elems = this.elems!;
        w.byte(0x5B);
        for (let i = 0; i < elems.length; i++) {
          if (i > 0) w.byte(0x2C);
          elems[i].write(w, depth + 1);
        }
        w.byte(0x5D);
        break;
      }
      default: {
        if (depth >= MAX_DEPTH) abort("capstream: JSON value nested deeper than " + MAX_DEPTH.toString() + " levels");
        const names = this.names!;
        const members = this.members!;
        w.byte(0x7B);
        for (let i = 0; i < names.length; i++) {
          if (i > 0) w.byte(0x2C);
          w.string(names[i]);
          w.byte(0x3A);
          members[i].write(w, depth + 1);
        }
        w.byte(0x7D);
      }
    }
  }

  private writeNumber(w: Writer): void {
    if (this.s.length > 0) {
      w.ascii(this.s); // the literal it was parsed from
      return;
    }
    const n = this.n;
    if (!isFinite(n)) {
      w.ascii("null");
      return;
    }
    let s = n.toString();
    if (s.endsWith(".0")) s = s.substring(0, s.length - 2);
    w.ascii(s);
  }

  private find(key: string): i32 {
    const index = this.index;
    if (index !== null) return index.has(key) ? index.get(key) : -1;
    const names = this.names!;
    for (let i = 0; i < names.length; i++) {
      if (names[i] == key) return i;
    }
    return -1;
  }

  private want(kind: Kind): void {
    if (this.kind != kind) {
      abort("capstream: the JSON value is " + kindName(this.kind) + ", not " + kindName(kind));
    }
  }
}

/**
 * Writer builds UTF-8 JSON text in a growing buffer. Strings are escaped as
 * JSON requires (plus U+2028 and U+2029); an unpaired surrogate, which UTF-8
 * cannot carry, is written as a \u escape.
 */
export class Writer {
  private buf: ArrayBuffer = new ArrayBuffer(256);
  private n: i32 = 0;

  /** ptr is the address of the text written so far; valid until the next write. */
  get ptr(): usize {
    return changetype<usize>(this.buf);
  }

  /** length is the number of bytes written. */
  get length(): i32 {
    return this.n;
  }

  /** toString returns the text written. */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, <usize>this.n);
  }

  /** string writes s as a quoted JSON string. */
  string(s: string): void {
    const len = s.length;
    this.reserve(len + 2);
    this.byte(0x22);
    for (let i = 0; i < len; i++) {
      let c = <u32>s.charCodeAt(i);
      if (c < 0x80) {
        if (c >= 0x20 && c != 0x22 && c != 0x5C) {
          this.byte(c);
          continue;
        }
        this.byte(0x5C);
        switch (c) {
          case 0x22: this.byte(0x22); break;
          case 0x5C: this.byte(0x5C); break;
          case 0x08: this.byte(0x62); break; // b
          case 0x0C: this.byte(0x66); break; // f
          case 0x0A: this.byte(0x6E); break; // n
          case 0x0D: this.byte(0x72); break; // r
          case 0x09: this.byte(0x74); break; // t
          default: this.unicodeEscape(c, false);
        }
        continue;
      }
      if (c == 0x2028 || c == 0x2029) {
        this.unicodeEscape(c, true);
        continue;
      }
      if (c >= 0xD800 && c < 0xE000) {
        if (c < 0xDC00 && i + 1 < len) {
          const d = <u32>s.charCodeAt(i + 1);
          if (d >= 0xDC00 && d < 0xE000) {
            this.codePoint(0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00));
            i++;
            continue;
          }
        }
        this.unicodeEscape(c, true);
        continue;
      }
      this.codePoint(c);
    }
    this.byte(0x22);
  }

  /** codePoint writes c as UTF-8. */
  codePoint(c: u32): void {
    if (c < 0x80) {
      this.byte(c);
    } else if (c < 0x800) {
      this.byte(0xC0 | (c >> 6));
      this.byte(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      this.byte(0xE0 | (c >> 12));
      this.byte(0x80 | ((c >> 6) & 0x3F));
      this.byte(0x80 | (c & 0x3F));
    } else {
      this.byte(0xF0 | (c >> 18));
      this.byte(0x80 | ((c >> 12) & 0x3F));
      this.byte(0x80 | ((c >> 6) & 0x3F));
      this.byte(0x80 | (c & 0x3F));
    }
  }

  // unicodeEscape writes c's four hex digits after "\u"; the backslash is
  // written here only when withBackslash.
  private unicodeEscape(c: u32, withBackslash: bool): void {
    if (withBackslash) this.byte(0x5C);
    this.byte(0x75);
    for (let shift = 12; shift >= 0; shift -= 4) {
      const d = (c >> shift) & 0xF;
      this.byte(d < 10 ? 0x30 + d : 0x61 + d - 10);
    }
  }

  /** ascii writes s, whose characters must all be ASCII. */
  ascii(s: string): void {
    const len = s.length;
    this.reserve(len);
    for (let i = 0; i < len; i++) this.byte(<u32>s.charCodeAt(i));
  }

  /** byte writes one byte. */
  // @ts-ignore: decorator
  @inline byte(b: u32): void {
    if (this.n == this.buf.byteLength) this.reserve(1);
    store<u8>(changetype<usize>(this.buf) + <usize>this.n, <u8>b);
    this.n++;
  }

  private reserve(extra: i32): void {
    const cap = this.buf.byteLength;
    if (this.n + extra <= cap) return;
    let grown = cap << 1;
    while (grown < this.n + extra) grown <<= 1;
    const next = new ArrayBuffer(grown);
    memory.copy(changetype<usize>(next), changetype<usize>(this.buf), <usize>this.n);
    this.buf = next;
  }
}

/**
 * Parser reads one JSON value from UTF-8 text, as RFC 8259 defines it:
 * every escape (a surrogate pair in \u escapes makes one character; an
 * unpaired one becomes U+FFFD, as does a byte that is not UTF-8), no
 * trailing commas or comments, nothing but white space after the value,
 * and arrays and objects nested at most MAX_DEPTH deep. A member named
 * twice keeps its first place and its last value.
 */
export class Parser {
  /** error says what is wrong with the text, after parse returned null. */
  error: string = "";
  private text: ArrayBuffer;
  private base: usize;
  private pos: i32 = 0;
  private end: i32;
  // Decoded UTF-16 of the string being parsed.
  private chars: ArrayBuffer = new ArrayBuffer(64);

  constructor(text: ArrayBuffer) {
    this.text = text;
    this.base = changetype<usize>(text);
    this.end = text.byteLength;
  }

  /** parse returns the value the text holds, or null (and sets error) when it is not one JSON value. */
  parse(): Value | null {
    const v = this.value(0);
    if (v === null) return null;
    this.space();
    if (this.pos < this.end) return this.fail("data after the JSON value");
    return v;
  }

  private value(depth: i32): Value | null {
    this.space();
    if (this.pos >= this.end) return this.fail("unexpected end of JSON input");
    const c = this.peek();
    switch (c) {
      case 0x7B: return this.object(depth);
      case 0x5B: return this.array(depth);
      case 0x22: {
        const s = this.string();
        return s === null ? null : Value.string(s);
      }
      case 0x74: return this.word("true", Value.bool(true));
      case 0x66: return this.word("false", Value.bool(false));
      case 0x6E: return this.word("null", Value.null());
    }
    if (c == 0x2D || (c >= 0x30 && c <= 0x39)) return this.number();
    return this.unexpected();
  }

  private object(depth: i32): Value | null {
    if (depth >= MAX_DEPTH) return this.fail("JSON nested deeper than " + MAX_DEPTH.toString() + " levels");
    this.pos++; // {
    const obj = Value.object();
    this.space();
    if (this.pos < this.end && this.peek() == 0x7D) {
      this.pos++;
      return obj;
    }
    while (true) {
      this.space();
      if (this.pos >= this.end) return this.fail("unexpected end of JSON input");
      if (this.peek() != 0x22) return this.unexpected();
      const key = this.string();
      if (key === null) return null;
      this.space();
      if (this.pos >= this.end) return this.fail("unexpected end of JSON input");
      if (this.peek() != 0x3A) return this.unexpected();
      this.pos++;
      const v = this.value(depth + 1);
      if (v === null) return null;
      obj.set(key, v);
      this.space();
      if (this.pos >= this.end) return this.fail("unexpected end of JSON input");
      const c = this.peek();
      this.pos++;
      if (c == 0x7D) return obj;
      if (c != 0x2C) {
        this.pos--;
        return this.unexpected();
      }
    }
    return null; // not reached
  }

  private array(depth: i32): Value | null {
    if (depth >= MAX_DEPTH) return this.fail("JSON nested deeper than " + MAX_DEPTH.toString() + " levels");
    this.pos++; // [
    const arr = Value.array();
    this.space();
    if (this.pos < this.end && this.peek() == 0x5D) {
      this.pos++;
      return arr;
    }
    while (true) {
      const v = this.value(depth + 1);
      if (v === null) return null;
      arr.push(v);
      this.space();
      if (this.pos >= this.end) return this.fail("unexpected end of JSON input");
      const c = this.peek();
      this.pos++;
      if (c == 0x5D) return arr;
      if (c != 0x2C) {
        this.pos--;
        return this.unexpected();
      }
    }
    return null; // not reached
  }

  private word(w: string, v: Value): Value | null {
    const n = w.length;
    if (this.pos + n > this.end) return this.fail("unexpected end of JSON input");
    for (let i = 0; i < n; i++) {
      if (<u32>load<u8>(this.base + <usize>(this.pos + i)) != <u32>w.charCodeAt(i)) {
        this.pos += i;
        return this.unexpected();
      }
    }
    this.pos += n;
    return v;
  }

  private number(): Value | null {
    const start = this.pos;
    if (this.peek() == 0x2D) this.pos++;
    if (this.pos >= this.end) return this.fail("unexpected end of JSON input");
    if (this.peek() == 0x30) {
      this.pos++;
    } else if (!this.digits()) {
      return this.unexpected();
    }
    if (this.pos < this.end && this.peek() == 0x2E) {
      this.pos++;
      if (this.pos >= this.end) return this.fail("unexpected end of JSON input");
      if (!this.digits()) return this.unexpected();
    }
    if (this.pos < this.end && (this.peek() | 0x20) == 0x65) { // e or E
      this.pos++;
      if (this.pos < this.end && (this.peek() == 0x2B || this.peek() == 0x2D)) this.pos++;
      if (this.pos >= this.end) return this.fail("unexpected end of JSON input");
      if (!this.digits()) return this.unexpected();
    }
    const literal = String.UTF8.decodeUnsafe(this.base + <usize>start, <usize>(this.pos - start));
    return Value.numberLiteral(literal, parseFloat(literal));
  }

  // digits skips one or more decimal digits and reports whether there was one.
  private digits(): bool {
    const start = this.pos;
    while (this.pos < this.end) {
      const c = this.peek();
      if (c < 0x30 || c > 0x39) break;
      this.pos++;
    }
    return this.pos > start;
  }

  // string reads a quoted string, the opening quote at pos.
  private string(): string | null {
    this.pos++; // "
    let n = 0; // UTF-16 code units decoded
    while (true) {
      if (this.pos >= this.end) return this.failString("unexpected end of JSON input");
      // Room for the two code units one step may add.
      if ((n + 2) << 1 > this.chars.byteLength) this.growChars();
      const out = changetype<usize>(this.chars);
      let c = <u32>load<u8>(this.base + <usize>this.pos);
      if (c == 0x22) {
        this.pos++;
        return String.UTF16.decodeUnsafe(out, <usize>n << 1);
      }
      if (c < 0x20) return this.failString("invalid character " + describe(c) + " in string literal at byte " + this.pos.toString());
      if (c == 0x5C) {
        if (this.pos + 1 >= this.end) return this.failString("unexpected end of JSON input");
        const e = <u32>load<u8>(this.base + <usize>(this.pos + 1));
        this.pos += 2;
        let u: u32 = 0;
        switch (e) {
          case 0x22: u = 0x22; break;
          case 0x5C: u = 0x5C; break;
          case 0x2F: u = 0x2F; break;
          case 0x62: u = 0x08; break;
          case 0x66: u = 0x0C; break;
          case 0x6E: u = 0x0A; break;
          case 0x72: u = 0x0D; break;
          case 0x74: u = 0x09; break;
          case 0x75: {
            const hi = this.hex4();
            if (hi < 0) return null;
            u = <u32>hi;
            if (u >= 0xD800 && u < 0xDC00) {
              // A high surrogate makes a character only with a low one after it.
              if (this.pos + 6 <= this.end && load<u8>(this.base + <usize>this.pos) == 0x5C && load<u8>(this.base + <usize>(this.pos + 1)) == 0x75) {
                const save = this.pos;
                this.pos += 2;
                const lo = this.hex4();
                if (lo < 0) return null;
                if (lo >= 0xDC00 && lo < 0xE000) {
                  store<u16>(out + (<usize>n << 1), <u16>u);
                  store<u16>(out + (<usize>(n + 1) << 1), <u16>lo);
                  n += 2;
                  continue;
                }
                this.pos = save;
              }
              u = 0xFFFD;
            } else if (u >= 0xDC00 && u < 0xE000) {
              u = 0xFFFD;
            }
            break;
          }
          default:
            this.pos -= 1;
            return this.failString("invalid character " + describe(e) + " in string escape code at byte " + this.pos.toString());
        }
        store<u16>(out + (<usize>n << 1), <u16>u);
        n++;
        continue;
      }
      if (c < 0x80) {
        store<u16>(out + (<usize>n << 1), <u16>c);
        n++;
        this.pos++;
        continue;
      }
      // A multi-byte UTF-8 sequence; anything invalid is one U+FFFD per byte.
      const cp = this.utf8();
      if (cp < 0x10000) {
        store<u16>(out + (<usize>n << 1), <u16>cp);
        n++;
      } else {
        const v = cp - 0x10000;
        store<u16>(out + (<usize>n << 1), <u16>(0xD800 | (v >> 10)));
        store<u16>(out + (<usize>(n + 1) << 1), <u16>(0xDC00 | (v & 0x3FF)));
        n += 2;
      }
    }
    return null; // not reached
  }

  // utf8 decodes the UTF-8 sequence at pos and moves past it; an invalid
  // one (overlong, a surrogate, past U+10FFFF, cut short) yields U+FFFD
  // and moves one byte.
  private utf8(): u32 {
    const p = this.base + <usize>this.pos;
    const avail = this.end - this.pos;
    const b0 = <u32>load<u8>(p);
    let need = 0;
    let cp: u32 = 0;
    let min: u32 = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1; cp = b0 & 0x1F; min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      need = 2; cp = b0 & 0x0F; min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      need = 3; cp = b0 & 0x07; min = 0x10000;
    } else {
      this.pos++;
      return 0xFFFD;
    }
    if (avail <= need) {
      this.pos++;
      return 0xFFFD;
    }
    for (let i = 1; i <= need; i++) {
      const b = <u32>load<u8>(p + <usize>i);
      if ((b & 0xC0) != 0x80) {
        this.pos++;
        return 0xFFFD;
      }
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) {
      this.pos++;
      return 0xFFFD;
    }
    this.pos += need + 1;
    return cp;
  }

  // hex4 reads four hex digits at pos; -1 (with error set) if they are not.
  private hex4(): i32 {
    if (this.pos + 4 > this.end) {
      this.fail("unexpected end of JSON input");
      return -1;
    }
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = <i32>load<u8>(this.base + <usize>(this.pos + i));
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      if (d < 0) {
        this.pos += i;
        this.fail("invalid character " + describe(<u32>c) + " in \\u hexadecimal character escape at byte " + this.pos.toString());
        return -1;
      }
      v = (v << 4) | d;
    }
    this.pos += 4;
    return v;
  }

  private growChars(): void {
    const next = new ArrayBuffer(this.chars.byteLength << 1);
    memory.copy(changetype<usize>(next), changetype<usize>(this.chars), <usize>this.chars.byteLength);
    this.chars = next;
  }

  private space(): void {
    while (this.pos < this.end) {
      const c = this.peek();
      if (c != 0x20 && c != 0x09 && c != 0x0A && c != 0x0D) return;
      this.pos++;
    }
  }

  // @ts-ignore: decorator
  @inline private peek(): u32 {
    return <u32>load<u8>(this.base + <usize>this.pos);
  }

  private unexpected(): Value | null {
    return this.fail("invalid character " + describe(this.peek()) + " at byte " + this.pos.toString());
  }

  private fail(message: string): Value | null {
    if (this.error.length == 0) this.error = message;
    return null;
  }

  private failString(message: string): string | null {
    this.fail(message);
    return null;
  }
}

// describe quotes a byte for an error message.
function describe(c: u32): string {
  if (c >= 0x20 && c < 0x7F) return "'" + String.fromCharCode(<i32>c) + "'";
  return "0x" + (c < 0x10 ? "0" : "") + c.toString(16);
}

/** JSON parses and writes JSON text. */
export namespace JSON {
  /** parse returns the value the text holds; it aborts (a trap) when the text is not one JSON value. Use tryParse for text that may be wrong. */
  export function parse(text: string): Value {
    const p = new Parser(String.UTF8.encode(text));
    const v = p.parse();
    if (v === null) abort("capstream: JSON.parse: " + p.error);
    return v!;
  }

  /** tryParse returns the value the text holds, or null when it is not one JSON value. */
  export function tryParse(text: string): Value | null {
    return new Parser(String.UTF8.encode(text)).parse();
  }

  /** stringify returns v as JSON text, without spaces. */
  export function stringify(v: Value): string {
    return v.toString();
  }

  /** quote returns s as a JSON string literal, quotes included. */
  export function quote(s: string): string {
    const w = new Writer();
    w.string(s);
    return w.toString();
  }
}
