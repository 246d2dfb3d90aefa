//! The seed's `.../WHEELPATH` placeholders in a user's own YAML or JSON, replaced structurally.
//!
//! A list element holding a placeholder (a string such as `/dbfs/wheels/builds/WHEELPATH`, or
//! a mapping such as `{"pypi": {"package": ".../WHEELPATH"}}`) becomes one element per wheel,
//! of the same shape, with the placeholder replaced by that wheel's path. A placeholder outside
//! a list can hold one wheel only.

/// The marker a placeholder string ends with.
pub const MARKER: &str = "WHEELPATH";

/// The tree operations the substitution needs, for both YAML and JSON values.
pub trait Node: Clone {
    fn as_string(&self) -> Option<&str>;
    fn set_string(&mut self, value: String);
    fn as_list_mut(&mut self) -> Option<&mut Vec<Self>>;
    fn children(&self) -> Vec<&Self>;
    fn children_mut(&mut self) -> Vec<&mut Self>;
    /// A mapping's values with their keys (lists and scalars have none).
    fn keyed_children_mut(&mut self) -> Vec<(String, &mut Self)>;
}

fn is_placeholder(s: &str) -> bool {
    s.ends_with(MARKER)
}

/// Turns every string below `node` that names a wheel of one of `ours` (a concrete path such
/// as the template's `/dbfs/libs/mylib-1.0-py3-none-any.whl`, any version) into the
/// placeholder, so it is replaced like one instead of left stale beside the real wheel.
/// Returns the strings it replaced.
pub fn mark_known_wheels<N: Node>(node: &mut N, ours: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    mark(node, ours, &mut found);
    found
}

fn mark<N: Node>(node: &mut N, ours: &[String], found: &mut Vec<String>) {
    if let Some(s) = node.as_string() {
        if crate::build::backend::wheel_distribution(s).is_some_and(|d| ours.contains(&d)) {
            found.push(s.to_string());
            node.set_string(MARKER.to_string());
        }
        return;
    }
    for child in node.children_mut() {
        mark(child, ours, found);
    }
}

/// Every string below `node` (list items and mapping values), in order.
pub fn strings<N: Node>(node: &N) -> Vec<String> {
    match node.as_string() {
        Some(s) => vec![s.to_string()],
        None => node.children().into_iter().flat_map(strings).collect(),
    }
}

/// Whether `node` holds a placeholder anywhere.
pub fn contains<N: Node>(node: &N) -> bool {
    match node.as_string() {
        Some(s) => is_placeholder(s),
        None => node.children().into_iter().any(contains),
    }
}

/// Whether `node` holds a placeholder that no list inside it encloses: such an element of a
/// list is the one to repeat per wheel. A mapping whose placeholder sits in a list of its own
/// (the conda `- pip: [...]` entry) is not: that inner list is.
fn holds_directly<N: Node>(node: &mut N) -> bool {
    if let Some(s) = node.as_string() {
        return is_placeholder(s);
    }
    if node.as_list_mut().is_some() {
        return false;
    }
    node.children_mut().into_iter().any(holds_directly)
}

/// Replaces every placeholder below `node` with one entry per wheel; returns how many
/// placeholders there were, or an error naming a placeholder that cannot hold all the wheels.
/// `path(keys, i)` is wheel `i`'s path in the form its place needs: `keys` are the mapping keys
/// from the repeated element down to the placeholder (`["pypi", "package"]`).
pub fn substitute<N: Node>(
    node: &mut N,
    wheels: usize,
    path: &dyn Fn(&[String], usize) -> String,
) -> Result<usize, String> {
    if let Some(s) = node.as_string() {
        if !is_placeholder(s) {
            return Ok(0);
        }
        return match wheels {
            1 => {
                node.set_string(path(&[], 0));
                Ok(1)
            }
            n => Err(format!(
                "`{s}` is not in a list, so it can hold one wheel, but there are {n}"
            )),
        };
    }
    if let Some(list) = node.as_list_mut() {
        let mut count = 0;
        let mut out = Vec::with_capacity(list.len());
        for mut element in list.drain(..) {
            if holds_directly(&mut element) {
                count += 1;
                for i in 0..wheels {
                    let mut copy = element.clone();
                    fill(&mut copy, &mut Vec::new(), &|keys| path(keys, i));
                    if !out.iter().any(|e: &N| same(e, &copy)) {
                        out.push(copy);
                    }
                }
            } else {
                count += substitute(&mut element, wheels, path)?;
                out.push(element);
            }
        }
        *list = out;
        return Ok(count);
    }
    let mut count = 0;
    for child in node.children_mut() {
        count += substitute(child, wheels, path)?;
    }
    Ok(count)
}

