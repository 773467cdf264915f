package sdk

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

type (
	schemaScalars struct {
		S   string  `json:"s"`
		B   bool    `json:"b"`
		I   int     `json:"i"`
		I8  int8    `json:"i8"`
		U   uint    `json:"u"`
		U16 uint16  `json:"u16"`
		F   float64 `json:"f"`
	}
	schemaOptional struct {
		Req   string  `json:"req"`
		Empty string  `json:"empty,omitempty"`
		Zero  int     `json:"zero,omitzero"`
		Ptr   *int    `json:"ptr"`
		OptP  *string `json:"optP,omitempty"`
		Skip  string  `json:"-"`
		Dash  string  `json:"-,"`
		NoTag string
		priv  string
	}
	schemaInner struct {
		X int `json:"x"`
	}
	schemaNested struct {
		Inner  schemaInner            `json:"inner"`
		PInner *schemaInner           `json:"pInner,omitempty"`
		List   []schemaInner          `json:"list"`
		Tags   []string               `json:"tags,omitempty"`
		Grid   [2][2]int              `json:"grid"`
		ByName map[string]schemaInner `json:"byName"`
		ByID   map[int]bool           `json:"byId"`
		Blob   []byte                 `json:"blob"`
		When   time.Time              `json:"when"`
		Raw    json.RawMessage        `json:"raw"`
		Any    any                    `json:"any"`
		Dur    time.Duration          `json:"dur"`
	}
	SchemaEmbedded struct {
		A string `json:"a"`
		B string `json:"b"`
	}
	schemaEmbedding struct {
		SchemaEmbedded
		B     int            `json:"b"` // shadows the embedded B
		Named SchemaEmbedded `json:"named"`
	}
	schemaTagged struct {
		Op    string   `json:"op" jsonschema:"title=Operation,description=What to do, in one word,enum=add|list|clear,default=list"`
		N     int      `json:"n" jsonschema:"minimum=1,maximum=1000,enum=1|10|100"`
		F     float64  `json:"f" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1.5"`
		Name  string   `json:"name" jsonschema:"minLength=1,maxLength=64,pattern=^[a-z]{1,3}$,format=hostname"`
		Kinds []string `json:"kinds" jsonschema:"description=Kinds,enum=a|b,minItems=1,maxItems=2"`
		On    bool     `json:"on" jsonschema:"default=true"`
		Quote int      `json:"quote,string"`
	}
	schemaNode struct {
		Value    int          `json:"value"`
		Children []schemaNode `json:"children,omitempty"`
	}
	schemaTree struct {
		Root  schemaNode  `json:"root"`
		Other *schemaNode `json:"other,omitempty"`
	}
	schemaText struct {
		Level Level      `json:"level"` // no text methods: an integer
		Aud   Audience   `json:"aud"`   // UnmarshalJSON: any value
		IP    textIP     `json:"ip"`
		Opt   *time.Time `json:"opt,omitempty"`
	}
	textIP [4]byte
)

func (textIP) MarshalText() ([]byte, error) { return nil, nil }

