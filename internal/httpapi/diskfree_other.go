//go:build !unix

package httpapi

import "errors"

// freeBytes is not implemented on this system; the gauge reads 0.
func freeBytes(string) (uint64, error) { return 0, errors.ErrUnsupported }
