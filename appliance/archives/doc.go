// Package archives keeps one archive per merchant (一企一档) and per worker
// (一户一档), standard §7 档案管理: it receives and organises what the other
// domains record about a subject into an index by document class, keeps it
// for the retention its class's dated legal rules give, lets staff use it
// only under an approved request (every use audited), and appraises and
// destroys it after retention — maker-checker, blocked by a legal hold —
// by crypto-shredding the subject's own key (appliance/subjects), with a
// signed destruction certificate.
//
// Nothing is copied: the index is read from the records themselves, so an
// archive is always what the state holds. What the subject's key sealed
// (names, ID numbers, phones, cards, references, documents, signing keys)
// is destroyed with the key; what the platform must keep without it — the
// ledger, payments and declarations by the subject's internal ID, the
// audit trail, the certificate, the feed's tombstone — stays.
//
// Destruction is one command: the checker's approval re-checks retention
// and holds at its log index, computes the manifest (the SM3 of every
// destroyed item's last ciphertext), destroys the key and records the
// certificate, so a failure part-way leaves nothing half-done. Each node
// then writes the certificate to the blob store under destroyed/, outside
// its data folder when the store is MinIO: a node whose state comes back
// from a copy taken before the destruction finds the subject's key alive
// while that list names it, serves nothing until the shred is applied again
// (Gate), and its leader proposes it (docs/archives.md).
package archives
