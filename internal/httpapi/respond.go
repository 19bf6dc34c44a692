package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/crowd-dev/crowd/internal/platform"
)

// Error codes that only the HTTP layer produces.
const (
	codeMalformed   = "malformed_request"
	codeTooLarge    = "too_large"
	codeUnsupported = "unsupported_media_type"
	codeNotAllowed  = "method_not_allowed"
	codeUnavailable = "unavailable"
	codeTimeout     = "request_timeout"
	// A bulk body's line over MaxBulkLineBytes, or its line MaxBulkLines+1.
	codeLineTooLong  = "line_too_long"
	codeTooManyLines = "too_many_lines"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
	platform.EINVALID:      http.StatusUnprocessableEntity,
	platform.ECONFLICT:     http.StatusConflict,
	platform.ENOTFOUND:     http.StatusNotFound,
	platform.EFORBIDDEN:    http.StatusForbidden,
	platform.EUNAUTHORIZED: http.StatusUnauthorized,
	platform.ERATELIMITED:  http.StatusTooManyRequests,
	platform.EINTERNAL:     http.StatusInternalServerError,
	codeMalformed:          http.StatusBadRequest,
	codeTooLarge:           http.StatusRequestEntityTooLarge,
	codeUnsupported:        http.StatusUnsupportedMediaType,
	codeNotAllowed:         http.StatusMethodNotAllowed,
	codeUnavailable:        http.StatusServiceUnavailable,
	codeTimeout:            http.StatusRequestTimeout,
	codeLineTooLong:        http.StatusRequestEntityTooLarge,
	codeTooManyLines:       http.StatusRequestEntityTooLarge,
	platform.EDISKFULL:     http.StatusServiceUnavailable,
}

// retryAfterOf is the Retry-After header, in seconds, of codes that mean
// "come back later" without the handler choosing its own.
var retryAfterOf = map[string]string{
	platform.EDISKFULL: "10",
}

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		// Line is the 1-based line of a bulk (NDJSON) body the error is
		// about, when it is about one line; absent otherwise.
		Line int `json:"line,omitempty"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	p, err := marshalJSON(v)
	if err != nil {
		writeJSONBytes(w, http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`))
		return
	}
	defer putBuffer(p)
	writeJSONBytes(w, status, *p)
}

// writeJSONBytes answers b, a marshalled JSON value, with its times in
// the API's one precision.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	p := answerBuffers.Get().(*[]byte)
	defer putBuffer(p)
	if out, rewritten := appendNormalizedTimes(*p, b); rewritten {
		b, *p = out, out // its storage kept for the next answer, however grown
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte{'\n'})
}

// answerBuffers hold the bytes answers are marshalled into and their times
// rewritten in. An answer's bytes are written and dropped, so the next
// answer reuses them: a video's report allocated its JSON three times over
// (docs/PERFORMANCE.md, "The hottest report's tail traced again; answers
// in reused buffers").
var answerBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledJSON is the largest buffer kept for reuse: a larger answer (a
// long export) lets its buffer go rather than hold it.
const maxPooledJSON = 1 << 20

// putBuffer gives p back to answerBuffers, unless it grew past
// maxPooledJSON.
func putBuffer(p *[]byte) {
	if cap(*p) <= maxPooledJSON {
		*p = (*p)[:0]
		answerBuffers.Put(p)
	}
}

// marshalJSON marshals v as json.Marshal does (HTML characters escaped)
// into a buffer of answerBuffers. The caller puts it back (putBuffer) once
// its bytes are written.
func marshalJSON(v any) (*[]byte, error) {
	p := answerBuffers.Get().(*[]byte)
	buf := bytes.NewBuffer((*p)[:0])
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		putBuffer(p)
		return nil, err
	}
	*p = bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}) // Encode's newline
	return p, nil
}

func writeCode(w http.ResponseWriter, code, msg string) {
	writeLineCode(w, code, msg, 0)
}

// writeLineCode is writeCode for an error about line (from 1) of a bulk
// body; 0 means none.
func writeLineCode(w http.ResponseWriter, code, msg string, line int) {
	var body ErrorBody
	body.Error.Code, body.Error.Message, body.Error.Line = code, msg, line
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	// Every 401 says how to authenticate (RFC 9110 §11.6.1); authorize
	// adds error="invalid_token" when a token was sent but refused.
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", bearerChallenge)
	}
	if ra, ok := retryAfterOf[code]; ok && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", ra)
	}
	writeJSON(w, status, body)
}

// writeError answers with err. Domain errors show their code and message;
// anything else is logged here, once, and shown as a generic internal error.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := platform.ErrorCode(err)
	if code == platform.EINTERNAL {
		s.log.ErrorContext(r.Context(), "request failed", slog.String(logKeyMethod, r.Method), slog.String(logKeyRoute, routeOf(r.Context())), slog.Any("err", err))
	}
	writeCode(w, code, platform.ErrorMessage(err))
}

// decode reads one JSON object from the request body into v, strictly:
// unknown fields, trailing data, wrong types and oversized bodies are the
// caller's mistakes and are answered with 4xx here. It reports whether the
// handler may go on.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			writeCode(w, codeUnsupported, "Content-Type must be application/json")
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeCode(w, codeTooLarge, fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBodyBytes))
			return false
		}
		writeCode(w, codeMalformed, "could not read request body")
		return false
	}
	if err := decodeJSON(body, v); err != nil {
		writeCode(w, codeMalformed, err.Error())
		return false
	}
	return true
}

// decodeJSON decodes exactly one JSON object from b into v and describes any
// problem in words a client developer can act on.
func decodeJSON(b []byte, v any) error {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return errors.New("request body is empty; expected a JSON object")
	}
	if trimmed[0] != '{' {
		// "null" would decode into a zero struct without complaint.
		return errors.New("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			if te.Field != "" {
				return fmt.Errorf("field %q must be %s", te.Field, jsonKind(te.Type.Kind().String()))
			}
			return errors.New("request body must be a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("malformed JSON: unexpected end of input")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return fmt.Errorf("malformed JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return errors.New("request body must hold exactly one JSON object")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return errors.New("request body must hold exactly one JSON object")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number in range"
	}
	return "of another type"
}
