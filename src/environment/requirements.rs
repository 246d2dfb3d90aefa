//! What an environment needs from outside the project: the environment file's packages and
//! the dependencies our wheels declare. Our own wheels are not part of it: they change with
//! every code change, and are reinstalled into the same environment instead.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The normalised distribution name a requirement line starts with (PEP 503).
pub fn name_of(req: &str) -> String {
    req.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>()
        .to_lowercase()
        .replace(['_', '.'], "-")
}

/// The pip requirements of the rendered environment file (conda `pip:` list, or python_env
/// `dependencies`).
pub fn pip_lines(env_file: &str, text: &str) -> Vec<String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or(serde_yaml::Value::Null);
    let deps = value["dependencies"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let strings = |seq: &[serde_yaml::Value]| -> Vec<String> {
        seq.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    if env_file.contains("python_env") {
        return strings(&deps);
    }
    deps.iter()
        .filter_map(|d| d.get("pip").and_then(|p| p.as_sequence()))
        .flat_map(|p| strings(p))
        .collect()
}

/// The Python version an environment file asks for: conda's `python=3.8` (or `python==`,
/// `python>=`...: the version as written), or python_env's `python: "3.8"`.
pub fn requested_python(env_file: &str, env_text: &str) -> Option<String> {
    let value: serde_yaml::Value = serde_yaml::from_str(env_text).ok()?;
    if env_file.contains("python_env") {
        return value["python"]
            .as_str()
            .map(str::to_string)
            .or_else(|| value["python"].as_f64().map(|v| v.to_string()));
    }
    value["dependencies"].as_sequence()?.iter().find_map(|d| {
        let s = d.as_str()?.trim();
        let rest = s.strip_prefix("python")?;
        let version = rest.trim_start_matches(['=', '>', '<', '~', ' ']);
        (rest.len() != version.len() && !version.is_empty()).then(|| version.to_string())
    })
}

/// Whether interpreter version `have` (`3.11`) is what `wanted` (`3.8`, `3.8.10`, `3.11.*`)
/// names, to the precision it is written in.
pub fn python_matches(wanted: &str, have: &str) -> bool {
    let parts = |v: &str| -> Vec<String> {
        v.split('.')
            .map(|p| p.trim_end_matches('*').to_string())
            .filter(|p| !p.is_empty())
            .collect()
    };
    let (w, h) = (parts(wanted), parts(have));
    w.iter().zip(&h).take(2).all(|(a, b)| a == b)
}

/// The third-party pip requirements of an environment file (conda.yaml or python_env.yaml):
/// its pip list and the conda dependencies pip can install, and mlflow (the launcher needs
/// it). Wheel files are left out: ours come from the store.
pub fn from_env_file(env_file: &str, env_text: &str) -> Vec<String> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(env_text).unwrap_or(serde_yaml::Value::Null);
    let mut reqs: Vec<String> = Vec::new();
    let deps = value["dependencies"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    for dep in &deps {
        if let Some(s) = dep.as_str() {
            if env_file.contains("python_env") {
                reqs.push(s.to_string());
                continue;
            }
            // A conda spec `name=1.2` is pip's `name==1.2`; python and pip come with the venv.
            let name = s.split(['=', '<', '>', '!', ' ']).next().unwrap_or("");
            if matches!(name, "python" | "pip" | "") {
                continue;
            }
            let spec = match s.split_once('=') {
                Some((n, v)) if !v.starts_with('=') => format!("{n}=={v}"),
                _ => s.to_string(),
            };
            reqs.push(spec);
        } else if let Some(pip) = dep.get("pip").and_then(|p| p.as_sequence()) {
            reqs.extend(pip.iter().filter_map(|p| p.as_str().map(str::to_string)));
        }
    }
    reqs.retain(|r| !r.trim_end().ends_with(".whl"));
    if !reqs
        .iter()
        .any(|r| matches!(name_of(r).as_str(), "mlflow" | "mlflow-skinny"))
    {
        reqs.push("mlflow".into());
    }
    reqs
}

/// The `Requires-Dist` lines of a wheel's METADATA that apply without extras (a line with an
/// `extra ==` marker belongs to an optional extra).
pub fn of_wheel(wheel: &Path) -> Result<Vec<String>> {
    let cannot = |why: String| Error::failed(format!("cannot read {}: {why}", wheel.display()));
    let file = fs_err::File::open(wheel)?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| cannot(e.to_string()))?;
    // `<name>-<version>.dist-info/METADATA`, at the top of the archive (PEP 427).
    let metadata = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i).map(str::to_string))
        .find(|n| n.matches('/').count() == 1 && n.ends_with(".dist-info/METADATA"))
        .ok_or_else(|| cannot("it has no .dist-info/METADATA".into()))?;
    let mut text = String::new();
    zip.by_name(&metadata)
        .map_err(|e| cannot(e.to_string()))?
        .read_to_string(&mut text)
        .map_err(|e| cannot(e.to_string()))?;
    Ok(requires_dist(&text))
}

/// The `Requires-Dist` values of METADATA text (its headers end at the first empty line).
fn requires_dist(metadata: &str) -> Vec<String> {
    metadata
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("Requires-Dist:"))
        .map(str::trim)
        .filter(|r| {
            let marker = r.split_once(';').map_or("", |(_, m)| m);
            !marker.replace(' ', "").contains("extra==")
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conda_specs_become_pip_lines_and_mlflow_is_added() {
        assert_eq!(
            requested_python("conda.yaml", "dependencies:\n  - python=3.8\n  - pip\n").as_deref(),
            Some("3.8")
        );
        assert_eq!(
            requested_python("python_env.yaml", "python: \"3.10\"\n").as_deref(),
            Some("3.10")
        );
        assert_eq!(
            requested_python("conda.yaml", "dependencies:\n  - pip\n"),
            None
        );
        assert!(python_matches("3.11", "3.11") && python_matches("3.11.4", "3.11"));
        assert!(!python_matches("3.8", "3.11"));
        let text = "dependencies:\n  - python=3.11\n  - numpy=1.26\n  - pip\n  - pip:\n    - pandas>=2\n    - /dbfs/x/a-1-py3-none-any.whl\n";
        assert_eq!(
            from_env_file("conda.yaml", text),
            ["numpy==1.26", "pandas>=2", "mlflow"]
        );
        let text = "dependencies:\n  - mlflow-skinny==2.9\n";
        assert_eq!(
            from_env_file("python_env.yaml", text),
            ["mlflow-skinny==2.9"]
        );
    }

    #[test]
    fn requires_dist_skips_extras_and_the_body() {
        let meta = "Metadata-Version: 2.1\nName: demo\nRequires-Dist: numpy>=1.20\nRequires-Dist: pytest ; extra == \"test\"\nRequires-Dist: tomli; python_version < \"3.11\"\n\nRequires-Dist: not-a-header\n";
        assert_eq!(
            requires_dist(meta),
            ["numpy>=1.20", "tomli; python_version < \"3.11\""]
        );
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(name_of("Demo_Fast.x>=1"), "demo-fast-x");
        assert_eq!(name_of("mlflow[extras]==3"), "mlflow");
    }
}
