package config

// Access is the policy's `authzen:` section: the rules that answer AuthZEN
// questions, keyed by resource type and action name, and the data they read
// about subjects and resources.
type Access struct {
	// Subjects maps a subject type and id to what the policy knows of it.
	Subjects map[string]map[string]AccessSubject `yaml:"subjects"`
	// Resources maps a resource type to its rules and known ids.
	Resources map[string]AccessResource `yaml:"resources"`
}

// AccessSubject is the policy's data about one subject: role assignments
// (closed under inheritance like token roles), scopes, an org, and
// properties that conditions read as subject.properties.
type AccessSubject struct {
	Roles      []string       `yaml:"roles"`
	Scopes     []string       `yaml:"scopes"`
	Org        string         `yaml:"org"`
	Properties map[string]any `yaml:"properties"`
}

// AccessResource holds the rules of one resource type.
type AccessResource struct {
	// IDs are the resources of this type that searches enumerate, beside
	// those the relationship tuples name.
	IDs     []string               `yaml:"ids"`
	Actions map[string]Requirement `yaml:"actions"`
}

// Requirement is what an AuthZEN rule requires, in the vocabulary routes
// use. Every key present must hold; AnyOf lists alternatives of which one
// suffices, each itself a Requirement.
type Requirement struct {
	Public bool     `yaml:"public"`
	Roles  []string `yaml:"roles"`
	Scopes []string `yaml:"scopes"`
	// Org names the resource property that holds the resource's org, which
	// must equal the subject's.
	Org string `yaml:"org"`
	// Relation is a relation of the resource's type in the model that the
	// subject must hold on the resource.
	Relation string        `yaml:"relation"`
	When     string        `yaml:"when"`
	AnyOf    []Requirement `yaml:"any_of"`
}
