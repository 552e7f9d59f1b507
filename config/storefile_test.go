package config

import (
	"strings"
	"testing"
)

func TestIsStoreFile(t *testing.T) {
	cases := []struct {
		name, data string
		want       bool
	}{
		{"store.fga.yaml", "anything: 1", true},
		{"x.FGA.YML", "", true},
		{"store.yaml", "model: m\ntests: []\n", true},
		{"policy_test.yaml", "policy: p.yaml\ncases: []\n", false},
		{"odd.yaml", "tests: []\ncases: []\n", false},
		{"broken.yaml", ":\n  - [", false},
	}
	for _, c := range cases {
		if got := IsStoreFile(c.name, []byte(c.data)); got != c.want {
			t.Errorf("IsStoreFile(%s) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestReadTupleCSV(t *testing.T) {
	ts, err := readTupleCSV([]byte("object_type,object_id,relation,user_type,user_id,user_relation,condition_name,condition_context\n" +
		"doc,1,viewer,user,anne,,,\n" +
		"doc,1,viewer,team,eng,member,,\n" +
		`doc,2,viewer,user,*,,in_office,"{""ip"":""10.0.0.1""}"` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"doc:1#viewer@user:anne", "doc:1#viewer@team:eng#member", `doc:2#viewer@user:* with in_office {"ip":"10.0.0.1"}`}
	if len(ts) != len(want) {
		t.Fatalf("got %v", ts)
	}
	for i := range want {
		if ts[i].String() != want[i] {
			t.Errorf("tuple %d = %s, want %s", i, ts[i], want[i])
		}
	}
	for _, bad := range []string{
		"user_type,user_id,relation,object_type\n",                             // object_id missing
		"user_type,user_id,relation,object_type,object_id,color\n",             // unknown header
		"user_type,user_id,relation,object_type,object_id,condition_context\n", // context without name
		"user_type,user_id,relation,object_type,object_id,condition_name,condition_context\nuser,a,r,doc,1,c,{bad\n",
	} {
		if _, err := readTupleCSV([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzReadTupleCSV: any input is read or refused without a panic, and what
// is read has the user, relation and object every row must give.
func FuzzReadTupleCSV(f *testing.F) {
	f.Add("user_type,user_id,relation,object_type,object_id\nuser,a,viewer,doc,1\n")
	f.Add("user_type,user_id,user_relation,relation,object_type,object_id,condition_name,condition_context\nteam,x,member,viewer,doc,1,c,\"{}\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := readTupleCSV([]byte(s))
		if err != nil {
			return
		}
		for _, tu := range ts {
			if !strings.Contains(tu.User, ":") || !strings.Contains(tu.Object, ":") {
				t.Fatalf("tuple %+v lacks a type", tu)
			}
		}
	})
}
