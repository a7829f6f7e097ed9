//! The C declaration parser: Display → parse round-trips for random types.

use crib_spec::cdecl::{parse_decl, INT_TYPES};
use crib_spec::CType;
use proptest::prelude::*;

fn int() -> impl Strategy<Value = CType> {
    proptest::sample::select(INT_TYPES).prop_map(|(name, bytes, signed)| CType::Int {
        name: name.to_string(),
        bytes,
        signed,
    })
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,12}".prop_filter("not a keyword", |s| {
        !matches!(
            s.as_str(),
            "const"
                | "struct"
                | "unsigned"
                | "signed"
                | "void"
                | "bool"
                | "int"
                | "long"
                | "char"
                | "short"
                | "union"
                | "enum"
                | "volatile"
                | "restrict"
                | "static"
                | "extern"
        ) && crib_spec::cdecl::int_type(s).is_none()
    })
}

/// Types that can appear as a pointee or a plain declaration.
fn scalar() -> impl Strategy<Value = CType> {
    prop_oneof![
        int(),
        Just(CType::Bool),
        ident().prop_map(|name| CType::Struct { name })
    ]
}

/// Any non-array type, pointers nested up to 3 deep (void only as pointee).
fn non_array() -> impl Strategy<Value = CType> {
    let leaf = prop_oneof![scalar(), Just(CType::Void)];
    leaf.prop_recursive(3, 8, 1, |inner| {
        (any::<bool>(), inner).prop_map(|(is_const, pointee)| CType::Ptr {
            is_const,
            pointee: Box::new(pointee),
        })
    })
    .prop_filter("void needs a pointer", |t| *t != CType::Void)
}

fn any_type() -> impl Strategy<Value = CType> {
    let arr_elem = non_array().prop_filter("no arrays of structs", |t| {
        !matches!(t, CType::Struct { .. })
    });
    prop_oneof![
        3 => non_array(),
        1 => (arr_elem, 1u32..100_000).prop_map(|(elem, len)| CType::Array { elem: Box::new(elem), len }),
    ]
}

proptest! {
    #[test]
    fn named_declarations_round_trip(ty in any_type(), name in ident()) {
        let text = ty.c_decl(&name);
        let d = parse_decl(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&d.ty, &ty, "text: {}", text);
        prop_assert_eq!(d.name.as_deref(), Some(name.as_str()));
        // And the decl renders back to the same text.
        prop_assert_eq!(d.to_string(), text);
    }

    #[test]
    fn bare_types_round_trip(ty in any_type()) {
        let text = ty.to_string();
        let d = parse_decl(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&d.ty, &ty, "text: {}", text);
        prop_assert_eq!(d.name, None);
    }

    #[test]
    fn extra_whitespace_does_not_matter(ty in any_type(), name in ident()) {
        let text = ty.c_decl(&name);
        let spaced = text.replace('*', " * ").replace('[', " [ ").replace(']', " ] ");
        let d = parse_decl(&format!("  {spaced}\t")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(d.ty, ty);
    }

    #[test]
    fn garbage_never_panics(text in "[ -~]{0,40}") {
        let _ = parse_decl(&text);
    }
}
