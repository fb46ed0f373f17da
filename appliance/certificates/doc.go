// Package certificates makes tax-payment certificates (完税证明): for one
// worker and one month, the income tax the platform withheld from them as
// its current declaration files it, and the tax authority's receipts for
// the month's payment of it — a one-page PDF in Chinese, signed by the
// platform's SM2 key (the e-signing authority's, appliance/agreements) and
// handed out as a zip that stock OpenSSL 3 verifies with the commands in
// its README.txt.
//
// A certificate is made only for a month that is declared (appliance/
// filing) and whose declared income tax is paid in full
// (certificate_unpaid otherwise): it certifies tax paid, not tax owed.
//
// Who sees what. The worker's certificate states their whole month: every
// merchant's payments. A merchant's administrator or operator asks for
// the certificate of a worker it paid, and gets one scoped to its own
// payments — the income it paid and the tax withheld on it — for the
// worker's other income is none of its business. The two are different
// documents with different numbers.
//
// Like receipts, certificates are made on demand from the records, never
// stored: the PDF is a pure function of the declaration, the tax payments
// and the worker's record, and carries their times, so the same records
// give the same bytes on every node (only the SM2 signature, randomised,
// differs between downloads, and every one verifies).
package certificates
