// argocdhealth runs an Argo CD resource health check written in Lua the
// way Argo CD runs one from argocd-cm: gopher-lua, only the base, package
// and table libraries (custom checks do not get the standard library unless
// useOpenLibs is set), the object as the global `obj`, a one-second limit,
// and a returned table whose status must be one Argo CD knows.
//
//	argocdhealth SCRIPT.lua < object.json   (one object, or a List)
//
// Output: "<namespace>/<name> <Status> <message>", one line per object.
package main

import (
	"context"
	"fmt"
	"os"

	"imapprobe.local/tests/gitops/internal/objects"
	"time"

	lua "github.com/yuin/gopher-lua"
)

var known = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true,
	"Suspended": true, "Missing": true, "Unknown": true,
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: argocdhealth SCRIPT.lua < object.json")
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	objs, err := objects.Read(os.Stdin)
	if err != nil {
		fail("stdin: %v", err)
	}
	for _, obj := range objs {
		status, message, err := health(string(script), obj)
		meta, _ := obj["metadata"].(map[string]interface{})
		if err != nil {
			fail("%v/%v: %v", meta["namespace"], meta["name"], err)
		}
		fmt.Printf("%v/%v %s %s\n", meta["namespace"], meta["name"], status, message)
	}
}

func health(script string, obj map[string]interface{}) (string, string, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true},
			lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return "", "", err
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", L.Get(-1).Type())
	}
	status := lua.LVAsString(ret.RawGetString("status"))
	message := lua.LVAsString(ret.RawGetString("message"))
	if !known[status] {
		// What Argo CD shows for a status it does not know.
		return "Unknown", "Lua returned an invalid health status", nil
	}
	return status, message, nil
}

// JSON numbers become Lua numbers, as Argo CD decodes them.
func toLua(L *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []interface{}:
		t := L.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]interface{}:
		t := L.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(L, item))
		}
		return t
	}
	return lua.LNil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "argocdhealth: "+format+"\n", args...)
	os.Exit(2)
}
