//! A parser for the small C declaration subset specs use:
//! `struct task_struct *task`, `u32 buf__sz`, `const void *data`,
//! `__u8 saddr[16]`, `struct file *` (a return type, no name).
//!
//! Grammar (one array dimension, no function pointers):
//! `[const] BASE [const] ('*' [const])* [NAME] ['[' N ']']`
//! where BASE is `void`, `bool`, an integer spelling from [`INT_TYPES`] or
//! `struct TAG`. A `const` qualifies what it follows, as in C; a `const` on
//! the declared object itself is dropped because it changes nothing for a
//! prototype.

use crate::model::CType;
use std::fmt;

/// Integer spellings and their (size in bytes, signedness). `char` is
/// signed on x86_64 and the BPF target alike.
pub const INT_TYPES: &[(&str, u8, bool)] = &[
    ("u8", 1, false),
    ("u16", 2, false),
    ("u32", 4, false),
    ("u64", 8, false),
    ("s8", 1, true),
    ("s16", 2, true),
    ("s32", 4, true),
    ("s64", 8, true),
    ("__u8", 1, false),
    ("__u16", 2, false),
    ("__u32", 4, false),
    ("__u64", 8, false),
    ("__s8", 1, true),
    ("__s16", 2, true),
    ("__s32", 4, true),
    ("__s64", 8, true),
    ("int", 4, true),
    ("unsigned int", 4, false),
    ("long", 8, true),
    ("unsigned long", 8, false),
    ("char", 1, true),
];

/// C keywords that cannot name a declaration.
const KEYWORDS: &[&str] = &[
    "const", "struct", "unsigned", "signed", "void", "bool", "_Bool", "int", "long", "char",
    "short", "union", "enum", "volatile", "restrict", "static", "extern",
];

/// Why a declaration did not parse; the loader adds `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} in `{text}`")]
pub struct DeclError {
    pub text: String,
    pub message: String,
}

/// A parsed declaration: its type and the declared name, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl {
    pub ty: CType,
    pub name: Option<String>,
}

impl fmt::Display for Decl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ty.c_decl(self.name.as_deref().unwrap_or("")))
    }
}

/// Build the [`CType`] for an integer spelling, if it is one we support.
pub fn int_type(name: &str) -> Option<CType> {
    INT_TYPES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(n, bytes, signed)| CType::Int {
            name: n.to_string(),
            bytes,
            signed,
        })
}

/// Parse a declaration with an optional name.
pub fn parse_decl(text: &str) -> Result<Decl, DeclError> {
    Parser::new(text)?.decl()
}

/// Parse a declaration that must carry a name (an argument or a field).
pub fn parse_named(text: &str) -> Result<(CType, String), DeclError> {
    let d = parse_decl(text)?;
    match d.name {
        Some(n) => Ok((d.ty, n)),
        None => Err(err(text, "missing a name")),
    }
}

/// Parse a bare type (a return type): a name is an error.
pub fn parse_type(text: &str) -> Result<CType, DeclError> {
    let d = parse_decl(text)?;
    match d.name {
        None => Ok(d.ty),
        Some(n) => Err(err(text, &format!("unexpected name `{n}` in a type"))),
    }
}

