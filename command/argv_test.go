package command

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"only separators", " \t\r\n  \n", nil},
		{"plain words", "ls -l /tmp", []string{"ls", "-l", "/tmp"}},
		{"raw client line", "ls -l\n", []string{"ls", "-l"}},
		{"CRLF line", "ls -l\r\n", []string{"ls", "-l"}},
		{"runs of separators", "  a \t\tb\n\nc\r\n ", []string{"a", "b", "c"}},
		{"single quotes", `echo 'a  b' 'c"d' '\n'`, []string{"echo", "a  b", `c"d`, `\n`}},
		{"single quotes keep newlines", "'a\nb'", []string{"a\nb"}},
		{"double quotes", `echo "a  b" "it's"`, []string{"echo", "a  b", "it's"}},
		{"double quote escapes", `"\\ \" \$ \` + "`" + `"`, []string{`\ " $ ` + "`"}},
		{"double quote other backslashes stay", `"\n \a \'"`, []string{`\n \a \'`}},
		{"double quote line continuation", "\"a\\\nb\"", []string{"ab"}},
		{"backslash escapes", `a\ b \' \" \\ \$x \;`, []string{"a b", "'", `"`, `\`, "$x", ";"}},
		{"backslash newline joins", "ab\\\ncd", []string{"abcd"}},
		{"backslash newline between words", "a \\\n b", []string{"a", "b"}},
		{"backslash newline alone", "\\\n", nil},
		{"escaped separator", "a\\\tb", []string{"a\tb"}},
		{"joined parts", `a'b'"c"d`, []string{"abcd"}},
		{"joined with escapes", `x\ 'y z'"\"w"`, []string{`x y z"w`}},
		{"empty single", "''", []string{""}},
		{"empty double", `""`, []string{""}},
		{"empty words among others", `a '' "" b`, []string{"a", "", "", "b"}},
		{"empty parts join", `''a""`, []string{"a"}},
		{"semicolon", "echo a; rm -rf x", []string{"echo", "a;", "rm", "-rf", "x"}},
		{"command substitution", "echo $(id)", []string{"echo", "$(id)"}},
		{"backquotes", "echo `id`", []string{"echo", "`id`"}},
		{"glob", "ls * ?.go [ab]", []string{"ls", "*", "?.go", "[ab]"}},
		{"tilde", "ls ~ ~root", []string{"ls", "~", "~root"}},
		{"variables", "echo $HOME ${PATH}", []string{"echo", "$HOME", "${PATH}"}},
		{"pipe", "a|b", []string{"a|b"}},
		{"and", "a&&b", []string{"a&&b"}},
		{"background", "sleep 1 &", []string{"sleep", "1", "&"}},
		{"redirections", "echo x >f <g 2>&1", []string{"echo", "x", ">f", "<g", "2>&1"}},
		{"comment", "echo a # b", []string{"echo", "a", "#", "b"}},
		{"UTF-8", "echo 你好 'wörld'", []string{"echo", "你好", "wörld"}},
		{"other whitespace is ordinary", "a\vb\fc\u00a0d", []string{"a\vb\fc\u00a0d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitArgs(tt.in)
			if err != nil {
				t.Fatalf("SplitArgs(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("SplitArgs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitArgsErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"echo 'abc", errUnterminatedSingle},
		{"'", errUnterminatedSingle},
		{`echo "abc`, errUnterminatedDouble},
		{`"`, errUnterminatedDouble},
		{`"abc\"`, errUnterminatedDouble},
		{`"abc\`, errUnterminatedDouble},
		{`echo abc\`, errTrailingBackslash},
		{`\`, errTrailingBackslash},
		{`'a' "b" c\`, errTrailingBackslash},
	}
	for _, tt := range tests {
		got, err := SplitArgs(tt.in)
		if !errors.Is(err, tt.want) || got != nil {
			t.Errorf("SplitArgs(%q) = %q, %v; want nil, %v", tt.in, got, err, tt.want)
		}
	}
}

// TestSplitArgsAgreesWithSh checks the quoting rules against a real POSIX
// shell, on inputs that have no character the shell would expand or
// treat as an operator, where the two must agree.
func TestSplitArgsAgreesWithSh(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("sh is needed as a program in PATH: %v", err)
	}
	for _, in := range []string{
		"a  b\tc",
		`a'b'"c"d`,
		`echo 'a  b' "c\"d" e\ f`,
		`"\\ \" \$ \` + "`" + `"`,
		`"\n \a \'"`,
		`x\ 'y z'"\"w"`,
		`a '' "" b`,
		`''a""`,
		"ab\\\ncd",
		"\"a\\\nb\"",
		"'a\nb' \"c\nd\"",
		`\a\b\\c \' \"`,
	} {
		want, err := SplitArgs(in)
		if err != nil {
			t.Fatalf("SplitArgs(%q): %v", in, err)
		}
		out, err := exec.Command(sh, "-c", "set -- "+in+"\nfor a do printf '%s\\0' \"$a\"; done").Output()
		if err != nil {
			t.Fatalf("sh with %q: %v", in, err)
		}
		got := strings.Split(string(out), "\x00")
		got = got[:len(got)-1]
		if !slices.Equal(want, got) {
			t.Errorf("SplitArgs(%q) = %q, sh splits it into %q", in, want, got)
		}
	}
}

// FuzzSplitArgs checks that no input makes SplitArgs panic, and that the
// words it returns survive being single-quoted and split again, which is
// how a client would quote an argv for Exec.
func FuzzSplitArgs(f *testing.F) {
	for _, seed := range []string{
		"ls -l\n",
		"echo a; rm -rf x",
		`a'b'"c"\ d`,
		`'' ""`,
		`"\\ \" \$ \` + "` \\n\"",
		"a\\\nb",
		"'unterminated",
		`trailing\`,
		"$(id) `id` * ~ $HOME a|b a&&b # c",
		"\x00\xff\r\n\t",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitArgs(s)
		if err != nil {
			if words != nil {
				t.Fatalf("words %q with error %v", words, err)
			}
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		again, err := SplitArgs(strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("quoted words %q: %v", quoted, err)
		}
		if !slices.Equal(again, words) {
			t.Fatalf("round trip of %q: got %q", words, again)
		}
	})
}
