package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestAnalyticsCSVMatchesReport reads a video's JSON report and its CSV
// export for the same range, in exact and in protected mode, and compares
// every number of every day column by column, the released flag included.
// The CSV is RFC 4180: CRLF line ends.
func TestAnalyticsCSVMatchesReport(t *testing.T) {
	for _, mode := range []string{"exact", "protected"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			p := Start(t, t.TempDir(), "--disclosure", mode)
			anon := p.Client()
			mia := MustUser(t, anon, "mia", client.Registration{Type: "business", BirthDate: "1990-01-01", Country: "DE", Gender: "female"})
			leo := MustUser(t, anon, "leo")
			v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "export me"})
			if err != nil {
				t.Fatal(err)
			}
			leo.RecordView(ctx, v.ID, client.View{Source: "for_you", WatchMS: 1000})
			anon.RecordView(ctx, v.ID, client.View{Source: "search", WatchMS: 1000})
			leo.Like(ctx, v.ID)
			leo.Share(ctx, v.ID, "sms")
			today := time.Now().UTC()
			q := fmt.Sprintf("?from=%s&to=%s", today.AddDate(0, 0, -6).Format(time.DateOnly), today.Format(time.DateOnly))
			token := mustLoginToken(t, anon, "mia")
			daily := func() ([]map[string]any, bool) {
				var rep report
				return rep.Daily, mia.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+q, nil, &rep) == nil && (mode != "exact" || rep.Totals.Views == 2)
			}
			export := func() []byte {
				req, _ := http.NewRequest("GET", p.URL+"/v1/analytics/videos/"+v.ID+"/export.csv"+q, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("export: %d %s", resp.StatusCode, body)
				}
				return body
			}
			// The report before and after the export must agree, so that
			// events still arriving do not make the comparison flaky.
			var rep report
			var body []byte
			Eventually(t, "the report catches up and holds still", func() bool {
				before, ok := daily()
				if !ok {
					return false
				}
				body = export()
				after, ok := daily()
				rep.Daily = after
				return ok && fmt.Sprint(before) == fmt.Sprint(after)
			})
			if n, crlf := strings.Count(string(body), "\n"), strings.Count(string(body), "\r\n"); n != 8 || crlf != 8 {
				t.Fatalf("want 8 CRLF-ended lines, got %d lines, %d CRLF:\n%q", n, crlf, body)
			}
			recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			head := strings.Join(recs[0], ",")
			if head != "date,views,viewers,likes,comments,shares,saves,released" {
				t.Fatalf("header %q", head)
			}
			if len(rep.Daily) != len(recs)-1 {
				t.Fatalf("report has %d days, CSV %d rows", len(rep.Daily), len(recs)-1)
			}
			var released, unreleased int
			for i, d := range rep.Daily {
				row := recs[i+1]
				for j, col := range recs[0] {
					want := ""
					switch v := d[col].(type) {
					case string:
						want = v
					case float64:
						want = strconv.FormatInt(int64(v), 10)
					case bool:
						want = strconv.FormatBool(v)
					case nil:
					}
					if row[j] != want {
						t.Errorf("day %d column %s: CSV %q, report %q", i, col, row[j], want)
					}
				}
				if d["released"] == true {
					released++
				} else {
					unreleased++
				}
			}
			switch {
			case mode == "exact" && (unreleased != 0 || recs[7][1] != "2" || recs[7][2] != "1" || recs[7][3] != "1" || recs[7][5] != "1"):
				t.Errorf("exact: every day released, today's numbers as counted:\n%s", body)
			case mode == "protected" && (recs[7][7] != "false" || released != closedAndDue(today) && released != closedAndDue(time.Now().UTC())):
				t.Errorf("protected: today is not released, the closed days are once their delay is past:\n%s", body)
			}
		})
	}
}

// dayReleaseDelay is how long after its end a closed day's cells are
// released in protected mode (docs/PRIVACY.md).
const dayReleaseDelay = 6 * time.Hour

// closedAndDue is how many of the six days before today's are released at
// now: all six once yesterday's delay is past, five in the first hours of
// a day.
func closedAndDue(now time.Time) int {
	midnight := now.Truncate(24 * time.Hour)
	if now.Before(midnight.Add(dayReleaseDelay)) {
		return 5
	}
	return 6
}
