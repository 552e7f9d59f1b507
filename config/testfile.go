package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// TestFile is a policy unit-test file: a policy and cases with expectations.
type TestFile struct {
	File   string     `yaml:"-"`
	Policy string     `yaml:"policy"` // resolved against the test file's folder
	Config string     `yaml:"config"` // optional server config, for token: cases
	Cases  []TestCase `yaml:"cases"`
}

// TestCase is one request (or one relationship check) and what must happen.
type TestCase struct {
	Name    string            `yaml:"name"`
	Claims  map[string]any    `yaml:"claims"`
	Token   string            `yaml:"token"`
	Request TestRequest       `yaml:"request"`
	Context map[string]string `yaml:"context"`
	Tuples  []string          `yaml:"tuples"`
	Check   *TestCheck        `yaml:"check"`
	Expect  TestExpect        `yaml:"expect"`
	Line    int               `yaml:"-"`
}

// TestRequest is the request a case sends.
type TestRequest struct {
	Method  string            `yaml:"method"`
	Path    string            `yaml:"path"`
	Host    string            `yaml:"host"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	// SourceIP is the client's address; Time (RFC 3339) the request's time,
	// the clock's when empty.
	SourceIP string `yaml:"source_ip"`
	Time     string `yaml:"time"`
}

// TestCheck is a direct relationship check. Context is the request's part
// of the condition context, as JSON values.
type TestCheck struct {
	Object   string         `yaml:"object"`
	Relation string         `yaml:"relation"`
	User     string         `yaml:"user"`
	Context  map[string]any `yaml:"context"`
}

// TestExpect is what a case expects; unset fields are not compared.
type TestExpect struct {
	Allow  *bool  `yaml:"allow"`
	Status int    `yaml:"status"`
	Reason string `yaml:"reason"`
	Rule   string `yaml:"rule"`
}

// LoadTestFile reads and checks a policy test file.
func LoadTestFile(path string) (*TestFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("test file: %w", err)
	}
	errs := &List{File: path}
	tf := &TestFile{File: path}
	lines, ok := decodeStrict(data, tf, errs)
	if !ok || errs.Err() != nil {
		return nil, errs.Err()
	}
	dir := filepath.Dir(path)
	if tf.Policy == "" {
		errs.Add(lines["policy"], "policy: the policy file under test is required")
	} else if !filepath.IsAbs(tf.Policy) {
		tf.Policy = filepath.Join(dir, tf.Policy)
	}
	if tf.Config != "" && !filepath.IsAbs(tf.Config) {
		tf.Config = filepath.Join(dir, tf.Config)
	}
	if len(tf.Cases) == 0 {
		errs.Add(lines["cases"], "cases: at least one case is required")
	}
	for i := range tf.Cases {
		c := &tf.Cases[i]
		c.Line = lines["cases."+strconv.Itoa(i)]
		if c.Name == "" {
			c.Name = fmt.Sprintf("case %d", i+1)
		}
		if c.Expect.Allow == nil && c.Expect.Status == 0 && c.Expect.Reason == "" {
			errs.Add(c.Line, "case %q: expect needs allow, status or reason", c.Name)
		}
		if a := c.Expect.Allow; a != nil && c.Expect.Status != 0 && *a != (c.Expect.Status == 200) {
			errs.Add(c.Line, "case %q: expect allow: %v contradicts status %d", c.Name, *a, c.Expect.Status)
		}
		if c.Check != nil {
			if c.Request.Path != "" || c.Claims != nil || c.Token != "" {
				errs.Add(c.Line, "case %q: a check case has no request, claims or token", c.Name)
			}
			if c.Check.Object == "" || c.Check.Relation == "" || c.Check.User == "" {
				errs.Add(c.Line, "case %q: check needs object, relation and user", c.Name)
			}
			continue
		}
		if c.Request.Path == "" {
			errs.Add(c.Line, "case %q: request.path is required", c.Name)
		}
		if c.Claims != nil && c.Token != "" {
			errs.Add(c.Line, "case %q: give claims or token, not both", c.Name)
		}
		if c.Request.Method == "" {
			c.Request.Method = "GET"
		}
		if c.Request.Time != "" {
			if _, err := time.Parse(time.RFC3339, c.Request.Time); err != nil {
				errs.Add(c.Line, "case %q: request.time: want an RFC 3339 time: %v", c.Name, err)
			}
		}
		if c.Request.SourceIP != "" {
			if _, err := netip.ParseAddr(c.Request.SourceIP); err != nil {
				errs.Add(c.Line, "case %q: request.source_ip: %v", c.Name, err)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return tf, nil
}
