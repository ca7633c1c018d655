package graphsim

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"strings"
)

//go:embed scenarios/*.json
var scenarioFS embed.FS

// Scenario is a named set of business accounts and numbers, loadable with Server.Load.
// The embedded ones live in scenarios/*.json; Include names other scenarios whose
// businesses and numbers come first (a business listed twice must be identical, a
// number may appear only once).
type Scenario struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Include     []string   `json:"include,omitempty"`
	Businesses  []Business `json:"businesses"`
	Numbers     []Number   `json:"numbers"`
}

// ScenarioNames lists the embedded scenarios, sorted.
func ScenarioNames() []string {
	entries, err := fs.ReadDir(scenarioFS, "scenarios")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if name, found := strings.CutSuffix(e.Name(), ".json"); found {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// LoadScenario reads an embedded scenario by name and resolves its includes. The
// result is checked the way Server.Load checks it.
func LoadScenario(name string) (*Scenario, error) {
	sc, err := loadScenario(name, nil)
	if err != nil {
		return nil, err
	}
	if err := checkScenario(sc); err != nil {
		return nil, err
	}
	return sc, nil
}

func loadScenario(name string, stack []string) (*Scenario, error) {
	if slices.Contains(stack, name) {
		return nil, fmt.Errorf("graphsim: scenario include cycle: %s -> %s", strings.Join(stack, " -> "), name)
	}
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, fmt.Errorf("graphsim: invalid scenario name %q", name)
	}
	raw, err := scenarioFS.ReadFile(path.Join("scenarios", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("graphsim: unknown scenario %q (have %s)", name, strings.Join(ScenarioNames(), ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var own Scenario
	if err := dec.Decode(&own); err != nil {
		return nil, fmt.Errorf("graphsim: scenario %s: %w", name, err)
	}
	if own.Name != name {
		return nil, fmt.Errorf("graphsim: scenario file %s.json is named %q", name, own.Name)
	}
	merged := &Scenario{Name: own.Name, Description: own.Description}
	for _, inc := range own.Include {
		sub, err := loadScenario(inc, append(stack, name))
		if err != nil {
			return nil, err
		}
		merged.Businesses = append(merged.Businesses, sub.Businesses...)
		merged.Numbers = append(merged.Numbers, sub.Numbers...)
	}
	merged.Businesses = append(merged.Businesses, own.Businesses...)
	merged.Numbers = append(merged.Numbers, own.Numbers...)

	// A business shared by included scenarios appears once.
	byID := map[string]Business{}
	var businesses []Business
	for _, b := range merged.Businesses {
		if prev, seen := byID[b.WABAID]; seen {
			if !reflect.DeepEqual(prev, b) {
				return nil, fmt.Errorf("graphsim: scenario %s: business %s is defined differently by two included scenarios", name, b.WABAID)
			}
			continue
		}
		byID[b.WABAID] = b
		businesses = append(businesses, b)
	}
	merged.Businesses = businesses
	return merged, nil
}

// checkScenario validates a scenario on its own: every number's business is in it.
func checkScenario(sc *Scenario) error {
	wabas := map[string]bool{}
	for _, b := range sc.Businesses {
		if err := validateBusiness(b); err != nil {
			return fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		wabas[b.WABAID] = true
	}
	seen := map[string]bool{}
	for _, n := range sc.Numbers {
		if err := validateNumber(n); err != nil {
			return fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		if seen[n.PhoneNumberID] {
			return fmt.Errorf("scenario %s: phone_number_id %s appears twice", sc.Name, n.PhoneNumberID)
		}
		seen[n.PhoneNumberID] = true
		if !wabas[n.WABAID] {
			return fmt.Errorf("scenario %s: number %s: business %s is not in the scenario", sc.Name, n.PhoneNumberID, n.WABAID)
		}
	}
	return nil
}
