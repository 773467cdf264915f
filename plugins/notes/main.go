// Command notes is the capstream tool that keeps notes for the caller in
// its KV namespace (one per principal), append-only until cleared.
//
// Each note is its own key, written once and never read back to be
// changed, so calls that add at the same time cannot lose each other's
// notes: "note/", a zero-padded sequence number one past the last note's,
// "-" and a random suffix, so that two calls which pick the same number
// still write different keys. Keys sort in the order notes were added.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o notes.wasm .
package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/capstream/capstream/sdk"
)

// maxNotes bounds a namespace so that listing it (one host call per note)
// stays well inside the default host-call limit.
const maxNotes = 200

// prefix starts every note's key.
const prefix = "note/"

// Input is what notes takes.
type Input struct {
	Op   string `json:"op" jsonschema:"description=add appends text as a note; list returns the notes; clear deletes them all,enum=add|list|clear"`
	Text string `json:"text,omitempty" jsonschema:"description=The note to add (op add only),minLength=1,maxLength=4096"`
}

// Output is the caller's notes, oldest first, after the operation.
type Output struct {
	Notes []string `json:"notes"`
}

var tool = sdk.Tool[Input, Output]{
	Name:        "notes",
	Title:       "Notes",
	Description: fmt.Sprintf("Keeps short notes for the caller: add one, list them, or clear them all. Every operation returns the notes, oldest first; at most %d are kept.", maxNotes),
	Needs:       sdk.Needs{KV: &sdk.KVNeed{Write: true}},
	Annotations: &sdk.Annotations{DestructiveHint: new(true), OpenWorldHint: new(false)},
	Run:         run,
}

func init() { sdk.Register(tool) }

func main() {}

func run(c *sdk.Call, in Input) (Output, error) {
	switch in.Op {
	case "add":
		if err := add(c, in.Text); err != nil {
			return Output{}, err
		}
	case "clear":
		if err := clearNotes(c); err != nil {
			return Output{}, err
		}
	case "list":
	default:
		return Output{}, fmt.Errorf("unknown op %q: want add, list or clear", in.Op)
	}
	notes, err := list(c)
	return Output{Notes: notes}, err
}

func add(c *sdk.Call, text string) error {
	if text == "" {
		return errors.New("op add needs a non-empty text")
	}
	keys, err := c.KVList(prefix)
	if err != nil {
		return fmt.Errorf("listing notes: %w", err)
	}
	if len(keys) >= maxNotes {
		return fmt.Errorf("there are already %d notes; clear them first", maxNotes)
	}
	seq := 0
	if len(keys) > 0 {
		last, _, _ := strings.Cut(strings.TrimPrefix(keys[len(keys)-1], prefix), "-")
		n, err := strconv.Atoi(last)
		if err != nil {
			return fmt.Errorf("reading the last note's key %q: %w", keys[len(keys)-1], err)
		}
		seq = n + 1
	}
	// crypto/rand asks the host each time; a pseudo-random generator could
	// start from the same state in every instance.
	var suffix [8]byte
	rand.Read(suffix[:])
	key := fmt.Sprintf("%s%08d-%x", prefix, seq, suffix)
	if err := c.KVSet(key, []byte(text)); err != nil {
		return fmt.Errorf("adding the note: %w", err)
	}
	return nil
}

func list(c *sdk.Call) ([]string, error) {
	keys, err := c.KVList(prefix)
	if err != nil {
		return nil, fmt.Errorf("listing notes: %w", err)
	}
	notes := make([]string, 0, len(keys))
	for _, k := range keys {
		v, err := c.KVGet(k)
		if errors.Is(err, sdk.ErrNotFound) {
			continue // cleared meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", k, err)
		}
		notes = append(notes, string(v))
	}
	return notes, nil
}

func clearNotes(c *sdk.Call) error {
	keys, err := c.KVList(prefix)
	if err != nil {
		return fmt.Errorf("listing notes: %w", err)
	}
	for _, k := range keys {
		if err := c.KVDelete(k); err != nil {
			return fmt.Errorf("deleting %s: %w", k, err)
		}
	}
	return nil
}
