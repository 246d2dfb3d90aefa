//! `-P name=value` parameters: parsed and type-checked against the entry point before anything
//! is built or uploaded.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::manifest::{EntryPoint, ParamType};
use crate::support::diagnostic::suggestion;

/// Splits `name=value` arguments (the value may itself contain `=`).
pub fn parse_pairs(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.to_string()))
            }
            _ => Err(Error::usage(format!("`-P {pair}` is not `NAME=VALUE`"))
                .with_help("pass each parameter as `-P name=value`, e.g. `-P alpha=0.5`")),
        })
        .collect()
}

/// Checks `given` against `entry`'s parameters and returns every parameter's value (given, or
/// the default). Unknown names, missing required values and values of the wrong type are
/// errors that name the parameter, its type and the value.
pub fn resolve(
    entry_name: &str,
    entry: &EntryPoint,
    given: &[(String, String)],
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (name, value) in given {
        let Some(spec) = entry.parameters.get(name) else {
            return Err(Error::usage(format!(
                "entry point `{entry_name}` has no parameter `{name}`"
            ))
            .with_help(suggestion(
                "parameters",
                name,
                entry.parameters.keys().map(String::as_str),
            )));
        };
        check_value(spec.ty, value).map_err(|expected| {
            Error::usage(format!(
                "parameter `{name}` of entry point `{entry_name}` is a `{}`, but `{value}` is not {expected}",
                spec.ty
            ))
            .with_help(format!("pass {expected}, e.g. `-P {name}={}`", example(spec.ty)))
        })?;
        if values.insert(name.clone(), value.clone()).is_some() {
            return Err(Error::usage(format!("parameter `{name}` is given twice")));
        }
    }
    let mut missing = Vec::new();
    for (name, spec) in &entry.parameters {
        if values.contains_key(name) {
            continue;
        }
        match &spec.default {
            Some(default) => {
                values.insert(name.clone(), default.clone());
            }
            None => missing.push(name.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::usage(format!(
            "entry point `{entry_name}` needs a value for {}",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_help(format!("pass it with `-P {}=VALUE`", missing[0])));
    }
    Ok(values)
}

fn check_value(ty: ParamType, value: &str) -> std::result::Result<(), &'static str> {
    match ty {
        ParamType::String | ParamType::Path => Ok(()),
        ParamType::Float => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(drop)
            .ok_or("a number"),
        ParamType::Int => value.trim().parse::<i64>().map(drop).map_err(|e| {
            use std::num::IntErrorKind::{NegOverflow, PosOverflow};
            match e.kind() {
                PosOverflow | NegOverflow => {
                    "a whole number in range (from -9223372036854775808 to 9223372036854775807); it is out of range"
                }
                _ => "a whole number",
            }
        }),
        ParamType::Uri => is_uri(value)
            .then_some(())
            .ok_or("a URI with a scheme (such as `s3://bucket/key` or `file:///data`)"),
    }
}

fn example(ty: ParamType) -> &'static str {
    match ty {
        ParamType::String => "text",
        ParamType::Float => "0.5",
        ParamType::Int => "10",
        ParamType::Path => "data/train.csv",
        ParamType::Uri => "s3://bucket/data.csv",
    }
}

/// What MLflow accepts as a URI: a scheme followed by `:`.
fn is_uri(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once(':') else {
        return false;
    };
    scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Parameter;

    fn entry() -> EntryPoint {
        let p = |ty, default: Option<&str>| Parameter {
            ty,
            default: default.map(str::to_string),
        };
        EntryPoint {
            command: "python t.py".into(),
            parameters: BTreeMap::from([
                ("alpha".into(), p(ParamType::Float, Some("0.5"))),
                ("epochs".into(), p(ParamType::Int, Some("10"))),
                ("data".into(), p(ParamType::Uri, Some("s3://b/k"))),
                ("name".into(), p(ParamType::String, None)),
            ]),
        }
    }

    fn given(pairs: &[&str]) -> Vec<(String, String)> {
        parse_pairs(&pairs.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn defaults_fill_in_and_given_values_win() {
        let v = resolve("train", &entry(), &given(&["name=x", "alpha=0.1"])).unwrap();
        assert_eq!(v["alpha"], "0.1");
        assert_eq!(v["epochs"], "10");
        assert_eq!(v["name"], "x");
    }

    #[test]
    fn wrong_types_name_parameter_type_and_value() {
        let err = resolve("train", &entry(), &given(&["name=x", "epochs=1.5"])).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.message(),
            "parameter `epochs` of entry point `train` is a `int`, but `1.5` is not a whole number"
        );
        let err = resolve("train", &entry(), &given(&["name=x", "alpha=high"])).unwrap_err();
        assert!(
            err.message()
                .contains("`float`, but `high` is not a number")
        );
        let err = resolve("train", &entry(), &given(&["name=x", "data=no-scheme"])).unwrap_err();
        assert!(err.message().contains("`uri`"));
        assert!(resolve("train", &entry(), &given(&["name=x", "data=file:///tmp/x"])).is_ok());
    }

    #[test]
    fn unknown_and_missing_parameters() {
        let err = resolve("train", &entry(), &given(&["name=x", "alpah=1"])).unwrap_err();
        assert_eq!(err.help(), Some("did you mean `alpha`?"));
        let err = resolve("train", &entry(), &[]).unwrap_err();
        assert!(err.message().contains("needs a value for `name`"));
    }

    #[test]
    fn pairs_must_have_a_name() {
        assert!(parse_pairs(&["=1".into()]).is_err());
        assert!(parse_pairs(&["novalue".into()]).is_err());
        assert_eq!(
            parse_pairs(&["expr=a=b".into()]).unwrap(),
            vec![("expr".to_string(), "a=b".to_string())]
        );
    }

    #[test]
    fn an_integer_out_of_range_says_so() {
        let err = resolve(
            "train",
            &entry(),
            &given(&["name=x", "epochs=99999999999999999999"]),
        )
        .unwrap_err();
        assert!(err.message().contains("out of range"), "{}", err.message());
        let err = resolve("train", &entry(), &given(&["name=x", "epochs=ten"])).unwrap_err();
        assert!(!err.message().contains("out of range"), "{}", err.message());
    }
}
