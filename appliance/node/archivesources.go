package node

import (
	"time"

	"cxt/appliance/archives"
	"cxt/appliance/insurance"
	"cxt/appliance/training"
)

// archiveSources are the other domains' records a worker's archive
// (一户一档) indexes besides those appliance/archives reads itself.
var archiveSources = []archives.Source{trainingItems, insuranceItems}

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
