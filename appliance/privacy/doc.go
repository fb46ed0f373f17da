// Package privacy serves workers' personal-information rights (PIPL arts.
// 15, 45–47; GB/T 35273 §8): a copy of their data, correction and deletion
// requests decided by platform operators within 30 days, restriction of
// processing, and cancellation of their account.
//
// Invariants:
//   - A request is a worker's own: filed by them, listed to them and to
//     platform staff, never to a merchant. Its due date is filed + 30 days
//     (Deadline), computed in the state machine from the command's time.
//   - A correction's new values are sealed under the worker's own key
//     (RequestAAD) before they are proposed: the log and the state hold
//     ciphertext only, and shredding the worker shreds them too. Only the
//     name and the bank card are corrected here; the ID number and the mobile
//     number are refused at filing (CodeField): the first is the person's
//     identity across merchants, tax withholding and the blind index every
//     rule compares by, the second is their SMS login. A wrong ID number is a
//     new registration after the platform's review; a new phone goes through
//     the platform operator.
//   - A decision is taken once: the state machine applies it only to an open
//     request (CodeStatus for the second of two), and a correction only to
//     the record it was prepared from (workers.CodeStale).
//   - A deletion asks the Backend's Retention for the legal retention in
//     force, in the state machine. Data kept under a retention is
//     restricted (storage and security only, PIPL art. 47 ¶2) and the
//     answer explains why and until when in Chinese and English; without
//     one the request is erasing until the archives' destruction calls
//     Complete with its certificate.
//   - A restricted or cancelled worker gets no new link or payment
//     (workers.Worker.Usable and the payout rows' worker_restricted).
package privacy
