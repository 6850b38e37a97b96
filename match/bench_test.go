package match

import "testing"

func BenchmarkMatchHeader(b *testing.B) {
	m, err := Compile(Spec{Header: map[string]string{"cmd": "get", "n": "5"}})
	if err != nil {
		b.Fatal(err)
	}
	header := []byte(`{"data_size": 64, "cmd": "get", "n": 5, "id": "b5c1e0f2"}`)
	body := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if !m.Match(header, body) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkMatchPrefix(b *testing.B) {
	m, err := Compile(Spec{BodyPrefix: "GET "})
	if err != nil {
		b.Fatal(err)
	}
	body := append([]byte("GET "), make([]byte, 60)...)
	b.ReportAllocs()
	for b.Loop() {
		if !m.Match(nil, body) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkMatchRegex(b *testing.B) {
	m, err := Compile(Spec{BodyRegex: `^ping [0-9]+$`})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("ping 1234567890")
	b.ReportAllocs()
	for b.Loop() {
		if !m.Match(nil, body) {
			b.Fatal("no match")
		}
	}
}
