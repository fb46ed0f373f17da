package risk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"cxt/storage/state"
)

// The policy's queries inspection asks.
const (
	FindingsQuery = "data.cxt.risk.inspection.findings"
	ParamsQuery   = "data.cxt.risk.inspection.params"
)

// Evaluator answers a policy query with the version of the policy in force
// (policy.Authorizer.Query).
type Evaluator interface {
	Query(ctx context.Context, query string, input any) (any, string, error)
}

// Proposer is the cluster as the inspector uses it.
type Proposer interface {
	ProposeOK(ctx context.Context, cmd *state.Command) ([]byte, error)
	ReadBarrier(ctx context.Context) error
	State() *state.State
}

// Inspector runs inspection jobs while its node leads: a scheduled job
// every Every (none if 0), and any job started on demand, on whichever
// node the request came to. Each detector's findings are one command
// (CmdJobStep), so a leader that stops part way leaves a running job the
// next leader finishes from the detector after the last one recorded.
type Inspector struct {
	Node    Proposer
	Leading func() bool
	Policy  Evaluator
	Now     func() time.Time
	Log     *slog.Logger
	// Every is how often a scheduled job starts; 0: never.
	Every time.Duration
	// Poll is how often the inspector looks for work; default 1 s.
	Poll time.Duration

	kick chan struct{}
}

// Kick makes the inspector look for work now (a job just started).
func (in *Inspector) Kick() {
	select {
	case in.kicks() <- struct{}{}:
	default:
	}
}

func (in *Inspector) kicks() chan struct{} {
	if in.kick == nil {
		in.kick = make(chan struct{}, 1)
	}
	return in.kick
}

func (in *Inspector) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

// Run inspects until ctx ends.
func (in *Inspector) Run(ctx context.Context) {
	every := in.Poll
	if every <= 0 {
		every = time.Second
	}
	kick := in.kicks()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		if !in.Leading() {
			continue
		}
		if err := in.Round(ctx); err != nil && ctx.Err() == nil && in.Log != nil {
			in.Log.Warn("risk: an inspection round stopped; the next one goes on", "err", err)
		}
	}
}

// Round starts the scheduled job if one is due, and runs the job running.
func (in *Inspector) Round(ctx context.Context) error {
	if err := in.schedule(ctx); err != nil {
		return err
	}
	var id string
	if err := in.Node.State().View(func(tx *state.ReadTx) (err error) { id, err = Running(tx); return }); err != nil || id == "" {
		return err
	}
	return in.RunJob(ctx, id)
}

// ScheduledID names the scheduled job of the slot t falls in: two leaders
// start it once.
func ScheduledID(t time.Time, every time.Duration) string {
	return "insp-s-" + t.Truncate(every).UTC().Format("20060102T150405Z")
}

// schedule starts the job of the current slot, if it was not started and
// no job is running. It inspects yesterday's month: the month to date, and
// on the month's first day the month just ended.
func (in *Inspector) schedule(ctx context.Context) error {
	if in.Every <= 0 {
		return nil
	}
	now := in.now()
	id := ScheduledID(now, in.Every)
	var due bool
	err := in.Node.State().View(func(tx *state.ReadTx) error {
		running, err := Running(tx)
		if err != nil || running != "" {
			return err
		}
		_, err = GetJob(tx, id)
		due = state.NotFound.Is(err)
		if due {
			err = nil
		}
		return err
	})
	if err != nil || !due {
		return err
	}
	start := JobStart{ID: id, Period: MonthOf(now.Add(-24 * time.Hour)), Trigger: TriggerSchedule, By: "system"}
	_, err = in.Node.ProposeOK(ctx, state.NewCommand(CmdJobStart, mustJSON(start), now))
	var rej *state.Rejection
	if errors.As(err, &rej) && (rej.Code == CodeRunning.String() || rej.Code == state.Conflict.String()) {
		return nil // another leader was first
	}
	return err
}

// NewJobID draws an on-demand job's ID.
func NewJobID() string {
	var b [8]byte
	rand.Read(b[:])
	return "insp-" + hex.EncodeToString(b[:])
}

// RunJob runs a running job's remaining detectors, one command each, and
// ends it. A policy or read that fails ends the job failed, saying why; a
// context that ends (leadership lost, shutdown) leaves it running for the
// next leader.
func (in *Inspector) RunJob(ctx context.Context, id string) error {
	var j *Job
	if err := in.Node.State().View(func(tx *state.ReadTx) (err error) { j, err = GetJob(tx, id); return }); err != nil {
		return err
	}
	if j.Status != JobRunning {
		return nil
	}
	for _, d := range Detectors {
		if j.Done(d) {
			continue
		}
		step, err := in.Step(ctx, j, d)
		if err == nil {
			_, err = in.Node.ProposeOK(ctx, state.NewCommand(CmdJobStep, mustJSON(step), in.now()))
		}
		var rej *state.Rejection
		if errors.As(err, &rej) && rej.Code == CodeJobStatus.String() {
			return nil // another leader ran it or ended the job
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			return in.end(ctx, j.ID, fmt.Sprintf("%s: %v", d, err))
		}
	}
	return in.end(ctx, j.ID, "")
}

func (in *Inspector) end(ctx context.Context, id, failure string) error {
	_, err := in.Node.ProposeOK(ctx, state.NewCommand(CmdJobEnd, mustJSON(JobEnd{Job: id, Error: failure}), in.now()))
	var rej *state.Rejection
	if errors.As(err, &rej) && rej.Code == CodeJobStatus.String() {
		return nil
	}
	return err
}

// Step runs one detector of a job: it counts over the state as of a read
// barrier, asks the policy, and answers the step's command body.
func (in *Inspector) Step(ctx context.Context, j *Job, detector string) (*JobStep, error) {
	window := time.Duration(0)
	if detector == RegistrationBurst {
		v, _, err := in.Policy.Query(ctx, ParamsQuery, nil)
		if err != nil {
			return nil, err
		}
		m, _ := v.(map[string]any)
		n, _ := m["window_hours"].(json.Number)
		hours, err := n.Int64()
		if err != nil || hours <= 0 {
			return nil, fmt.Errorf("the policy's registration window is %v hours", m["window_hours"])
		}
		window = time.Duration(hours) * time.Hour
	}
	if err := in.Node.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	var input *Input
	if err := in.Node.State().View(func(tx *state.ReadTx) (err error) {
		input, err = Count(tx, detector, j.Period, window)
		return
	}); err != nil {
		return nil, err
	}
	digest, raw, err := input.SM3()
	if err != nil {
		return nil, err
	}
	// The policy decides on exactly the bytes digested.
	var doc any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // fen stay whole numbers
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	answer, version, err := in.Policy.Query(ctx, FindingsQuery, doc)
	if err != nil {
		return nil, err
	}
	findings, err := Decide(input, answer, version, digest)
	if err != nil {
		return nil, err
	}
	return &JobStep{Job: j.ID, Findings: findings,
		Step: Step{Detector: detector, Aggregates: len(input.Aggregates), Policy: version, InputSM3: digest}}, nil
}
