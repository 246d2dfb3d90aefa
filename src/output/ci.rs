//! The logging commands of the CI system we run under: collapsible groups and error
//! annotations. GitHub Actions reads `::group::`, `::endgroup::` and `::error::` workflow
//! commands; Azure Pipelines reads `##[group]`, `##[endgroup]` and
//! `##vso[task.logissue type=error]`.

/// A CI system with logging commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    GitHub,
    Azure,
}

impl System {
    /// Which one we run under, from the variables each sets on its runners
    /// (`GITHUB_ACTIONS=true`; `TF_BUILD=True`).
    pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Option<System> {
        let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
        if env("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
            Some(System::GitHub)
        } else if set("TF_BUILD") {
            Some(System::Azure)
        } else {
            None
        }
    }

    /// Message text escaped so it stays one command: GitHub's `%`, CR and LF escapes
    /// (actions/toolkit `escapeData`); Azure's `%AZP25`, `%0D`, `%0A` (its logging-command
    /// escaping).
    pub fn escape(self, text: &str) -> String {
        let percent = match self {
            System::GitHub => "%25",
            System::Azure => "%AZP25",
        };
        text.replace('%', percent)
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }

    pub(super) fn error_line(self, message: &str) -> String {
        match self {
            System::GitHub => format!("::error title=cargo mlops::{}", self.escape(message)),
            System::Azure => format!("##vso[task.logissue type=error]{}", self.escape(message)),
        }
    }

    pub(super) fn group_lines(self, title: &str) -> (String, String) {
        let title = title.replace(['\r', '\n'], " ");
        match self {
            System::GitHub => (format!("::group::{title}"), "::endgroup::".into()),
            System::Azure => (format!("##[group]{title}"), "##[endgroup]".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_one_line_and_percent_signs_survive() {
        assert_eq!(System::GitHub.escape("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(
            System::Azure.escape("50% done\r\nnext"),
            "50%AZP25 done%0D%0Anext"
        );
        assert_eq!(
            System::GitHub.error_line("bad\nhelp: fix"),
            "::error title=cargo mlops::bad%0Ahelp: fix"
        );
    }

    #[test]
    fn the_system_is_found_from_its_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            System::detect(&env(&[("GITHUB_ACTIONS", "true")])),
            Some(System::GitHub)
        );
        assert_eq!(
            System::detect(&env(&[("TF_BUILD", "True")])),
            Some(System::Azure)
        );
        assert_eq!(System::detect(&env(&[("CI", "true")])), None);
    }
}
