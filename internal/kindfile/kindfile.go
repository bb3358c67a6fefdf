// Package kindfile reads the kinds file of lro serve --kinds: kinds of
// operation declared without Go, whose operations remote workers run (see
// lro.Declare). Their message types are google.protobuf.Struct (JSON), or
// messages of descriptor sets that Load registers into the global protobuf
// registries, so that protojson, anypb and the HTTP transcoder resolve them
// like generated types.
//
// The file is YAML:
//
//	kinds:
//	  - name: media.transcode             # required, as lro.Kind.Name
//	    request_type: media.v1.TranscodeRequest   # optional full message names,
//	    metadata_type: media.v1.TranscodeProgress # google.protobuf.Struct when
//	    response_type: media.v1.TranscodeResult   # left out
//	    input_schema:                     # optional JSON Schema of the request,
//	      type: object                    # in its protobuf JSON mapping
//	      required: [source]
//	    max_attempts: 3                   # optional, else the server's
//	    lease_ttl: 30s                    # optional, else the server's
//	    retry:                            # optional, as lro.RetryPolicy
//	      initial_delay: 1s               # each field optional: lro's
//	      multiplier: 2                   # defaults
//	      max_delay: 5m
//	      jitter: 0.2                     # or none: no jitter
//	      codes: [DEADLINE_EXCEEDED]      # retried besides UNAVAILABLE;
//	                                      # "retry: none" retries nothing
//	    attempt_timeout: 10m              # optional limit of one attempt
//	    timeout: 1h                       # optional limit of the operation
//
// Every error names the file and the line at fault, so that a server with a
// bad file refuses to start with a message its operator can act on.
package kindfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"

	"lro.dev/lro"
)

// Kind is one entry of a kinds file.
type Kind struct {
	// Name is the kind's name.
	Name string
	// Line is the line of the entry in its file, for errors found later.
	Line int
	// Request, Metadata and Response are the kind's message types; nil
	// means google.protobuf.Struct.
	Request, Metadata, Response protoreflect.MessageType
	// InputSchema is the JSON Schema of requests, nil when none.
	InputSchema *structpb.Struct
	// MaxAttempts is the kind's max_attempts; 0 when left out.
	MaxAttempts int
	// LeaseTTL is the kind's lease_ttl; 0 when left out.
	LeaseTTL time.Duration
	// Retry is the kind's retry policy; nil when left out.
	Retry *lro.RetryPolicy
	// AttemptTimeout and Timeout are the kind's limits; 0 when left out.
	AttemptTimeout, Timeout time.Duration

	file   string
	schema *jsonschema.Schema // InputSchema compiled; nil when none
}

// printer renders the validator's messages.
var printer = message.NewPrinter(language.English)

// fields are the keys a kind's entry may have, in the order errors list them.
var fields = []string{"name", "request_type", "metadata_type", "response_type", "input_schema", "max_attempts", "lease_ttl",
	"retry", "attempt_timeout", "timeout"}

// retryFields are the keys of a kind's retry policy.
var retryFields = []string{"initial_delay", "multiplier", "max_delay", "jitter", "codes"}

