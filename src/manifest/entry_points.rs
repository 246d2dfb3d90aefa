//! `[entry_points.NAME]`: commands, parameters and their defaults, type-checked, and every
//! `{name}` in a command checked to be a parameter.

use std::collections::BTreeMap;

use super::ctx::Ctx;
use super::model::{EntryPoint, ParamType, Parameter};
use super::raw;
use crate::error::{Error, Result};
use crate::support::diagnostic::suggestion;

pub(super) fn resolve_entry_point(
    raw: raw::RawEntryPoint,
    key: &str,
    ctx: &Ctx<'_>,
) -> Result<EntryPoint> {
    let command = raw.command.get_ref().clone();
    if command.trim().is_empty() {
        return Err(Error::diagnostic(
            ctx.at(raw.command.span(), "empty command")
                .key(format!("{key}.command"))
                .help(
                    "set the shell command MLflow runs, e.g. \"python train.py --alpha {alpha}\"",
                ),
        ));
    }
    let mut parameters = BTreeMap::new();
    for (name, param) in raw.parameters {
        let pkey = format!("{key}.parameters.{name}");
        if !is_identifier(&name) {
            return Err(Error::diagnostic(
                ctx.at(param.span(), format!("invalid parameter name `{name}`"))
                    .key(pkey)
                    .help("use letters, digits and `_`, starting with a letter or `_`"),
            ));
        }
        let param = param.into_inner();
        let ty = param.ty.unwrap_or_default();
        let default = match &param.default {
            Some(value) => Some(default_as_string(ty, value.get_ref()).map_err(|expected| {
                Error::diagnostic(
                    ctx.at(
                        value.span(),
                        format!(
                            "default of `{name}` is {}, but its type is `{ty}`",
                            describe_value(value.get_ref())
                        ),
                    )
                    .key(format!("{pkey}.default"))
                    .help(format!("write {expected}, or change `type`")),
                )
            })?),
            None => None,
        };
        parameters.insert(name, Parameter { ty, default });
    }
    // MLflow fills `{name}` in the command from the parameters and fails at run time on a
    // name it does not know; catch that here, before anything is built or uploaded.
    for (offset, used) in command_placeholders(&command) {
        if !parameters.contains_key(used) {
            let range = ctx.inside(raw.command.span(), &command, offset, used.len() + 2);
            return Err(Error::diagnostic(
                ctx.at(
                    range,
                    format!("the command uses `{{{used}}}`, which is not a parameter"),
                )
                .key(format!("{key}.command"))
                .help(if parameters.is_empty() {
                    format!("declare it: `parameters.{used} = {{ type = \"string\" }}`")
                } else {
                    format!(
                        "{}; or declare it under `parameters`",
                        suggestion("parameters", used, parameters.keys().map(String::as_str))
                    )
                }),
            ));
        }
    }
    Ok(EntryPoint {
        command,
        parameters,
    })
}

/// `{name}` references in an MLflow command, as (byte offset, name). `{{` is a literal brace.
fn command_placeholders(command: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let bytes = command.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            if bytes.get(i + 1) == Some(&b'{') {
                i += 2;
                continue;
            }
            if let Some(len) = command[i + 1..].find('}') {
                let name = &command[i + 1..i + 1 + len];
                if is_identifier(name) {
                    out.push((i, name));
                }
                i += len + 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn default_as_string(
    ty: ParamType,
    value: &toml::Value,
) -> std::result::Result<String, &'static str> {
    use toml::Value;
    match (ty, value) {
        (ParamType::Float, Value::Float(f)) if f.is_finite() => Ok(format_float(*f)),
        (ParamType::Float, Value::Integer(i)) => Ok(i.to_string()),
        (ParamType::Float, _) => Err("a number such as 0.5"),
        (ParamType::Int, Value::Integer(i)) => Ok(i.to_string()),
        (ParamType::Int, _) => Err("a whole number such as 10"),
        (ParamType::String | ParamType::Path | ParamType::Uri, Value::String(s)) => Ok(s.clone()),
        (ParamType::String, Value::Integer(i)) => Ok(i.to_string()),
        (ParamType::String, Value::Float(f)) => Ok(format_float(*f)),
        (ParamType::String, Value::Boolean(b)) => Ok(b.to_string()),
        (ParamType::String, _) => Err("a string, number or boolean"),
        (ParamType::Path | ParamType::Uri, _) => Err("a string"),
    }
}

fn format_float(f: f64) -> String {
    // Debug formatting keeps a decimal point on whole numbers (1.0, not 1) so the value stays
    // a float when MLflow reads it back.
    format!("{f:?}")
}

pub(super) fn describe_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("the string {s:?}"),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the number {f}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "an array".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
