package feed

// EncodeEntry and DecodeEntry expose the stored form to the tests.
var (
	EncodeEntry = (*Entry).encode
	DecodeEntry = decodeEntry
)