fn err(text: &str, message: &str) -> DeclError {
    DeclError {
        text: text.to_string(),
        message: message.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Num(u64),
    Star,
    LBracket,
    RBracket,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, DeclError> {
    let mut toks = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '*' {
            toks.push(Tok::Star);
            chars.next();
        } else if c == '[' {
            toks.push(Tok::LBracket);
            chars.next();
        } else if c == ']' {
            toks.push(Tok::RBracket);
            chars.next();
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut end = i;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            toks.push(Tok::Ident(text[i..end].to_string()));
        } else if c.is_ascii_digit() {
            let mut end = i;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() {
                    end = j + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            let lit = &text[i..end];
            let n = lit
                .parse::<u64>()
                .map_err(|_| err(text, &format!("bad array length `{lit}`")))?;
            toks.push(Tok::Num(n));
        } else {
            return Err(err(text, &format!("unexpected character `{c}`")));
        }
    }
    Ok(toks)
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Tok>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Self, DeclError> {
        Ok(Parser {
            text,
            toks: tokenize(text)?,
            pos: 0,
        })
    }

    fn err(&self, message: &str) -> DeclError {
        err(self.text, message)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_ident(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Ident(s)) => Some(s),
            _ => None,
        }
    }

    fn eat_ident(&mut self, word: &str) -> bool {
        if self.peek_ident() == Some(word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn decl(&mut self) -> Result<Decl, DeclError> {
        if self.toks.is_empty() {
            return Err(self.err("empty declaration"));
        }
        let mut is_const = self.eat_ident("const");
        let base = self.base()?;
        if self.eat_ident("const") {
            if is_const {
                return Err(self.err("duplicate `const`"));
            }
            is_const = true;
        }
        let mut ty = base;
        while self.peek() == Some(&Tok::Star) {
            self.pos += 1;
            ty = CType::Ptr {
                is_const,
                pointee: Box::new(ty),
            };
            is_const = self.eat_ident("const");
        }
        if is_const && !ty.is_pointer() {
            return Err(self.err("`const` is only supported on what a pointer points to"));
        }
        let name = match self.peek_ident() {
            Some(n) if KEYWORDS.contains(&n) => {
                return Err(self.err(&format!("keyword `{n}` cannot be a name")))
            }
            Some(n) => {
                let n = n.to_string();
                self.pos += 1;
                Some(n)
            }
            None => None,
        };
        if self.peek() == Some(&Tok::LBracket) {
            ty = self.array(ty)?;
        }
        if let Some(t) = self.peek() {
            return Err(self.err(&format!("unexpected {} after the declaration", describe(t))));
        }
        if matches!(ty, CType::Void) && name.is_some() {
            return Err(self.err("`void` can only be a return type or a pointee"));
        }
        Ok(Decl { ty, name })
    }

    fn array(&mut self, elem: CType) -> Result<CType, DeclError> {
        self.pos += 1; // `[`
        let len = match self.peek() {
            Some(Tok::Num(n)) => *n,
            _ => return Err(self.err("array length must be a decimal number")),
        };
        self.pos += 1;
        if self.peek() != Some(&Tok::RBracket) {
            return Err(self.err("missing `]`"));
        }
        self.pos += 1;
        if self.peek() == Some(&Tok::LBracket) {
            return Err(self.err("only one array dimension is supported"));
        }
        if len == 0 {
            return Err(self.err("zero-length arrays are not supported"));
        }
        let len = u32::try_from(len).map_err(|_| self.err("array length too large"))?;
        match elem {
            CType::Void => Err(self.err("array of `void`")),
            CType::Struct { .. } => Err(self.err("arrays of structs are not supported")),
            elem => Ok(CType::Array {
                elem: Box::new(elem),
                len,
            }),
        }
    }

    fn base(&mut self) -> Result<CType, DeclError> {
        let word = match self.peek_ident() {
            Some(w) => w.to_string(),
            None => return Err(self.err("expected a type")),
        };
        self.pos += 1;
        match word.as_str() {
            "void" => Ok(CType::Void),
            "bool" | "_Bool" => Ok(CType::Bool),
            "struct" => {
                let tag = match self.peek_ident() {
                    Some(t) if !KEYWORDS.contains(&t) => t.to_string(),
                    _ => return Err(self.err("`struct` needs a tag name")),
                };
                self.pos += 1;
                Ok(CType::Struct { name: tag })
            }
            "unsigned" => {
                let spelled = if self.eat_ident("int") {
                    "unsigned int"
                } else if self.eat_ident("long") {
                    "unsigned long"
                } else {
                    return Err(self.err("only `unsigned int` and `unsigned long` are supported"));
                };
                int_type(spelled).ok_or_else(|| self.err("unsupported type"))
            }
            other => int_type(other).ok_or_else(|| {
                self.err(&format!(
                    "unknown type `{other}` (supported: void, bool, u8..u64, s8..s64, \
                     __u8..__u64, __s8..__s64, int, unsigned int, long, unsigned long, char, \
                     struct NAME)"
                ))
            }),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Num(n) => format!("`{n}`"),
        Tok::Star => "`*`".to_string(),
        Tok::LBracket => "`[`".to_string(),
        Tok::RBracket => "`]`".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Decl {
        match parse_decl(text) {
            Ok(d) => d,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn parses_the_seed_shapes() {
        let d = ok("struct task_struct *task");
        assert_eq!(d.name.as_deref(), Some("task"));
        assert_eq!(d.ty.pointee_struct(), Some("task_struct"));
        let d = ok("const struct bpf_crib_skb_info *info");
        assert!(matches!(d.ty, CType::Ptr { is_const: true, .. }));
        let d = ok("__u8 saddr[16]");
        assert_eq!(d.ty.size(), Some(16));
        assert_eq!(ok("unsigned long x").ty.size(), Some(8));
        assert_eq!(
            parse_type("struct file *").map(|t| t.is_pointer()),
            Ok(true)
        );
        assert_eq!(parse_type("void"), Ok(CType::Void));
    }

    #[test]
    fn const_placement_follows_c() {
        // `u8 * const *p`: pointer to a const pointer to u8.
        let d = ok("u8 * const *p");
        let CType::Ptr { is_const, pointee } = d.ty else {
            panic!("not a pointer")
        };
        assert!(is_const);
        assert!(matches!(
            *pointee,
            CType::Ptr {
                is_const: false,
                ..
            }
        ));
        assert_eq!(ok("u8 const *p").ty, ok("const u8 *p").ty);
        // A const on the object itself is dropped.
        assert_eq!(ok("u8 *const p").ty, ok("u8 *p").ty);
    }

    #[test]
    fn rejects_bad_declarations() {
        for (text, want) in [
            ("", "empty"),
            ("u33 x", "unknown type `u33`"),
            ("struct *p", "tag name"),
            ("u8 x[2][3]", "one array dimension"),
            ("u8 x[0]", "zero-length"),
            ("u8 x y", "unexpected `y`"),
            ("const u32 x", "only supported on what a pointer"),
            ("void x", "`void` can only"),
            ("u8 x[", "decimal number"),
            ("u8 x[4", "missing `]`"),
            ("u8 (*f)(void)", "unexpected character `(`"),
            ("unsigned char c", "only `unsigned int`"),
            ("int int", "keyword"),
        ] {
            match parse_decl(text) {
                Ok(d) => panic!("{text:?} parsed as {d:?}"),
                Err(e) => assert!(e.to_string().contains(want), "{text:?}: {e}"),
            }
        }
        assert!(parse_type("u32 x").is_err());
        assert!(parse_named("u32").is_err());
    }
}
