package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// addCompletion adds cobra's completion command (bash, zsh, fish and
// powershell scripts) now rather than at Execute, so that
// requireSubcommands sees it, and makes the flags that take one of a few
// names (--framing, --mode, -o...) complete those names.
func addCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	completeEnums(root)
}

// enumCompleter is a flag value with a fixed set of names: *enumFlag.
type enumCompleter interface{ completions() []string }

func (f *enumFlag[T]) completions() []string {
	names := make([]string, len(f.names))
	for i, n := range f.names {
		names[i] = n.name
	}
	return names
}

// completeEnums registers the completion of every enum flag of cmd and
// its subcommands. A flag is registered on the command that defines it.
func completeEnums(cmd *cobra.Command) {
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		e, ok := f.Value.(enumCompleter)
		if !ok {
			return
		}
		names := e.completions()
		// The error is for a flag that does not exist or is registered
		// twice; neither can happen while walking each flag once.
		_ = cmd.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
	})
	for _, c := range cmd.Commands() {
		completeEnums(c)
	}
}
