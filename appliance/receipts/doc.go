// Package receipts makes a paid payment's electronic receipt (电子回单): a
// one-page PDF from the payment's record, signed by the platform's SM2 key
// (the e-signing authority's, appliance/agreements), handed out as a zip
// that stock OpenSSL 3 verifies with the commands in its README.txt.
//
// Receipts are made on demand, not stored. The PDF is a pure function of
// the records it shows — the payment, its merchant, its worker's name and
// card, the platform's name, the posting that paid it — and carries their
// times, never the clock's, so the same record gives the same bytes on
// every node and every day (only the signature, SM2 being randomised,
// differs between downloads; every one verifies over the same PDF). A
// stored copy would add a document per payment, 100,000 per batch, to hold
// what the state already holds; and a payment returned (退汇) after its
// receipt was stored would leave a stale one: made on demand, the receipt
// says "returned" from the moment the record does.
//
// What it does not hold: the payee's full name (masked, as every answer
// masks it) and card number (the last four digits), read from the worker's
// record when the receipt is made; a worker whose data was shredded is shown
// as such, the payment record being kept as the law asks.
package receipts
