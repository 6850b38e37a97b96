package registry

import "time"

// Prepare checks and completes spec as Create does before anything binds
// — the policy's admission, a TTL made an expiry from now, Provision —
// and returns the spec to store, keeping what Provision made for it (a
// self-signed certificate). It is for a caller that stores desired state
// for a registry to run, maybe on another node (package agent): that
// registry provisions the spec again, under its own policy, when it
// applies it.
func (p Policy) Prepare(spec Spec, now time.Time) (Spec, error) {
	spec, _, err := p.prepare(spec, now)
	return spec, err
}

func (p Policy) prepare(spec Spec, now time.Time) (Spec, *Provisioned, error) {
	if err := p.admit(spec); err != nil {
		return spec, nil, err
	}
	spec, err := withExpiry(spec, now)
	if err != nil {
		return spec, nil, err
	}
	prov, err := p.Provision(spec)
	if err != nil {
		return spec, nil, err
	}
	return prov.withMaterial(spec), prov, nil
}

// PrepareUpdate is Prepare for an update of a listener whose desired spec
// is cur, as Update does it: a new TTL replaces the expiry, and a
// self-signed certificate cur has stays while the spec still asks for one.
func (p Policy) PrepareUpdate(cur, spec Spec, now time.Time) (Spec, error) {
	spec, _, err := p.prepareUpdate(cur, spec, now)
	return spec, err
}

func (p Policy) prepareUpdate(cur, spec Spec, now time.Time) (Spec, *Provisioned, error) {
	if spec.TTL > 0 {
		spec.ExpireTime = time.Time{} // the new TTL replaces the expiry it had
	}
	spec.TLS = keepSelfSigned(cur.TLS, spec.TLS)
	return p.prepare(spec, now)
}

// Defaulted is spec with every default Provision fills in, the policy's
// part aside: how a listener another node serves is shown.
func (s Spec) Defaulted() Spec { return s.withDefaults() }

// Etag is the etag of a listener created at created, at generation.
func Etag(created time.Time, generation int64) string { return etagOf(created, generation) }

// RemotePolicy is the policy to Prepare a spec that node serves, from
// another node: the exec allow list is that node's to bound, so the
// spec's own stands here, and nothing is built to run.
func RemotePolicy(node string) Policy { return Policy{Node: node, remote: true} }
