package cli

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"cxt/crypto/sm"
)

func cryptoCmd() *cobra.Command {
	c := &cobra.Command{Use: "crypto", Short: "SM2/SM3 tools that interoperate with OpenSSL 3"}
	c.AddCommand(&cobra.Command{
		Use:   "sm3 FILE",
		Short: "print the SM3 digest of FILE in hex ('-' reads standard input)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := openInput(cmd, args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			h := sm.NewHash()
			if _, err := io.Copy(h, r); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(h.Sum(nil)))
			return nil
		},
	})

	var keyPath string
	sign := &cobra.Command{
		Use:   "sign --key KEY.pem FILE",
		Short: "write a DER SM2 signature of FILE to standard output",
		Long: "Signs with SM3 and the default user ID 1234567812345678. KEY.pem is a PKCS#8 SM2 key as\n" +
			"'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2' writes it. Verify with\n" +
			"'openssl dgst -sm3 -sigopt distid:1234567812345678 -verify pub.pem -signature sig.der FILE'.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pemKey, err := os.ReadFile(keyPath)
			if err != nil {
				return badInput("read key: %v", err)
			}
			key, err := sm.ParsePrivateKeyPEM(pemKey)
			if err != nil {
				return badInput("%s: %v", keyPath, err)
			}
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			sig, err := key.Sign(data)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(sig)
			return err
		},
	}
	sign.Flags().StringVar(&keyPath, "key", "", "SM2 private key (PEM)")
	sign.MarkFlagRequired("key")
	c.AddCommand(sign)

	var pubPath, sigPath string
	verify := &cobra.Command{
		Use:   "verify --pub PUB.pem --sig SIG.der FILE",
		Short: "check a DER SM2 signature: exit 0 valid, 1 invalid, 2 bad input",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pemPub, err := os.ReadFile(pubPath)
			if err != nil {
				return badInput("read public key: %v", err)
			}
			pub, err := sm.ParsePublicKeyPEM(pemPub)
			if err != nil {
				return badInput("%s: %v", pubPath, err)
			}
			sig, err := os.ReadFile(sigPath)
			if err != nil {
				return badInput("read signature: %v", err)
			}
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			if !pub.Verify(data, sig) {
				return &exitError{code: 1, err: fmt.Errorf("signature is not valid")}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Verified OK")
			return nil
		},
	}
	verify.Flags().StringVar(&pubPath, "pub", "", "SM2 public key or certificate (PEM)")
	verify.Flags().StringVar(&sigPath, "sig", "", "DER signature")
	verify.MarkFlagRequired("pub")
	verify.MarkFlagRequired("sig")
	c.AddCommand(verify)
	return c
}

func openInput(cmd *cobra.Command, path string) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(cmd.InOrStdin()), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return f, nil
}

func readInput(cmd *cobra.Command, path string) ([]byte, error) {
	r, err := openInput(cmd, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}
