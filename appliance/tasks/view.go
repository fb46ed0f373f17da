package tasks

// taskView is a task as the API shows it: the record, with each worker's
// share of the budget.
type taskView struct {
	*Task
	Share string `json:"share"`
}

// taskDetail is a task with the works the caller may see.
type taskDetail struct {
	taskView
	Works []*Work `json:"works"`
}

func (t *Task) view() taskView {
	v := taskView{Task: t}
	if s, err := t.share(); err == nil {
		v.Share = Yuan(s)
	}
	return v
}
