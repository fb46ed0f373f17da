package risk

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// getter is a state transaction, read-only or not.
type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

func getJSON[T any](tx getter, bucket, key string) (*T, error) {
	b, err := tx.Get(bucket, []byte(key))
	if err != nil || b == nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("risk: %s/%s: %w", bucket, key, err)
	}
	return &v, nil
}

func get[T any](tx getter, bucket, key, noun string) (*T, error) {
	v, err := getJSON[T](tx, bucket, key)
	if err == nil && v == nil {
		err = state.Reject(state.NotFound, "no %s %s", noun, key)
	}
	return v, err
}

// GetJob reads an inspection job; not_found if there is none.
func GetJob(tx getter, id string) (*Job, error) { return get[Job](tx, JobsBucket, id, "inspection") }

// GetCase reads a case; not_found if there is none.
func GetCase(tx getter, id string) (*Case, error) { return get[Case](tx, CasesBucket, id, "case") }

// GetSample reads a sample; not_found if there is none.
func GetSample(tx getter, id string) (*Sample, error) {
	return get[Sample](tx, SamplesBucket, id, "sample")
}

// Running is the ID of the job running, or "".
func Running(tx getter) (string, error) {
	v, err := tx.Get(MetaBucket, runningKey)
	return string(v), err
}

// list decodes every value of bucket that keep accepts.
func list[T any](tx *state.ReadTx, bucket string, keep func(*T) bool) ([]*T, error) {
	out := []*T{}
	err := tx.ForEach(bucket, func(k, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("risk: %s/%s: %w", bucket, k, err)
		}
		if keep == nil || keep(&x) {
			out = append(out, &x)
		}
		return nil
	})
	return out, err
}

// Jobs lists the inspection jobs, by ID.
func Jobs(tx *state.ReadTx) ([]*Job, error) { return list[Job](tx, JobsBucket, nil) }

// Cases lists the cases whose status is status ("" for all), by ID.
func Cases(tx *state.ReadTx, status string) ([]*Case, error) {
	return list(tx, CasesBucket, func(c *Case) bool { return status == "" || c.Status == status })
}

// Samples lists the samples, by ID.
func Samples(tx *state.ReadTx) ([]*Sample, error) { return list[Sample](tx, SamplesBucket, nil) }

// SubjectFindings lists the sample findings filed under a subject
// ("worker/<id>" or "merchant/<id>"): what its archive holds of sampling.
func SubjectFindings(tx *state.ReadTx, subject string) ([]*SubjectFinding, error) {
	prefix := subject + "/"
	out := []*SubjectFinding{}
	err := tx.Seek(SubjectBucket, []byte(prefix), false, func(k, v []byte) (bool, error) {
		if !strings.HasPrefix(string(k), prefix) {
			return false, nil
		}
		var f SubjectFinding
		if err := json.Unmarshal(v, &f); err != nil {
			return false, fmt.Errorf("risk: %s: %w", k, err)
		}
		out = append(out, &f)
		return true, nil
	})
	return out, err
}

// Month reads yyyy-mm as the month's first instant and the next month's,
// in China.
func Month(s string) (time.Time, time.Time, error) {
	from, err := time.ParseInLocation("2006-01", s, payouts.China)
	if err != nil || from.Format("2006-01") != s {
		return time.Time{}, time.Time{}, fmt.Errorf("period %q is not a month written yyyy-mm", s)
	}
	return from, from.AddDate(0, 1, 0), nil
}

// MonthOf is the month t falls in, in China.
func MonthOf(t time.Time) string { return t.In(payouts.China).Format("2006-01") }
