// Package training keeps the platform's business training (业务培训,
// standard §7): courses that platform operators write and publish, with
// their materials in the blob store; enrolments of workers, by a merchant
// that needs them trained or by the workers themselves; results; and a
// completion certificate, an SM2-signed PDF that stock OpenSSL 3 verifies.
//
// Invariants:
//   - A course is draft, then published, then retired. Only a published
//     course takes enrolments; a retired one keeps its records and
//     certificates. Its category and the categories that require it
//     (RequiredFor) are task categories (appliance/tasks).
//   - A merchant's users enrol only the merchant's own workers (those
//     whose record lists the merchant, appliance/workers): another
//     merchant's worker is as absent as one that never was
//     (training_worker_not_yours). A worker enrols only themself.
//   - One enrolment per worker and course. Its result is recorded by the
//     enrolling merchant's administrator or operator, or by a platform
//     operator (for self-enrolments only the operator): a score of 0 to
//     100, passed at the course's pass mark or above. A failed result may
//     be recorded again (a retake); a pass is final and gets a certificate
//     number, TRC-<yyyymmdd>-<sequence>, from the state machine.
//     The worker never records their own result: a certificate attests
//     what someone other than its holder saw.
//   - A worker's enrolments are one record (RecordBucket, keyed by the
//     worker's ID), so ForWorker reads them with one Get: the archives
//     index them per worker without a scan. The record holds IDs, scores
//     and times, never the worker's name: the certificate opens the name
//     under the worker's key when it is made, and a shredded worker's
//     certificate says so.
//   - Materials are sealed by the keyring (they are the platform's
//     content, not a subject's) and read back only after their SM3 is
//     checked. What a material is is read from its bytes: PDF, JPEG, PNG,
//     OFD or MP4, at most MaxMaterial bytes.
//
// Certificates are made on demand from the records, like tax certificates
// (appliance/certificates): the same records give the same PDF.
package training
