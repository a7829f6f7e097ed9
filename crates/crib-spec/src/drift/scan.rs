//! Pulling `BTF_ID_FLAGS(func, NAME[, FLAGS])` registrations and
//! `__bpf_kfunc RET NAME(ARGS)` definitions out of kernel C text. This is
//! a scanner, not a C parser: comments are blanked first, and each item is
//! read up to its closing parenthesis.

/// A `BTF_ID_FLAGS(func, ...)` registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    /// Flag tokens in source order (`KF_ACQUIRE`, ...).
    pub flags: Vec<String>,
    pub line: u32,
}

/// A `__bpf_kfunc` definition (or declaration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    /// Return type text, whitespace-normalized (`struct file *`).
    pub ret: String,
    /// Argument texts, whitespace-normalized.
    pub args: Vec<String>,
    pub line: u32,
}

/// Replace comments with spaces, keeping newlines so lines still count.
pub fn blank_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            out.extend(
                text[i..end]
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' }),
            );
            i = end;
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            let end = text[i..].find('\n').map_or(b.len(), |e| i + e);
            out.extend(std::iter::repeat_n(' ', text[i..end].chars().count()));
            i = end;
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn line_of(text: &str, offset: usize) -> u32 {
    u32::try_from(text[..offset].matches('\n').count() + 1).unwrap_or(u32::MAX)
}

fn normalize(s: &str) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    // `struct file * f` and `struct file *f` are the same declaration.
    joined
        .replace("* ", "*")
        .replace('*', " *")
        .replace("  ", " ")
        .trim()
        .to_string()
}

/// The text from `open` (just after a `(`) to its matching `)`.
fn balanced(text: &str, open: usize) -> Option<&str> {
    let mut depth = 1;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[open..open + i]);
                }
            }
            _ => {}
        }
    }
    None
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// True when `text[at..]` starts a whole word (not the tail of another).
fn word_start(text: &str, at: usize) -> bool {
    !text[..at].chars().next_back().is_some_and(is_ident_char)
}

pub fn registrations(text: &str) -> Vec<Registration> {
    let text = blank_comments(text);
    let mut out = Vec::new();
    for (at, m) in text.match_indices("BTF_ID_FLAGS(") {
        if !word_start(&text, at) {
            continue;
        }
        let Some(inner) = balanced(&text, at + m.len()) else {
            continue;
        };
        let mut parts = inner.splitn(3, ',').map(str::trim);
        if parts.next() != Some("func") {
            continue;
        }
        let Some(name) = parts.next().filter(|n| !n.is_empty()) else {
            continue;
        };
        let flags = parts
            .next()
            .map(|f| {
                f.split('|')
                    .map(str::trim)
                    .filter(|f| !f.is_empty() && *f != "0")
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        out.push(Registration {
            name: name.to_string(),
            flags,
            line: line_of(&text, at),
        });
    }
    out
}

pub fn definitions(text: &str) -> Vec<Definition> {
    let text = blank_comments(text);
    let mut out = Vec::new();
    for (at, m) in text.match_indices("__bpf_kfunc") {
        let after = at + m.len();
        if !word_start(&text, at) || text[after..].chars().next().is_some_and(is_ident_char) {
            continue;
        }
        let Some(paren) = text[after..].find('(').map(|p| after + p) else {
            continue;
        };
        let head = &text[after..paren];
        // `#define __bpf_kfunc ...` and stray uses have no plain name here.
        if head.contains(['#', ';', '{', '}', '=']) {
            continue;
        }
        let head = head.trim_end();
        let name_start = head.rfind(|c: char| !is_ident_char(c)).map_or(0, |p| p + 1);
        let name = &head[name_start..];
        if name.is_empty() {
            continue;
        }
        let Some(inner) = balanced(&text, paren + 1) else {
            continue;
        };
        let args: Vec<String> = match normalize(inner).as_str() {
            "" | "void" => Vec::new(),
            _ => inner.split(',').map(normalize).collect(),
        };
        out.push(Definition {
            name: name.to_string(),
            ret: normalize(&head[..name_start]),
            args,
            line: line_of(&text, at),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "\
// SPDX-License-Identifier: GPL-2.0
/* BTF_ID_FLAGS(func, bpf_commented_out) */
__bpf_kfunc struct file *
bpf_crib_file_from_fd(struct task_struct * task,
\t\t      s32 fd)
{
\treturn NULL;
}

__bpf_kfunc void bpf_crib_noargs(void) { }

BTF_KFUNCS_START(crib_file_kfunc_ids)
BTF_ID_FLAGS(func, bpf_crib_file_from_fd, KF_ACQUIRE | KF_RET_NULL |
\t     KF_TRUSTED_ARGS)
BTF_ID_FLAGS(func, bpf_crib_noargs)
BTF_KFUNCS_END(crib_file_kfunc_ids)
";

    #[test]
    fn finds_registrations_with_lines() {
        let r = registrations(SRC);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].name, "bpf_crib_file_from_fd");
        assert_eq!(r[0].flags, ["KF_ACQUIRE", "KF_RET_NULL", "KF_TRUSTED_ARGS"]);
        assert_eq!(r[0].line, 13);
        assert!(r[1].flags.is_empty());
    }

    #[test]
    fn finds_multiline_definitions() {
        let d = definitions(SRC);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].name, "bpf_crib_file_from_fd");
        assert_eq!(d[0].ret, "struct file *");
        assert_eq!(d[0].args, ["struct task_struct *task", "s32 fd"]);
        assert_eq!(d[0].line, 3);
        assert!(d[1].args.is_empty());
    }

    #[test]
    fn ignores_the_macro_definition_itself() {
        let d = definitions("#define __bpf_kfunc __used noinline\n");
        assert!(d.is_empty(), "{d:?}");
    }
}
