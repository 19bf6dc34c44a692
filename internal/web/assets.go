package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
)

// An asset is one embedded file, ready to serve.
type asset struct {
	name   string // path under assets/, such as "js/studio.js"
	hashed string // the content-hashed name, such as "js/studio.3f2a9c0d1b7e.js"
	hash   string // hex digest of body; also the ETag
	body   []byte
}

// assetSet holds every asset under its plain and its hashed name.
type assetSet struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

// importSpec finds the relative module specifiers of JavaScript imports
// (`from "./api.js"`, `import "./x.js"`), which are rewritten to hashed
// names so that a cached module never outlives a release.
var importSpec = regexp.MustCompile(`(\bfrom\s*|\bimport\s*)"(\./[A-Za-z0-9_./-]+\.js)"`)

// loadAssets reads every file under dir of fsys. JavaScript modules import
// each other by relative path; those paths are rewritten to the imported
// module's hashed name before the importer is hashed, so a change anywhere
// changes the hash of every module that depends on it.
func loadAssets(fsys fs.FS, dir string) (*assetSet, error) {
	raw := map[string][]byte{}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		raw[strings.TrimPrefix(p, dir+"/")] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read assets: %w", err)
	}
	s := &assetSet{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	visiting := map[string]bool{}
	var load func(name string) (*asset, error)
	load = func(name string) (*asset, error) {
		if a := s.byName[name]; a != nil {
			return a, nil
		}
		body, ok := raw[name]
		if !ok {
			return nil, fmt.Errorf("asset %q not found", name)
		}
		if visiting[name] {
			return nil, fmt.Errorf("import cycle through %q", name)
		}
		visiting[name] = true
		if strings.HasSuffix(name, ".js") {
			var ferr error
			body = importSpec.ReplaceAllFunc(body, func(m []byte) []byte {
				sub := importSpec.FindSubmatch(m)
				dep, err := load(path.Join(path.Dir(name), string(sub[2])))
				if err != nil {
					ferr = fmt.Errorf("%s: %w", name, err)
					return m
				}
				return []byte(string(sub[1]) + `"./` + relTo(path.Dir(name), dep.hashed) + `"`)
			})
			if ferr != nil {
				return nil, ferr
			}
		}
		sum := sha256.Sum256(body)
		a := &asset{name: name, hash: hex.EncodeToString(sum[:])[:16], body: body}
		ext := path.Ext(name)
		a.hashed = strings.TrimSuffix(name, ext) + "." + a.hash + ext
		s.byName[name] = a
		s.byHashed[a.hashed] = a
		return a, nil
	}
	for name := range raw {
		if _, err := load(name); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// relTo returns target (a path under assets/) relative to dir.
func relTo(dir, target string) string {
	if dir == "." {
		return target
	}
	return strings.TrimPrefix(target, dir+"/")
}

// lookup finds an asset by its hashed or plain name.
func (s *assetSet) lookup(name string) (a *asset, hashed bool) {
	if a := s.byHashed[name]; a != nil {
		return a, true
	}
	return s.byName[name], false
}

// url returns the URL of an asset's hashed name; templates call it.
func (s *assetSet) url(name string) (string, error) {
	a := s.byName[name]
	if a == nil {
		return "", fmt.Errorf("no asset %q", name)
	}
	return "/assets/" + a.hashed, nil
}
