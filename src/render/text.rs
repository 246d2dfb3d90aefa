//! YAML and JSON values written back as text (rendering changes data, never text).

use serde::Serialize;
use serde_yaml::{Mapping, Value as Yaml};

use crate::error::{Error, Result};

pub(super) fn yaml_text(value: &impl Serialize) -> Result<String> {
    serde_yaml::to_string(value).map_err(|e| Error::failed(format!("cannot write YAML: {e}")))
}

pub(super) fn json_text(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

pub(super) fn mapping(value: &mut Yaml) -> &mut Mapping {
    if !value.is_mapping() {
        *value = Yaml::Mapping(Mapping::new());
    }
    value.as_mapping_mut().expect("made a mapping above")
}
