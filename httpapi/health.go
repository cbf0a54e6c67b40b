package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/bbusdev/bbus"
)

// ready serves GET /readyz: 200 once the node has caught up with its chain and
// can answer with current state, 503 (unavailable) while it syncs or cannot
// tell, and, for a Backend that implements Liveness, while its consensus has
// failed or does not commit the transactions that wait. An idle chain with
// nothing waiting is ready. /healthz only says that the process serves.
func (a *api) ready(w http.ResponseWriter, r *http.Request) {
	if l, ok := a.b.(Liveness); ok {
		if err := l.Stalled(); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	st, err := a.b.Status(r.Context())
	switch {
	case err != nil:
		a.fail(w, r, err)
	case st.CatchingUp:
		writeError(w, bbus.Errorf(bbus.EUNAVAILABLE, "catching up with the chain: at height %d", st.Height))
	default:
		writeJSON(w, http.StatusOK, &bbus.Ready{Status: "ready", Height: st.Height, BlockTime: st.BlockTime})
	}
}

//go:embed openapi.yaml
var openAPIYAML []byte

var openAPIJSON = sync.OnceValues(func() ([]byte, error) { return yamlToJSON(openAPIYAML) })

// OpenAPI returns the API's OpenAPI 3 document as JSON: what GET
// /v1/openapi.json serves.
func OpenAPI() []byte {
	b, err := openAPIJSON()
	if err != nil {
		panic("httpapi: openapi.yaml: " + err.Error())
	}
	return b
}

func (a *api) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	w.Write(OpenAPI())
}

// yamlToJSON converts a YAML document to indented JSON, keeping the order of
// mappings.
func yamlToJSON(y []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := nodeJSON(&buf, &doc); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func nodeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		return nodeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return nodeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			buf.Write(k)
			buf.WriteByte(':')
			if err := nodeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := nodeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return err
		}
		if n.Tag == "!!str" {
			v = n.Value
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %v", n.Line, err)
		}
		buf.Write(b)
	default:
		return fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	return nil
}
