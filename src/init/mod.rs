//! `init`: a new project from the template (`scaffold.rs`), or an existing MLflow project
//! adopted as it is (`adopt.rs`).

pub mod adopt;
pub mod scaffold;
