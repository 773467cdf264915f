package wasmcheck

import (
	"slices"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/capstream/capstream/sdk/abi"
)

// funcType is the type of a function: its parameter and result types.
type funcType struct {
	params, results []api.ValueType
}

var (
	i32 = api.ValueTypeI32
	f64 = api.ValueTypeF64
)

// hostFunctions are the functions of capstream_v1 with their signatures,
// as sdk/ABI.md lists them and host/hostmodule.go declares them (a test
// loads a module importing each of them into a real engine, so the two
// cannot drift apart unnoticed).
var hostFunctions = map[string]funcType{
	abi.FuncInput:      {nil, []api.ValueType{i32}},
	abi.FuncRead:       {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.FuncSetOutput:  {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.FuncSetError:   {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.FuncLog:        {[]api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
	abi.FuncProgress:   {[]api.ValueType{f64, f64, i32, i32}, []api.ValueType{i32}},
	abi.FuncOutput:     {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.FuncHTTP:       {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.FuncKVGet:      {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.FuncKVSet:      {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	abi.FuncKVDelete:   {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.FuncKVList:     {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	abi.FuncCapability: {nil, []api.ValueType{i32}},
}

// The types of the exports sdk/ABI.md defines.
var (
	entryType = funcType{nil, []api.ValueType{i32}} // capstream_run, capstream_manifest
	initType  = funcType{}                          // _initialize
)

func typeOf(def api.FunctionDefinition) funcType {
	return funcType{def.ParamTypes(), def.ResultTypes()}
}

func (t funcType) equal(o funcType) bool {
	return slices.Equal(t.params, o.params) && slices.Equal(t.results, o.results)
}

// String formats t as the host's messages do: "(i32, i32) -> (i32)".
func (t funcType) String() string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, vt := range ts {
			s[i] = api.ValueTypeName(vt)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(t.params) + " -> " + names(t.results)
}

// hostFunctionNames lists capstream_v1's functions, sorted, for messages.
func hostFunctionNames() string {
	names := make([]string, 0, len(hostFunctions))
	for n := range hostFunctions {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