/// Replaces every placeholder string below `node` (outside lists) with `path(keys)`.
fn fill<N: Node>(node: &mut N, keys: &mut Vec<String>, path: &dyn Fn(&[String]) -> String) {
    if node.as_string().is_some_and(is_placeholder) {
        node.set_string(path(keys));
        return;
    }
    for (key, child) in node.keyed_children_mut() {
        keys.push(key);
        fill(child, keys, path);
        keys.pop();
    }
}

/// Two placeholders that expand to the same element (the same wheel) keep only one copy.
fn same<N: Node>(a: &N, b: &N) -> bool {
    match (a.as_string(), b.as_string()) {
        (Some(x), Some(y)) => x == y,
        (None, None) => {
            let (ca, cb) = (a.children(), b.children());
            ca.len() == cb.len() && ca.iter().zip(&cb).all(|(x, y)| same(*x, *y))
        }
        _ => false,
    }
}

impl Node for serde_json::Value {
    fn as_string(&self) -> Option<&str> {
        self.as_str()
    }
    fn set_string(&mut self, value: String) {
        *self = serde_json::Value::String(value);
    }
    fn as_list_mut(&mut self) -> Option<&mut Vec<Self>> {
        self.as_array_mut()
    }
    fn children(&self) -> Vec<&Self> {
        match self {
            serde_json::Value::Array(a) => a.iter().collect(),
            serde_json::Value::Object(o) => o.values().collect(),
            _ => Vec::new(),
        }
    }
    fn children_mut(&mut self) -> Vec<&mut Self> {
        match self {
            serde_json::Value::Array(a) => a.iter_mut().collect(),
            serde_json::Value::Object(o) => o.values_mut().collect(),
            _ => Vec::new(),
        }
    }
    fn keyed_children_mut(&mut self) -> Vec<(String, &mut Self)> {
        match self {
            serde_json::Value::Object(o) => o.iter_mut().map(|(k, v)| (k.clone(), v)).collect(),
            _ => Vec::new(),
        }
    }
}

impl Node for serde_yaml::Value {
    fn as_string(&self) -> Option<&str> {
        self.as_str()
    }
    fn set_string(&mut self, value: String) {
        *self = serde_yaml::Value::String(value);
    }
    fn as_list_mut(&mut self) -> Option<&mut Vec<Self>> {
        self.as_sequence_mut()
    }
    fn children(&self) -> Vec<&Self> {
        match self {
            serde_yaml::Value::Sequence(s) => s.iter().collect(),
            serde_yaml::Value::Mapping(m) => m.values().collect(),
            serde_yaml::Value::Tagged(t) => vec![&t.value],
            _ => Vec::new(),
        }
    }
    fn children_mut(&mut self) -> Vec<&mut Self> {
        match self {
            serde_yaml::Value::Sequence(s) => s.iter_mut().collect(),
            serde_yaml::Value::Mapping(m) => m.values_mut().collect(),
            serde_yaml::Value::Tagged(t) => vec![&mut t.value],
            _ => Vec::new(),
        }
    }
    fn keyed_children_mut(&mut self) -> Vec<(String, &mut Self)> {
        match self {
            serde_yaml::Value::Mapping(m) => m
                .iter_mut()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v))
                .collect(),
            serde_yaml::Value::Tagged(t) => vec![(String::new(), &mut t.value)],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Wheel `i` as `dbfs:/w/i.whl`, whatever its place.
    fn sub<N: Node>(v: &mut N, n: usize) -> Result<usize, String> {
        substitute(v, n, &|_, i| format!("dbfs:/w/{i}.whl"))
    }

