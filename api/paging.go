package api

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/sockplane/sockplane/registry"
)

// Page sizes of ListListeners.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageTokenPrefix versions the page token, so its form can change.
const pageTokenPrefix = "v1:"

func pageSize(n int32) (int, error) {
	switch {
	case n == 0:
		return defaultPageSize, nil
	case n < 0 || n > maxPageSize:
		return 0, invalidArgument("pageSize", fmt.Sprintf("%d is not from 1 to %d", n, maxPageSize))
	}
	return int(n), nil
}

// decodePageToken returns the id the page starts after; "" for the first
// page.
func decodePageToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	after, ok := strings.CutPrefix(string(b), pageTokenPrefix)
	if err != nil || !ok || registry.ValidateID(after) != nil {
		return "", invalidArgument("pageToken", "not a token of this API: pass nextPageToken as it came")
	}
	return after, nil
}

// paginate cuts a page of at most size from infos (in id order) after the
// id after, and returns the token of the next page, "" on the last. Pages
// follow ids, not positions, so a listener created or deleted between two
// calls moves nothing else across a page boundary.
func paginate(infos []registry.Info, after string, size int) ([]registry.Info, string) {
	start := 0
	if after != "" {
		for start < len(infos) && infos[start].Spec.ID <= after {
			start++
		}
	}
	end := min(start+size, len(infos))
	page := infos[start:end]
	if end == len(infos) || len(page) == 0 {
		return page, ""
	}
	return page, base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + page[len(page)-1].Spec.ID))
}
