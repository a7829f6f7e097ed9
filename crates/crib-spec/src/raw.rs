//! The TOML shape of a spec file, as serde reads it. Values that a
//! diagnostic may point at are `Spanned` so the loader can name the line.

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFamily {
    pub family: S<String>,
    #[serde(default)]
    pub doc: Option<S<String>>,
    #[serde(default)]
    pub kernel_types: Vec<S<String>>,
    #[serde(default, rename = "kfunc")]
    pub kfuncs: Vec<RawKfunc>,
    #[serde(default, rename = "struct")]
    pub structs: Vec<RawStruct>,
    #[serde(default, rename = "opaque")]
    pub opaques: Vec<RawOpaque>,
    #[serde(default, rename = "const")]
    pub consts: Vec<RawConst>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKfunc {
    pub name: S<String>,
    pub ret: S<String>,
    #[serde(default)]
    pub args: Vec<S<String>>,
    #[serde(default)]
    pub flags: Vec<S<String>>,
    pub prog_types: S<Vec<S<String>>>,
    pub origin: S<String>,
    pub patch: Option<S<String>>,
    pub upstream_since: Option<S<String>>,
    pub since: Option<S<String>>,
    pub required: Option<bool>,
    pub doc: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStruct {
    pub name: S<String>,
    pub size_member: S<String>,
    pub version_member: Option<S<String>>,
    #[serde(default)]
    pub doc: Option<S<String>>,
    pub fields: S<Vec<RawField>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    pub decl: S<String>,
    pub since: S<i64>,
    #[serde(default)]
    pub doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpaque {
    pub name: S<String>,
    pub words: S<i64>,
    #[serde(default)]
    pub origin: Option<S<String>>,
    #[serde(default)]
    pub doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConst {
    pub name: S<String>,
    pub value: S<i64>,
    #[serde(default)]
    pub doc: String,
}
