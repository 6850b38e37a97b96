package tlsconf

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	long := strings.Repeat("p", 256)
	for _, tc := range []struct {
		name      string
		spec      Spec
		wantField string // "" for valid
	}{
		{"selfSigned", Spec{SelfSigned: true}, ""},
		{"files", Spec{CertFile: "c.pem", KeyFile: "k.pem"}, ""},
		{"everything", Spec{CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem", MinVersion: "1.3", ALPN: []string{"h2", strings.Repeat("p", 255)}}, ""},
		{"minVersion 1.2", Spec{SelfSigned: true, MinVersion: "1.2"}, ""},
		{"minVersion empty is the default", Spec{SelfSigned: true, MinVersion: ""}, ""},
		{"empty alpn list", Spec{SelfSigned: true, ALPN: []string{}}, ""},

		{"neither", Spec{}, "selfSigned"},
		{"neither, client CA only", Spec{ClientCAFile: "ca.pem"}, "selfSigned"},
		{"selfSigned and both files", Spec{SelfSigned: true, CertFile: "c.pem", KeyFile: "k.pem"}, "selfSigned"},
		{"selfSigned and certFile", Spec{SelfSigned: true, CertFile: "c.pem"}, "selfSigned"},
		{"selfSigned and keyFile", Spec{SelfSigned: true, KeyFile: "k.pem"}, "selfSigned"},
		{"certFile alone", Spec{CertFile: "c.pem"}, "keyFile"},
		{"keyFile alone", Spec{KeyFile: "k.pem"}, "certFile"},
		{"minVersion 1.1", Spec{SelfSigned: true, MinVersion: "1.1"}, "minVersion"},
		{"minVersion 1.0", Spec{SelfSigned: true, MinVersion: "1.0"}, "minVersion"},
		{"minVersion TLS1.3", Spec{SelfSigned: true, MinVersion: "TLS1.3"}, "minVersion"},
		{"minVersion 1.4", Spec{SelfSigned: true, MinVersion: "1.4"}, "minVersion"},
		{"empty alpn name", Spec{SelfSigned: true, ALPN: []string{"h2", ""}}, "alpn[1]"},
		{"alpn name too long", Spec{SelfSigned: true, ALPN: []string{"h2", "http/1.1", long}}, "alpn[2]"},
		{"first alpn name empty", Spec{SelfSigned: true, ALPN: []string{""}}, "alpn[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate(%v) = %v, want nil", tc.spec, err)
				}
				return
			}
			fe := wantFieldError(t, err, tc.wantField)
			if fe.Reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	err := Spec{SelfSigned: true, MinVersion: "1.1"}.Validate()
	wantFieldError(t, err, "minVersion", `"1.1"`, `"1.2"`, `"1.3"`)
	err = Spec{SelfSigned: true, ALPN: []string{strings.Repeat("x", 300)}}.Validate()
	wantFieldError(t, err, "alpn[0]", "300", "255")
	if strings.Contains(err.Error(), "xxxxxxxx") {
		t.Errorf("the error %q quotes the whole name", err)
	}
}

func TestWithDefaults(t *testing.T) {
	got := Spec{SelfSigned: true}.WithDefaults()
	if got.MinVersion != "1.2" {
		t.Errorf("MinVersion = %q, want 1.2", got.MinVersion)
	}
	if got.ALPN != nil {
		t.Errorf("ALPN = %#v, want nil", got.ALPN)
	}
	if got := (Spec{SelfSigned: true, MinVersion: "1.3"}).WithDefaults(); got.MinVersion != "1.3" {
		t.Errorf("MinVersion 1.3 became %q", got.MinVersion)
	}

	orig := Spec{SelfSigned: true, ALPN: []string{"h2"}, SelfSignedCertPEM: []byte("c")}
	d := orig.WithDefaults()
	d.ALPN[0] = "changed"
	d.SelfSignedCertPEM[0] = 'x'
	if orig.ALPN[0] != "h2" || string(orig.SelfSignedCertPEM) != "c" {
		t.Errorf("WithDefaults shares slices with its receiver: %v", orig)
	}
}

