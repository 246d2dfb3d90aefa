//! The smoke request: the logged model's own `input_example`, sent to the endpoint once it
//! serves the new version. The example is read from the version's files in Unity Catalog,
//! `/Models/<catalog>/<schema>/<model>/<version>/` over the Files API (as MLflow's
//! `store/artifact/databricks_sdk_models_artifact_repo.py`
//! `DatabricksSDKModelsArtifactRepository` reads them). MLflow writes the request body itself
//! as `serving_input_example.json` (`saved_input_example_info.serving_input_path`,
//! `mlflow/models/utils.py` `_Example`); older models have only `input_example.json`, whose
//! dataframe form is wrapped as the scoring protocol takes it (`dataframe_split` or
//! `dataframe_records`, by its `pandas_orient`).

use serde_json::{Value, json};

use crate::databricks::Client;
use crate::databricks::files::Files;
use crate::error::{Error, Result};

/// The request body for `version` of `model`: `None` when the model logged no example (or
/// one of a kind the scoring protocol has no form for).
pub fn example(client: &Client, model: &str, version: &str) -> Result<Option<Value>> {
    let base = format!("/Models/{}/{version}", model.replace('.', "/"));
    let files = Files { client };
    let Some(mlmodel) = files.get(&format!("{base}/MLmodel"))? else {
        return Err(Error::remote(format!(
            "version {version} of {model} has no MLmodel file at {base}"
        )));
    };
    let mlmodel: Value = serde_yaml::from_slice(&mlmodel)
        .map_err(|e| Error::remote(format!("{base}/MLmodel is not the YAML MLflow writes: {e}")))?;
    let info = &mlmodel["saved_input_example_info"];
    let read = |file: &str| -> Result<Option<Value>> {
        let Some(bytes) = files.get(&format!("{base}/{file}"))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::remote(format!("{base}/{file} is not JSON: {e}")))
    };
    if let Some(file) = info["serving_input_path"].as_str() {
        return read(file);
    }
    let (Some(file), Some("dataframe")) = (info["artifact_path"].as_str(), info["type"].as_str())
    else {
        return Ok(None);
    };
    let key = match info["pandas_orient"].as_str() {
        Some("records") => "dataframe_records",
        _ => "dataframe_split",
    };
    Ok(read(file)?.map(|example| json!({ key: example })))
}
