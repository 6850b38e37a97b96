package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// requireSubcommands makes each command of the tree that only groups
// others refuse a word that names none of them, with suggestions, as
// cobra does for the root alone: a group without a Run would print its
// help and exit 0 on "sockctl listeners lsit". Given no word, a group
// prints its help, as before.
func requireSubcommands(cmd *cobra.Command) {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which only its own check sets
	}
	for _, c := range cmd.Commands() {
		requireSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = unknownSubcommand
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// unknownSubcommand refuses the first of args, which cobra could not
// match to a subcommand of cmd.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := suggestions(cmd, args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
	}
	return errors.New(msg + "\nRun '" + cmd.CommandPath() + " --help' for usage.")
}

// suggestions are the subcommands of cmd close to typed, by cobra's
// measure (--suggestions-minimum-distance 2, or a prefix); failing
// those, the ones a level down, so that "sockctl list" suggests
// "listeners list".
func suggestions(cmd *cobra.Command, typed string) []string {
	if s := cmd.SuggestionsFor(typed); len(s) > 0 {
		return s
	}
	var out []string
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() {
			continue
		}
		for _, s := range c.SuggestionsFor(typed) {
			out = append(out, c.Name()+" "+s)
		}
	}
	return out
}
