package blob

import (
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIOConfig names a MinIO (or other S3) endpoint and bucket.
type MinIOConfig struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Bucket    string
	Secure    bool // HTTPS to the endpoint
}

// MinIO keeps objects in a MinIO bucket.
type MinIO struct {
	c      *minio.Client
	bucket string
}

// partSize bounds what minio-go buffers per upload: documents stream through
// in parts of this size, never whole.
const partSize = 16 << 20

// NewMinIO connects to MinIO and creates the bucket if it does not exist.
func NewMinIO(ctx context.Context, cfg MinIOConfig) (*MinIO, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
	})
	if err != nil {
		return nil, err
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob: MinIO at %s: %w", cfg.Endpoint, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
			return nil, fmt.Errorf("blob: create bucket %q: %w", cfg.Bucket, err)
		}
	}
	return &MinIO{c: c, bucket: cfg.Bucket}, nil
}

// Put uploads the object.
func (m *MinIO) Put(ctx context.Context, id string, r io.Reader, size int64) error {
	_, err := m.c.PutObject(ctx, m.bucket, id, r, size, minio.PutObjectOptions{
		PartSize:    partSize,
		ContentType: "application/octet-stream",
	})
	return err
}

// Get streams the object.
func (m *MinIO) Get(ctx context.Context, id string) (io.ReadCloser, error) {
	if _, err := m.c.StatObject(ctx, m.bucket, id, minio.StatObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return m.c.GetObject(ctx, m.bucket, id, minio.GetObjectOptions{})
}

// Delete removes the object.
func (m *MinIO) Delete(ctx context.Context, id string) error {
	if _, err := m.c.StatObject(ctx, m.bucket, id, minio.StatObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return ErrNotFound
		}
		return err
	}
	return m.c.RemoveObject(ctx, m.bucket, id, minio.RemoveObjectOptions{})
}
