// Package insurance keeps insurance and protection for workers (保险与保障,
// standard §7): products that platform operators define, recommendation
// rules that match them to a worker and a task, enrolments in a product
// for a period, and social-insurance payment records (社保缴费).
//
// Invariants:
//   - Money is int64 fen: a product's premium per term, an enrolment's
//     premium (premium × units), a payment's base and amounts. The API
//     takes and shows yuan strings with at most two decimals, parsed
//     without floating point (ParseYuan).
//   - The recommendation rules are data (Rules, a numbered version, the
//     embedded DefaultRules until an operator sets one): each rule names a
//     product or a kind of product, and the task categories, the age range
//     and the real-name status it applies to. Recommend is a pure function
//     of the rules, the products and a worker's Attributes, and explains
//     which rules matched and why the others did not.
//   - A worker's age is computed in the request that needs it, from the ID
//     number opened under the worker's key (appliance/subjects), and never
//     stored: neither the ID number nor the age reaches a record. The
//     categories of the tasks a worker takes (assigned or beyond) are read
//     from appliance/tasks — for a merchant's users only the merchant's own
//     tasks, so that a recommendation tells no merchant of another's work.
//   - A merchant's users enrol only the merchant's own workers
//     (insurance_worker_not_yours otherwise, as for a worker that does not
//     exist); a worker enrols only themself. A product that requires a
//     verified real name, or an age range, is refused to a worker outside
//     it (insurance_ineligible). One worker is not enrolled twice in one
//     product for overlapping periods (insurance_enrolled).
//   - Social-insurance payments are recorded by platform operators, one at
//     a time or as a CSV imported whole or not at all: one bad line, one
//     unknown worker or one month recorded already refuses the file, and
//     nothing of it is written. One record per worker and month.
//   - A worker's enrolments and payments are one record (RecordBucket,
//     keyed by the worker's ID), so ForWorker reads them with one Get.
package insurance
