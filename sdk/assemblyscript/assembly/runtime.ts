// What AssemblyScript's standard library asks its embedder for, supplied
// through WASI, which capstream allows, instead of the "env" imports asc
// emits by default (the host refuses a module that imports anything but
// capstream_v1 and wasi_snapshot_preview1). The SDK's asconfig.json points
// the built-ins at these with "use": abort=capstreamAbort (also what
// assert, throw and failed bounds checks call), trace=capstreamTrace and
// seed=capstreamSeed (Math.random's seed).

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: i32, iovs: usize, iovsLen: usize, nwritten: usize): i32;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: usize, len: usize): i32;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(id: i32, precision: i64, time: usize): i32;

const STDERR = 2;
const CLOCK_REALTIME = 0;

// Static memory, so that writing an abort message allocates nothing (the
// allocator may be what failed): a buffer for stderr, an iovec and a word
// for results.
const BUF_SIZE: usize = 256;
const buf = memory.data(<i32>BUF_SIZE);
const iov = memory.data(8, 4);
const word = memory.data(8, 8);
let buffered: usize = 0;

/** flushStderr writes what is buffered to stderr, retrying short writes. */
function flushStderr(): void {
  let p = buf;
  let n = buffered;
  buffered = 0;
  while (n > 0) {
    store<u32>(iov, <u32>p);
    store<u32>(iov, <u32>n, 4);
    if (fd_write(STDERR, iov, 1, word) != 0) return;
    const written = <usize>load<u32>(word);
    if (written == 0 || written > n) return;
    p += written;
    n -= written;
  }
}

function putByte(b: u32): void {
  if (buffered == BUF_SIZE) flushStderr();
  store<u8>(buf + buffered, <u8>b);
  buffered++;
}

/** putString encodes s as UTF-8 into the stderr buffer; a lone surrogate becomes U+FFFD. */
function putString(s: string): void {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = <u32>s.charCodeAt(i);
    if (c >= 0xD800 && c < 0xE000) {
      if (c < 0xDC00 && i + 1 < n) {
        const d = <u32>s.charCodeAt(i + 1);
        if (d >= 0xDC00 && d < 0xE000) {
          c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
          i++;
        } else {
          c = 0xFFFD;
        }
      } else {
        c = 0xFFFD;
      }
    }
    if (c < 0x80) {
      putByte(c);
    } else if (c < 0x800) {
      putByte(0xC0 | (c >> 6));
      putByte(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      putByte(0xE0 | (c >> 12));
      putByte(0x80 | ((c >> 6) & 0x3F));
      putByte(0x80 | (c & 0x3F));
    } else {
      putByte(0xF0 | (c >> 18));
      putByte(0x80 | ((c >> 12) & 0x3F));
      putByte(0x80 | ((c >> 6) & 0x3F));
      putByte(0x80 | (c & 0x3F));
    }
  }
}

function putUint(n: u32): void {
  if (n >= 10) putUint(n / 10);
  putByte(0x30 + n % 10);
}

/**
 * capstreamAbort is AssemblyScript's abort: it writes "abort: MESSAGE at
 * FILE:LINE:COLUMN" to stderr and traps. The call fails with trap, and the
 * host quotes the end of stderr in the failure's message.
 */
// @ts-ignore: decorator
@global export function capstreamAbort(
  message: string | null = null,
  fileName: string | null = null,
  lineNumber: u32 = 0,
  columnNumber: u32 = 0
): void {
  putString("abort: ");
  putString(message !== null ? message : "(no message)");
  if (fileName !== null) {
    putString(" at ");
    putString(fileName);
    putByte(0x3A);
    putUint(lineNumber);
    putByte(0x3A);
    putUint(columnNumber);
  }
  putByte(0x0A);
  flushStderr();
  unreachable();
}

/**
 * capstreamTrace is AssemblyScript's trace: it writes "trace: MESSAGE" and
 * the n numbers to stderr, which the host keeps to itself (its end is
 * quoted only when the call traps). Call.log is what a caller sees.
 */
// @ts-ignore: decorator
@global export function capstreamTrace(
  message: string,
  n: i32 = 0,
  a0: f64 = 0,
  a1: f64 = 0,
  a2: f64 = 0,
  a3: f64 = 0,
  a4: f64 = 0
): void {
  putString("trace: ");
  putString(message);
  if (n > 0) putString(" " + a0.toString());
  if (n > 1) putString(", " + a1.toString());
  if (n > 2) putString(", " + a2.toString());
  if (n > 3) putString(", " + a3.toString());
  if (n > 4) putString(", " + a4.toString());
  putByte(0x0A);
  flushStderr();
}

/**
 * capstreamSeed is the seed Math.random asks for the first time it is used:
 * 64 bits from WASI random_get, fresh in every call. (A Math.random first
 * used at a tool's top level draws once, at load time, the same sequence
 * in every call.)
 */
// @ts-ignore: decorator
@global export function capstreamSeed(): f64 {
  random_get(word, 8);
  return reinterpret<f64>(load<u64>(word));
}

/**
 * randomBytes returns n bytes from the host's cryptographic random source
 * (WASI random_get): fresh in every call, never repeated between calls.
 */
export function randomBytes(n: i32): Uint8Array {
  const b = new Uint8Array(n);
  if (n > 0 && random_get(b.dataStart, <usize>n) != 0) abort("capstream: random_get failed");
  return b;
}

/** now returns the wall-clock time in milliseconds since the Unix epoch, as Date.now() would. */
export function now(): i64 {
  if (clock_time_get(CLOCK_REALTIME, 1000, word) != 0) abort("capstream: clock_time_get failed");
  return <i64>(load<u64>(word) / 1000000);
}
