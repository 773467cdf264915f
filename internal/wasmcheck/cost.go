package wasmcheck

import (
	"fmt"
	"strings"
)

// What a call costs.
//
// Every call runs in a new instance, which starts with the module's
// initial memory. How much that costs was measured through host.Engine.Call
// with modules that differ only in their memory (a 2-vCPU virtual machine,
// 2000 calls each):
//
//	initial memory           without _initialize    pre-initialized (_initialize)
//	1 page (64 KiB)          38 µs                  38–44 µs
//	16 pages (1 MiB)         49 µs                  51–64 µs
//	17 pages                 1.8 ms                 54–79 µs
//	32 pages                 2.1 ms                 89–162 µs
//	64 pages (4 MiB)         2.7 ms                 154–188 µs
//	256 pages (16 MiB)       5.3 ms                 491 µs
//
// Without _initialize, the cost jumps past 1 MiB: the host keeps a pool of
// memories for reuse (host/memory.go), but only of up to 1 MiB for a module
// with no pre-initialized image, so a larger memory is allocated afresh,
// and faulted in, in every call. A pre-initialized module's memories are
// pooled at any size, and a call costs about 2 µs more per page, to copy
// its image. Data segments, copied into every new instance, cost nothing
// measurable up to 960 KiB in a 16-page memory: data matters through the
// initial memory it needs, which the memory check sees.
//
// Hence the thresholds: more than 16 pages without _initialize (a call then
// costs 40 times as much), and more than 64 pages with it (4 times as much).
const (
	maxPooledPages  = 16 // host/memory.go's minPooled, in pages
	maxPreinitPages = 64
)

// Stack is a module's shadow stack: the region of linear memory in which
// code compiled by LLVM (C, C++, Rust, Zig) keeps the stack frames that do
// not fit in WebAssembly locals.
type Stack struct {
	Bytes uint64 `json:"bytes"`
	// AtMost says that Bytes is an upper bound: the stack and the
	// zero-initialized data below it could not be told apart.
	AtMost bool `json:"atMost,omitempty"`
}

// shadowStack reads the size of a module's shadow stack, if the module
// shows it; nil if it does not.
//
// What is read, and why it is reliable: wasm-ld, the linker of clang,
// rustc and zig, keeps the stack pointer in a mutable i32 global it names
// __stack_pointer, whose initial value is the top of the stack; the stack
// grows down from there. The global is found by that name in the name
// section or among the exports; in a stripped module (no names), it is
// global 0 when the module exports __heap_base or __data_end, symbols only
// wasm-ld defines, which puts __stack_pointer first among the globals it
// makes (and imports it instead, which this excludes, only in
// position-independent builds). wasm-ld lays memory out in one of two
// ways:
//
//   - --stack-first (rustc's default): the stack at [0, sp), the data above
//     it. No data segment starts below sp, and the stack is sp bytes.
//   - otherwise (clang's default): the data, the zero-initialized data,
//     then the stack, up to sp, which is also __heap_base. The stack is sp
//     minus __data_end, when the module exports __data_end; without it,
//     the zero-initialized data (which has no segment) cannot be told
//     from the stack, and sp minus the end of the last data segment is an
//     upper bound.
//
// sp must also be 16-byte aligned, as wasm-ld aligns it, and within the
// initial memory; a module that fails any of this gets no answer.
func (l *layout) shadowStack() *Stack {
	if l.memory == nil {
		return nil
	}
	index, found := uint32(0), false
	for i, name := range l.globalNames {
		if name == "__stack_pointer" {
			index, found = i, true
		}
	}
	if e, ok := l.exported("__stack_pointer", kindGlobal); ok && !found {
		index, found = e.index, true
	}
	_, heapBase := l.exported("__heap_base", kindGlobal)
	dataEnd, hasDataEnd := l.exportedConst("__data_end")
	if !found && (heapBase || hasDataEnd) {
		index, found = 0, true
	}
	g, ok := l.definedGlobal(index)
	if !found || !ok || !g.i32 || !g.mutable || !g.known {
		return nil
	}
	sp := uint64(uint32(g.value))
	if sp == 0 || sp%16 != 0 || sp > l.memory.min*wasmPage {
		return nil
	}
	lowest, end := uint64(1)<<63, uint64(0)
	for _, s := range l.active {
		if s.size == 0 {
			continue
		}
		lowest = min(lowest, s.offset)
		end = max(end, s.offset+s.size)
	}
	switch {
	case end == 0 && !hasDataEnd:
		return &Stack{Bytes: sp, AtMost: true}
	case lowest >= sp && (!hasDataEnd || dataEnd >= sp):
		return &Stack{Bytes: sp}
	case hasDataEnd && dataEnd <= sp:
		return &Stack{Bytes: sp - dataEnd}
	case end <= sp:
		return &Stack{Bytes: sp - end, AtMost: true}
	}
	return nil
}

