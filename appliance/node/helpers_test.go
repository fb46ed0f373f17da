package node_test

import (
	"io"
	"log/slog"

	"cxt/storage/blob"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func blobInfo(id string) blob.Info { return blob.Info{ID: id, Size: 1} }