// kindName is the pattern of kind names (lro.Register checks the same, but
// without the line).
var kindName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,127}$`)

// Load registers the message types of the descriptor sets (see
// RegisterDescriptorSets) and then reads the kinds file at path, whose
// types may be theirs or any registered message.
func Load(path string, descriptorSets []string) ([]*Kind, error) {
	if err := RegisterDescriptorSets(descriptorSets); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kinds file: %w", err)
	}
	return Parse(path, data, protoregistry.GlobalTypes)
}

// Parse reads a kinds file's contents; file names it in errors. Message
// types are found in types.
func Parse(file string, data []byte, types interface {
	FindMessageByName(protoreflect.FullName) (protoreflect.MessageType, error)
}) ([]*Kind, error) {
	p := &parser{file: file, types: types, budget: nodesMax}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, more yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, p.yamlError(err)
	}
	if err := dec.Decode(&more); err == nil {
		return nil, p.errorf(&more, "a second YAML document: the file must hold one")
	} else if !errors.Is(err, io.EOF) {
		return nil, p.yamlError(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: the file is empty; want a mapping with a list of kinds, such as kinds: [{name: example.resize}]", file)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errorf(root, "want a mapping with a list of kinds, such as kinds: [{name: example.resize}]")
	}
	var list *yaml.Node
	if err := p.mapping(root, func(key, value *yaml.Node) error {
		if key.Value != "kinds" {
			return p.errorf(key, "unknown field %q: the file has only kinds", key.Value)
		}
		list = value
		return nil
	}); err != nil {
		return nil, err
	}
	if list == nil {
		return nil, p.errorf(root, "no kinds: want a list of kinds, such as kinds: [{name: example.resize}]")
	}
	list = resolveAlias(list)
	if list.Kind != yaml.SequenceNode {
		return nil, p.errorf(list, "kinds must be a list of kinds, such as kinds: [{name: example.resize}]")
	}
	if len(list.Content) == 0 {
		return nil, p.errorf(list, "kinds is empty: declare at least one kind")
	}
	lines := make(map[string]int, len(list.Content))
	kinds := make([]*Kind, 0, len(list.Content))
	for _, n := range list.Content {
		k, err := p.kind(resolveAlias(n))
		if err != nil {
			return nil, err
		}
		if line, ok := lines[k.Name]; ok {
			return nil, fmt.Errorf("%s:%d: kind %q is declared twice (first on line %d)", file, k.Line, k.Name, line)
		}
		lines[k.Name] = k.Line
		kinds = append(kinds, k)
	}
	return kinds, nil
}

type parser struct {
	file  string
	types interface {
		FindMessageByName(protoreflect.FullName) (protoreflect.MessageType, error)
	}
	budget int // the schema nodes that may still be read
}

// nodesMax bounds the nodes of all schemas, aliases expanded, so that a
// file whose aliases nest ("billion laughs") is refused, not expanded.
const nodesMax = 100_000

// yamlLine is the form of yaml's syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError is a syntax error as file:line: message, as the others are.
func (p *parser) yamlError(err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: %s", p.file, m[1], m[2])
	}
	return fmt.Errorf("%s: %w", p.file, err)
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.file, n.Line, fmt.Sprintf(format, args...))
}

// mapping calls f on each key and value of the mapping n, refusing keys
// that are not strings or that repeat.
func (p *parser) mapping(n *yaml.Node, f func(key, value *yaml.Node) error) error {
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind != yaml.ScalarNode {
			return p.errorf(key, "a key must be a string")
		}
		if seen[key.Value] {
			return p.errorf(key, "field %q is given twice", key.Value)
		}
		seen[key.Value] = true
		if err := f(key, resolveAlias(value)); err != nil {
			return err
		}
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// kind reads one entry of the list.
func (p *parser) kind(n *yaml.Node) (*Kind, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "a kind must be a mapping with a name, such as {name: example.resize}")
	}
	k := &Kind{Line: n.Line, file: p.file}
	var nameNode, schemaNode *yaml.Node
	err := p.mapping(n, func(key, value *yaml.Node) error {
		switch key.Value {
		case "name":
			nameNode = value
		case "request_type", "metadata_type", "response_type":
			t, err := p.messageType(key.Value, value)
			if err != nil {
				return err
			}
			switch key.Value {
			case "request_type":
				k.Request = t
			case "metadata_type":
				k.Metadata = t
			default:
				k.Response = t
			}
		case "input_schema":
			schemaNode = value
		case "max_attempts":
			v, err := strconv.ParseInt(value.Value, 10, 32)
			if value.Kind != yaml.ScalarNode || err != nil || v < 1 {
				return p.errorf(value, "max_attempts must be a whole number from 1 to %d (leave it out for the server's --max-attempts)", math.MaxInt32)
			}
			k.MaxAttempts = int(v)
		case "lease_ttl":
			d, err := time.ParseDuration(value.Value)
			if value.Kind != yaml.ScalarNode || err != nil {
				return p.errorf(value, "lease_ttl must be a duration such as 30s or 5m")
			}
			if d < lro.LeaseTTLMin {
				return p.errorf(value, "lease_ttl %v is below the minimum %v", d, lro.LeaseTTLMin)
			}
			k.LeaseTTL = d
		case "attempt_timeout", "timeout":
			d, err := p.duration(key.Value, value)
			if err != nil {
				return err
			}
			if key.Value == "timeout" {
				k.Timeout = d
			} else {
				k.AttemptTimeout = d
			}
		case "retry":
			r, err := p.retry(value)
			if err != nil {
				return err
			}
			k.Retry = r
		default:
			return p.errorf(key, "unknown field %q in a kind: want %s", key.Value, strings.Join(fields, ", "))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if nameNode == nil {
		return nil, p.errorf(n, "a kind has no name")
	}
	if nameNode.Kind != yaml.ScalarNode || !kindName.MatchString(nameNode.Value) {
		return nil, p.errorf(nameNode, "invalid kind name %q: it must match %s", nameNode.Value, kindName)
	}
	k.Name = nameNode.Value
	if schemaNode != nil {
		if err := p.inputSchema(k, schemaNode); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// duration reads a positive duration.
func (p *parser) duration(key string, n *yaml.Node) (time.Duration, error) {
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d <= 0 {
		return 0, p.errorf(n, "%s must be a positive duration such as 30s or 5m", key)
	}
	return d, nil
}

// retry reads a kind's retry policy: a mapping of retryFields, or "none".
func (p *parser) retry(n *yaml.Node) (*lro.RetryPolicy, error) {
	if n.Kind == yaml.ScalarNode && n.Value == "none" {
		return lro.NoRetry, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "retry must be a mapping with any of %s, or none", strings.Join(retryFields, ", "))
	}
	r := &lro.RetryPolicy{}
	err := p.mapping(n, func(key, value *yaml.Node) error {
		var err error
		switch key.Value {
		case "initial_delay":
			r.InitialDelay, err = p.duration("initial_delay", value)
		case "max_delay":
			r.MaxDelay, err = p.duration("max_delay", value)
		case "multiplier":
			r.Multiplier, err = strconv.ParseFloat(value.Value, 64)
			if value.Kind != yaml.ScalarNode || err != nil || !(r.Multiplier >= 1 && r.Multiplier <= 100) {
				return p.errorf(value, "multiplier must be a number from 1 to 100")
			}
		case "jitter":
			if value.Kind == yaml.ScalarNode && value.Value == "none" {
				r.Jitter = -1
				return nil
			}
			r.Jitter, err = strconv.ParseFloat(value.Value, 64)
			if value.Kind != yaml.ScalarNode || err != nil || !(r.Jitter > 0 && r.Jitter <= 1) {
				return p.errorf(value, "jitter must be a fraction above 0 and at most 1 (0.2 spreads each delay by ±20%%), or none")
			}
		case "codes":
			return p.codes(r, value)
		default:
			return p.errorf(key, "unknown field %q in retry: want %s", key.Value, strings.Join(retryFields, ", "))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// codes reads the codes a retry policy adds: google.rpc.Code names.
func (p *parser) codes(r *lro.RetryPolicy, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return p.errorf(n, "codes must be a list of google.rpc.Code names, such as [DEADLINE_EXCEEDED, ABORTED]")
	}
	r.Codes = []codes.Code{}
	for _, c := range n.Content {
		v, ok := code.Code_value[c.Value]
		if c.Kind != yaml.ScalarNode || !ok || v == 0 {
			return p.errorf(c, "%q is not the name of a google.rpc.Code of a failure, such as DEADLINE_EXCEEDED", c.Value)
		}
		r.Codes = append(r.Codes, codes.Code(v))
	}
	return nil
}

// messageType finds the message type that the field key names.
func (p *parser) messageType(key string, n *yaml.Node) (protoreflect.MessageType, error) {
	name := protoreflect.FullName(n.Value)
	if n.Kind != yaml.ScalarNode || !name.IsValid() {
		return nil, p.errorf(n, "%s must be a full message name such as example.v1.ResizeRequest", key)
	}
	t, err := p.types.FindMessageByName(name)
	if errors.Is(err, protoregistry.NotFound) {
		return nil, p.errorf(n, "%s %s: no such message in the descriptor sets (--descriptor-set)", key, name)
	}
	if err != nil { // the name of an enum, say
		return nil, p.errorf(n, "%s %s is not a message", key, name)
	}
	return t, nil
}

// inputSchema reads and compiles the kind's input_schema.
func (p *parser) inputSchema(k *Kind, n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return p.errorf(n, "input_schema must be a JSON Schema object, such as {type: object}")
	}
	v, err := p.jsonValue(n)
	if err != nil {
		return err
	}
	// One encoding gives both the Struct that ListKinds shows and the
	// validator's own representation of JSON (json.Number for numbers).
	b, err := json.Marshal(v)
	if err != nil {
		return p.errorf(n, "input_schema is not JSON: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return p.errorf(n, "input_schema is not JSON: %v", err)
	}
	if k.InputSchema, err = structpb.NewStruct(v.(map[string]any)); err != nil {
		return p.errorf(n, "input_schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{}) // a schema is self-contained: no files, no network
	c.AssertFormat()
	url := "urn:lro:kind:" + k.Name
	if err := c.AddResource(url, doc); err != nil {
		return p.errorf(n, "input_schema: %v", err)
	}
	if k.schema, err = c.Compile(url); err != nil {
		return p.schemaError(n, err)
	}
	return nil
}

// schemaError says where in input_schema the compiler found it invalid.
func (p *parser) schemaError(n *yaml.Node, err error) error {
	var se *jsonschema.SchemaValidationError
	var ve *jsonschema.ValidationError
	if errors.As(err, &se) && errors.As(se.Err, &ve) {
		leaf := ve
		for len(leaf.Causes) > 0 {
			leaf = leaf.Causes[0]
		}
		at := locate(n, leaf.InstanceLocation)
		where := "input_schema"
		if len(leaf.InstanceLocation) > 0 {
			where += "/" + strings.Join(leaf.InstanceLocation, "/")
		}
		return p.errorf(at, "invalid %s: %s", where, leaf.ErrorKind.LocalizedString(printer))
	}
	return p.errorf(n, "invalid input_schema: %v", err)
}

// locate is the node at path within n, or the deepest one found.
func locate(n *yaml.Node, path []string) *yaml.Node {
	for _, seg := range path {
		n = resolveAlias(n)
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// jsonValue converts YAML to the values of encoding/json, refusing what
// JSON cannot say (non-finite numbers, binary, keys repeated).
func (p *parser) jsonValue(n *yaml.Node) (any, error) {
	n = resolveAlias(n)
	if p.budget--; p.budget < 0 {
		return nil, p.errorf(n, "input_schema: more than %d values, aliases expanded", nodesMax)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		err := p.mapping(n, func(key, value *yaml.Node) error {
			v, err := p.jsonValue(value)
			m[key.Value] = v
			return err
		})
		return m, err
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := p.jsonValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, p.errorf(n, "input_schema: %v", err)
			}
			return b, nil
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, p.errorf(n, "input_schema: %q is not a JSON number", n.Value)
			}
			return f, nil
		case "!!str", "!!timestamp":
			return n.Value, nil
		}
		return nil, p.errorf(n, "input_schema: %s values are not JSON", n.ShortTag())
	}
	return nil, p.errorf(n, "input_schema: this YAML is not JSON")
}

// noLoader refuses every URL a schema refers to outside itself.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("input_schema may not refer to %s: a kind's schema must be self-contained", url)
}
