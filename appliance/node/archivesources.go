package node

import (
	"encoding/json"
	"fmt"
	"time"

	"cxt/appliance/archives"
	"cxt/appliance/insurance"
	"cxt/appliance/privacy"
	"cxt/appliance/training"
)

// archiveSources are the other domains' records a worker's archive
// (一户一档) indexes besides those appliance/archives reads itself.
var archiveSources = []archives.Source{trainingItems, insuranceItems, privacyItems}

func trainingItems(r archives.Reader, kind, subject string) ([]archives.Item, error) {
	if kind != archives.KindWorker {
		return nil, nil
	}
	es, err := training.ForWorker(r.Get, subject)
	if err != nil {
		return nil, err
	}
	var out []archives.Item
	for _, e := range es {
		out = append(out, archives.Item{Class: "training", Kind: "enrolment_" + e.Status, Ref: e.Course, Date: e.Enrolled})
	}
	return out, nil
}

func insuranceItems(r archives.Reader, kind, subject string) ([]archives.Item, error) {
	if kind != archives.KindWorker {
		return nil, nil
	}
	rec, err := insurance.ForWorker(r.Get, subject)
	if err != nil || rec == nil {
		return nil, err
	}
	var out []archives.Item
	for _, e := range rec.Enrolments {
		start, _ := time.ParseInLocation(time.DateOnly, e.Start, archives.China)
		out = append(out, archives.Item{Class: "insurance", Kind: "enrolment_" + e.Kind, Ref: e.ID, Date: start})
	}
	for _, p := range rec.Social {
		month, _ := time.ParseInLocation("2006-01", p.Month, archives.China)
		out = append(out, archives.Item{Class: "insurance", Kind: "social_insurance", Ref: p.Month, Date: month})
	}
	return out, nil
}

// privacyItems are the worker's personal-information requests; a
// correction's new values are sealed under the worker's key.
func privacyItems(r archives.Reader, kind, subject string) ([]archives.Item, error) {
	if kind != archives.KindWorker {
		return nil, nil
	}
	var out []archives.Item
	err := r.Prefix(privacy.Bucket, subject+"/", func(k, v []byte) error {
		var q privacy.Request
		if err := json.Unmarshal(v, &q); err != nil {
			return fmt.Errorf("node: privacy request %s: %w", k, err)
		}
		it := archives.Item{Class: "privacy", Kind: q.Kind + "_" + q.Status, Ref: q.ID, Date: q.Filed}
		if len(q.Values) > 0 {
			it = archives.SealedItem("privacy", it.Kind, q.ID, q.Filed, q.Values)
		}
		out = append(out, it)
		return nil
	})
	return out, err
}
