// Package tasks keeps the work merchants outsource through the platform
// (任务发布与管理, standard §7): a task's publication, the platform's review,
// applications and assignments of linked workers, completion proof, the
// merchant's acceptance (验收) and both sides' evaluations. A payment
// references the task and the worker's accepted work on it (Payable), so
// that contract, task, money and invoice line up (四流合一).
//
// # Lifecycle
//
// A task (Status):
//
//	draft ──publish──▶ open                 the risk rule gave no reason: approved by "policy"
//	      └─publish──▶ pending_review ──review approve──▶ open
//	                                  └─review reject───▶ rejected
//	open ──(every slot's work accepted)──▶ completed
//	draft, pending_review, open ──cancel──▶ cancelled   (only while no work is accepted)
//
// A worker's work on a task (WorkStatus):
//
//	applied ──merchant accepts the application──▶ assigned
//	(none)  ──merchant assigns─────────────────▶ assigned
//	assigned, rejected ──worker files proof──▶ submitted ──accept (验收)──▶ accepted
//	                                                     └─reject──────▶ rejected (the worker files again)
//	applied, assigned, submitted, rejected ──task cancelled──▶ cancelled
//
// Invariants:
//   - A task belongs to its merchant; a worker reaches it while it is open
//     and they are actively linked to the merchant (appliance/workers Link),
//     or once they have work on it. Other tenants' tasks answer as absent.
//   - At most Headcount works are assigned or beyond (Task.Assigned counts
//     them in the task's own record, which every assignment rewrites, so
//     racing assignments are decided one by one by the log).
//   - Money is yuan as decimal strings with at most two decimals, never a
//     float. A worker's share is the budget divided by the headcount, cut to
//     the fen; an accepted amount is positive and at most that share.
//   - Proof documents are typed by their bytes and sealed in the blob store
//     under the merchant's key, their SM3 on record, like the merchant's own
//     qualification documents.
//   - Each side evaluates an accepted work once.
//
// # Trade-offs
//
//   - The review decision is computed by the proposer from the policy in
//     force (policy.Authorizer.TaskReview) and carried in the command: every
//     replica records the same decision, and the record keeps the rule's and
//     the policy's versions. A policy that gives no answer sends the task to
//     a person.
//   - Every proof document filed submits the work (again): the merchant
//     decides on what is on file. Proof cannot be withdrawn; a rejection
//     asks for more.
//   - A task with accepted work is never cancelled: a payment may reference
//     it. A task whose slots are not all filled stays open; closing it early
//     is not offered yet.
//   - No route is an important operation: accepting work records what a
//     payout may later pay, and the payout is where step-up and preview →
//     confirm belong.
package tasks
