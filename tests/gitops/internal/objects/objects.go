// Package objects reads the Kubernetes objects a judge is given on stdin:
// one object, or a List (`kubectl get -o json` of several).
package objects

import (
	"encoding/json"
	"fmt"
	"io"
)

// Read returns each object of the JSON document in r: the items of a List,
// or the document itself.
func Read(r io.Reader) ([]map[string]interface{}, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	var doc map[string]interface{}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	items, ok := doc["items"].([]interface{})
	if !ok {
		return []map[string]interface{}{doc}, nil
	}
	out := make([]map[string]interface{}, 0, len(items))
	for _, item := range items {
		if m, ok := item.(map[string]interface{}); ok {
			out = append(out, m)
		}
	}
	return out, nil
}
