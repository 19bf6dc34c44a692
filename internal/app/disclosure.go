package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/store"
)

// ErrExactAfterProtected refuses to serve exact numbers from data whose
// protected (noisy) numbers were released.
var ErrExactAfterProtected = errors.New("this data has released protected (noisy) numbers, and exact numbers beside them give the noise away (noisy minus exact is the noise), undoing the protection of everything released so far; keep --disclosure protected, or switch knowingly with --allow-exact-after-protected (CROWD_ALLOW_EXACT_AFTER_PROTECTED=true)")

// CheckDisclosure compares the configured disclosure mode with the one the
// data was last served in, and records it. A switch to exact after
// protected cells were released is refused with ErrExactAfterProtected
// unless c.AllowExactAfterProtected; when allowed, it is logged (warn,
// once: the next start finds exact recorded) and recorded as forced.
// Released cells are what is checked, whatever mode was recorded: only
// protected mode releases cells.
func CheckDisclosure(ctx context.Context, st *store.Store, c config.Config, logger *slog.Logger, now time.Time) error {
	from, ok, err := st.DisclosureMode(ctx)
	if err != nil {
		return fmt.Errorf("read disclosure mode: %w", err)
	}
	if ok && from == c.Disclosure {
		return nil
	}
	forced := false
	if c.Disclosure == config.Exact {
		released, err := st.HasReleasedCells(ctx)
		if err != nil {
			return fmt.Errorf("look for released cells: %w", err)
		}
		if released {
			if !c.AllowExactAfterProtected {
				return fmt.Errorf("disclosure %s: %w", c.Disclosure, ErrExactAfterProtected)
			}
			forced = true
			logger.Warn("disclosure: switching to exact after protected numbers were released, as --allow-exact-after-protected allows; the noise of every number released so far can now be recovered by subtraction",
				slog.String("from", config.Protected.String()), slog.String("to", c.Disclosure.String()))
		}
	}
	if ok && !forced {
		logger.Info("disclosure mode changed", slog.String("from", from.String()), slog.String("to", c.Disclosure.String()))
	}
	if err := st.SetDisclosureMode(ctx, from, c.Disclosure, forced, now); err != nil {
		return fmt.Errorf("record disclosure mode: %w", err)
	}
	return nil
}
