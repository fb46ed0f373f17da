package policy

import (
	"slices"
	"sync"
	"testing"
)

// labelCells leaves the embedded bundle's actions, which every caller
// shares, as they were: before, it appended to them and sorted and
// compacted the result in place, writing into the shared slice — a data
// race with three replicas in one process activating a bundle at once,
// and a list of actions reordered under the next caller.
func TestLabelCellsLeavesTheSharedActionsAlone(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(embeddedActions())
	shared := embeddedActions()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if len(labelCells(b, nil)) == 0 {
				t.Error("no cells")
			}
		}()
	}
	wg.Wait()
	if !slices.Equal(embeddedActions(), want) || !slices.Equal(shared[:cap(shared)][:len(want)], want) {
		t.Fatalf("the shared actions changed:\n%v\nwant\n%v", embeddedActions(), want)
	}
}
