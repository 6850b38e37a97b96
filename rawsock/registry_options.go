package rawsock

import "slices"

// RegistryOption configures a Registry.
type RegistryOption func(*Registry)

// WithExecAllow enables the exec handler for the given programs; without
// it, creating an exec listener fails with ErrExecDisabled.
func WithExecAllow(programs []string) RegistryOption {
	return func(r *Registry) { r.execAllow = slices.Clone(programs) }
}

// WithMaxListeners bounds how many listeners may exist; Create beyond it
// fails with ErrTooManyListeners. 0: no bound.
func WithMaxListeners(n int) RegistryOption {
	return func(r *Registry) { r.maxListeners = n }
}

// WithStore makes the registry save its desired state in st before it
// answers a change, and lets Restore bring it back.
func WithStore(st Store) RegistryOption {
	return func(r *Registry) { r.store = st }
}
