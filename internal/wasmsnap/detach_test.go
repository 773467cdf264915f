package wasmsnap

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/capstream/capstream/internal/testwasm"
)

// imageMemory is a memory allocator whose memory starts as a copy of image.
type imageMemory struct {
	image []byte
	buf   []byte
}

func (m *imageMemory) Allocate(_, _ uint64) experimental.LinearMemory { return m }

func (m *imageMemory) Reallocate(size uint64) []byte {
	if m.buf == nil {
		m.buf = bytes.Clone(m.image)
	}
	if size > uint64(len(m.buf)) {
		m.buf = append(m.buf, make([]byte, size-uint64(len(m.buf)))...)
	}
	return m.buf[:size]
}

func (m *imageMemory) Free() {}

func TestDetachData(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	original := testwasm.WAT(t, stateful)

	detached, image, err := DetachData(original)
	if err != nil {
		t.Fatal(err)
	}
	if len(image) != pageSize {
		t.Fatalf("image of %d bytes, want the minimum memory of one page", len(image))
	}
	// The image is what the segments write at instantiation.
	want := instantiate(t, rt, original)
	if got, _ := want.Memory().Read(0, want.Memory().Size()); !bytes.Equal(got, image) {
		t.Fatal("image differs from the memory of a new instance")
	}
	if bytes.Contains(detached, []byte("world")) || !bytes.Contains(detached, []byte("passive!")) {
		t.Fatal("the detached module should keep the passive segment and nothing of the active ones")
	}

	// An instance of the detached module starting from the image behaves as
	// the original: _initialize (which uses memory.init on the passive
	// segment), then copy_passive.
	c, err := rt.CompileModule(ctx, detached)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	mem := &imageMemory{image: image}
	got, err := rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, mem), c, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close(ctx)
	for _, fn := range []string{"_initialize", "copy_passive"} {
		if _, err := want.ExportedFunction(fn).Call(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := got.ExportedFunction(fn).Call(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := want.Memory().Read(0, want.Memory().Size())
	b, _ := got.Memory().Read(0, got.Memory().Size())
	if !bytes.Equal(a, b) {
		t.Fatal("memories differ after the same calls")
	}
	ca, _ := want.ExportedFunction("counter").Call(ctx)
	cb, _ := got.ExportedFunction("counter").Call(ctx)
	if ca[0] != cb[0] {
		t.Fatalf("counter %d, want %d", cb[0], ca[0])
	}
}

func TestDetachDataUnchanged(t *testing.T) {
	for name, src := range map[string]string{
		"no memory":      `(module (func (export "f")))`,
		"passive only":   `(module (memory 1) (data "x") (func (export "f") (data.drop 0)))`,
		"no data at all": `(module (memory 1))`,
	} {
		wasm := testwasm.WAT(t, src)
		out, image, err := DetachData(wasm)
		if err != nil || image != nil || !bytes.Equal(out, wasm) {
			t.Errorf("%s: got image %v, err %v, changed %v", name, image != nil, err, !bytes.Equal(out, wasm))
		}
	}
}

func TestDetachDataRefuses(t *testing.T) {
	for name, src := range map[string]string{
		"offset from an import": `(module (import "env" "base" (global i32)) (memory 1) (data (global.get 0) "x"))`,
		"outside the memory":    `(module (memory 1) (data (i32.const 65535) "xy"))`,
		"negative offset":       `(module (memory 1) (data (i32.const -1) "x"))`,
	} {
		_, _, err := DetachData(testwasm.WAT(t, src))
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err %v, want ErrUnsupported", name, err)
		}
	}
	if _, _, err := DetachData([]byte("not wasm")); !errors.Is(err, ErrMalformed) {
		t.Errorf("not wasm: err %v, want ErrMalformed", err)
	}
}
