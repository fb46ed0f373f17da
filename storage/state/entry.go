package state

import (
	"encoding/binary"
	"errors"
)

// A log entry carries a batch of sealed commands, so that one Raft append
// and one fsync serve every writer that arrived while the previous batch was
// in flight (group commit). Its encoding is
// [version][count]{[length][envelope]}, counts and lengths as uvarints.
const entryVersion = 1

// EncodeEntry packs sealed commands into one log entry.
func EncodeEntry(commands [][]byte) []byte {
	size := 1 + binary.MaxVarintLen64
	for _, c := range commands {
		size += binary.MaxVarintLen64 + len(c)
	}
	out := make([]byte, 0, size)
	out = append(out, entryVersion)
	out = binary.AppendUvarint(out, uint64(len(commands)))
	for _, c := range commands {
		out = binary.AppendUvarint(out, uint64(len(c)))
		out = append(out, c...)
	}
	return out
}

var errBadEntry = errors.New("state: malformed log entry")

// DecodeEntry unpacks what EncodeEntry packed; the commands alias data.
func DecodeEntry(data []byte) ([][]byte, error) {
	if len(data) < 1 || data[0] != entryVersion {
		return nil, errBadEntry
	}
	data = data[1:]
	n, k := binary.Uvarint(data)
	if k <= 0 || n > uint64(len(data)) {
		return nil, errBadEntry
	}
	data = data[k:]
	out := make([][]byte, 0, n)
	for range n {
		l, k := binary.Uvarint(data)
		if k <= 0 || l > uint64(len(data)-k) {
			return nil, errBadEntry
		}
		out = append(out, data[k:k+int(l)])
		data = data[k+int(l):]
	}
	if len(data) != 0 {
		return nil, errBadEntry
	}
	return out, nil
}