func TestClone(t *testing.T) {
	orig := Spec{
		SelfSigned: true, ClientCAFile: "ca.pem", MinVersion: "1.3",
		ALPN:              []string{"h2", "http/1.1"},
		SelfSignedCertPEM: []byte("cert"),
		SelfSignedKeyPEM:  []byte("key"),
	}
	c := orig.Clone()
	if !Equal(orig, c) {
		t.Fatalf("Clone() = %v, not Equal to %v", c, orig)
	}
	c.ALPN[0] = "x"
	c.SelfSignedCertPEM[0] = 'x'
	c.SelfSignedKeyPEM[0] = 'x'
	if orig.ALPN[0] != "h2" || string(orig.SelfSignedCertPEM) != "cert" || string(orig.SelfSignedKeyPEM) != "key" {
		t.Errorf("the clone shares slices with the original: %v", orig)
	}
	if z := (Spec{}).Clone(); z.ALPN != nil || z.SelfSignedCertPEM != nil || z.SelfSignedKeyPEM != nil {
		t.Errorf("Clone of a zero Spec made slices: %#v", z)
	}
}

func TestEqual(t *testing.T) {
	base := Spec{
		CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem", MinVersion: "1.2",
		ALPN: []string{"h2"},
	}
	material := Spec{SelfSigned: true, SelfSignedCertPEM: []byte("cert"), SelfSignedKeyPEM: []byte("key")}
	with := func(s Spec, f func(*Spec)) Spec {
		s = s.Clone()
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name string
		a, b Spec
		want bool
	}{
		{"same", base, base.Clone(), true},
		{"default minVersion", with(base, func(s *Spec) { s.MinVersion = "" }), base, true},
		{"nil and empty alpn", Spec{SelfSigned: true}, Spec{SelfSigned: true, ALPN: []string{}}, true},
		{"selfSigned", base, with(base, func(s *Spec) { s.SelfSigned = true }), false},
		{"certFile", base, with(base, func(s *Spec) { s.CertFile = "other.pem" }), false},
		{"keyFile", base, with(base, func(s *Spec) { s.KeyFile = "other.pem" }), false},
		{"clientCaFile", base, with(base, func(s *Spec) { s.ClientCAFile = "" }), false},
		{"minVersion", base, with(base, func(s *Spec) { s.MinVersion = "1.3" }), false},
		{"alpn", base, with(base, func(s *Spec) { s.ALPN = []string{"http/1.1"} }), false},
		{"alpn order", with(base, func(s *Spec) { s.ALPN = []string{"a", "b"} }), with(base, func(s *Spec) { s.ALPN = []string{"b", "a"} }), false},
		{"same material", material, material.Clone(), true},
		{"certificate", material, with(material, func(s *Spec) { s.SelfSignedCertPEM = []byte("other") }), false},
		{"key", material, with(material, func(s *Spec) { s.SelfSignedKeyPEM = []byte("other") }), false},
		{"material or none", material, with(material, func(s *Spec) { s.SelfSignedCertPEM, s.SelfSignedKeyPEM = nil, nil }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal(tc.a, tc.b); got != tc.want {
				t.Errorf("Equal(%v, %v) = %t, want %t", tc.a, tc.b, got, tc.want)
			}
			if got := Equal(tc.b, tc.a); got != tc.want {
				t.Errorf("Equal(%v, %v) = %t, want %t", tc.b, tc.a, got, tc.want)
			}
		})
	}
}

func TestStringHidesTheKey(t *testing.T) {
	s, err := EnsureSelfSigned(Spec{SelfSigned: true, ALPN: []string{"h2"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, s)
		if strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("%s shows the key: %s", verb, out)
		}
		wantNoKeyBytes(t, out, s.SelfSignedKeyPEM)
		if verb == "%v" && (!strings.Contains(out, "redacted") || !strings.Contains(out, `"h2"`)) {
			t.Errorf("%s = %s, want the fields and a redacted key", verb, out)
		}
	}
	if out := fmt.Sprint(Spec{SelfSigned: true}); !strings.Contains(out, "SelfSignedKeyPEM:<none>") {
		t.Errorf("a spec without a key prints %s", out)
	}
}
