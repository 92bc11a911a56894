// kstatus reads Kubernetes objects as JSON on stdin (one object, or a List)
// and prints, per object, the status that sigs.k8s.io/cli-utils' kstatus
// computes for it: the library behind Flux's health checks and Helm 4's
// --wait. Output: "<namespace>/<name> <Status> <message>", one line each.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"imapprobe.local/tests/gitops/internal/objects"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	objs, err := objects.Read(os.Stdin)
	if err != nil {
		fail("stdin: %v", err)
	}
	for _, obj := range objs {
		// Through the apimachinery decoder, so integers are int64 as in a client.
		raw, err := json.Marshal(obj)
		if err != nil {
			fail("%v", err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			fail("decoding an object: %v", err)
		}
		res, err := status.Compute(u)
		if err != nil {
			fail("%s/%s: %v", u.GetNamespace(), u.GetName(), err)
		}
		fmt.Printf("%s/%s %s %s\n", u.GetNamespace(), u.GetName(), res.Status, res.Message)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(2)
}
