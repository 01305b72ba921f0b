package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// flags is a FlagSet whose every flag also reads an environment variable.
// A flag given on the command line wins over the environment, which wins
// over the default.
type flags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	envs   map[string]string // flag name -> variable
	errs   map[string]error  // flag name -> error in its variable
}

func newFlags(name, summary string, getenv func(string) string, out io.Writer) *flags {
	f := &flags{fs: flag.NewFlagSet(name, flag.ContinueOnError), getenv: getenv, envs: map[string]string{}, errs: map[string]error{}}
	f.fs.SetOutput(out)
	f.fs.Usage = func() {
		fmt.Fprintf(out, "Usage: %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown):\n", name, summary)
		f.fs.VisitAll(func(fl *flag.Flag) {
			def := ""
			if fl.DefValue != "" {
				def = fmt.Sprintf(" (default %s)", fl.DefValue)
			}
			env := ""
			if v := f.envs[fl.Name]; v != "" {
				env = "  [" + v + "]"
			}
			fmt.Fprintf(out, "  --%s%s\n      %s%s\n", fl.Name, env, fl.Usage, def)
		})
	}
	return f
}

func (f *flags) env(name, variable string) string {
	f.envs[name] = variable
	return f.getenv(variable)
}

func (f *flags) String(name, variable, def, help string) *string {
	if v := f.env(name, variable); v != "" {
		def = v
	}
	return f.fs.String(name, def, help)
}

func (f *flags) Bool(name, variable string, def bool, help string) *bool {
	if variable != "" {
		if v := f.env(name, variable); v != "" {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				f.errs[name] = fmt.Errorf("%s=%q: not a boolean", variable, v)
			} else {
				def = b
			}
		}
	}
	return f.fs.Bool(name, def, help)
}

func (f *flags) Int(name, variable string, def int, help string) *int {
	if v := f.env(name, variable); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			f.errs[name] = fmt.Errorf("%s=%q: not an integer", variable, v)
		} else {
			def = n
		}
	}
	return f.fs.Int(name, def, help)
}

func (f *flags) Duration(name, variable string, def time.Duration, help string) *time.Duration {
	if v := f.env(name, variable); v != "" {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			f.errs[name] = fmt.Errorf("%s=%q: not a duration (try 15m or 12h)", variable, v)
		} else {
			def = d
		}
	}
	return f.fs.Duration(name, def, help)
}

// Parse parses args; --help prints the usage and returns errHelp.
func (f *flags) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err.Error()}
	}
	if f.fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", f.fs.Arg(0))}
	}
	// A bad variable matters only when its flag is not given.
	f.fs.Visit(func(fl *flag.Flag) { delete(f.errs, fl.Name) })
	var errs []error
	f.fs.VisitAll(func(fl *flag.Flag) {
		if err, ok := f.errs[fl.Name]; ok {
			errs = append(errs, err)
		}
	})
	if len(errs) > 0 {
		return usageError{errors.Join(errs...).Error()}
	}
	return nil
}

var errHelp = errors.New("help shown")
