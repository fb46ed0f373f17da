package demo

import (
	"context"
	"fmt"
)

// Task is a demo merchant's task, worked by its workers and accepted.
type Task struct {
	ID       string   `json:"id"`
	Merchant string   `json:"merchant"`
	Title    string   `json:"title"`
	Budget   string   `json:"budget"`
	Review   string   `json:"review"`  // "policy" (opened by the rule) or the reviewer who approved it
	Workers  []string `json:"workers"` // whose work was accepted (验收)
}

// taskShare is what each worker's work on a demo task is worth: enough for
// the payouts the demo makes.
const taskShare = 100000

// tasks has each merchant publish one task for its workers — the risk rule
// opens a small one at once and sends one over its budget line to the
// reviewer, who approves it — assigns its workers, and accepts the proof
// each files (验收).
func (f *filler) tasks(ctx context.Context) error {
	f.w.say("each merchant publishes a task; its workers are assigned, file proof and have it accepted (验收)")
	for mi, m := range f.w.Merchants {
		var mine []Worker
		for _, w := range f.w.Workers {
			if w.Merchant == m.ID {
				mine = append(mine, w)
			}
		}
		if len(mine) == 0 {
			continue
		}
		admin := f.session(m.Admin)
		budget := fmt.Sprintf("%d.00", taskShare*len(mine))
		var t struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Review *struct {
				By string `json:"by"`
			} `json:"review"`
		}
		titles := []string{"同城配送（十二月）", "仓库装卸与上架", "家政保洁（季度）"}
		if _, err := f.c.call(ctx, "POST", "/api/v1/tasks", admin.Token, map[string]any{
			"title": titles[mi%len(titles)], "category": "logistics", "description": "按单结算，附签收单作为完成凭证",
			"budget": budget, "headcount": len(mine), "period": map[string]string{"start": "2026-12-01", "end": "2026-12-31"},
			"location": "各服务网点"}, &t); err != nil {
			return fmt.Errorf("task of %s: %w", m.ID, err)
		}
		if _, err := f.c.call(ctx, "POST", "/api/v1/tasks/"+t.ID+"/publish", admin.Token, nil, &t); err != nil {
			return fmt.Errorf("publish %s: %w", t.ID, err)
		}
		if t.Status == "pending_review" {
			if _, err := f.c.call(ctx, "POST", "/api/v1/tasks/"+t.ID+"/review", f.reviewer.Token,
				map[string]string{"decision": "approve", "reason": "预算与商户业务规模相符"}, &t); err != nil {
				return fmt.Errorf("review %s: %w", t.ID, err)
			}
		}
		task := Task{ID: t.ID, Merchant: m.ID, Title: titles[mi%len(titles)], Budget: budget, Review: "policy"}
		if t.Review != nil && t.Review.By != "" {
			task.Review = t.Review.By
		}
		err := parallel(len(mine), func(i int) error {
			w := mine[i]
			if _, err := f.c.call(ctx, "POST", "/api/v1/tasks/"+t.ID+"/assign", admin.Token, map[string]string{"worker": w.ID}, nil); err != nil {
				return fmt.Errorf("assign %s: %w", w.Username, err)
			}
			proof := pdfPage(fmt.Sprintf("Delivery receipts (demo) - task %s - worker %s", t.ID, w.ID))
			if _, err := f.c.call(ctx, "POST", "/api/v1/tasks/"+t.ID+"/works/"+w.ID+"/proof", f.session(w.Username).Token, proof, nil); err != nil {
				return fmt.Errorf("proof of %s: %w", w.Username, err)
			}
			if _, err := f.c.call(ctx, "POST", "/api/v1/tasks/"+t.ID+"/works/"+w.ID+"/accept", admin.Token, map[string]string{}, nil); err != nil {
				return fmt.Errorf("accept %s's work: %w", w.Username, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, w := range mine {
			task.Workers = append(task.Workers, w.ID)
		}
		f.w.Tasks = append(f.w.Tasks, task)
	}
	return nil
}
