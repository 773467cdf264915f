package wasmcheck

import "strings"

// Languages check recognizes, to word its advice for the toolchain at
// hand. A module it does not recognize gets the advice for all of them.
const (
	langGo   = "Go"
	langRust = "Rust"
	langC    = "C"
	langCPP  = "C++"
	langZig  = "Zig"
	langAS   = "AssemblyScript"
)

// language guesses the language of a module from what its toolchain
// leaves in it: Go's linker writes a go:buildid section; LLVM-based
// toolchains write a producers section (unless the module is stripped);
// AssemblyScript is known by the signature of its abort import. It returns
// "" when nothing tells.
func (l *layout) language(imports []Import) string {
	if l.hasCustom("go:buildid") {
		return langGo
	}
	for _, lang := range l.producers["language"] {
		switch {
		case lang == "Rust":
			return langRust
		case lang == "Zig":
			return langZig
		case strings.HasPrefix(lang, "C++"):
			return langCPP
		case lang == "C" || strings.HasPrefix(lang, "C8") || strings.HasPrefix(lang, "C9") || strings.HasPrefix(lang, "C1"):
			return langC
		}
	}
	for _, by := range l.producers["processed-by"] {
		switch by {
		case "rustc":
			return langRust
		case "clang":
			return langC
		}
	}
	for _, imp := range imports {
		if imp.Module == "env" && imp.Name == "abort" && imp.Signature == asAbort {
			return langAS
		}
	}
	return ""
}

// asAbort is the signature of AssemblyScript's abort(message, fileName,
// line, column).
const asAbort = "(i32, i32, i32, i32) -> ()"

// advice picks the entries of per that apply to lang, and all of them,
// joined, when lang is unknown or has no entry.
func advice(lang string, per [][2]string) string {
	var all []string
	for _, p := range per {
		if p[0] == lang || (lang == langCPP && p[0] == langC) {
			return p[1]
		}
		all = append(all, p[1])
	}
	return strings.Join(all, "; ")
}

// stackAdvice says how to link with a 64 KiB shadow stack.
func stackAdvice(lang string) string {
	return "link with a 64 KiB stack: " + advice(lang, [][2]string{
		{langRust, "Rust -C link-arg=-zstack-size=65536 (rustflags in .cargo/config.toml)"},
		{langC, "clang -Wl,-z,stack-size=65536"},
		{langZig, "Zig --stack 65536"},
	})
}

// reactorAdvice says how to build a reactor (a library) rather than a
// command.
func reactorAdvice(lang string) string {
	return "build a reactor (a library), not a command: " + advice(lang, [][2]string{
		{langGo, "Go: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared"},
		{langRust, "Rust: a [lib] with crate-type = [\"cdylib\"], not a binary"},
		{langC, "C: clang -mexec-model=reactor, without main"},
		{langZig, "Zig: zig build-lib -dynamic -rdynamic"},
		{langAS, "AssemblyScript: --exportStart _initialize (or no --exportStart)"},
	})
}

// exportAdvice says how to export a function of the ABI.
func exportAdvice(lang, name string) string {
	return "export it: " + advice(lang, [][2]string{
		{langGo, "Go: register the tool with sdk.Register, in a -buildmode=c-shared build"},
		{langRust, `Rust: #[no_mangle] pub extern "C" fn ` + name + `() -> i32`},
		{langC, `C: __attribute__((export_name("` + name + `"))) int ` + name + `(void)`},
		{langAS, "AssemblyScript: export function " + name + "(): i32 from the entry file"},
	})
}
