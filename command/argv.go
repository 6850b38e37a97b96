package command

import (
	"errors"
	"strings"
)

// The errors of SplitArgs. They are plain messages, not sentinels of the
// package API: Exec sends them to the peer as they are.
var (
	errUnterminatedSingle = errors.New("unterminated single quote")
	errUnterminatedDouble = errors.New("unterminated double quote")
	errTrailingBackslash  = errors.New("trailing backslash")
)

// SplitArgs splits s into words the way a POSIX shell splits a simple
// command, and does nothing else: no expansion, no redirection, no
// pipelines, no comments. It is how Exec turns a peer's text into an argv
// without running a shell.
//
// Space, tab, CR and LF separate words. Single quotes keep everything up
// to the next single quote. Inside double quotes a backslash escapes only
// `\`, `"`, `$`, backquote and newline (a backslash-newline is removed);
// before any other byte it stays. Outside quotes a backslash escapes the
// next byte, and a backslash-newline is removed. Quoted and unquoted parts
// next to each other make one word, and a pair of quotes with nothing
// between them is an empty word.
//
// Every other byte is an ordinary one: `echo a; rm -rf x` is the five words
// echo, a;, rm, -rf and x, and $(id), `id`, *, ~, $HOME, a|b, a&&b, >f and
// # arrive as they are written.
//
// An unterminated quote or a backslash at the very end is an error. An
// input of only separators gives no words and no error.
func SplitArgs(s string) ([]string, error) {
	var (
		args []string
		word []byte
		// inWord tells an empty quoted word from no word at all.
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\r', '\n':
			if inWord {
				args = append(args, string(word))
				word, inWord = word[:0], false
			}
		case '\\':
			i++
			if i == len(s) {
				return nil, errTrailingBackslash
			}
			if s[i] != '\n' { // a line continuation neither starts nor ends a word
				word, inWord = append(word, s[i]), true
			}
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errUnterminatedSingle
			}
			word, inWord = append(word, s[i+1:i+1+end]...), true
			i += 1 + end
		case '"':
			inWord = true
			for i++; ; i++ {
				if i == len(s) {
					return nil, errUnterminatedDouble
				}
				c := s[i]
				if c == '"' {
					break
				}
				if c == '\\' && i+1 < len(s) {
					switch s[i+1] {
					case '\\', '"', '$', '`':
						i++
						c = s[i]
					case '\n':
						i++
						continue
					}
				}
				word = append(word, c)
			}
		default:
			word, inWord = append(word, c), true
		}
	}
	if inWord {
		args = append(args, string(word))
	}
	return args, nil
}
