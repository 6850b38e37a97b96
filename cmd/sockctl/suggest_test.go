package main

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestMistypedSubcommand: at every level of the tree, a subcommand with
// two letters swapped fails, and the error suggests the right one.
func TestMistypedSubcommand(t *testing.T) {
	t.Parallel()
	var groups int
	var walk func(path []string, cmd *cobra.Command)
	walk = func(path []string, cmd *cobra.Command) {
		if !cmd.HasAvailableSubCommands() {
			return
		}
		groups++
		for _, c := range cmd.Commands() {
			if !c.IsAvailableCommand() || len(c.Name()) < 3 {
				continue
			}
			name := c.Name()
			typo := name[:1] + name[2:3] + name[1:2] + name[3:] // list: lsit
			if typo == name {
				continue
			}
			args := append(append([]string{}, path...), typo)
			_, _, err := sockctl(t, "", args...)
			if err == nil || !strings.Contains(err.Error(), "Did you mean this?") || !strings.Contains(err.Error(), "\t"+name+"\n") {
				t.Errorf("sockctl %s: err = %v; want a suggestion of %q", strings.Join(args, " "), err, name)
			}
			walk(append(append([]string{}, path...), name), c)
		}
	}
	walk(nil, newRootCmd(strings.NewReader(""), io.Discard, io.Discard))
	if groups < 4 { // the root, listeners, connections, completion
		t.Errorf("walked %d command groups, want at least 4", groups)
	}
}

// TestUnknownSubcommand: the case of the issue, a word a level too high,
// and a group given no word, which prints its help and succeeds.
func TestUnknownSubcommand(t *testing.T) {
	t.Parallel()
	_, _, err := sockctl(t, "", "listeners", "lsit")
	if err == nil || !strings.HasPrefix(err.Error(), `unknown command "lsit" for "sockctl listeners"`) || !strings.Contains(err.Error(), "\tlist\n") {
		t.Errorf("listeners lsit: %v", err)
	}
	_, _, err = sockctl(t, "", "lsit")
	if err == nil || !strings.Contains(err.Error(), "\tconnections list\n\tlisteners list\n") {
		t.Errorf("lsit: %v; want listeners list and connections list suggested", err)
	}
	_, _, err = sockctl(t, "", "connections", "frobnicate")
	if err == nil || strings.Contains(err.Error(), "Did you mean") || !strings.Contains(err.Error(), "Run 'sockctl connections --help' for usage.") {
		t.Errorf("connections frobnicate: %v; want an error without suggestions", err)
	}
	for _, group := range []string{"listeners", "connections", "completion"} {
		if out := mustSockctl(t, group); !strings.Contains(out, "Available Commands:") {
			t.Errorf("sockctl %s printed %q, want its help", group, out)
		}
	}
}