// exportedConst returns the value of an exported immutable i32 global
// with a constant initializer.
func (l *layout) exportedConst(name string) (uint64, bool) {
	e, ok := l.exported(name, kindGlobal)
	if !ok {
		return 0, false
	}
	g, ok := l.definedGlobal(e.index)
	if !ok || !g.i32 || g.mutable || !g.known {
		return 0, false
	}
	return uint64(uint32(g.value)), true
}

// costFindings reports what each call of the module costs in memory.
func (c *checker) costFindings(l *layout) {
	r := c.report
	if r.Memory == nil {
		return
	}
	pages := r.Memory.InitialPages
	memBytes := pages * wasmPage
	summary := fmt.Sprintf("%s (%s) of initial memory", plural(pages, "page"), size(memBytes))
	if r.Stack != nil {
		at := ""
		if r.Stack.AtMost {
			at = "at most "
		}
		summary += fmt.Sprintf(", %s%s of it shadow stack", at, size(r.Stack.Bytes))
	}
	if l != nil {
		summary += fmt.Sprintf(", %s of data in %s", size(l.dataBytes), plural(uint64(l.dataSegments), "segment"))
	}
	if r.Preinitialized {
		summary += "; pre-initialized: every call starts from the memory _initialize left at load time"
	}
	c.add(Info, CodeCost, "%s module of %s: %s", article(r.Language), size(uint64(r.Size)), summary)

	if limit := c.limits.Memory; memBytes > uint64(limit) {
		c.add(Warning, CodeMemoryLimit, "the module starts with %s of memory, more than the default limit of %s: every call fails with memory_limit unless the policy grants more memory", size(memBytes), size(uint64(limit)))
	}
	if r.Language == langGo {
		msg := "a Go module is large by nature, since it holds the Go runtime"
		if r.Preinitialized {
			msg += "; the host pre-initializes it, so a call copies the memory the runtime's start-up left rather than starting the runtime again: nothing to change"
		}
		c.add(Info, CodeGo, "%s", msg)
		return
	}
	var why string
	switch {
	case !r.Preinitialized && pages > maxPooledPages:
		why = fmt.Sprintf("every call starts a new instance with %s of memory; above 1 MiB the host cannot reuse memories between calls, and a call costs about 40 times as much (1.8 ms against 50 µs, measured)", size(memBytes))
	case r.Preinitialized && pages > maxPreinitPages:
		why = fmt.Sprintf("every call copies the %s of initial memory into its instance, about 2 µs per 64 KiB page on top of the 40 µs a one-page module takes (measured)", size(memBytes))
	default:
		return
	}
	var fixes []string
	switch {
	case r.Stack != nil && r.Stack.Bytes > 64<<10 && !r.Stack.AtMost:
		fixes = append(fixes, fmt.Sprintf("%s of it is the shadow stack: %s", size(r.Stack.Bytes), stackAdvice(r.Language)))
	case r.Stack != nil && r.Stack.Bytes > 64<<10:
		fixes = append(fixes, fmt.Sprintf("up to %s of it may be the shadow stack: %s", size(r.Stack.Bytes), stackAdvice(r.Language)))
	}
	if l != nil && l.dataBytes >= 256<<10 {
		fixes = append(fixes, fmt.Sprintf("%s of it is data: load large data when it is needed (from the KV store, or over HTTP) rather than embedding it", size(l.dataBytes)))
	}
	switch {
	case len(fixes) > 0:
	case r.Language == langAS:
		fixes = append(fixes, "lower the initial memory (asc --initialMemory)")
	default:
		fixes = append(fixes, "lower the initial memory (wasm-ld --initial-memory), or "+stackAdvice(r.Language))
	}
	msg := why
	for _, f := range fixes {
		msg += "; " + f
	}
	c.add(Warning, CodeMemory, "%s", msg)
}

// size formats n bytes for people: "64 KiB", "1.06 MiB", "812 bytes".
func size(n uint64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// plural returns "1 page", "2 pages".
func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// article returns "a" or "an" and the language, or "a" alone.
func article(lang string) string {
	switch {
	case lang == "":
		return "a"
	case strings.ContainsRune("AEIOU", rune(lang[0])):
		return "an " + lang
	}
	return "a " + lang
}
