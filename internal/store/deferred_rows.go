package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
)

// Creators' rows deferred (SQLite only; migration 0009 and
// internal/rollup/deferred.go): while aggregation trails the log, a batch
// may keep its creators' rows as one row of creator_rows_deferred instead
// of adding them to the creators' tables, and a later batch adds them all
// at once. The store only keeps the rows; what they hold is aggregation's.

// DeferredCreatorRows returns how many batches' rows are deferred, how many
// rows they hold in how many bytes of their encodings, and when the first
// was deferred (Unix seconds; 0 if none).
func (t *RollupTx) DeferredCreatorRows(ctx context.Context) (batches, rows, size, since int64, err error) {
	err = t.tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(n), 0), COALESCE(SUM(length(rows)), 0), COALESCE(MIN(at), 0) FROM creator_rows_deferred`).Scan(&batches, &rows, &size, &since)
	if err != nil {
		err = fmt.Errorf("read deferred creator rows: %w", err)
	}
	return batches, rows, size, since, err
}

// DeferCreatorRows keeps a batch's creators' rows, n rows encoded in b
// (which it keeps), deferred at (Unix seconds). Once the transaction
// commits, the creators' reads find them indexed (deferred_overlay.go).
func (t *RollupTx) DeferCreatorRows(ctx context.Context, at, n int64, b []byte) error {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO creator_rows_deferred (at, n, rows) VALUES (?, ?, ?)`, at, n, b)
	if err != nil {
		return fmt.Errorf("defer creator rows: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("defer creator rows: %w", err)
	}
	t.deferredID, t.deferredRows = id, b
	return nil
}

