package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"cxt/appliance/ident"
)

// chinaTime is UTC+8 all year (China has no daylight saving): "today" for the
// age check is the date in China, where the workers are.
var chinaTime = time.FixedZone("CST", 8*60*60)

func checkCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "check uscc|id|card|phone VALUE...",
		Short: "check identifiers before uploading them, by the rules the merchant and worker flows apply",
		Long: "Prints each value with \"valid\" or the reason it fails and the stable code the API would\n" +
			"answer with (docs/validation.md). Exit 0 when all are valid, 1 when any is not, 2 on bad usage.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return badInput("name what to check: cxt check uscc|id|card|phone VALUE...")
		},
	}
	var on string
	var day time.Time
	id := checkKind("id", "resident ID numbers of workers: GB 11643 check digit, birth date, GB/T 2260 region, age 16 or older",
		func(v string) error { _, err := ident.WorkerResidentID(v, day); return err })
	id.PreRunE = func(*cobra.Command, []string) (err error) {
		day, err = checkDay(on)
		return err
	}
	id.Flags().StringVar(&on, "on", "", "the date of the age check, YYYY-MM-DD (default: today in China)")
	c.AddCommand(
		checkKind("uscc", "unified social credit codes of merchants: GB 32100 check character, authority, type, organisation code",
			func(v string) error { _, err := ident.ParseUSCC(v); return err }),
		id,
		checkKind("card", "bank card numbers: digits, 16-19 of them, Luhn, the length the card scheme issues",
			func(v string) error { _, err := ident.ParseBankCard(v); return err }),
		checkKind("phone", "mainland mobile numbers: 11 digits starting 13-19, optionally after +86",
			func(v string) error { _, err := ident.ParsePhone(v); return err }),
	)
	return c
}

// checkKind is one "cxt check KIND": it checks every value with check and
// answers line by line.
func checkKind(kind, short string, check func(string) error) *cobra.Command {
	return &cobra.Command{
		Use:   kind + " VALUE...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			invalid := 0
			for _, v := range args {
				err := check(v)
				var e *ident.Error
				switch {
				case err == nil:
					fmt.Fprintf(out, "%s\tvalid\n", v)
				case errors.As(err, &e):
					invalid++
					fmt.Fprintf(out, "%s\tinvalid (%s): %s\n", v, e.Code, e.Msg)
				default:
					return err
				}
			}
			if invalid == 0 {
				fmt.Fprintf(out, "All %d valid: go ahead and upload them.\n", len(args))
				return nil
			}
			fmt.Fprintf(out, "%d of %d invalid: correct them at the source and check again before uploading; the codes are explained in docs/validation.md.\n", invalid, len(args))
			return &exitError{code: 1, err: fmt.Errorf("%d of %d %s values invalid", invalid, len(args), kind)}
		},
	}
}

// checkDay reads --on, or gives today's date in China.
func checkDay(on string) (time.Time, error) {
	if on == "" {
		return time.Now().In(chinaTime), nil
	}
	d, err := time.ParseInLocation(time.DateOnly, on, chinaTime)
	if err != nil {
		return time.Time{}, badInput("--on %q: want a date YYYY-MM-DD", on)
	}
	return d, nil
}
