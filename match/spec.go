package match

import "maps"

// Clone returns a deep copy of s, which shares nothing with it.
func (s Spec) Clone() Spec {
	if s.BodyEquals != nil {
		v := *s.BodyEquals
		s.BodyEquals = &v
	}
	s.Header = maps.Clone(s.Header)
	return s
}

// Equal reports whether a and b set the same conditions. A nil Header and
// an empty one are equal: both set no header condition.
func Equal(a, b Spec) bool {
	return equalStringPtr(a.BodyEquals, b.BodyEquals) &&
		a.BodyPrefix == b.BodyPrefix &&
		a.BodyContains == b.BodyContains &&
		a.BodyRegex == b.BodyRegex &&
		a.BodyBase64 == b.BodyBase64 &&
		maps.Equal(a.Header, b.Header)
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
