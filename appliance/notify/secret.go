package notify

import (
	"cxt/storage/state"
)

// SecretsBucket holds the secret part of a notification (a new
// administrator's one-time password) apart from the notification itself:
// the inbox and the API never show it, only the e-mail and the SMS carry it,
// and it is deleted as soon as no delivery of the notification is pending.
const SecretsBucket = "notify-secrets" // notification key -> secret text

// EnqueueSecret queues a notification whose secret goes by e-mail and SMS
// only. A recipient without either is refused (channel_required): a secret
// must never fall back to a channel someone else reads.
func EnqueueSecret(tx *state.Tx, to Recipient, event, subject, body, secret string) error {
	if to.Email == "" && to.Phone == "" {
		return state.Reject(ChannelRequired, "the account has no e-mail address or phone number to send the secret to")
	}
	key, err := enqueue(tx, to, event, subject, body)
	if err != nil {
		return err
	}
	return tx.Put(SecretsBucket, []byte(key), []byte(secret))
}

// withSecret appends the stored secret, if any, to the body of a copy of a
// notification about to be delivered.
func withSecret(r *state.ReadTx, n *Notification) error {
	secret, err := r.Get(SecretsBucket, []byte(n.Key))
	if err != nil || len(secret) == 0 {
		return err
	}
	n.Body += "\n\n" + string(secret)
	return nil
}

// forgetSecret deletes a notification's secret once none of its deliveries
// is pending: sent or given up, it is not needed again.
func forgetSecret(tx *state.Tx, n *Notification) error {
	for _, d := range n.Deliveries {
		if d.Status == "pending" {
			return nil
		}
	}
	return tx.Delete(SecretsBucket, []byte(n.Key))
}

// EnqueueSMSSecret queues a notification whose secret — a one-time code —
// goes by SMS only: the inbox shows the body without it, and no e-mail is
// sent, since a code that proves a phone must reach only that phone. A
// recipient without a phone is refused (channel_required).
func EnqueueSMSSecret(tx *state.Tx, to Recipient, event, subject, body, secret string) error {
	if to.Phone == "" {
		return state.Reject(ChannelRequired, "the account has no phone number to send the code to")
	}
	key, err := enqueue(tx, Recipient{Account: to.Account, Phone: to.Phone}, event, subject, body)
	if err != nil {
		return err
	}
	return tx.Put(SecretsBucket, []byte(key), []byte(secret))
}
