package routing

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ResolveProviders checks the provider names of p's order, only and ignore
// against the providers of the models (a model name may carry its :nitro
// or :floor suffix) and returns p with every name as its slug. Names are
// matched as OpenRouter matches them: slugs and display names ("DeepInfra",
// "Google Vertex"), in any case, and "slug/variant" for one endpoint. A
// name that matches no provider of the models is the caller's error, with
// the nearest name it may have meant.
func (r *Router) ResolveProviders(models []string, p Preferences) (Preferences, error) {
	names := make([]string, len(models))
	for i, m := range models {
		names[i], _ = ModelSuffix(r.Canonical(m))
	}
	out, err := r.resolve(names, p)
	if err != nil {
		return p, err
	}
	return out, nil
}

// Aliases returns the other names models answer to, each with its model.
func (r *Router) Aliases() map[string]string { return maps.Clone(r.opts.Aliases) }

// Canonical is the public model name that name stands for: the model an
// alias of Options.Aliases names, with name's :nitro or :floor suffix;
// else name as it is.
func (r *Router) Canonical(name string) string {
	base, _ := ModelSuffix(name)
	if model, ok := r.opts.Aliases[base]; ok {
		return model + name[len(base):]
	}
	return name
}

// canonicals is Canonical of each of names, in a new slice when any
// changes: the caller's is never written to.
func (r *Router) canonicals(names []string) []string {
	for i, n := range names {
		if c := r.Canonical(n); c != n {
			out := slices.Clone(names)
			out[i] = c
			for j := i + 1; j < len(out); j++ {
				out[j] = r.Canonical(out[j])
			}
			return out
		}
	}
	return names
}

// resolve is ResolveProviders over model names without suffixes. The lists
// it returns are new: the caller's are never written to.
func (r *Router) resolve(models []string, p Preferences) (Preferences, *Error) {
	for _, f := range []struct {
		field string
		list  *[]string
	}{{"order", &p.Order}, {"only", &p.Only}, {"ignore", &p.Ignore}} {
		if len(*f.list) == 0 {
			continue
		}
		out := make([]string, len(*f.list))
		for i, n := range *f.list {
			s, err := r.resolveName(models, n)
			if err != nil {
				err.Param = fmt.Sprintf("provider.%s[%d]", f.field, i)
				err.Message = fmt.Sprintf("%s: %s", err.Param, err.Message)
				return p, err
			}
			out[i] = s
		}
		*f.list = out
	}
	return p, nil
}

// resolveName turns one name of a provider list into "slug" or
// "slug/variant", or says why it names nothing the models have.
func (r *Router) resolveName(models []string, name string) (string, *Error) {
	base, variant, hasVariant := strings.Cut(strings.TrimSpace(name), "/")
	slug, known := r.names[strings.ToLower(strings.TrimSpace(base))]
	var serving []string // the providers of the models, slugs and display names
	served, variantFound := false, false
	for _, m := range models {
		for _, e := range r.byModel[m] {
			if !slices.Contains(serving, e.Provider) {
				serving = append(serving, e.Provider)
				if e.ProviderName != "" && !strings.EqualFold(e.ProviderName, e.Provider) {
					serving = append(serving, e.ProviderName)
				}
			}
			if known && e.Provider == slug {
				served = true
				variantFound = variantFound || strings.EqualFold(e.Variant, variant)
			}
		}
	}
	switch {
	case !served:
		msg := fmt.Sprintf("%q is not a provider of %s", Clip(name, EchoLimit), strings.Join(models, " or "))
		// A name far longer than any provider's resembles none of them,
		// and comparing it would cost its length times theirs.
		if near := Nearest(base, serving); near != "" && len(base) <= EchoLimit {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		return "", badRequest("", "%s (providers: %s)", msg, strings.Join(serving, ", "))
	case hasVariant && !variantFound:
		var have []string
		for _, m := range models {
			for _, e := range r.byModel[m] {
				if e.Provider == slug && e.Variant != "" {
					have = append(have, slug+"/"+e.Variant)
				}
			}
		}
		msg := fmt.Sprintf("%q names no endpoint: %s has no variant %q", Clip(name, EchoLimit), slug, Clip(variant, EchoLimit))
		if len(have) > 0 {
			msg += "; it has " + strings.Join(have, ", ")
		}
		return "", badRequest("", "%s", msg)
	case hasVariant:
		return slug + "/" + strings.ToLower(variant), nil
	}
	return slug, nil
}

// Nearest returns the one name closest to s by edit distance, case aside,
// if it is close enough to be a slip (at most a third of s's length, and 2
// at least) and no other name is as close; else "". It is the "did you
// mean" of the router's errors and the gateway's.
func Nearest(s string, names []string) string {
	best, bestD, tie := "", -1, false
	for _, n := range names {
		switch d := editDistance(strings.ToLower(s), strings.ToLower(n)); {
		case bestD < 0 || d < bestD:
			best, bestD, tie = n, d, false
		case d == bestD && !strings.EqualFold(n, best):
			tie = true
		}
	}
	if bestD < 0 || tie || bestD > max(2, len(s)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
