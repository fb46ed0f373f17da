package api_test

import (
	"strings"
	"testing"

	"cxt/appliance/node"
)

// TestEveryRouteThatNamesARecordSaysHowItIsFound: a route whose path names
// a record ({id}) declares its Resource, so that the policy decides on that
// record's owner and label (and, for merchants, on its tenant) rather than
// on nothing in particular.
func TestEveryRouteThatNamesARecordSaysHowItIsFound(t *testing.T) {
	for _, rt := range node.Routes() {
		if strings.Contains(rt.Path, "{") && rt.Resource == nil {
			t.Errorf("%s %s (%s) names a record but not how its resource and owner are found", rt.Method, rt.Path, rt.Action)
		}
	}
}
