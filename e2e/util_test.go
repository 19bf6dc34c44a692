package e2e

import (
	"encoding/json"
	"fmt"

	"github.com/crowd-dev/crowd/client"
)

func fmtCounts(c client.Counts) string { return fmt.Sprintf("%+v", c) }

func fmtAny(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
