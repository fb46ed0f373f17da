// Package workers keeps the people who take work through the platform
// (灵活用工人员): their registration, by themselves or by a merchant's bulk
// invitation, their links to merchants, real-name and face-liveness
// results, consents, and authorised tax registrations.
//
// Invariants:
//   - A worker is one person platform-wide. A blind index of the resident ID
//     number (HMAC-SM3 under the keyring's index key, label
//     cxt/worker-id/v1) finds them, across merchants; so does one of the
//     mobile number, which belongs to one worker.
//   - A worker is a data subject: name, ID number, phone and bank card are
//     sealed under the worker's own key (appliance/subjects) before they are
//     proposed, and so are providers' references and tax registration
//     numbers. Answers mask them unless the important operation
//     workers.unmask shows them (audited as worker.unmask, with its reason).
//     A worker's account holds their mobile number, which their SMS login
//     needs (identity keeps it sealed by the keyring, not by the worker's
//     key): shredding a worker leaves it until the account is closed.
//   - A merchant–worker pair is a Link (invited, then active when the worker
//     accepts). The worker's Merchants list is the tenancy: a merchant's
//     users reach the workers on that list, a worker only themselves, and
//     see no other merchant's link. A merchant is on the list of a worker
//     its invitation created (it wrote that record), and of anyone else
//     only once they accept its invitation: a name and an ID number typed
//     into a CSV open nothing of a person already on record.
//   - A third party checks a real name, a provider records liveness and
//     a tax registration is filed only under a live consent to that purpose
//     (PIPL: sensitive information needs its own consent). A consent keeps
//     the SM3 of the notice text shown, its version, the channel and time;
//     a withdrawal is recorded, never a deletion.
//
// # Trade-offs
//
//   - Self-registration creates the worker and their account in one command
//     (identity.CmdCreateAccount run inside it). A second self-registration
//     with the same ID number is refused worker_duplicate. A person a
//     merchant invited first has no account; registering with the same
//     name, ID number and phone takes that record over (a claim), anything
//     else is worker_duplicate. Until SMS login exists the phone is only
//     checked for being the one on record, not for being in the caller's
//     hand.
//   - A bulk invitation (CSV, at most MaxRows rows) is validated whole
//     first: each row is checked (GB 11643, age 16, GB/T 2260, phone, Luhn),
//     indexed and looked up on all cores. A row whose ID number is
//     registered links that worker if the name matches (worker_mismatch if
//     not, so a wrong number reaches nobody's record); a phone that is
//     another worker's is worker_phone_taken; the same person twice in the
//     file keeps the first row. New workers' keys are made and their fields
//     sealed on all cores, then the valid rows go to the log in batches of
//     DefaultBatch rows, each one CmdInvite applied whole or not at all,
//     DefaultInFlight at a time. A batch the state machine refuses (someone
//     registered in between) fails whole; the batches before and after it
//     stand. The report says of every row what happened to it — created,
//     linked, already_linked, invalid or failed with a code — so a failed
//     batch's rows can be sent again; sending a file twice only links
//     (already_linked), never duplicates.
//   - A verifier's answer is an input of the command that records it: the
//     handler stays deterministic, and a verifier that fails records
//     nothing (503, try again). Face liveness is done by the provider's SDK;
//     cxt takes its reference and score in a body too small for an image.
package workers
