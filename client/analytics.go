package client

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Range picks the whole days of an analytics report: the last days up to
// today (Last), or From to To, inclusive. The zero Range is the API's
// default, the last 28 UTC days.
type Range struct {
	// Last is "7d", "28d", "60d" or "365d".
	Last string
	// From and To are dates, YYYY-MM-DD, given together.
	From, To string
	// TZ is the reader's time zone, an IANA name such as "Asia/Tokyo"
	// ("" is UTC). In exact mode the dates and recent days are the zone's;
	// protected reports keep UTC days. The report's DayBoundaries say
	// which were used.
	TZ string
}

// LastDays is the range of the last n days up to today; the API takes 7,
// 28, 60 and 365.
func LastDays(n int) Range { return Range{Last: strconv.Itoa(n) + "d"} }

// Days is the range from from's date to to's date, in UTC, inclusive.
func Days(from, to time.Time) Range {
	return Range{From: from.UTC().Format(time.DateOnly), To: to.UTC().Format(time.DateOnly)}
}

func (r Range) query() string {
	q := url.Values{}
	if r.Last != "" {
		q.Set("range", r.Last)
	}
	if r.From != "" {
		q.Set("from", r.From)
	}
	if r.To != "" {
		q.Set("to", r.To)
	}
	if r.TZ != "" {
		q.Set("tz", r.TZ)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// AnalyticsReport is a video's or an account's analytics. Every number
// comes from the disclosure layer; Policy says how it was produced. Detail
// says which fields the report has: a personal report has the counts, the
// series and the trend; a business report also has ViewerDays, AvgWatchMS,
// CompletionRate, TrafficSources, Audience and the business totals; a
// business video report has Viewers (exact mode only) and daily viewers; a
// business account report has daily viewer-days, Followers and
// RisingVideos. A pointer or slice field is nil when the report does not
// have it.
type AnalyticsReport struct {
	// VideoID is set on a video report, Account (a handle) on an account
	// report.
	VideoID string `json:"video_id,omitempty"`
	Account string `json:"account,omitempty"`
	// Detail is "personal" or "business", the reader account's type.
	Detail string          `json:"detail"`
	Range  AnalyticsRange  `json:"range"`
	Policy AnalyticsPolicy `json:"policy"`
	Totals AnalyticsTotals `json:"totals"`
	Daily  []AnalyticsDay  `json:"daily"`
	Hourly []AnalyticsHour `json:"hourly"`
	Trend  AnalyticsTrend  `json:"trend"`
	// DayBoundaries say where the daily series' days begin and end.
	DayBoundaries AnalyticsDayBoundaries `json:"day_boundaries"`
	GeneratedAt   time.Time              `json:"generated_at"`
	// Viewers are the distinct accounts that viewed the video over the
	// range: business video reports in exact mode only.
	Viewers *int64 `json:"viewers,omitempty"`
	// ViewerDays count an account once per video and day it viewed: one
	// account watching on three days is three viewer-days. Business only.
	ViewerDays *int64 `json:"viewer_days,omitempty"`
	// AvgWatchMS is the average watch time per view, in milliseconds.
	AvgWatchMS *int64 `json:"avg_watch_ms,omitempty"`
	// CompletionRate is the share of views watched to the end, 0 to 1.
	CompletionRate *float64               `json:"completion_rate,omitempty"`
	TrafficSources []AnalyticsBucket      `json:"traffic_sources,omitempty"`
	Audience       *AnalyticsAudience     `json:"audience,omitempty"`
	Followers      *AnalyticsFollowers    `json:"followers,omitempty"`
	RisingVideos   []AnalyticsRisingVideo `json:"rising_videos,omitempty"`
}

// AnalyticsRange is a report's span of whole days, inclusive: UTC days,
// or in exact mode the dates of the Range's TZ.
type AnalyticsRange struct {
	From string `json:"from"` // YYYY-MM-DD
	To   string `json:"to"`   // YYYY-MM-DD
	Days int    `json:"days"`
}

// AnalyticsPolicy says how a report's numbers were produced.
type AnalyticsPolicy struct {
	// Mode is "protected" (noisy estimates released after each day
	// closes) or "exact".
	Mode      string `json:"mode"`
	Estimates bool   `json:"estimates"`
	Released  string `json:"released"`
	// Summary is the policy in a sentence or two, to show to the reader.
	Summary string `json:"summary"`
	// Bounds are the contribution bounds of protected mode (nil in exact
	// mode), for post-processing released values.
	Bounds *AnalyticsBounds `json:"bounds,omitempty"`
}

// AnalyticsBounds are what one viewer-day (one account, one video, one UTC
// day) can add at most to protected numbers, before noise.
type AnalyticsBounds struct {
	ViewsPerViewerDay   int64 `json:"views_per_viewer_day"`
	WatchMSPerViewerDay int64 `json:"watch_ms_per_viewer_day"`
}

// AnalyticsDayBoundaries say where a report's days begin and end: UTC
// days, or in exact mode with a time zone, the zone's days where hourly
// rollups are still kept (72 hours) and UTC days before.
type AnalyticsDayBoundaries struct {
	// TimeZone is the zone asked for, "UTC" when none.
	TimeZone string `json:"time_zone"`
	// Spans cover the range's dates, oldest first.
	Spans []AnalyticsDaySpan `json:"spans"`
}

// AnalyticsDaySpan is a run of a report's days: the dates From..To cover
// [Start, End); each day inside ends at the next midnight of TimeZone
// ("UTC" for UTC days).
type AnalyticsDaySpan struct {
	From     string    `json:"from"` // YYYY-MM-DD
	To       string    `json:"to"`   // YYYY-MM-DD
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	TimeZone string    `json:"time_zone"`
}

// AnalyticsTotals are sums of a report's released days.
type AnalyticsTotals struct {
	Views    int64 `json:"views"`
	Likes    int64 `json:"likes"`
	Comments int64 `json:"comments"`
	Shares   int64 `json:"shares"`
	Saves    int64 `json:"saves"`
	// Viewers, as the report's Viewers.
	Viewers *int64 `json:"viewers,omitempty"`
	// ViewerDays, as the report's ViewerDays.
	ViewerDays *int64 `json:"viewer_days,omitempty"`
	// WatchMS is the total watch time in milliseconds (business only).
	WatchMS *int64 `json:"watch_ms,omitempty"`
}

// AnalyticsDay is one day's released numbers. In protected mode views,
// viewers, shares and saves are noisy estimates as released: for a small
// video they can be negative, or show fewer views than viewers (Studio and
// the CSV export show them post-processed).
type AnalyticsDay struct {
	Date     string `json:"date"` // YYYY-MM-DD
	Views    int64  `json:"views"`
	Likes    int64  `json:"likes"`
	Comments int64  `json:"comments"`
	Shares   int64  `json:"shares"`
	Saves    int64  `json:"saves"`
	// Viewers are the day's distinct viewers: business video reports.
	Viewers *int64 `json:"viewers,omitempty"`
	// ViewerDays sum the day's viewers of the account's videos: business
	// account reports.
	ViewerDays *int64 `json:"viewer_days,omitempty"`
	// Released is false for a day whose protected numbers are not
	// released yet (they read 0).
	Released bool `json:"released"`
}

// AnalyticsHour is one hour's released views.
type AnalyticsHour struct {
	Hour  time.Time `json:"hour"`
	Views int64     `json:"views"`
}

// AnalyticsBucket is one bucket of a breakdown.
type AnalyticsBucket struct {
	Key     string `json:"key"`
	Count   int64  `json:"count"`
	Percent int    `json:"percent"`
}

// AnalyticsAudience is who watched, by viewers, or why that is withheld.
type AnalyticsAudience struct {
	Available bool              `json:"available"`
	Reason    string            `json:"reason,omitempty"`
	Age       []AnalyticsBucket `json:"age,omitempty"`
	Gender    []AnalyticsBucket `json:"gender,omitempty"`
	Countries []AnalyticsBucket `json:"countries,omitempty"`
}

// AnalyticsTrend is the views of a recent window against the average day
// of the 7 days before: in protected mode the newest released UTC day, in
// exact mode the last 24 hours.
type AnalyticsTrend struct {
	// Today is the views over Window.
	Today         int64 `json:"today"`
	RecentAverage int64 `json:"recent_average"`
	// ChangePercent is nil when the recent average is 0.
	ChangePercent *int64 `json:"change_percent,omitempty"`
	// Window is the span Today covers, [Start, End).
	Window struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"window"`
	// Baseline are the UTC days RecentAverage averages (YYYY-MM-DD).
	Baseline struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"baseline"`
}

// AnalyticsFollowers is follower growth over the range.
type AnalyticsFollowers struct {
	Gained int64 `json:"gained"`
	Lost   int64 `json:"lost"`
	Net    int64 `json:"net"`
}

// AnalyticsRisingVideo is a video whose views over the trend's window beat
// its average day of the trend's baseline.
type AnalyticsRisingVideo struct {
	VideoID       string `json:"video_id"`
	Today         int64  `json:"today"`
	RecentAverage int64  `json:"recent_average"`
}

// VideoAnalytics returns a video's analytics over r (a creator's session,
// or an app token with analytics:read of a business creator).
func (c *Client) VideoAnalytics(ctx context.Context, videoID string, r Range) (*AnalyticsReport, error) {
	var rep AnalyticsReport
	return &rep, c.Do(ctx, http.MethodGet, "/v1/analytics/videos/"+esc(videoID)+r.query(), nil, &rep)
}

// AccountAnalytics returns the caller's account analytics over r: its
// videos together, and for business accounts follower growth and rising
// videos.
func (c *Client) AccountAnalytics(ctx context.Context, r Range) (*AnalyticsReport, error) {
	var rep AnalyticsReport
	return &rep, c.Do(ctx, http.MethodGet, "/v1/analytics/account"+r.query(), nil, &rep)
}

// CSVExport is a CSV download being read. Read it, then Close it.
type CSVExport struct {
	io.ReadCloser
	// Filename is the file name the service suggests.
	Filename string
	// Disclosure is the disclosure mode the numbers were released under,
	// "protected" or "exact".
	Disclosure string
}

// ExportVideoAnalytics downloads a video's daily analytics over r as CSV
// (business accounts only): the header row
// date,views,viewers,likes,comments,shares,saves,released, then one row per day,
// oldest first, as a person reads them (in protected mode the estimates
// post-processed: never negative, never fewer views than viewers). ParseAnalyticsCSV reads it. An error answer is an *Error,
// as everywhere; an error while reading the body is the transport's.
func (c *Client) ExportVideoAnalytics(ctx context.Context, videoID string, r Range) (*CSVExport, error) {
	path := "/v1/analytics/videos/" + esc(videoID) + "/export.csv" + r.query()
	resp, err := c.send(ctx, http.MethodGet, path, "", nil, "text/csv, application/json")
	if err != nil {
		return nil, err
	}
	x := &CSVExport{ReadCloser: resp.Body, Disclosure: resp.Header.Get("X-Crowd-Disclosure")}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		x.Filename = params["filename"]
	}
	return x, nil
}

// AnalyticsCSVRow is one day of an analytics CSV export.
type AnalyticsCSVRow struct {
	Date     string // YYYY-MM-DD
	Views    int64
	Viewers  *int64 // nil when the cell is empty
	Likes    int64
	Comments int64
	Shares   int64
	Saves    int64
	// Released reports whether the day's numbers are released: in
	// protected mode whether the day is closed and its cells published, in
	// exact mode always true.
	Released bool
}

// csvHeader is the header row of an analytics CSV export.
var csvHeader = []string{"date", "views", "viewers", "likes", "comments", "shares", "saves", "released"}

// ParseAnalyticsCSV reads an analytics CSV export.
func ParseAnalyticsCSV(r io.Reader) ([]AnalyticsCSVRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(csvHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read analytics CSV header: %w", err)
	}
	for i, h := range csvHeader {
		if head[i] != h {
			return nil, fmt.Errorf("read analytics CSV header: column %d is %q, want %q", i+1, head[i], h)
		}
	}
	var rows []AnalyticsCSVRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read analytics CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		row := AnalyticsCSVRow{Date: rec[0]}
		for i, dst := range []*int64{&row.Views, nil, &row.Likes, &row.Comments, &row.Shares, &row.Saves} {
			v := rec[i+1]
			if dst == nil {
				if v == "" {
					continue
				}
				dst = new(int64)
				row.Viewers = dst
			}
			if *dst, err = strconv.ParseInt(v, 10, 64); err != nil {
				return nil, fmt.Errorf("read analytics CSV: line %d: %s: %w", line, csvHeader[i+1], err)
			}
		}
		if row.Released, err = strconv.ParseBool(rec[7]); err != nil {
			return nil, fmt.Errorf("read analytics CSV: line %d: released: %w", line, err)
		}
		rows = append(rows, row)
	}
}
