package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// newFlagSet returns a flag set for a subcommand that prints its usage to
// stderr and returns errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: capstream %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args. --help is not an error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{0}
		}
		return &exitError{2}
	}
	return nil
}

// mirrorEnv gives each flag not set on the command line the value of the
// environment variable CAPSTREAM_<FLAG> (upper case, dashes as
// underscores), if it is set, and returns the flags it set, each with the
// variable it came from, so that the server can say where a setting came
// from. Only serve's flags are mirrored (docs/design.md §3): the variables of other
// commands would collide with serve's (CAPSTREAM_SECRET_* are guest
// secrets).
func mirrorEnv(fs *flag.FlagSet) (fromEnv map[string]string, err error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fromEnv = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "CAPSTREAM_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
				return
			}
			fromEnv[f.Name] = env
		}
	})
	return fromEnv, err
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
