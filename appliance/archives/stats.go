package archives

import (
	"time"

	"cxt/appliance/api"
	"cxt/appliance/merchants"
	"cxt/appliance/workers"
	"cxt/storage/state"
)

// Age buckets of the statistics, by an item's date.
var ageBuckets = []struct {
	Name  string
	Years int
}{{"under_1y", 1}, {"1y_3y", 3}, {"3y_10y", 10}, {"10y_30y", 30}, {"over_30y", 0}}

// AgeOf names an item's age bucket at now; "undated" for an item without
// a date.
func AgeOf(date, now time.Time) string {
	if date.IsZero() {
		return "undated"
	}
	for _, b := range ageBuckets {
		if b.Years == 0 || now.Before(date.AddDate(b.Years, 0, 0)) {
			return b.Name
		}
	}
	return "over_30y"
}

// Stats are the archives' statistics (档案统计).
type Stats struct {
	At       string                    `json:"at"`
	Archives map[string]map[string]int `json:"archives"` // kind -> state -> archives
	Items    map[string]map[string]int `json:"items"`    // class -> age bucket -> items
	Sealed   map[string]int            `json:"sealed"`   // class -> items sealed under their subject's key
	Total    int                       `json:"total_items"`
}

// Statistics computes the statistics over every worker's and merchant's
// archive at now.
func (b *Backend) Statistics(tx *state.ReadTx, now time.Time) (*Stats, error) {
	st := &Stats{At: stamp(now), Archives: map[string]map[string]int{KindWorker: {}, KindMerchant: {}},
		Items: map[string]map[string]int{}, Sealed: map[string]int{}}
	r := FromRead(tx)
	visit := func(id string) error {
		s, err := Lookup(r, id)
		if err != nil {
			return err
		}
		a, err := archive(r, s)
		if err != nil {
			return err
		}
		ap, err := b.Appraise(r, s, a)
		if err != nil {
			return err
		}
		st.Archives[s.Kind][ap.State(now)]++
		for _, it := range ap.Items {
			if st.Items[it.Class] == nil {
				st.Items[it.Class] = map[string]int{}
			}
			st.Items[it.Class][AgeOf(it.Date, now)]++
			if it.Sealed {
				st.Sealed[it.Class]++
			}
			st.Total++
		}
		return nil
	}
	for _, bucket := range []string{workers.Bucket, merchants.Bucket} {
		if err := tx.ForEach(bucket, func(k, _ []byte) error { return visit(string(k)) }); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func (b *Backend) stats(r *api.Request) (int, any, error) {
	var st *Stats
	if err := r.View(func(tx *state.ReadTx) (err error) { st, err = b.Statistics(tx, r.Now()); return }); err != nil {
		return 0, nil, api.Classify(err)
	}
	return 200, st, nil
}
