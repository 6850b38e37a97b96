package registry

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/labels"
)

// Selector selects listeners by their labels: a Kubernetes label
// selector, parsed by ParseSelector.
type Selector = labels.Selector

// Everything selects every listener.
func Everything() Selector { return labels.Everything() }

// ParseSelector parses a Kubernetes label selector, such as
// "env=ci,team!=web,tier in (a,b),!old"; "" selects everything. A bad one
// is a *rawsock.FieldError on field.
func ParseSelector(field, selector string) (Selector, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fieldErrorf(field, "%v", err)
	}
	return sel, nil
}

// validateLabels checks keys and values with Kubernetes' own rules.
func validateLabels(l map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			return fieldErrorf(fmt.Sprintf("labels[%q]", k), "key: %s", strings.Join(msgs, "; "))
		}
		if msgs := content.IsLabelValue(l[k]); len(msgs) > 0 {
			return fieldErrorf(fmt.Sprintf("labels[%q]", k), "value %q: %s", l[k], strings.Join(msgs, "; "))
		}
	}
	return nil
}