    #[test]
    fn list_elements_are_repeated_per_wheel_keeping_their_shape() {
        let mut v = json!({"libraries": [
            {"pypi": {"package": "convertdate"}},
            {"pypi": {"package": "/dbfs/wheels/builds/WHEELPATH"}}
        ]});
        assert_eq!(sub(&mut v, 2).unwrap(), 1);
        assert_eq!(
            v,
            json!({"libraries": [
                {"pypi": {"package": "convertdate"}},
                {"pypi": {"package": "dbfs:/w/0.whl"}},
                {"pypi": {"package": "dbfs:/w/1.whl"}}
            ]})
        );
    }

    #[test]
    fn yaml_pip_lists_work_the_same() {
        let mut v: serde_yaml::Value = serde_yaml::from_str(
            "dependencies:\n  - python=3.8\n  - pip:\n    - mlflow\n    - /dbfs/wheels/builds/WHEELPATH\n    - pyarrow\n",
        )
        .unwrap();
        assert!(contains(&v));
        sub(&mut v, 1).unwrap();
        let pip = &v["dependencies"][1]["pip"];
        assert_eq!(pip[1].as_str(), Some("dbfs:/w/0.whl"));
        assert_eq!(pip[2].as_str(), Some("pyarrow"));
        assert!(!contains(&v));
    }

    #[test]
    fn a_scalar_placeholder_holds_one_wheel_only() {
        let mut v = json!({"wheel": "x/WHEELPATH"});
        assert!(sub(&mut v, 2).is_err());
        let mut v = json!({"wheel": "x/WHEELPATH"});
        assert_eq!(sub(&mut v, 1).unwrap(), 1);
        assert_eq!(v, json!({"wheel": "dbfs:/w/0.whl"}));
    }

    #[test]
    fn two_placeholders_do_not_duplicate_wheels() {
        let mut v = json!(["a/WHEELPATH", "b/WHEELPATH"]);
        sub(&mut v, 1).unwrap();
        assert_eq!(v, json!(["dbfs:/w/0.whl"]));
    }

    #[test]
    fn the_seeds_pip_list_gets_one_entry_per_wheel_in_its_own_order() {
        let mut v: serde_yaml::Value = serde_yaml::from_str(
            "dependencies:\n  - python=3.8\n  - pip\n  - pip:\n    - mlflow\n    - /dbfs/wheels/builds/WHEELPATH\n    - pyarrow\n",
        )
        .unwrap();
        assert_eq!(sub(&mut v, 2).unwrap(), 1);
        let deps = v["dependencies"].as_sequence().unwrap();
        assert_eq!(deps.len(), 3, "one pip mapping: {deps:?}");
        let pip: Vec<&str> = deps[2]["pip"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(pip, ["mlflow", "dbfs:/w/0.whl", "dbfs:/w/1.whl", "pyarrow"]);
    }

    #[test]
    fn each_place_gets_the_path_form_it_needs() {
        let mut v = json!({"libraries": [
            {"pypi": {"package": "/dbfs/w/WHEELPATH"}},
            {"whl": "dbfs:/w/WHEELPATH"}
        ]});
        substitute(&mut v, 1, &|keys, _| {
            if keys.first().map(String::as_str) == Some("pypi") {
                "/dbfs/x.whl".into()
            } else {
                "dbfs:/x.whl".into()
            }
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"libraries": [{"pypi": {"package": "/dbfs/x.whl"}}, {"whl": "dbfs:/x.whl"}]})
        );
    }
}
