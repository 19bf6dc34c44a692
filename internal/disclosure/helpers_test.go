package disclosure

import (
	"time"

	"github.com/crowd-dev/crowd/internal/period"
)

// truncDay returns midnight UTC of t's day.
func truncDay(t time.Time) time.Time { return period.DayOf(t).Start() }