// TakeDeferredCreatorRows calls fn (unless nil) with each batch's deferred
// rows, in the order they were deferred, and deletes them: the caller adds
// them to the creators' tables in the same transaction. b is valid only
// during fn.
func (t *RollupTx) TakeDeferredCreatorRows(ctx context.Context, fn func(b []byte) error) error {
	// The last id taken: once the transaction commits, the index of the
	// rows deferred lets go of every id up to it (deferred_overlay.go).
	err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM creator_rows_deferred`).Scan(&t.deferredTaken)
	if err == nil && fn != nil {
		rows, qerr := t.tx.QueryContext(ctx, `SELECT rows FROM creator_rows_deferred ORDER BY id`)
		err = eachRow(rows, qerr, func(rows *sql.Rows) error {
			var b sql.RawBytes
			if err := rows.Scan(&b); err != nil {
				return err
			}
			return fn(b)
		})
	}
	if err == nil {
		_, err = t.tx.ExecContext(ctx, `DELETE FROM creator_rows_deferred`)
	}
	if err != nil {
		return fmt.Errorf("take deferred creator rows: %w", err)
	}
	return nil
}

// The encoding of a batch's deferred rows, which aggregation writes and
// reads back when it adds them to the creators' tables, and which the
// creators' reads merge meanwhile (deferred_overlay.go): a version byte,
// then four sections (DeferredHours, DeferredDays, DeferredDims,
// DeferredMonths), each a count and its rows in (creator, period) order.
// A counters row is its key — the creator (uvarint length, bytes), the
// period (zig-zag varint) — and a zig-zag varint per Measure, in order; an
// audience row its key and its packed counts (uvarint length, bytes).
const deferredVersion = 1

// The sections of the deferred rows' encoding.
const (
	DeferredHours = iota
	DeferredDays
	DeferredDims   // the audience by day, packed (AppendAudience)
	DeferredMonths // the audience by month, packed
	numDeferredSections
)

var errDeferred = errors.New("malformed deferred creator rows")

// DeferredRow is a row of the deferred rows' encoding.
type DeferredRow struct {
	Section int
	ID      []byte // the creator; the encoding's bytes
	Period  int64
	M       [NumMeasures]int64 // a counters row's (hours, days)
	Packed  []byte             // an audience row's (dims, months); the encoding's bytes
}

// AppendDeferredStart begins an encoding of deferred rows in b.
func AppendDeferredStart(b []byte) []byte { return append(b, deferredVersion) }

// AppendDeferredCount appends the count of the next section's rows: each
// section, in order, is its count and then its rows.
func AppendDeferredCount(b []byte, n int) []byte { return binary.AppendUvarint(b, uint64(n)) }

// AppendDeferredCounters appends a row of the hours or the days.
func AppendDeferredCounters(b []byte, id string, period int64, m *[NumMeasures]int64) []byte {
	b = appendDeferredKey(b, id, period)
	for _, v := range m {
		b = binary.AppendVarint(b, v)
	}
	return b
}

// AppendDeferredAudience appends a row of the audience by day or month.
func AppendDeferredAudience(b []byte, id string, period int64, packed []byte) []byte {
	b = appendDeferredKey(b, id, period)
	b = binary.AppendUvarint(b, uint64(len(packed)))
	return append(b, packed...)
}

func appendDeferredKey(b []byte, id string, period int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	return binary.AppendVarint(b, period)
}

// decodeDeferred calls fn with each row of b, an encoding of deferred
// rows, section by section; r is reused between calls. It fails on a
// malformed encoding, possibly after some calls.
func decodeDeferred(b []byte, fn func(r *DeferredRow)) error {
	return walkDeferred(b, func(r *DeferredRow, _, _ int) { fn(r) })
}

// walkDeferred is decodeDeferred, and gives each row's offsets in b too.
func walkDeferred(b []byte, fn func(r *DeferredRow, start, end int)) error {
	if len(b) == 0 || b[0] != deferredVersion {
		return errDeferred
	}
	d := deferredDecoder{b: b[1:]}
	var r DeferredRow
	for s := range numDeferredSections {
		r.Section = s
		for range d.count() {
			start := len(b) - len(d.b)
			d.row(&r)
			if d.bad {
				return errDeferred
			}
			fn(&r, start, len(b)-len(d.b))
		}
	}
	if d.bad || len(d.b) > 0 {
		return errDeferred
	}
	return nil
}

// deferredDecoder reads deferred rows; bad is set at the first malformed
// value, after which it reads zeros.
type deferredDecoder struct {
	b   []byte
	bad bool
}

// row reads a row of r.Section into r.
func (d *deferredDecoder) row(r *DeferredRow) {
	r.ID = d.bytes()
	r.Period = d.varint()
	if r.Section == DeferredHours || r.Section == DeferredDays {
		for i := range r.M {
			r.M[i] = d.varint()
		}
		r.Packed = nil
		return
	}
	r.M = [NumMeasures]int64{}
	r.Packed = d.bytes()
}

func (d *deferredDecoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }

func (d *deferredDecoder) varint() int64 { return readVarint(d, binary.Varint) }

// readVarint reads a varint with read (binary.Uvarint or Varint); a
// malformed one makes d bad.
func readVarint[T int64 | uint64](d *deferredDecoder, read func([]byte) (T, int)) T {
	v, n := read(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of rows, each at least two bytes.
func (d *deferredDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b))/2 {
		d.bad, d.b = true, nil
		return 0
	}
	return int(n)
}

func (d *deferredDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// MergeDeferred calls fn with the rows of the encodings bs (each in key
// order, each key once in a section of one encoding), section by section
// in key order, each key once: its counters summed over the encodings
// that hold it, its packed counts merged (MergeAudience). What fn gets is
// valid after it returns (packed counts are bs's bytes, or merged anew),
// but r is reused. The encodings are read as they are merged, a row of
// each at a time, so the merge holds no more than its output.
func MergeDeferred(bs [][]byte, fn func(r *DeferredRow)) error {
	cs := make([]deferredCursor, len(bs))
	for i, b := range bs {
		if len(b) == 0 || b[0] != deferredVersion {
			return errDeferred
		}
		cs[i].d = deferredDecoder{b: b[1:]}
	}
	var out DeferredRow
	for s := range numDeferredSections {
		for i := range cs {
			if err := cs[i].section(s); err != nil {
				return err
			}
		}
		out.Section = s
		for {
			// The smallest key among the cursors' rows (there are a few
			// encodings, at most maxDeferredBatches and one: a scan is
			// enough).
			var least *DeferredRow
			for i := range cs {
				if r := cs[i].row(); r != nil && (least == nil || compareDeferredKeys(r, least) < 0) {
					least = r
				}
			}
			if least == nil {
				break
			}
			out.ID, out.Period, out.M, out.Packed = least.ID, least.Period, [NumMeasures]int64{}, nil
			for i := range cs {
				r := cs[i].row()
				if r == nil || compareDeferredKeys(r, &out) != 0 {
					continue
				}
				for j, v := range r.M {
					out.M[j] += v
				}
				switch {
				case r.Packed == nil:
				case out.Packed == nil:
					out.Packed = r.Packed
				default:
					p, err := MergeAudience(make([]byte, 0, len(out.Packed)+len(r.Packed)), out.Packed, r.Packed)
					if err != nil {
						return err
					}
					out.Packed = p
				}
				if err := cs[i].next(); err != nil {
					return err
				}
			}
			if s >= DeferredDims && out.Packed == nil {
				out.Packed = []byte{}
			}
			fn(&out)
		}
	}
	for i := range cs {
		if len(cs[i].d.b) > 0 {
			return errDeferred
		}
	}
	return nil
}

// deferredCursor reads one encoding's rows, section by section, for
// MergeDeferred.
type deferredCursor struct {
	d    deferredDecoder
	left int // rows of the section after r
	r    DeferredRow
	ok   bool // r holds a row
}

// section starts section s: the cursor is at the end of the one before.
func (c *deferredCursor) section(s int) error {
	c.r.Section, c.left, c.ok = s, c.d.count(), false
	if c.d.bad {
		return errDeferred
	}
	return c.next()
}

// next reads the section's next row, if any.
func (c *deferredCursor) next() error {
	if c.left == 0 {
		c.ok = false
		return nil
	}
	c.left--
	prev, had := c.r, c.ok
	if c.d.row(&c.r); c.d.bad {
		return errDeferred
	}
	if had && compareDeferredKeys(&c.r, &prev) <= 0 {
		return fmt.Errorf("%w: rows out of key order", errDeferred)
	}
	c.ok = true
	return nil
}

func (c *deferredCursor) row() *DeferredRow {
	if !c.ok {
		return nil
	}
	return &c.r
}

func compareDeferredKeys(x, y *DeferredRow) int {
	return cmp.Or(bytes.Compare(x.ID, y.ID), cmp.Compare(x.Period, y.Period))
}