func TestSchema(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
		want string
	}{
		{"empty struct", reflect.TypeFor[struct{}](),
			`{"type":"object","properties":{},"additionalProperties":false}`},
		{"scalars", reflect.TypeFor[schemaScalars](),
			`{"type":"object","properties":{"s":{"type":"string"},"b":{"type":"boolean"},"i":{"type":"integer"},` +
				`"i8":{"type":"integer","minimum":-128,"maximum":127},"u":{"type":"integer","minimum":0},` +
				`"u16":{"type":"integer","minimum":0,"maximum":65535},"f":{"type":"number"}},` +
				`"required":["s","b","i","i8","u","u16","f"],"additionalProperties":false}`},
		{"optional fields and names", reflect.TypeFor[schemaOptional](),
			`{"type":"object","properties":{"req":{"type":"string"},"empty":{"type":"string"},"zero":{"type":"integer"},` +
				`"ptr":{"type":"integer"},"optP":{"type":"string"},"-":{"type":"string"},"NoTag":{"type":"string"}},` +
				`"required":["req","ptr","-","NoTag"],"additionalProperties":false}`},
		{"nested", reflect.TypeFor[schemaNested](),
			`{"type":"object","properties":{` +
				`"inner":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false},` +
				`"pInner":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false},` +
				`"list":{"type":"array","items":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}},` +
				`"tags":{"type":"array","items":{"type":"string"}},` +
				`"grid":{"type":"array","items":{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":2},"minItems":2,"maxItems":2},` +
				`"byName":{"type":"object","additionalProperties":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}},` +
				`"byId":{"type":"object","additionalProperties":{"type":"boolean"}},` +
				`"blob":{"type":"string","contentEncoding":"base64"},` +
				`"when":{"type":"string","format":"date-time"},"raw":{},"any":{},"dur":{"type":"integer"}},` +
				`"required":["inner","list","grid","byName","byId","blob","when","raw","any","dur"],"additionalProperties":false}`},
		{"embedded", reflect.TypeFor[schemaEmbedding](),
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"},` +
				`"named":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a","b"],"additionalProperties":false}},` +
				`"required":["a","b","named"],"additionalProperties":false}`},
		{"tags", reflect.TypeFor[schemaTagged](),
			`{"type":"object","properties":{` +
				`"op":{"type":"string","title":"Operation","description":"What to do, in one word","enum":["add","list","clear"],"default":"list"},` +
				`"n":{"type":"integer","enum":[1,10,100],"minimum":1,"maximum":1000},` +
				`"f":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1.5},` +
				`"name":{"type":"string","format":"hostname","pattern":"^[a-z]{1,3}$","minLength":1,"maxLength":64},` +
				`"kinds":{"type":"array","description":"Kinds","items":{"type":"string","enum":["a","b"]},"minItems":1,"maxItems":2},` +
				`"on":{"type":"boolean","default":true},"quote":{"type":"string"}},` +
				`"required":["op","n","f","name","kinds","on","quote"],"additionalProperties":false}`},
		{"recursive", reflect.TypeFor[schemaTree](),
			`{"type":"object","properties":{"root":{"$ref":"#/$defs/schemaNode"},"other":{"$ref":"#/$defs/schemaNode"}},` +
				`"required":["root"],"additionalProperties":false,"$defs":{"schemaNode":{"type":"object","properties":{` +
				`"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/schemaNode"}}},` +
				`"required":["value"],"additionalProperties":false}}}`},
		{"recursive root", reflect.TypeFor[schemaNode](),
			`{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#"}}},` +
				`"required":["value"],"additionalProperties":false}`},
		{"text and json methods", reflect.TypeFor[schemaText](),
			`{"type":"object","properties":{"level":{"type":"integer","minimum":-2147483648,"maximum":2147483647},"aud":{},"ip":{"type":"string"},` +
				`"opt":{"type":"string","format":"date-time"}},"required":["level","aud","ip"],"additionalProperties":false}`},
		{"map input", reflect.TypeFor[map[string]float64](),
			`{"type":"object","additionalProperties":{"type":"number"}}`},
		{"pointer to struct", reflect.TypeFor[*schemaInner](),
			`{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}`},
		{"non-object", reflect.TypeFor[[]string](),
			`{"type":"array","items":{"type":"string"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := reflectSchema(tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("schema of %v\n got %s\nwant %s", tt.typ, got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("schema is not valid JSON: %s", got)
			}
		})
	}
}

func TestSchemaErrors(t *testing.T) {
	tests := []struct {
		name string
		typ  any // a value of the type
		want string
	}{
		{"channel", struct {
			C chan int `json:"c"`
		}{}, "field c: type chan int has no JSON form"},
		{"func", struct{ F func() }{}, "field F: type func() has no JSON form"},
		{"complex", struct{ C complex128 }{}, "has no JSON form"},
		{"map key", struct{ M map[schemaInner]int }{}, "field M: map key type sdk.schemaInner cannot be a JSON object key"},
		{"unknown key", struct {
			S string `jsonschema:"descripton=x"`
		}{}, `field S: jsonschema tag: unknown key in "descripton=x"`},
		{"unknown key after a known one", struct {
			S string `jsonschema:"description=x,maxLenght=5"`
		}{}, `unknown key in "maxLenght=5"`},
		{"enum not an integer", struct {
			N int `jsonschema:"enum=1|two"`
		}{}, `enum: "two" is not an integer`},
		{"default not a boolean", struct {
			B bool `jsonschema:"default=yes"`
		}{}, `default: "yes" is not true or false`},
		{"minimum on a string", struct {
			S string `jsonschema:"minimum=1"`
		}{}, "minimum applies to numbers, not string"},
		{"maxLength on a number", struct {
			N float64 `jsonschema:"maxLength=1"`
		}{}, "maxLength applies to strings, not number"},
		{"minItems on a string", struct {
			S string `jsonschema:"minItems=1"`
		}{}, "minItems applies to arrays, not string"},
		{"minimum not a number", struct {
			N int `jsonschema:"minimum=abc"`
		}{}, `minimum: "abc" is not a number`},
		{"negative length", struct {
			S string `jsonschema:"minLength=-1"`
		}{}, `minLength: "-1" is not a non-negative integer`},
		{"string option on a struct", struct {
			S schemaInner `json:"s,string"`
		}{}, "the json ,string option applies only to strings, numbers and booleans"},
		{"nested error names the path", struct {
			Inner struct {
				C chan int `json:"c"`
			} `json:"inner"`
		}{}, "field inner: field c: type chan int has no JSON form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reflectSchema(reflect.TypeOf(tt.typ))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestSplitTag(t *testing.T) {
	tests := []struct {
		tag  string
		want [][2]string
	}{
		{"description=a", [][2]string{{"description", "a"}}},
		{"description=a, b, c,enum=x|y", [][2]string{{"description", "a, b, c"}, {"enum", "x|y"}}},
		{"pattern=^a{1,2}$,minLength=1", [][2]string{{"pattern", "^a{1,2}$"}, {"minLength", "1"}}},
		{"description=1+1=2", [][2]string{{"description", "1+1=2"}}},
		{"description=a,b c=d", [][2]string{{"description", "a,b c=d"}}},
		{"description=", [][2]string{{"description", ""}}},
	}
	for _, tt := range tests {
		got, err := splitTag(tt.tag)
		if err != nil {
			t.Errorf("splitTag(%q): %v", tt.tag, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitTag(%q) = %q, want %q", tt.tag, got, tt.want)
		}
	}
}

func TestSchemaExported(t *testing.T) {
	got, err := Schema[schemaInner]()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}`
	if string(got) != want {
		t.Errorf("Schema = %s, want %s", got, want)
	}
	if _, err := Schema[chan int](); err == nil {
		t.Error("Schema[chan int] succeeded")
	}
}
