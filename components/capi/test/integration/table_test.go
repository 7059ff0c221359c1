package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
)

// table returns what `kubectl get <resource> -n ns` shows: the API server's
// Table of the resource, built from the CRD's printer columns, as column
// name -> cell for each row name.
func table(t *testing.T, ctx context.Context, ns, resource string, wide bool) (columns []string, rows map[string]map[string]string) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.GroupVersion = &infrav1.GroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	must(t, err)
	raw, err := rc.Get().Namespace(ns).Resource(resource).SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Raw()
	must(t, err)
	var tbl metav1.Table
	must(t, json.Unmarshal(raw, &tbl))
	rows = map[string]map[string]string{}
	for _, r := range tbl.Rows {
		row := map[string]string{}
		for i, c := range tbl.ColumnDefinitions {
			if c.Priority > 0 && !wide {
				continue
			}
			if i < len(r.Cells) {
				row[c.Name] = fmt.Sprint(r.Cells[i])
			}
		}
		rows[row["Name"]] = row
	}
	for _, c := range tbl.ColumnDefinitions {
		if c.Priority == 0 || wide {
			columns = append(columns, c.Name)
		}
	}
	return columns, rows
}

// checkColumns fails unless columns are want, in order.
func checkColumns(t *testing.T, columns, want []string) {
	t.Helper()
	if !slices.Equal(columns, want) {
		t.Errorf("columns %q, want %q", columns, want)
	}
}
