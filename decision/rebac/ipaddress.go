package rebac

import (
	"fmt"
	"net/netip"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// IPAddress is the value of a condition parameter of type ipaddress. In
// CEL it has one method, in_cidr(string), and the function ipaddress(string)
// makes one, as in OpenFGA.
type IPAddress struct{ addr netip.Addr }

var ipType = cel.ObjectType("IPAddress", traits.ReceiverType)

// ParseIPAddress parses an IPv4 or IPv6 address. An IPv4-mapped IPv6 address
// is unmapped, so that it falls in IPv4 ranges.
func ParseIPAddress(s string) (IPAddress, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return IPAddress{}, err
	}
	return IPAddress{a.Unmap()}, nil
}

// String returns the address in its usual notation.
func (ip IPAddress) String() string { return ip.addr.String() }

// ConvertToNative implements ref.Val.
func (ip IPAddress) ConvertToNative(t reflect.Type) (any, error) {
	switch {
	case reflect.TypeOf(ip).AssignableTo(t):
		return ip, nil
	case t.Kind() == reflect.String:
		return ip.addr.String(), nil
	}
	return nil, fmt.Errorf("ipaddress cannot be converted to %v", t)
}

// ConvertToType implements ref.Val.
func (ip IPAddress) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(ip.addr.String())
	case types.TypeType:
		return ipType
	}
	return types.NewErr("ipaddress cannot be converted to %s", t)
}

// Equal implements ref.Val.
func (ip IPAddress) Equal(other ref.Val) ref.Val {
	o, ok := other.(IPAddress)
	if !ok {
		return types.NoSuchOverloadErr()
	}
	return types.Bool(ip.addr == o.addr)
}

// Type implements ref.Val.
func (ip IPAddress) Type() ref.Type { return ipType }

// Value implements ref.Val.
func (ip IPAddress) Value() any { return ip }

// ipOptions declares the ipaddress type's functions.
func ipOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function("ipaddress",
			cel.Overload("string_to_ipaddress", []*cel.Type{cel.StringType}, ipType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, ok := v.Value().(string)
					if !ok {
						return types.MaybeNoSuchOverloadErr(v)
					}
					ip, err := ParseIPAddress(s)
					if err != nil {
						return types.NewErr("ipaddress: %v", err)
					}
					return ip
				}))),
		cel.Function("in_cidr",
			cel.MemberOverload("ipaddress_in_cidr", []*cel.Type{ipType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inCIDR))),
	}
}

// inCIDR reports whether an address lies in a CIDR range; an IPv4-mapped
// IPv6 range is compared as its IPv4 range.
func inCIDR(lhs, rhs ref.Val) ref.Val {
	ip, ok := lhs.(IPAddress)
	if !ok {
		return types.NewErr("in_cidr needs an ipaddress")
	}
	s, ok := rhs.Value().(string)
	if !ok {
		return types.NewErr("in_cidr needs a CIDR string")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return types.NewErr("in_cidr: %q is not a CIDR range", s)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return types.Bool(p.Contains(ip.addr))
}
